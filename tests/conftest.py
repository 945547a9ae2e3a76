"""Shared fixtures: small Darcy datasets made once per session, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sciml.data import generate_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def darcy_files(tmp_path_factory) -> dict[str, Path]:
    """Tiny Darcy train/test sets at 16x16 and a test set at 31x31 (same fine grid, 61 points)."""
    root = tmp_path_factory.mktemp("darcy")
    files = {"train": root / "train16.h5", "test": root / "test16.h5", "test_fine": root / "test31.h5"}
    generate_dataset("darcy", files["train"], n=24, res=16, seed=0, params={"refine": 4})
    generate_dataset("darcy", files["test"], n=6, res=16, seed=1, params={"refine": 4})
    generate_dataset("darcy", files["test_fine"], n=6, res=31, seed=1, params={"refine": 2})
    return files


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m sciml ARGS`` in a subprocess with two threads; returns the completed process."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "sciml", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def one_thread():
    """Run the test with one torch thread (sparse kernels and timings-free benches stay predictable)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
