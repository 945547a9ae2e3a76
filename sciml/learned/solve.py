"""A trained run as the preconditioner (or solver) of :func:`sciml.linalg.solve.solve_files`:
what ``sciml solve MATRIX --precond RUN_DIR [--fallback NAME]`` uses.

A neural-pcg preconditioner is checked against a classical fallback on the matrix before use
(:func:`sciml.learned.safety.guard`); the decision and both estimates go into the report under
``guard``, and the check's cost is set-up time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sciml._errors import ConfigError, DataError
from sciml.learned.safety import DEFAULT_FALLBACK, check_fallback, guard
from sciml.linalg.estimate import DEFAULT_STEPS
from sciml.linalg.solve import SolveSetup

__all__ = ["RunSetup", "solve_setup"]


class RunSetup:
    """``setup(A, device=, dtype=, norm=) -> SolveSetup`` for the trained run ``run``: a neural-PCG
    preconditioner for ``A``, or a DCDM solver (which runs in float64 and stops on the L2 norm).

    Parameters
    ----------
    run : run directory (``sciml train`` or ``sciml reproduce``)
    which : ``best`` or ``model``
    fallback : for a neural-PCG run, the classical preconditioner used instead when the learned one is
        predicted worse on ``A`` (:data:`sciml.learned.safety.FALLBACKS`; ``None`` means ``ic0``,
        ``"none"`` skips the check). A DCDM run is a solver, not a preconditioner: it takes no fallback.
    rtol : the solve's tolerance, which the check predicts iterations for (1e-8 when it is not in (0, 1),
        e.g. an ``atol``-only solve)
    steps, seed : the check's PCG steps per preconditioner and the seed of its right-hand side
    """

    def __init__(self, run: str | os.PathLike, *, which: str = "best", fallback: str | None = None,
                 rtol: float = 1e-8, steps: int = DEFAULT_STEPS, seed: int = 0):
        self.run, self.which = Path(run), which
        self.label = str(run)
        self.fallback = None if fallback is None else check_fallback(fallback)  # refused before any work
        self.rtol = rtol if 0 < rtol < 1 else 1e-8
        self.steps, self.seed = steps, seed

    def __call__(self, A: Any, *, device: torch.device, dtype: torch.dtype, norm: str = "l2") -> SolveSetup:
        from sciml.learned import dcdm, neural_pcg
        from sciml.train.spec import build_model, read_model_file

        payload = read_model_file(self.run, which=self.which, map_location=device)
        name = payload.get("model_name")
        if name == dcdm.MODEL_NAME:  # a solver, not a preconditioner: the network drives the iteration in float64
            if norm != "l2":
                raise ConfigError("a DCDM run stops on the L2 norm of the residual; drop --norm max")
            if self.fallback is not None:
                raise ConfigError(f"{self.run} is a DCDM run, a solver rather than a preconditioner; --fallback "
                                  f"applies to neural-pcg runs only")
            return SolveSetup(solver=dcdm.DCDMSolver(build_model(dcdm.SPEC, payload)), dtype=torch.float64,
                              report={"method": "dcdm"})
        if name == neural_pcg.MODEL_NAME:
            model = build_model(neural_pcg.SPEC, payload)
            learned = neural_pcg.LearnedPreconditioner(model, A, device=device, dtype=dtype)
            checked = guard(learned, A, fallback=self.fallback or DEFAULT_FALLBACK, steps=self.steps, rtol=self.rtol,
                            seed=self.seed, device=device, dtype=dtype)
            return SolveSetup(M=checked.preconditioner, report={"guard": checked.as_dict()})
        raise DataError(f"{self.run} holds a {name!r} model, not a learned preconditioner (neural-pcg) or "
                        f"solver (dcdm)")


def solve_setup(run: str | os.PathLike, *, which: str = "best", fallback: str | None = None, rtol: float = 1e-8,
                steps: int = DEFAULT_STEPS, seed: int = 0) -> RunSetup:
    """The set-up of ``sciml solve --precond RUN [--fallback NAME]``: see :class:`RunSetup`."""
    return RunSetup(run, which=which, fallback=fallback, rtol=rtol, steps=steps, seed=seed)
