"""Benchmark suites behind ``sciml bench SUITE --out FILE.json``.

Each suite measures speed side by side with its baseline in one run, states the thread counts,
and writes JSON. Timings live here, never in tests.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

from sciml._errors import ConfigError
from sciml.io import write_json

__all__ = ["run_suite", "SUITES", "machine", "best_time"]

SUITES = ("foundation", "linalg", "data", "datasets", "fno", "precond", "precond-ood", "pinn", "wos", "teng", "graph",
          "hard-constraints")


def best_time(fn, repeats: int, device="cpu", *, warmup: bool = False) -> tuple[float, Any]:
    """The best wall time of ``repeats`` calls of ``fn`` (after one untimed call when ``warmup``), CUDA
    synchronised around each call on a CUDA ``device``; returns ``(seconds, the last call's result)``."""
    import time

    cuda = torch.device(device).type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    if warmup:
        fn()
        sync()
    out, best = None, float("inf")
    for _ in range(repeats):
        sync()
        tic = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - tic)
    return best, out


def machine() -> dict[str, Any]:
    """What the numbers were measured on, thread pools included."""
    from threadpoolctl import threadpool_info

    from sciml.runtime import freed_memory_kept

    pools = [{"library": p.get("internal_api"), "threads": p.get("num_threads")} for p in threadpool_info()]
    return {"thread_pools": pools, "platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "malloc_keeps_freed_memory": freed_memory_kept()}


def run_suite(name: str, out: str | os.PathLike, *, quick: bool = False) -> dict[str, Any]:
    """Run suite ``name`` and write its JSON to ``out``; returns the result."""
    if name not in SUITES:
        raise ConfigError(f"unknown benchmark suite {name!r}; choose one of {', '.join(SUITES)}")
    out = Path(out)
    if out.suffix != ".json":
        raise ConfigError(f"--out must name a .json file, got {out}")
    import importlib

    suite = importlib.import_module(f"sciml.bench.{name.replace('-', '_')}")
    result = {"suite": name, "quick": quick, "machine": machine(), **suite.run(quick=quick, workdir=out.parent)}
    write_json(out, result)
    return result
