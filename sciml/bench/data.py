"""The data suite: seconds per sample of every generator, and batched vs one-at-a-time generation.

Each row runs the generator exactly as ``sciml data generate`` does (``module.generate`` over
blocks), without writing a file, and reports seconds per sample. Rows marked ``paper`` use the
paper's resolution and solver settings, measured over fewer samples (or a shorter time span for
Navier-Stokes, scaled to one unit of time). The speed-up compares blocks of the default size
with blocks of one sample on the same samples. Threads: as set by ``sciml --threads``.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["run", "CASES"]

# (label, pde, res, params, samples, block, note)
CASES: list[tuple[str, str, int, dict[str, Any], int, int | None, str]] = [
    ("darcy 64 (refine 2)", "darcy", 64, {}, 16, None, "default"),
    ("darcy 85 from 421 (paper)", "darcy", 85, {"refine": 5}, 3, None, "paper"),
    ("burgers 1024 from 8192 (paper)", "burgers", 1024, {}, 16, None, "default = paper"),
    ("heat 1024 from 8192", "heat", 1024, {}, 64, None, "default"),
    ("navier-stokes 64 from 128, nu 1e-3, 1 time unit, batch 20", "navier-stokes", 64,
     {"T": 1.0, "fine": 128}, 20, 20, "anchor: about 40 s per unit time for a batch of 20"),
    ("navier-stokes 64 from 128, nu 1e-3, 1 time unit, default blocks", "navier-stokes", 64,
     {"T": 1.0, "fine": 128}, 8, None, "default"),
    ("navier-stokes 64 from 256, dt 1e-4, 0.1 time units (paper)", "navier-stokes", 64,
     {"T": 0.1, "record_every": 0.1, "fine": 256, "dt": 1e-4}, 2, None, "paper; per sample per unit time = x10"),
    ("combined E1 100 from 200 (paper)", "combined", 100, {"family": "E1"}, 16, None, "default = paper"),
    ("combined E2 100 from 200 (paper)", "combined", 100, {"family": "E2"}, 16, None, "default = paper"),
    ("combined E3 100 from 200 (paper)", "combined", 100, {"family": "E3"}, 8, None, "default = paper"),
    ("wave 100 (refine 2)", "wave", 100, {}, 16, None, "default"),
    ("poisson-mesh h=1/32, P2", "poisson-mesh", 32, {}, 6, None, "default"),
]


def _seconds_per_sample(pde: str, res: int, params: dict[str, Any], n: int, block: int | None) -> float:
    from sciml.data.pdes import resolve_pde

    module = resolve_pde(pde)
    merged = module.check_params(res, dict(params))
    kwargs = {} if block is None else {"block": block}
    tic = time.perf_counter()
    for _ in module.generate(n, res, seed=0, params=merged, **kwargs):
        pass
    return (time.perf_counter() - tic) / n


def run(*, quick: bool = False, workdir=None) -> dict[str, Any]:
    rows = []
    for label, pde, res, params, n, block, note in CASES:
        if quick:
            n = min(n, 2)
            if pde == "navier-stokes":
                params = {**params, "T": 0.1 if "dt" not in params else 0.01, "record_every": 0.1 if "dt" not in params else 0.01}
        batched = _seconds_per_sample(pde, res, params, n, block)
        one = _seconds_per_sample(pde, res, params, min(n, 4), 1) if pde != "poisson-mesh" else None
        rows.append({"case": label, "pde": pde, "res": res, "params": params, "samples": n,
                     "block": block or "default", "seconds_per_sample": batched,
                     "seconds_per_sample_one_at_a_time": one,
                     "batched_speedup": (one / batched) if one else None, "note": note})
    return {"rows": rows, "summary": {r["case"]: round(r["seconds_per_sample"], 4) for r in rows}}
