"""Preconditioners behind one protocol: set up once, ``apply(r)`` many times, ``as_linear_operator()`` for scipy.

Each approximates ``A^-1`` for a symmetric positive definite ``A`` and is itself symmetric
positive definite, so it serves :func:`sciml.linalg.pcg` and ``scipy.sparse.linalg.cg(A, b, M=...)``
alike. ``setup_seconds`` records the set-up time (for a learned preconditioner, network inference
counts as set-up).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from sciml._errors import ConfigError, DataError

__all__ = ["Preconditioner", "Identity", "Jacobi", "SSOR", "IC0", "AMG", "preconditioner", "PRECONDITIONERS"]


def _scipy_csr(A: Any) -> sp.csr_matrix:
    from sciml.linalg.sparse import is_torch_sparse, to_scipy

    if sp.issparse(A):
        csr = sp.csr_matrix(A, dtype=np.float64)
    elif is_torch_sparse(A):
        csr = to_scipy(A).astype(np.float64)
    elif isinstance(A, (np.ndarray, torch.Tensor)) and np.ndim(A) == 2:
        csr = sp.csr_matrix(torch.as_tensor(A).detach().cpu().numpy().astype(np.float64))
    else:
        raise DataError(f"cannot build a preconditioner from a {type(A).__name__}; give a sparse or dense matrix")
    if csr.shape[0] != csr.shape[1]:
        raise DataError(f"A must be square, got shape {csr.shape}")
    if not np.all(np.isfinite(csr.data)):
        raise DataError("A contains NaN or Inf")
    csr.sum_duplicates()
    csr.sort_indices()
    return csr


class Preconditioner:
    """Base class. Subclasses set ``n``, ``device``, ``dtype`` in ``__init__`` and implement ``_apply``.

    Shapes
    ------
    ``apply(r)``: ``r (n,)`` or ``(batch, n)`` -> same shape.
    """

    name = "base"

    def __init__(self, n: int, device: str | torch.device | None, dtype: torch.dtype | None):
        self.n = n
        self.device = torch.device(device or "cpu")
        self.dtype = dtype or torch.float64
        self.setup_seconds = 0.0

    def apply(self, r: torch.Tensor) -> torch.Tensor:
        """``z = M^-1 r`` for one residual ``(n,)`` or a batch ``(batch, n)``."""
        if r.shape[-1] != self.n or r.ndim not in (1, 2):
            raise DataError(f"r has shape {tuple(r.shape)}, expected ({self.n},) or (batch, {self.n})")
        if r.ndim == 1:
            return self._apply(r.unsqueeze(0))[0]
        return self._apply(r)

    def _apply(self, R: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def as_linear_operator(self) -> spla.LinearOperator:
        """This preconditioner as a scipy ``LinearOperator`` (float64, CPU arrays), for ``scipy.sparse.linalg.cg``."""
        from sciml.runtime import torch_threads

        def matvec(r: np.ndarray) -> np.ndarray:
            t = torch.from_numpy(np.ascontiguousarray(r, dtype=np.float64).reshape(-1)).to(self.device, self.dtype)
            # scipy's CG runs numpy BLAS between our calls; torch threads contending with it cost 20x here
            with torch_threads(1) if self.device.type == "cpu" else contextlib.nullcontext():
                z = self.apply(t)
            return z.detach().cpu().numpy().astype(np.float64)

        return spla.LinearOperator((self.n, self.n), matvec=matvec, rmatvec=matvec, dtype=np.float64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, setup_seconds={self.setup_seconds:.3g})"


class Identity(Preconditioner):
    """No preconditioning (``M = I``)."""

    name = "none"

    def __init__(self, A: Any, *, device=None, dtype=None):
        super().__init__(_scipy_csr(A).shape[0] if not isinstance(A, int) else A, device, dtype)

    def _apply(self, R: torch.Tensor) -> torch.Tensor:
        return R


def _positive_diagonal(csr: sp.csr_matrix) -> np.ndarray:
    d = csr.diagonal()
    bad = np.flatnonzero(~(d > 0))
    if len(bad):
        raise DataError(f"A has a non-positive diagonal entry A[{bad[0]}, {bad[0]}] = {d[bad[0]]}; "
                        f"an SPD matrix has a positive diagonal")
    return d


class Jacobi(Preconditioner):
    """Diagonal scaling, ``M = diag(A)``."""

    name = "jacobi"

    def __init__(self, A: Any, *, device=None, dtype=None):
        tic = time.perf_counter()
        csr = _scipy_csr(A)
        super().__init__(csr.shape[0], device, dtype)
        self.inv_diag = torch.from_numpy(1.0 / _positive_diagonal(csr)).to(self.device, self.dtype)
        self.setup_seconds = time.perf_counter() - tic

    def _apply(self, R: torch.Tensor) -> torch.Tensor:
        return R * self.inv_diag.to(R.dtype)


class SSOR(Preconditioner):
    """Symmetric successive over-relaxation, ``0 < w < 2``:
    ``M = (D + wL) D^-1 (D + wU) / (w (2 - w)) = (D/w + L) (D/w)^-1 (D/w + U) / (2 - w)``.

    Applied by a forward and a backward sparse triangular solve (:class:`~sciml.linalg.TriangularSolver`).
    """

    name = "ssor"

    def __init__(self, A: Any, *, omega: float = 1.0, device=None, dtype=None, method: str = "auto"):
        from sciml.linalg.triangular import TriangularSolver

        if not 0 < omega < 2:
            raise ConfigError(f"SSOR needs 0 < omega < 2, got {omega}")
        tic = time.perf_counter()
        csr = _scipy_csr(A)
        super().__init__(csr.shape[0], device, dtype)
        d = _positive_diagonal(csr)
        self.omega = omega
        scaled = sp.diags(d / omega)
        self.lower = TriangularSolver(sp.tril(csr, k=-1) + scaled, lower=True, device=self.device, dtype=self.dtype,
                                      method=method)
        self.upper = TriangularSolver(sp.triu(csr, k=1) + scaled, lower=False, device=self.device, dtype=self.dtype,
                                      method=method)
        self.diag_over_omega = torch.from_numpy(d / omega).to(self.device, self.dtype)
        self.scale = 2.0 - omega
        self.setup_seconds = time.perf_counter() - tic

    def _apply(self, R: torch.Tensor) -> torch.Tensor:
        y = self.lower.solve(R)
        return self.upper.solve(y * self.diag_over_omega) * self.scale


class IC0(Preconditioner):
    """Zero fill-in incomplete Cholesky, ``M = L L^T`` with ``L`` on the pattern of ``tril(A)``.

    When a pivot is not positive the factorisation is redone on ``A + alpha diag(A)``
    (Manteuffel's shift; ``alpha`` doubles from 1e-3) and ``shift`` records ``alpha``; see
    :func:`sciml.linalg._ic0.ic0`. Applied by two sparse triangular solves.
    """

    name = "ic0"

    def __init__(self, A: Any, *, device=None, dtype=None, method: str = "auto"):
        from sciml.linalg._ic0 import ic0
        from sciml.linalg.triangular import TriangularSolver

        tic = time.perf_counter()
        csr = _scipy_csr(A)
        super().__init__(csr.shape[0], device, dtype)
        factor = ic0(csr)
        self.shift = factor.shift
        self.L = factor.L
        self.lower = TriangularSolver(factor.L, lower=True, device=self.device, dtype=self.dtype, method=method)
        self.upper = TriangularSolver(factor.L.T.tocsr(), lower=False, device=self.device, dtype=self.dtype,
                                      method=method)
        self.setup_seconds = time.perf_counter() - tic

    def _apply(self, R: torch.Tensor) -> torch.Tensor:
        return self.upper.solve(self.lower.solve(R))


class AMG(Preconditioner):
    """One V-cycle of algebraic multigrid from pyamg: smoothed aggregation (``kind="sa"``) or Ruge-Stuben (``"rs"``).

    The hierarchy lives on the CPU in float64 (pyamg); torch residuals are moved there and back.
    ``as_linear_operator()`` returns pyamg's own operator, with no torch round trip.
    """

    name = "amg"
    KINDS = ("sa", "rs")

    def __init__(self, A: Any, *, kind: str = "sa", device=None, dtype=None, **pyamg_options):
        import pyamg

        if kind not in self.KINDS:
            raise ConfigError(f"unknown AMG kind {kind!r}; choose one of {', '.join(self.KINDS)}")
        tic = time.perf_counter()
        csr = _scipy_csr(A)
        super().__init__(csr.shape[0], device, dtype)
        self.kind = kind
        build = pyamg.smoothed_aggregation_solver if kind == "sa" else pyamg.ruge_stuben_solver
        self.hierarchy = build(csr, **pyamg_options)
        self._operator = self.hierarchy.aspreconditioner(cycle="V")
        self.setup_seconds = time.perf_counter() - tic

    def _apply(self, R: torch.Tensor) -> torch.Tensor:
        from sciml.runtime import blas_threads

        host = R.detach().to("cpu", torch.float64).numpy()
        with blas_threads(1):  # numpy's BLAS threads would fight torch's for the cores (4x slower)
            out = np.stack([self._operator.matvec(row) for row in host])
        return torch.from_numpy(out).to(R.device, R.dtype)

    def as_linear_operator(self) -> spla.LinearOperator:
        return self._operator


PRECONDITIONERS: dict[str, Callable[..., Preconditioner]] = {
    "none": Identity,
    "jacobi": Jacobi,
    "ssor": SSOR,
    "ic0": IC0,
    "amg": AMG,
    "amg-sa": lambda A, **kw: AMG(A, kind="sa", **kw),
    "amg-rs": lambda A, **kw: AMG(A, kind="rs", **kw),
}


def preconditioner(name: str, A: Any, **options) -> Preconditioner:
    """Build the preconditioner called ``name`` for ``A``; an unknown name lists the choices.

    ``options`` go to the class (``omega`` for ssor, ``kind`` for amg, ``device``/``dtype`` for all).
    """
    if name not in PRECONDITIONERS:
        raise ConfigError(f"unknown preconditioner {name!r}; choose one of {', '.join(PRECONDITIONERS)}")
    try:
        return PRECONDITIONERS[name](A, **options)
    except TypeError as exc:
        raise ConfigError(f"preconditioner {name!r}: {exc}") from exc
