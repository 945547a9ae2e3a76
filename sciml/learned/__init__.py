"""Learned solvers for linear systems: a learned incomplete factorisation (neural PCG / NeuralIF),
deep conjugate directions (DCDM) and the SOR relaxation factor chosen online (Learning to Relax).

:func:`load` opens any trained run directory::

    M = sciml.learned.load("runs/npcg", A)          # neural PCG: a preconditioner for A
    result = sciml.linalg.pcg(A_t, b_t, M)          # or scipy: cg(A, b, M=M.as_linear_operator())
    solver = sciml.learned.load("runs/dcdm")        # DCDM: a solver, solver.solve(A, b)
    checked = sciml.learned.guard(M, A)             # M checked against IC(0) on A: checked.preconditioner, .reason
"""

from __future__ import annotations

import os
from typing import Any

from sciml.learned.dcdm import DCDMConfig, DCDMNet, DCDMSolver, dcdm_solve
from sciml.learned.dcdm import load as load_dcdm
from sciml.learned.safety import GuardResult, guard
from sciml.learned.neural_pcg import (
    LearnedPreconditioner,
    NeuralPCG,
    NeuralPCGConfig,
    NeuralPCGMethod,
    frobenius_loss,
    preconditioner_from_run,
    solution_loss,
)
from sciml.learned.neural_pcg import load as load_neural_pcg
from sciml.learned.relax import (
    IterationCost,
    LinearSystem,
    RelaxResult,
    TsallisINF,
    UnimodalThompson,
    as_systems,
    shifted_laplacian_sequence,
    tune_omega,
    tune_omega_contextual,
    tune_omega_unimodal,
)

__all__ = ["load", "LearnedPreconditioner", "NeuralPCG", "NeuralPCGConfig", "NeuralPCGMethod", "frobenius_loss",
           "preconditioner_from_run", "solution_loss", "load_neural_pcg", "DCDMConfig", "DCDMNet", "DCDMSolver",
           "dcdm_solve", "load_dcdm", "IterationCost", "LinearSystem", "RelaxResult", "TsallisINF", "as_systems",
           "shifted_laplacian_sequence", "tune_omega", "tune_omega_contextual", "tune_omega_unimodal",
           "UnimodalThompson", "guard", "GuardResult"]


def load(run: str | os.PathLike, A: Any = None, *, which: str = "best", device: Any = None, dtype: Any = None,
         map_location: Any = "cpu") -> Any:
    """A trained learned solver from its run directory (``sciml train`` or ``sciml reproduce``).

    Parameters
    ----------
    run : run directory (or model file) of a ``neural-pcg`` or ``dcdm`` run
    A : for neural PCG, the matrix to precondition (scipy sparse, torch sparse CSR or dense)
    which : ``best`` or ``model``
    device, dtype : where and in which precision a neural-PCG preconditioner applies itself

    Returns
    -------
    neural PCG with ``A``: a :class:`LearnedPreconditioner` for ``A`` (``M`` of
    :func:`sciml.linalg.pcg`; ``M.as_linear_operator()`` for ``scipy.sparse.linalg.cg``);
    neural PCG without ``A``: the trained :class:`NeuralPCG` network;
    DCDM: a :class:`DCDMSolver` (a solver, not a preconditioner: it takes no ``A`` here).

    Raises
    ------
    DataError
        ``run`` holds no sciml model, or a model that is not a learned solver.
    ConfigError
        ``A`` given for a DCDM run.
    """
    from sciml._errors import ConfigError, DataError
    from sciml.learned import dcdm, neural_pcg
    from sciml.train.spec import build_model, read_model_file

    payload = read_model_file(run, which=which, map_location=map_location)
    name = payload.get("model_name")
    if name == neural_pcg.MODEL_NAME:
        model = build_model(neural_pcg.SPEC, payload)
        return model if A is None else LearnedPreconditioner(model, A, device=device, dtype=dtype)
    if name == dcdm.MODEL_NAME:
        if A is not None:
            raise ConfigError(f"{run} is a DCDM run: a solver, not a preconditioner; call "
                              f"sciml.learned.load(run).solve(A, b) instead of passing A")
        return DCDMSolver(build_model(dcdm.SPEC, payload))
    raise DataError(f"{run} holds a {name!r} model, not a learned preconditioner or solver (neural-pcg, dcdm)")
