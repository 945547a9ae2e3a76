"""Solving a linear system given as files: what ``sciml solve`` calls.

Matrices: Matrix Market (``.mtx``) or scipy ``.npz`` (``scipy.sparse.save_npz``). Right-hand
sides: ``.npy`` or ``.mtx`` (a dense array); ones when none is given.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.io
import scipy.sparse as sp
import torch

from sciml._errors import DataError

__all__ = ["read_matrix", "read_vector", "check_spd_input", "solve_files", "SolveSetup"]


def read_matrix(path: str | os.PathLike) -> sp.csr_matrix:
    """Read a sparse matrix from ``.mtx`` or ``.npz`` as float64 CSR."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"matrix file {path} does not exist")
    try:
        if path.suffix == ".mtx":
            matrix = scipy.io.mmread(path)
        elif path.suffix == ".npz":
            matrix = sp.load_npz(path)
        else:
            raise DataError(f"cannot read {path.name}: matrices must be .mtx (Matrix Market) or .npz (scipy sparse)")
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path} cannot be read as a {path.suffix} matrix: {exc}") from exc
    if not sp.issparse(matrix):
        matrix = sp.csr_matrix(np.asarray(matrix))
    if np.iscomplexobj(matrix.data):
        raise DataError(f"{path} holds a complex matrix; CG needs a real one")
    return sp.csr_matrix(matrix, dtype=np.float64)


def read_vector(path: str | os.PathLike, n: int) -> np.ndarray:
    """Read a right-hand side of length ``n`` from ``.npy`` or ``.mtx``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"right-hand side file {path} does not exist")
    try:
        if path.suffix == ".npy":
            vector = np.load(path, allow_pickle=False)
        elif path.suffix == ".mtx":
            vector = scipy.io.mmread(path)
            vector = vector.toarray() if sp.issparse(vector) else np.asarray(vector)
        else:
            raise DataError(f"cannot read {path.name}: right-hand sides must be .npy or .mtx")
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path} cannot be read as a {path.suffix} array: {exc}") from exc
    vector = np.asarray(vector, dtype=np.float64)
    if vector.ndim == 2 and 1 in vector.shape:  # a column or row vector
        vector = vector.reshape(-1)
    if vector.shape != (n,):
        raise DataError(f"right-hand side {path} has shape {np.shape(vector)} but the matrix has {n} rows")
    if not np.all(np.isfinite(vector)):
        raise DataError(f"right-hand side {path} contains NaN or Inf")
    return vector


def check_spd_input(A: sp.csr_matrix, name: str = "the matrix", *, symmetry_rtol: float = 1e-10) -> None:
    """Refuse what CG cannot take: non-square, non-finite, non-symmetric, non-positive diagonal."""
    if A.shape[0] != A.shape[1]:
        raise DataError(f"{name} has shape {A.shape}; CG needs a square matrix")
    if not np.all(np.isfinite(A.data)):
        raise DataError(f"{name} contains NaN or Inf")
    scale = np.abs(A.data).max() if A.nnz else 0.0
    asym = abs(A - A.T)
    if asym.nnz and asym.max() > symmetry_rtol * scale:
        coo = asym.tocoo()
        k = int(np.argmax(coo.data))
        where = f" (largest at [{coo.row[k]}, {coo.col[k]}])"
        raise DataError(f"{name} is not symmetric: max |A - A^T| = {asym.max():.3g}{where}; CG needs an SPD matrix")
    d = A.diagonal()
    if np.any(d <= 0):
        row = int(np.flatnonzero(d <= 0)[0])
        raise DataError(f"{name} has a non-positive diagonal entry at row {row} ({d[row]:.3g}); it is not SPD")


@dataclass
class SolveSetup:
    """What a preconditioner set-up hands :func:`solve_files`: a preconditioner ``M`` for PCG, or a
    ``solver`` with ``solve(A, b, rtol=, atol=, maxiter=) -> SolveResult`` that replaces PCG, and
    entries for the report (``dtype`` may be changed by a solver that runs in its own precision)."""

    M: Any = None
    solver: Any = None
    report: dict[str, Any] = field(default_factory=dict)
    dtype: torch.dtype | None = None


def solve_files(matrix: str | os.PathLike, *, rhs: str | os.PathLike | None = None,
                precond: str | Callable[..., SolveSetup] = "none", rtol: float = 1e-8, atol: float = 0.0,
                maxiter: int | None = None, device: str = "cpu", dtype: str = "float64",
                norm: str = "l2") -> dict[str, Any]:
    """Read a system, build the preconditioner, run :func:`~sciml.linalg.pcg`; returns a JSON-ready report.

    ``precond``: a classical preconditioner's name (:func:`sciml.linalg.preconditioner`), or a set-up
    ``precond(A, device=, dtype=, norm=) -> SolveSetup`` (a trained run's: :func:`sciml.learned.solve_setup`),
    whose ``label`` attribute, when present, names it in the report. Set-up time includes it.
    """
    from sciml.linalg.krylov import pcg
    from sciml.linalg.precond import preconditioner
    from sciml.runtime import resolve_device, resolve_dtype

    dev, dt = resolve_device(device), resolve_dtype(dtype)
    A = read_matrix(matrix)
    check_spd_input(A, f"matrix {matrix}")
    b = read_vector(rhs, A.shape[0]) if rhs is not None else np.ones(A.shape[0])
    tic = time.perf_counter()
    if callable(precond):
        setup_ = precond(A, device=dev, dtype=dt, norm=norm)
        label = str(getattr(precond, "label", "custom"))
    else:
        setup_ = SolveSetup(M=None if precond == "none" else preconditioner(precond, A, device=dev, dtype=dt))
        label = precond
    if setup_.dtype is not None and setup_.dtype != dt:
        setup_.report.setdefault("requested_dtype", dtype)
        dt, dtype = setup_.dtype, str(setup_.dtype).removeprefix("torch.")
    M, solver, extra = setup_.M, setup_.solver, setup_.report
    if dev.type == "cuda":
        torch.cuda.synchronize()
    setup = time.perf_counter() - tic
    from sciml.linalg.sparse import from_scipy

    A_t = from_scipy(A, device=dev, dtype=dt)
    b_t = torch.from_numpy(b).to(dev, dt)
    A_t @ b_t  # the first sparse product initialises torch's kernels (about 0.5 s on CPU); keep it out of the timing
    tic = time.perf_counter()
    if solver is not None:
        result = solver.solve(A, b_t, rtol=rtol, atol=atol, maxiter=maxiter)
    else:
        result = pcg(A_t, b_t, M, rtol=rtol, atol=atol, maxiter=maxiter, norm=norm)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    solve = time.perf_counter() - tic
    x = result.x.double().cpu().numpy()
    ord_ = np.inf if norm == "max" else 2
    b_norm = float(np.linalg.norm(b, ord_))
    true_norm = float(np.linalg.norm(b - A @ x, ord_))
    true_residual = true_norm / max(b_norm, 1e-300)
    # CG stops on its recursively updated residual; in float32 the true one can stall far above it
    meets = true_norm <= 1.01 * max(rtol * b_norm, atol)
    return {"matrix": str(matrix), "n": A.shape[0], "nnz": int(A.nnz), "precond": label, "device": str(dev),
            "dtype": dtype, "rtol": rtol, "iterations": result.iterations, "converged": result.converged,
            "status": result.status.value, "message": result.status.message,
            "relative_residual": true_residual, "norm": norm, "true_residual_meets_tolerance": meets,
            "setup_seconds": setup, "solve_seconds": solve,
            "seconds_per_iteration": solve / max(result.iterations, 1), **extra}
