"""A learned preconditioner checked against a classical fallback on the matrix it is given.

A network trained on one family of matrices can be worse than IC(0) on a matrix unlike them (a
neural-pcg run trained on 2D diffusion needed 1.7x IC(0)'s iterations on a 3D diffusion matrix and
1.5-5x on anisotropic ones). :func:`guard` estimates both preconditioners on the matrix before
use, with the same few PCG steps on the same seeded random right-hand side
(:func:`sciml.linalg.estimate_condition`), and returns the learned one unless it is predicted to be
worse, or is not SPD on this matrix, in which case it logs a warning and returns the fallback.

The cost is the fallback's set-up plus two probes (at least 16 PCG steps each, and at least 15% of
the iterations each predicts); it is set-up time of the solve (``sciml solve`` counts it there).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from sciml._errors import ConfigError
from sciml.linalg.estimate import (DEFAULT_FRACTION, DEFAULT_MAX_STEPS, DEFAULT_STEPS, ConditionEstimate,
                                   estimate_condition)
from sciml.linalg.precond import PRECONDITIONERS, Preconditioner, preconditioner

__all__ = ["guard", "GuardResult", "check_fallback", "FALLBACKS", "DEFAULT_FALLBACK", "CRITERIA"]

log = logging.getLogger("sciml.learned")

DEFAULT_FALLBACK = "ic0"
# every classical preconditioner but the identity, and "none", which turns the check off
FALLBACKS = tuple(name for name in PRECONDITIONERS if name != "none") + ("none",)
CRITERIA = ("iterations", "time")


def check_fallback(name: Any) -> str:
    """``name`` when it is one of :data:`FALLBACKS`, else a :class:`ConfigError` listing them."""
    if not isinstance(name, str) or name not in FALLBACKS:
        raise ConfigError(f"unknown fallback {name!r}; choose one of {', '.join(FALLBACKS[:-1])}, or none "
                          f"(no check)")
    return name


@dataclass(frozen=True)
class GuardResult:
    """What :func:`guard` decided.

    Attributes
    ----------
    preconditioner : the preconditioner to use (the learned one or the fallback)
    decision : ``"learned"``, ``"fallback"``, or ``"unchecked"`` (fallback ``none``)
    reason : one sentence, with both predictions when there was a check
    fallback : the fallback's name (``"none"`` when unchecked)
    criterion : ``"iterations"`` or ``"time"``, what was compared
    learned_estimate, fallback_estimate : the two :class:`~sciml.linalg.ConditionEstimate` (None when unchecked)
    fallback_setup_seconds : building the fallback
    seconds : the whole check: the fallback's set-up and both probes
    """

    preconditioner: Any
    decision: str
    reason: str
    fallback: str
    criterion: str
    learned_estimate: ConditionEstimate | None
    fallback_estimate: ConditionEstimate | None
    fallback_setup_seconds: float
    seconds: float

    @property
    def used(self) -> str:
        """``"learned"`` or the fallback's name."""
        return self.fallback if self.decision == "fallback" else "learned"

    def as_dict(self) -> dict[str, Any]:
        """The ``guard`` entry of a solve report (JSON-ready)."""
        return {"fallback": self.fallback, "decision": self.decision, "used": self.used, "reason": self.reason,
                "criterion": self.criterion,
                "learned": None if self.learned_estimate is None else self.learned_estimate.as_dict(),
                "fallback_estimate": None if self.fallback_estimate is None else self.fallback_estimate.as_dict(),
                "fallback_setup_seconds": self.fallback_setup_seconds, "seconds": self.seconds}


def _amount(estimate: ConditionEstimate, criterion: str) -> str:
    if not math.isfinite(estimate.predicted_iterations):
        return "no convergence"
    if criterion == "time":
        return f"{1e3 * estimate.predicted_seconds:.3g} ms of PCG ({estimate.predicted_iterations:.0f} iterations)"
    return f"{estimate.predicted_iterations:.0f} CG iterations"


def _decide(learned: ConditionEstimate, fallback: ConditionEstimate, name: str, criterion: str) -> tuple[str, str]:
    if not learned.spd and fallback.spd:
        return "fallback", (f"the learned preconditioner is not usable on this matrix ({learned.status.message}); "
                            f"using {name}")
    if not fallback.spd:
        return "learned", (f"the fallback {name} is not usable on this matrix ({fallback.status.message}); keeping "
                           f"the learned preconditioner")
    key = (lambda e: e.predicted_seconds) if criterion == "time" else (lambda e: e.predicted_iterations)
    both = (f"the learned preconditioner is predicted to need {_amount(learned, criterion)} on this matrix, {name} "
            f"{_amount(fallback, criterion)} (from probes of {learned.steps} and {fallback.steps} PCG steps)")
    if key(learned) > key(fallback):
        return "fallback", f"{both}; using {name}"
    return "learned", f"{both}; keeping the learned preconditioner"


def guard(learned: Any, A: Any, *, fallback: str = DEFAULT_FALLBACK, steps: int = DEFAULT_STEPS,
          fraction: float = DEFAULT_FRACTION, max_steps: int = DEFAULT_MAX_STEPS, rtol: float = 1e-8, seed: int = 0,
          criterion: str = "iterations", device: str | torch.device | None = None,
          dtype: torch.dtype | None = None) -> GuardResult:
    """Use ``learned`` on ``A`` only when it is not predicted to be worse than ``fallback``.

    Parameters
    ----------
    learned : the candidate, e.g. a :class:`~sciml.learned.LearnedPreconditioner` built for ``A``
        (any preconditioner with ``apply(r)`` works)
    A : the SPD matrix ``(n, n)`` (scipy sparse, torch sparse or dense)
    fallback : a name of :data:`FALLBACKS` (built by :func:`sciml.linalg.preconditioner`); ``"none"``
        skips the check and keeps ``learned``
    steps, fraction, max_steps : each probe runs at least ``steps`` PCG steps and grows to ``fraction`` of its
        predicted iterations, up to ``max_steps`` (:func:`sciml.linalg.estimate_condition`; defaults 16, 0.15, 200)
    rtol : the tolerance the iterations are predicted for (the solve's)
    seed : seed of the probes' common right-hand side
    criterion : compare predicted ``"iterations"`` (default: the learned factor and IC(0) cost the same per
        iteration, two triangular solves on the pattern of ``tril(A)``) or predicted PCG ``"time"``
        (iterations times the seconds per step measured in the probe; set-up is spent either way by then)
    device, dtype : where the probes run and the fallback applies itself (default: ``learned``'s)

    Returns
    -------
    GuardResult, whose ``preconditioner`` is the one to use.

    Raises
    ------
    ConfigError
        An unknown ``fallback`` or ``criterion``, or bad ``steps``/``rtol``/``seed`` (before any work).
    """
    check_fallback(fallback)
    if criterion not in CRITERIA:
        raise ConfigError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    if fallback == "none":
        return GuardResult(preconditioner=learned, decision="unchecked", fallback="none", criterion=criterion,
                           reason="the check is off (fallback none); using the learned preconditioner unchecked",
                           learned_estimate=None, fallback_estimate=None, fallback_setup_seconds=0.0, seconds=0.0)
    device = torch.device(device if device is not None else getattr(learned, "device", "cpu"))
    dtype = dtype or getattr(learned, "dtype", None) or torch.float64
    start = time.perf_counter()
    probe = {"steps": steps, "fraction": fraction, "max_steps": max_steps, "rtol": rtol, "seed": seed, "device": device,
             "dtype": dtype}
    learned_estimate = estimate_condition(A, learned, **probe)
    tic = time.perf_counter()
    classical: Preconditioner = preconditioner(fallback, A, device=device, dtype=dtype)
    fallback_setup = time.perf_counter() - tic
    fallback_estimate = estimate_condition(A, classical, **probe)
    decision, reason = _decide(learned_estimate, fallback_estimate, fallback, criterion)
    if decision == "fallback":
        log.warning("%s (fallback none skips this check)", reason)
    else:
        log.info("%s", reason)
    return GuardResult(preconditioner=classical if decision == "fallback" else learned, decision=decision,
                       reason=reason, fallback=fallback, criterion=criterion, learned_estimate=learned_estimate,
                       fallback_estimate=fallback_estimate, fallback_setup_seconds=fallback_setup,
                       seconds=time.perf_counter() - start)
