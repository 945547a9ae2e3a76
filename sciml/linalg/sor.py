"""SOR and SSOR as stand-alone iterative solvers (the iteration the bandit-tuned SOR of
Khodak et al., arXiv 2310.02246, picks ``omega`` for)."""

from __future__ import annotations

from typing import Any

import scipy.sparse as sp
import torch

from sciml._errors import ConfigError, DataError
from sciml.linalg.krylov import SolveResult, SolveStatus, finish

__all__ = ["sor"]


def sor(A: Any, b: Any, *, omega: float = 1.0, symmetric: bool = False, x0: Any = None, rtol: float = 1e-8,
        atol: float = 0.0, maxiter: int = 10000, method: str = "auto", raise_on_failure: bool = False) -> SolveResult:
    """Solve ``A x = b`` by successive over-relaxation (``symmetric=True``: SSOR sweeps).

    One SOR iteration is ``x <- x + (D/omega + L)^-1 (b - A x)``; an SSOR iteration follows it with
    the backward sweep ``x <- x + (D/omega + U)^-1 (b - A x)``. Converged when
    ``||b - A x||_2 <= max(rtol ||b||_2, atol)``. Converges for SPD ``A`` and ``0 < omega < 2``.

    Parameters
    ----------
    A : scipy sparse or torch sparse/dense matrix ``(n, n)`` with a non-zero diagonal
    b : ``(n,)`` or ``(batch, n)``; sets device and dtype
    omega : relaxation factor in ``(0, 2)``
    method : triangular-solve method (see :class:`~sciml.linalg.TriangularSolver`)

    Returns
    -------
    SolveResult; ``iterations`` counts sweeps (an SSOR iteration is two sweeps counted as one).
    """
    from sciml.linalg.krylov import as_operator
    from sciml.linalg.precond import _scipy_csr
    from sciml.linalg.triangular import TriangularSolver

    if not 0 < omega < 2:
        raise ConfigError(f"SOR needs 0 < omega < 2, got {omega}")
    b_t = torch.as_tensor(b)
    if not b_t.is_floating_point():
        b_t = b_t.to(torch.float64)
    single = b_t.ndim == 1
    B = b_t.unsqueeze(0) if single else b_t
    if B.ndim != 2 or not torch.isfinite(B).all():
        raise DataError(f"b must be finite with shape (n,) or (batch, n), got {tuple(b_t.shape)}")
    csr = _scipy_csr(A)
    if csr.shape[0] != B.shape[1]:
        raise DataError(f"A has shape {csr.shape} but b has {B.shape[1]} entries")
    d = csr.diagonal()
    if (d == 0).any():
        raise DataError(f"A has a zero diagonal entry at row {int((d == 0).nonzero()[0][0])}; SOR needs a "
                        f"non-zero diagonal")
    scaled = sp.diags(d / omega)
    forward = TriangularSolver(sp.tril(csr, k=-1) + scaled, lower=True, device=B.device, dtype=B.dtype, method=method)
    backward = (TriangularSolver(sp.triu(csr, k=1) + scaled, lower=False, device=B.device, dtype=B.dtype,
                                 method=method) if symmetric else None)
    matvec = as_operator(csr, B.shape[1], B.device, B.dtype)
    if x0 is None:
        X = torch.zeros_like(B)
    else:
        X0 = torch.as_tensor(x0, device=B.device, dtype=B.dtype)
        if X0.shape != b_t.shape or not torch.isfinite(X0).all():
            raise DataError(f"x0 must be finite with the shape of b {tuple(b_t.shape)}, got {tuple(X0.shape)}")
        X = X0.reshape(B.shape).clone()
    threshold = torch.clamp(rtol * torch.linalg.vector_norm(B, dim=-1), min=atol)
    R = B - matvec(X)
    residual = torch.linalg.vector_norm(R, dim=-1)
    history = [residual]
    active = ~(residual <= threshold)
    iterations = torch.zeros(B.shape[0], dtype=torch.int64, device=B.device)
    status = [SolveStatus.CONVERGED if not a else SolveStatus.MAX_ITERATIONS for a in active.tolist()]
    for _ in range(maxiter):
        if not bool(active.any()):
            break
        mask = active.unsqueeze(-1)
        X = torch.where(mask, X + forward.solve(R), X)
        if backward is not None:
            R = B - matvec(X)
            X = torch.where(mask, X + backward.solve(R), X)
        R = B - matvec(X)
        residual = torch.linalg.vector_norm(R, dim=-1)
        iterations = iterations + active.long()
        history.append(torch.where(active, residual, torch.full_like(residual, float("nan"))))
        for i in torch.nonzero(active & ~torch.isfinite(residual)).flatten().tolist():
            status[i] = SolveStatus.NON_FINITE
        for i in torch.nonzero(active & (residual <= threshold)).flatten().tolist():
            status[i] = SolveStatus.CONVERGED
        active = active & torch.isfinite(residual) & (residual > threshold)
    return finish(X, status, iterations, history, single=single, raise_on_failure=raise_on_failure)
