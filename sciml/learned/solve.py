"""A trained run as the preconditioner (or solver) of :func:`sciml.linalg.solve.solve_files`:
what ``sciml solve MATRIX --precond RUN_DIR`` uses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sciml._errors import ConfigError, DataError
from sciml.linalg.solve import SolveSetup

__all__ = ["RunSetup", "solve_setup"]


class RunSetup:
    """``setup(A, device=, dtype=, norm=) -> SolveSetup`` for the trained run ``run``: a neural-PCG
    preconditioner for ``A``, or a DCDM solver (which runs in float64 and stops on the L2 norm)."""

    def __init__(self, run: str | os.PathLike, *, which: str = "best"):
        self.run, self.which = Path(run), which
        self.label = str(run)

    def __call__(self, A: Any, *, device: torch.device, dtype: torch.dtype, norm: str = "l2") -> SolveSetup:
        from sciml.learned import dcdm, neural_pcg
        from sciml.train.spec import build_model, read_model_file

        payload = read_model_file(self.run, which=self.which, map_location=device)
        name = payload.get("model_name")
        if name == dcdm.MODEL_NAME:  # a solver, not a preconditioner: the network drives the iteration in float64
            if norm != "l2":
                raise ConfigError("a DCDM run stops on the L2 norm of the residual; drop --norm max")
            return SolveSetup(solver=dcdm.DCDMSolver(build_model(dcdm.SPEC, payload)), dtype=torch.float64,
                              report={"method": "dcdm"})
        if name == neural_pcg.MODEL_NAME:
            model = build_model(neural_pcg.SPEC, payload)
            return SolveSetup(M=neural_pcg.LearnedPreconditioner(model, A, device=device, dtype=dtype))
        raise DataError(f"{self.run} holds a {name!r} model, not a learned preconditioner (neural-pcg) or "
                        f"solver (dcdm)")


def solve_setup(run: str | os.PathLike, *, which: str = "best") -> RunSetup:
    """The set-up of ``sciml solve --precond RUN``: see :class:`RunSetup`."""
    return RunSetup(run, which=which)
