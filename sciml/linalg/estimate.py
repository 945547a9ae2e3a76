"""How good a preconditioner is on a given matrix, from a few PCG steps on a random right-hand side.

``k`` steps of preconditioned CG on ``A x = b`` with ``b ~ N(0, I)`` (seeded) give two things
(``k`` is at least ``steps``, and grows until it is ``fraction`` of the iterations predicted so far,
up to ``max_steps``; the longer the solve, the longer the early phase that misleads a short probe):

* **The spectrum of** ``M^-1 A``. The CG coefficients are those of the Lanczos process on
  ``M^-1 A`` (Saad, *Iterative Methods for Sparse Linear Systems*, section 6.7.3): with step
  lengths ``alpha_j`` and ``beta_j = (r_{j+1}^T z_{j+1}) / (r_j^T z_j)`` the tridiagonal ``T_k`` has
  diagonal ``1 / alpha_j + beta_{j-1} / alpha_{j-1}`` and off-diagonal ``sqrt(beta_j) / alpha_j``,
  and its eigenvalues (Ritz values) lie inside ``[lambda_min, lambda_max]`` of ``M^-1 A`` and move
  out to them as ``k`` grows: ``lambda_max`` within a few steps, ``lambda_min`` slowly, so that
  ``lambda_max / lambda_min`` of ``T_k`` *underestimates* the condition number.
* **The convergence rate.** The relative residual ``||r_j|| / ||b||`` (its running minimum: CG's
  residual is not monotone) is fitted by a straight line in ``log`` over the last two thirds of the
  steps, and the iterations to ``rtol`` are predicted by extending that line. CG converges
  superlinearly, so the prediction is usually high (measured: about 1.5x the true count,
  ``docs/learned-preconditioners.md``); it is meant for *comparing* preconditioners on one matrix.
  A learned factor whose ``M^-1 A`` has a few large eigenvalues barely reduces the residual in its
  first steps and then converges faster than IC(0): the Ritz condition number and the average rate
  over all steps rank it wrongly, the rate over the last two thirds of a long enough probe does not.

``T_k`` is positive definite as long as every ``alpha_j > 0``, i.e. as long as ``p^T A p > 0`` and
``r^T M^-1 r > 0``; a negative Ritz value cannot appear without one of them failing first, and
each failure is a proof, reported in the status: ``r^T M^-1 r <= 0`` for some ``r != 0`` means
``M`` (hence ``M^-1 A``) is not positive definite, ``p^T A p <= 0`` that ``A`` is not.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import torch

from sciml._errors import ConfigError, DataError

__all__ = ["estimate_condition", "ConditionEstimate", "EstimateStatus", "DEFAULT_STEPS", "DEFAULT_FRACTION",
           "DEFAULT_MAX_STEPS"]

# At least 16 steps, and at least 15% of the predicted iterations: the smallest setting with which the
# predictions ordered a learned factor and IC(0) right on every held-out system whose true iterations
# differed by 10% or more, from 1024 to 65536 unknowns (``sciml bench precond-ood``, the step study)
DEFAULT_STEPS = 16
DEFAULT_FRACTION = 0.15
DEFAULT_MAX_STEPS = 200


class EstimateStatus(enum.Enum):
    """How a probe ended; ``message`` says what it means."""

    OK = "ok"
    CONVERGED = "converged"
    NO_PROGRESS = "no_progress"
    INDEFINITE_PRECONDITIONER = "indefinite_preconditioner"
    INDEFINITE_MATRIX = "indefinite_matrix"
    NON_FINITE = "non_finite"

    @property
    def message(self) -> str:
        return {
            EstimateStatus.OK: "the probe ran all its steps; the preconditioned operator looked SPD",
            EstimateStatus.CONVERGED: "the probe reached rtol within its steps; the predicted iterations are the "
                                      "steps it took",
            EstimateStatus.NO_PROGRESS: "the residual did not fall over the last two thirds of the probe; no "
                                        "convergence is predicted",
            EstimateStatus.INDEFINITE_PRECONDITIONER: "r^T M^-1 r <= 0 for a residual r != 0: the preconditioner is "
                                                      "not symmetric positive definite on this matrix",
            EstimateStatus.INDEFINITE_MATRIX: "p^T A p <= 0: the matrix is not symmetric positive definite",
            EstimateStatus.NON_FINITE: "NaN or Inf appeared in the probe (matrix or preconditioner)",
        }[self]

    @property
    def spd(self) -> bool:
        """Whether the probe found nothing against ``M^-1 A`` being SPD."""
        return self in (EstimateStatus.OK, EstimateStatus.CONVERGED, EstimateStatus.NO_PROGRESS)


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class ConditionEstimate:
    """A preconditioner's quality on one matrix, from :func:`estimate_condition`.

    Attributes
    ----------
    status : :class:`EstimateStatus`
    steps : PCG steps run (fewer than the minimum when the probe converged or broke down, more when the
        predicted iterations asked for a longer probe)
    lambda_min, lambda_max : extreme Ritz values of ``T_k``; inside the true spectrum of ``M^-1 A``
        (``lambda_min`` from above, ``lambda_max`` from below); NaN when the operator is not SPD
    condition : ``lambda_max / lambda_min``, a lower estimate of the condition number; inf when not SPD
    residual_reduction : ``||r_k|| / ||r_0||`` after the last step
    convergence_rate : residual reduction per step fitted over the last two thirds of the probe
    predicted_iterations : PCG iterations to ``||r|| <= rtol ||b||`` (inf when none are predicted)
    rtol : the tolerance of the prediction
    seconds : wall time of the probe (the preconditioner's set-up is not included)
    seconds_per_step : the probe's time per step (one product with ``A``, one application of ``M``)
    ritz_values : ``(steps,)`` eigenvalues of ``T_k``, ascending (empty when not SPD)
    residual_norms : ``(steps + 1,)`` ``||r_j||``, the initial one first

    ``predicted_seconds``: predicted iterations times the seconds per step.
    """

    status: EstimateStatus
    steps: int
    lambda_min: float
    lambda_max: float
    condition: float
    residual_reduction: float
    convergence_rate: float
    predicted_iterations: float
    rtol: float
    seconds: float
    seconds_per_step: float
    ritz_values: np.ndarray = field(repr=False)
    residual_norms: np.ndarray = field(repr=False)

    @property
    def spd(self) -> bool:
        return self.status.spd

    @property
    def predicted_seconds(self) -> float:
        return self.predicted_iterations * self.seconds_per_step

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (non-finite ones as ``None``)."""
        return {"status": self.status.value, "message": self.status.message, "steps": self.steps,
                "lambda_min": _finite_or_none(self.lambda_min), "lambda_max": _finite_or_none(self.lambda_max),
                "condition": _finite_or_none(self.condition),
                "residual_reduction": _finite_or_none(self.residual_reduction),
                "convergence_rate": _finite_or_none(self.convergence_rate),
                "predicted_iterations": _finite_or_none(self.predicted_iterations),
                "predicted_seconds": _finite_or_none(self.predicted_seconds), "rtol": self.rtol,
                "seconds": self.seconds, "seconds_per_step": self.seconds_per_step}

    def summary(self) -> str:
        if not self.spd:
            return f"{self.status.value} after {self.steps} steps: {self.status.message}"
        its = "no convergence" if not math.isfinite(self.predicted_iterations) else \
            f"{self.predicted_iterations:.0f} iterations"
        return (f"{its} predicted to rtol {self.rtol:g}; Ritz values in [{self.lambda_min:.3g}, {self.lambda_max:.3g}] "
                f"(condition >= {self.condition:.3g}) after {self.steps} steps")


def _ritz_values(alphas: list[float], betas: list[float]) -> np.ndarray:
    """Eigenvalues of the Lanczos tridiagonal of ``k`` CG steps (``k`` alphas, ``k - 1`` betas)."""
    a = np.asarray(alphas, dtype=np.float64)
    b = np.asarray(betas[: len(a) - 1], dtype=np.float64)
    diagonal = 1.0 / a
    diagonal[1:] += b / a[:-1]
    return scipy.linalg.eigh_tridiagonal(diagonal, np.sqrt(b) / a[:-1], eigvals_only=True)


def _predict(relative: np.ndarray, rtol: float) -> tuple[float, float]:
    """``(rate per step, predicted iterations)`` from the relative residuals ``(k + 1,)`` of a probe.

    The least-squares slope of ``log`` of the running minimum over steps ``k // 3 .. k``, extended from step ``k``.
    """
    k = len(relative) - 1
    smoothed = np.minimum.accumulate(relative)
    j = np.arange(k // 3 if k >= 3 else 0, k + 1, dtype=np.float64)
    y = np.log(smoothed[j.astype(np.int64)])
    centred = j - j.mean()
    slope = float(centred @ (y - y.mean()) / (centred @ centred))
    if not slope < 0:
        return math.exp(slope), math.inf
    return math.exp(slope), k + max(0.0, (math.log(rtol) - math.log(smoothed[k])) / slope)


def estimate_condition(A: Any, M: Any = None, *, steps: int = DEFAULT_STEPS, fraction: float = DEFAULT_FRACTION,
                       max_steps: int = DEFAULT_MAX_STEPS, rtol: float = 1e-8, seed: int = 0,
                       device: str | torch.device | None = None,
                       dtype: torch.dtype | None = None) -> ConditionEstimate:
    """Estimate the spectrum of ``M^-1 A`` and the PCG iterations to ``rtol`` from a few PCG steps.

    The probe runs ``steps`` PCG steps, then continues while the steps run are fewer than
    ``fraction`` times the iterations predicted from them, up to ``max(steps, max_steps)``
    (``fraction=0``: exactly ``steps``); it stops early when it converges or breaks down.

    Parameters
    ----------
    A : SPD matrix ``(n, n)``: scipy sparse, torch sparse or dense tensor, numpy array
    M : the preconditioner (``None``, an object with ``apply(r)``, or a callable ``R (batch, n) -> (batch, n)``)
    steps : the probe's minimum PCG steps (each one product with ``A`` and one application of ``M``)
    fraction : grow the probe to this fraction of its predicted iterations, in [0, 1)
    max_steps : the longest probe
    rtol : the relative tolerance ``||r|| <= rtol ||b||`` the iterations are predicted for, in (0, 1)
    seed : the probe's right-hand side is ``numpy.random.default_rng(seed).standard_normal(n)``
    device, dtype : where the probe runs (default: ``M.device`` and ``M.dtype`` when ``M`` has them, else
        the CPU and float64)

    Returns
    -------
    ConditionEstimate

    Shapes: ``A (n, n)``; ``M.apply`` takes ``(batch, n)`` (here ``batch = 1``).

    Raises
    ------
    ConfigError
        ``steps`` or ``max_steps`` is not a positive integer, ``fraction`` not in [0, 1), ``rtol`` not in (0, 1),
        ``seed`` not a non-negative integer.
    DataError
        ``A`` is not a square matrix of a supported type, or holds NaN or Inf.
    """
    from sciml.linalg.krylov import _apply_preconditioner, as_operator

    for name, value in (("steps", steps), ("max_steps", max_steps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(fraction, (int, float)) and not isinstance(fraction, bool) and 0 <= fraction < 1):
        raise ConfigError(f"fraction must lie in [0, 1), got {fraction!r}")
    longest = max(int(steps), int(max_steps))
    if not (isinstance(rtol, (int, float)) and 0 < rtol < 1):
        raise ConfigError(f"rtol must lie in (0, 1) to predict iterations, got {rtol!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    shape = tuple(getattr(A, "shape", ()))
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise DataError(f"A must be a square matrix with at least one row, got {type(A).__name__} of shape {shape}")
    n = int(shape[0])
    device = torch.device(device if device is not None else getattr(M, "device", "cpu"))
    dtype = dtype or getattr(M, "dtype", None) or torch.float64
    matvec = as_operator(A, n, device, dtype)
    precondition = _apply_preconditioner(M)

    start = time.perf_counter()
    r = torch.from_numpy(np.random.default_rng(int(seed)).standard_normal((1, n))).to(device, dtype)
    norms = [float(torch.linalg.vector_norm(r))]
    alphas: list[float] = []
    betas: list[float] = []
    def preconditioned(r: torch.Tensor) -> tuple[torch.Tensor, float, EstimateStatus]:
        """``z = M r``, ``r.z`` and whether ``M`` is still positive on ``r``."""
        z = precondition(r)
        rz = float((r * z).sum())
        if not math.isfinite(rz):
            return z, rz, EstimateStatus.NON_FINITE
        return z, rz, (EstimateStatus.OK if rz > 0 else EstimateStatus.INDEFINITE_PRECONDITIONER)

    z, rz, status = preconditioned(r)
    p = z.clone()

    def long_enough() -> bool:
        k = len(alphas)
        if k < steps:
            return False
        return fraction == 0 or k >= longest or k >= fraction * _predict(np.asarray(norms) / norms[0], rtol)[1]

    while status is EstimateStatus.OK and len(alphas) < longest:
        Ap = matvec(p)
        pAp = float((p * Ap).sum())
        if not math.isfinite(pAp):
            status = EstimateStatus.NON_FINITE
            break
        if not pAp > 0:
            status = EstimateStatus.INDEFINITE_MATRIX
            break
        alpha = rz / pAp
        r = r - alpha * Ap
        alphas.append(alpha)
        norms.append(float(torch.linalg.vector_norm(r)))
        if not math.isfinite(norms[-1]):
            status = EstimateStatus.NON_FINITE
        elif norms[-1] <= rtol * norms[0]:
            status = EstimateStatus.CONVERGED
        if status is not EstimateStatus.OK or long_enough():
            break
        z, rz_new, status = preconditioned(r)
        if status is EstimateStatus.OK:
            betas.append(rz_new / rz)
            p = z + betas[-1] * p
            rz = rz_new
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start

    relative = np.asarray(norms, dtype=np.float64) / norms[0]
    k = len(alphas)
    ritz = np.empty(0)
    lambda_min = lambda_max = condition = math.nan
    rate, predicted = math.nan, math.inf
    if status.spd and k:
        ritz = _ritz_values(alphas, betas)
        lambda_min, lambda_max = float(ritz[0]), float(ritz[-1])
        condition = lambda_max / lambda_min
    if status is EstimateStatus.CONVERGED:
        rate, predicted = float(relative[-1] ** (1.0 / k)), float(k)
    elif status is EstimateStatus.OK:
        rate, predicted = _predict(relative, rtol)
        if math.isinf(predicted):
            status = EstimateStatus.NO_PROGRESS
    else:
        condition = math.inf
    return ConditionEstimate(status=status, steps=k, lambda_min=lambda_min, lambda_max=lambda_max,
                             condition=condition, residual_reduction=float(relative[-1]), convergence_rate=rate,
                             predicted_iterations=predicted, rtol=float(rtol), seconds=seconds,
                             seconds_per_step=seconds / max(k, 1), ritz_values=ritz, residual_norms=np.asarray(norms))
