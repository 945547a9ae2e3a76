"""The Python examples of docs/using-models.md run as written, in order, in a fresh directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "using-models.md"


def _run_python_blocks(doc: Path, tmp_path, monkeypatch) -> int:
    """Run every python block of ``doc`` in order in ``tmp_path``; returns how many there were."""
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {}
    for number, block in enumerate(blocks):
        try:
            exec(compile(block, f"{doc.name} block {number}", "exec"), namespace)  # noqa: S102 (our own docs)
        except Exception as exc:  # name the block that broke
            pytest.fail(f"{doc.name} python block {number} failed: {type(exc).__name__}: {exc}")
    return len(blocks)


def test_using_models_examples_run(tmp_path, monkeypatch, one_thread):
    blocks = _run_python_blocks(DOC, tmp_path, monkeypatch)
    assert blocks >= 6
    assert (tmp_path / "fno.png").exists() and len(os.listdir(tmp_path / "fno-vtk")) == 4
    assert len(os.listdir(tmp_path / "heat-vtk")) == 8


@pytest.mark.parametrize("page", ["pinn.md", "geometry.md", "wos.md", "teng.md", "graph-solvers.md", "hard-constraints.md",
                                  "metalic.md"])
def test_method_pages_python_examples_run(page, tmp_path, monkeypatch, one_thread):
    blocks = _run_python_blocks(DOC.parent / page, tmp_path, monkeypatch)
    assert blocks, f"{page} has no python example"
