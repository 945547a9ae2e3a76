"""The linalg suite: SpMV, CG per iteration, time to solution per preconditioner, batched PCG.

Matrices (from :mod:`sciml.gallery`): 2D 5-point Poisson at 256^2 and 512^2 unknowns, 3D 7-point
Poisson at 64^3, and 2D variable-coefficient diffusion with a GRF log-coefficient of contrast 1e3
at 256^2. Right-hand side: a seeded standard normal vector. Everything float64 on the CPU; torch
runs with the threads set by ``sciml --threads`` (the CLI's default leaves torch's own choice),
scipy's sparse kernels are single-threaded.

Each comparison is measured side by side in this run and reported as a ratio.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import scipy.sparse.linalg as spla
import torch

__all__ = ["run"]

PRECONDITIONERS = ("none", "jacobi", "ssor", "ic0", "amg-sa", "amg-rs")


def _best_time(fn: Callable[[], Any], *, repeats: int, min_seconds: float = 0.2) -> float:
    """Best-of-``repeats`` seconds per call, each repeat running ``fn`` enough times to last ``min_seconds``."""
    fn()
    tic = time.perf_counter()
    fn()
    once = max(time.perf_counter() - tic, 1e-7)
    inner = max(1, int(min_seconds / once))
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - tic) / inner)
    return best


def _stream_copy_gbs(repeats: int) -> float:
    """Memory bandwidth of a large float64 copy (read + write), GB/s, torch with its threads."""
    a = torch.rand(1 << 25, dtype=torch.float64)
    b = torch.empty_like(a)
    seconds = _best_time(lambda: b.copy_(a), repeats=repeats)
    return 2 * a.numel() * 8 / seconds / 1e9


def _spmv(A, repeats: int, bandwidth: float) -> dict[str, Any]:
    from sciml.linalg import from_scipy
    from sciml.linalg.sparse import _csr_tensor

    n, nnz = A.shape[0], A.nnz
    x = np.random.default_rng(0).standard_normal(n)
    T32 = from_scipy(A)
    T64 = _csr_tensor(T32.crow_indices().long(), T32.col_indices().long(), T32.values(), tuple(A.shape))
    xt = torch.from_numpy(x)
    t_scipy = _best_time(lambda: A @ x, repeats=repeats)
    t_torch = _best_time(lambda: T32 @ xt, repeats=repeats)
    t_torch64 = _best_time(lambda: T64 @ xt, repeats=repeats)
    bytes_moved = nnz * (8 + 4) + (n + 1) * 4 + 2 * n * 8  # values, column indices, row pointers, x, y
    gbs = bytes_moved / t_torch / 1e9
    return {"scipy_ms": 1e3 * t_scipy, "sciml_int32_ms": 1e3 * t_torch, "sciml_int64_ms": 1e3 * t_torch64,
            "speedup_vs_scipy": t_scipy / t_torch, "int64_slowdown": t_torch64 / t_torch,
            "sciml_GBps": gbs, "fraction_of_copy_bandwidth": gbs / bandwidth}


def _cg_per_iteration(A, b, maxiter: int) -> dict[str, Any]:
    from sciml.linalg import from_scipy, pcg

    T = from_scipy(A)
    bt = torch.from_numpy(b)
    pcg(T, bt, maxiter=2, rtol=0.0)
    tic = time.perf_counter()
    ours = pcg(T, bt, maxiter=maxiter, rtol=0.0)
    t_ours = (time.perf_counter() - tic) / ours.iterations
    count = [0]
    tic = time.perf_counter()
    spla.cg(A, b, rtol=1e-30, atol=0.0, maxiter=maxiter, callback=lambda xk: count.__setitem__(0, count[0] + 1))
    t_scipy = (time.perf_counter() - tic) / max(count[0], 1)
    return {"iterations": maxiter, "sciml_ms_per_iteration": 1e3 * t_ours, "scipy_ms_per_iteration": 1e3 * t_scipy,
            "speedup_vs_scipy": t_scipy / t_ours}


def _time_to_solution(A, b, name: str, rtol: float) -> dict[str, Any]:
    from sciml.linalg import from_scipy, pcg, preconditioner

    T = from_scipy(A)
    bt = torch.from_numpy(b)
    tic = time.perf_counter()
    M = preconditioner(name, A)
    setup = time.perf_counter() - tic
    tic = time.perf_counter()
    result = pcg(T, bt, None if name == "none" else M, rtol=rtol)
    solve = time.perf_counter() - tic
    count = [0]
    tic = time.perf_counter()
    x, info = spla.cg(A, b, rtol=rtol, atol=0.0, M=None if name == "none" else M.as_linear_operator(),
                      maxiter=10 * A.shape[0], callback=lambda xk: count.__setitem__(0, count[0] + 1))
    scipy_solve = time.perf_counter() - tic
    residual = float(np.linalg.norm(b - A @ result.x.numpy()) / np.linalg.norm(b))
    return {"precond": name, "iterations": result.iterations, "converged": result.converged,
            "setup_s": setup, "solve_s": solve, "total_s": setup + solve, "relative_residual": residual,
            "scipy_cg_iterations": count[0], "scipy_cg_solve_s": scipy_solve, "scipy_cg_converged": info == 0}


def _batched(quick: bool) -> dict[str, Any]:
    from sciml.gallery import diffusion2d_grf, poisson2d
    from sciml.linalg import BatchedCSR, from_scipy, pcg, preconditioner

    m, batch = (32, 8) if quick else (128, 64)
    A = poisson2d(m)
    B = torch.randn(batch, A.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    T = from_scipy(A)
    M = preconditioner("jacobi", A)
    pcg(T, B[:2], M, rtol=1e-8)
    tic = time.perf_counter()
    together = pcg(T, B, M, rtol=1e-8)
    t_batch = time.perf_counter() - tic
    tic = time.perf_counter()
    looped = [pcg(T, B[i], M, rtol=1e-8) for i in range(batch)]
    t_loop = time.perf_counter() - tic
    mats = [diffusion2d_grf(m // 2, contrast=1e3, seed=s) for s in range(batch)]
    batched_A = BatchedCSR.from_scipy(mats)
    ones = torch.ones(batch, mats[0].shape[0], dtype=torch.float64)
    tic = time.perf_counter()
    many = pcg(batched_A, ones, rtol=1e-8)
    t_many = time.perf_counter() - tic
    tic = time.perf_counter()
    singles = [pcg(from_scipy(mat), ones[0], rtol=1e-8) for mat in mats]
    t_singles = time.perf_counter() - tic
    return {
        "shared_matrix": {"matrix": f"poisson2d {m}^2", "systems": batch, "precond": "jacobi",
                          "batched_s": t_batch, "looped_s": t_loop, "speedup": t_loop / t_batch,
                          "all_converged": bool(together.converged.all()) and all(r.converged for r in looped)},
        "different_matrices": {"matrix": f"diffusion2d_grf {m // 2}^2, contrast 1e3, {batch} seeds",
                               "systems": batch, "precond": "none", "batched_s": t_many, "looped_s": t_singles,
                               "speedup": t_singles / t_many,
                               "all_converged": bool(many.converged.all()) and all(r.converged for r in singles)},
    }


def run(*, quick: bool = False, workdir=None) -> dict[str, Any]:
    from sciml.gallery import diffusion2d_grf, poisson2d, poisson3d

    repeats = 3 if quick else 7
    matrices = ({"poisson2d_64^2": poisson2d(64), "poisson3d_16^3": poisson3d(16),
                 "diffusion_grf_64^2": diffusion2d_grf(64, contrast=1e3)} if quick else
                {"poisson2d_256^2": poisson2d(256), "poisson2d_512^2": poisson2d(512),
                 "poisson3d_64^3": poisson3d(64), "diffusion_grf_256^2": diffusion2d_grf(256, contrast=1e3)})
    bandwidth = _stream_copy_gbs(repeats)
    out: dict[str, Any] = {"threads": {"torch": torch.get_num_threads(), "scipy": 1},
                           "copy_bandwidth_GBps": bandwidth, "matrices": {}}
    for label, A in matrices.items():
        b = np.random.default_rng(1).standard_normal(A.shape[0])
        entry = {"n": A.shape[0], "nnz": int(A.nnz), "spmv": _spmv(A, repeats, bandwidth),
                 "cg_per_iteration": _cg_per_iteration(A, b, 50 if quick else 200),
                 "time_to_solution": [_time_to_solution(A, b, name, 1e-8) for name in PRECONDITIONERS]}
        out["matrices"][label] = entry
    out["batched_pcg"] = _batched(quick)
    out["summary"] = {label: {"spmv_speedup_vs_scipy": e["spmv"]["speedup_vs_scipy"],
                              "spmv_fraction_of_bandwidth": e["spmv"]["fraction_of_copy_bandwidth"],
                              "cg_iteration_speedup_vs_scipy": e["cg_per_iteration"]["speedup_vs_scipy"],
                              "fastest_precond": min(e["time_to_solution"], key=lambda r: r["total_s"])["precond"]}
                      for label, e in out["matrices"].items()}
    out["summary"]["batched_speedup"] = out["batched_pcg"]["shared_matrix"]["speedup"]
    return out
