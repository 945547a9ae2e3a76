"""Preconditioned conjugate gradients in torch: batched, any device, honest about failure."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import torch

from sciml._errors import DataError, SciMLError

__all__ = ["pcg", "SolveResult", "SolveStatus", "SolveError", "as_operator"]


STAGNATION_INTERVAL = 10  # iterations between stagnation checks
STAGNATION_CHECKS = 3  # consecutive checks with round-off-sized updates that end a solve


class SolveStatus(enum.Enum):
    """How an iterative solve ended; ``message`` says what to try."""

    CONVERGED = "converged"
    MAX_ITERATIONS = "max_iterations"
    BREAKDOWN = "breakdown"
    PRECONDITIONER_BREAKDOWN = "preconditioner_breakdown"
    STAGNATION = "stagnation"
    NON_FINITE = "non_finite"

    @property
    def message(self) -> str:
        return {
            SolveStatus.CONVERGED: "converged to the requested tolerance",
            SolveStatus.MAX_ITERATIONS: "reached maxiter before the tolerance; raise maxiter or use a stronger "
                                        "preconditioner (ic0, amg)",
            SolveStatus.BREAKDOWN: "p^T A p <= 0: the matrix is not symmetric positive definite; CG does not apply "
                                   "(use MINRES/GMRES, or check the assembly)",
            SolveStatus.PRECONDITIONER_BREAKDOWN: "r^T M^-1 r <= 0 for r != 0: the preconditioner is not symmetric positive "
                                                  "definite; try jacobi or amg",
            SolveStatus.STAGNATION: "the iterates stopped changing before the tolerance was met; the tolerance may "
                                    "be below what this precision can reach (use float64 or a larger rtol)",
            SolveStatus.NON_FINITE: "NaN or Inf appeared in the iteration; check the matrix, right-hand side and "
                                    "preconditioner for non-finite values",
        }[self]


class SolveError(SciMLError):
    """An iterative solve failed and ``raise_on_failure=True`` was asked for."""

    def __init__(self, result: "SolveResult"):
        self.result = result
        super().__init__(result.summary())


@dataclass(frozen=True)
class SolveResult:
    """Outcome of an iterative solve.

    Attributes
    ----------
    x : solution, ``(n,)`` or ``(batch, n)`` like the right-hand side
    converged : bool, or bool tensor ``(batch,)``
    iterations : int, or int tensor ``(batch,)``
    residual_norms : ``(iterations + 1,)`` or ``(batch, max_iterations + 1)``; the first entry is the
        initial residual; for batches, entries after a system stopped are NaN
    status : :class:`SolveStatus`, or a tuple of them for batches
    """

    x: torch.Tensor
    converged: Any
    iterations: Any
    residual_norms: torch.Tensor
    status: Any

    @property
    def batched(self) -> bool:
        return self.x.ndim == 2

    def summary(self) -> str:
        statuses = self.status if self.batched else (self.status,)
        failed = [s for s in statuses if s is not SolveStatus.CONVERGED]
        if not failed:
            return f"converged ({self.iterations if not self.batched else int(self.iterations.max())} iterations)"
        worst = failed[0]
        count = f"{len(failed)} of {len(statuses)} systems: " if self.batched else ""
        return f"solve did not converge ({count}{worst.value}): {worst.message}"


def as_operator(A: Any, n: int, device: torch.device, dtype: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function ``X (batch, n) -> A X (batch, n)`` for a supported matrix type, after checking its shape."""
    from sciml.linalg.sparse import BatchedCSR, as_csr, is_torch_sparse

    if isinstance(A, BatchedCSR):
        if A.n != n:
            raise DataError(f"A has shape {A.shape} but b has {n} entries per system")
        Ab = A.to(device=device, dtype=dtype)
        return Ab.matvec
    if sp.issparse(A) or is_torch_sparse(A) or isinstance(A, np.ndarray) or (
            isinstance(A, torch.Tensor) and A.ndim == 2):
        shape = tuple(A.shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise DataError(f"A must be square, got shape {shape}")
        if shape[0] != n:
            raise DataError(f"A has shape {shape} but b has shape ({n},)")
        if isinstance(A, torch.Tensor) and A.layout == torch.strided:
            dense = A.to(device=device, dtype=dtype)
            return lambda X: X @ dense.T
        csr = as_csr(A, device=device, dtype=dtype)
        if not torch.isfinite(csr.values()).all():
            raise DataError("A contains NaN or Inf")
        if _loop_columns(device):
            return lambda X: torch.stack([csr @ row for row in X]) if X.shape[0] > 1 else (csr @ X[0]).unsqueeze(0)
        return lambda X: (csr @ X.T).T
    if isinstance(A, torch.Tensor) and A.ndim == 3:
        if A.shape[1:] != (n, n):
            raise DataError(f"A has shape {tuple(A.shape)} but b has {n} entries per system")
        dense = A.to(device=device, dtype=dtype)
        return lambda X: torch.bmm(dense, X.unsqueeze(-1)).squeeze(-1)
    if callable(A):
        return A
    raise DataError(f"cannot use a {type(A).__name__} as A")


def _loop_columns(device: torch.device) -> bool:
    # torch's CPU CSR x dense-matrix product is several times slower than one SpMV per column
    return device.type == "cpu"


def _apply_preconditioner(M: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    if M is None:
        return lambda R: R
    apply = getattr(M, "apply", None)
    if apply is not None:
        return apply
    if callable(M):
        return M
    raise DataError(f"M must be None, a preconditioner with apply(r), or a callable; got {type(M).__name__}")


def pcg(A: Any, b: Any, M: Any = None, *, x0: Any = None, rtol: float = 1e-8, atol: float = 0.0,
        maxiter: int | None = None, norm: str = "l2", raise_on_failure: bool = False) -> SolveResult:
    """Solve ``A x = b`` for symmetric positive definite ``A`` by preconditioned conjugate gradients.

    Converged when ``||b - A x|| <= max(rtol * ||b||, atol)``, per system, with ``||.||`` the
    Euclidean norm (``norm="l2"``) or the max-norm (``norm="max"``, the stopping rule of
    Li et al., arXiv 2305.16432). The residual is the recursively updated one, as in scipy.

    Parameters
    ----------
    A : scipy sparse matrix, torch sparse (CSR/COO) or dense ``(n, n)`` tensor, a :class:`~sciml.linalg.BatchedCSR`
        or dense ``(batch, n, n)`` tensor of several systems, or a callable ``X (batch, n) -> A X``
    b : right-hand side(s), ``(n,)`` or ``(batch, n)``, tensor or array; sets the device and dtype
    M : preconditioner: ``None``, an object with ``apply(r)`` (``r (batch, n)``) approximating
        ``A^-1 r``, or such a callable; must be symmetric positive definite
    x0 : initial guess, shape of ``b`` (default zeros)
    rtol, atol : tolerances (keyword-only)
    maxiter : iteration limit (default ``10 n``)
    norm : ``"l2"`` or ``"max"``
    raise_on_failure : raise :class:`SolveError` when any system does not converge

    Returns
    -------
    SolveResult

    Notes
    -----
    Breakdown is detected, not hidden: ``p^T A p <= 0`` (A not SPD) gives ``BREAKDOWN`` and
    ``r^T z < 0`` (M not SPD) gives ``PRECONDITIONER_BREAKDOWN``; those systems stop with the
    last iterate. ``STAGNATION``: every 10 iterations the update ``|alpha| ||p||`` is compared with
    machine epsilon times ``||x||``; three such checks in a row end the solve (the tolerance is below
    what the dtype can reach). Systems of a batch converge independently; finished ones stop
    changing. The iteration works in place and is not differentiable.
    """
    if norm not in ("l2", "max"):
        raise DataError(f"unknown norm {norm!r}; choose one of l2, max")
    if not (rtol >= 0 and atol >= 0):
        raise DataError(f"rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    b_t = torch.as_tensor(b)
    if not b_t.is_floating_point():
        b_t = b_t.to(torch.float64)
    single = b_t.ndim == 1
    if b_t.ndim not in (1, 2):
        raise DataError(f"b must have shape (n,) or (batch, n), got {tuple(b_t.shape)}")
    B = b_t.unsqueeze(0) if single else b_t
    batch, n = B.shape
    if not torch.isfinite(B).all():
        raise DataError("b contains NaN or Inf")
    device, dtype = B.device, B.dtype
    if (isinstance(A, torch.Tensor) and A.ndim == 3) or type(A).__name__ == "BatchedCSR":
        if A.shape[0] != batch:
            raise DataError(f"A holds {A.shape[0]} systems but b holds {batch}")
    matvec = as_operator(A, n, device, dtype)
    precondition = _apply_preconditioner(M)
    maxiter = 10 * n if maxiter is None else int(maxiter)
    if maxiter < 0:
        raise DataError(f"maxiter must be non-negative, got {maxiter}")

    def vnorm(V: torch.Tensor) -> torch.Tensor:
        return V.abs().amax(dim=-1) if norm == "max" else torch.linalg.vector_norm(V, dim=-1)

    if x0 is None:
        X = torch.zeros_like(B)
        R = B.clone()
    else:
        X0 = torch.as_tensor(x0, device=device, dtype=dtype)
        if X0.shape != b_t.shape:
            raise DataError(f"x0 has shape {tuple(X0.shape)} but b has shape {tuple(b_t.shape)}")
        X = X0.reshape(B.shape).clone()
        if not torch.isfinite(X).all():
            raise DataError("x0 contains NaN or Inf")
        R = B - matvec(X)
    threshold = torch.clamp(rtol * vnorm(B), min=atol)
    if batch == 1:
        return _pcg_one(matvec, precondition, X, R, float(threshold[0]), vnorm, maxiter, single=single,
                        raise_on_failure=raise_on_failure)
    residual = vnorm(R)
    history = [residual.clone()]
    status = [SolveStatus.MAX_ITERATIONS] * batch
    iterations = torch.zeros(batch, dtype=torch.int64, device=device)
    active = ~(residual <= threshold)
    for i in torch.nonzero(~active).flatten().tolist():
        status[i] = SolveStatus.CONVERGED
    eps = torch.finfo(dtype).eps
    quiet_checks = torch.zeros(batch, dtype=torch.int64, device=device)
    nan = torch.full((batch,), float("nan"), dtype=dtype, device=device)

    def stop(mask: torch.Tensor, why: SolveStatus) -> None:
        nonlocal active
        for i in torch.nonzero(mask & active).flatten().tolist():
            status[i] = why
        active = active & ~mask

    Z = precondition(R)
    P = Z.clone()  # P is updated in place; Z may be R itself (no preconditioner)
    rz = (R * Z).sum(-1)
    # an active system has r != 0, so r^T M^-1 r must be positive for an SPD preconditioner
    if bool((active & ~(rz > 0)).any()):
        stop(~torch.isfinite(rz), SolveStatus.NON_FINITE)
        stop(rz <= 0, SolveStatus.PRECONDITIONER_BREAKDOWN)
    # One pass per iteration; the device syncs only on the few `.any()` checks. Events (breakdown,
    # convergence, stagnation) are classified only when one occurs.
    for it in range(1, maxiter + 1):
        if not bool(active.any()):
            break
        AP = matvec(P)
        pAp = (P * AP).sum(-1)
        if bool((active & ~(pAp > 0)).any()):
            stop(~torch.isfinite(pAp), SolveStatus.NON_FINITE)
            stop(pAp <= 0, SolveStatus.BREAKDOWN)
            if not bool(active.any()):
                break
        alpha = torch.where(active, rz / torch.where(active, pAp, torch.ones_like(pAp)), torch.zeros_like(rz))
        X.addcmul_(alpha.unsqueeze(-1), P)
        R.addcmul_(alpha.unsqueeze(-1), AP, value=-1.0)
        residual = vnorm(R)
        iterations += active.long()
        history.append(torch.where(active, residual, nan))
        finished = active & ~(residual > threshold)
        if it % STAGNATION_INTERVAL == 0:
            # the update alpha p has fallen below round-off of x at several checks in a row
            small = alpha.abs() * torch.linalg.vector_norm(P, dim=-1) <= eps * torch.linalg.vector_norm(X, dim=-1)
            quiet_checks = torch.where(small & active, quiet_checks + 1, torch.zeros_like(quiet_checks))
            finished = finished | (quiet_checks >= STAGNATION_CHECKS)
        if bool(finished.any()):
            stop(~torch.isfinite(residual), SolveStatus.NON_FINITE)
            stop(residual <= threshold, SolveStatus.CONVERGED)
            stop(quiet_checks >= STAGNATION_CHECKS, SolveStatus.STAGNATION)
            if not bool(active.any()):
                break
        Z = precondition(R)
        rz_new = (R * Z).sum(-1)
        if bool((active & ~(rz_new > 0)).any()):
            stop(~torch.isfinite(rz_new), SolveStatus.NON_FINITE)
            stop(rz_new <= 0, SolveStatus.PRECONDITIONER_BREAKDOWN)
            if not bool(active.any()):
                break
        beta = torch.where(active, rz_new / torch.where(rz == 0, torch.ones_like(rz), rz), torch.zeros_like(rz))
        P.mul_(beta.unsqueeze(-1)).add_(Z)
        rz = torch.where(active, rz_new, rz)
    return finish(X, status, iterations, history, single=single, raise_on_failure=raise_on_failure)


def _pcg_one(matvec, precondition, X: torch.Tensor, R: torch.Tensor, threshold: float, vnorm, maxiter: int, *,
             single: bool, raise_on_failure: bool) -> SolveResult:
    """The same iteration as :func:`pcg` for one system, with scalar bookkeeping: fewer kernel
    launches per iteration (it matters below about 10^5 unknowns on a CPU)."""
    x, r = X[0], R[0]
    eps = torch.finfo(x.dtype).eps
    residual = float(vnorm(r))
    history = [residual]
    status = SolveStatus.CONVERGED if residual <= threshold else SolveStatus.MAX_ITERATIONS
    z = precondition(R)[0]
    p = z.clone()
    rz = float(torch.dot(r, z))
    quiet_checks = 0
    if status is not SolveStatus.CONVERGED and not rz > 0:
        status = SolveStatus.NON_FINITE if not math.isfinite(rz) else SolveStatus.PRECONDITIONER_BREAKDOWN
    iterations = 0
    while status is SolveStatus.MAX_ITERATIONS and iterations < maxiter:
        Ap = matvec(p.unsqueeze(0))[0]
        pAp = float(torch.dot(p, Ap))
        if not pAp > 0:
            status = SolveStatus.NON_FINITE if not math.isfinite(pAp) else SolveStatus.BREAKDOWN
            break
        alpha = rz / pAp
        x.add_(p, alpha=alpha)
        r.add_(Ap, alpha=-alpha)
        residual = float(vnorm(r))
        iterations += 1
        history.append(residual)
        if not math.isfinite(residual):
            status = SolveStatus.NON_FINITE
            break
        if residual <= threshold:
            status = SolveStatus.CONVERGED
            break
        if iterations % STAGNATION_INTERVAL == 0:
            small = abs(alpha) * float(torch.linalg.vector_norm(p)) <= eps * float(torch.linalg.vector_norm(x))
            quiet_checks = quiet_checks + 1 if small else 0
            if quiet_checks >= STAGNATION_CHECKS:
                status = SolveStatus.STAGNATION
                break
        z = precondition(r.unsqueeze(0))[0]
        rz_new = float(torch.dot(r, z))
        if not rz_new > 0:
            status = SolveStatus.NON_FINITE if not math.isfinite(rz_new) else SolveStatus.PRECONDITIONER_BREAKDOWN
            break
        p.mul_(rz_new / rz if rz != 0 else 0.0).add_(z)
        rz = rz_new
    norms = torch.tensor(history, dtype=x.dtype, device=x.device)
    return finish(x.unsqueeze(0), [status], torch.tensor([iterations], device=x.device), [norms.unsqueeze(0)],
                  single=single, raise_on_failure=raise_on_failure, stacked=True)


def finish(X: torch.Tensor, status: list[SolveStatus], iterations: torch.Tensor, history: list[torch.Tensor], *,
           single: bool, raise_on_failure: bool, stacked: bool = False) -> SolveResult:
    """Pack a batched iteration's state into a :class:`SolveResult` (unbatched when ``single``).

    ``history`` holds one ``(batch,)`` tensor per iteration, or (``stacked``) one ``(batch, iterations + 1)``.
    """
    norms = history[0] if stacked else torch.stack(history, dim=-1)
    converged = torch.tensor([s is SolveStatus.CONVERGED for s in status], device=X.device)
    if single:
        result = SolveResult(x=X[0], converged=bool(converged[0]), iterations=int(iterations[0]),
                             residual_norms=norms[0, : int(iterations[0]) + 1], status=status[0])
    else:
        result = SolveResult(x=X, converged=converged, iterations=iterations, residual_norms=norms,
                             status=tuple(status))
    if raise_on_failure and not bool(converged.all()):
        raise SolveError(result)
    return result
