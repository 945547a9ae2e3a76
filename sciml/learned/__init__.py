"""Learned solvers for linear systems: a learned incomplete factorisation (neural PCG / NeuralIF) and
the SOR relaxation factor chosen online (Learning to Relax)."""

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
    as_systems,
    shifted_laplacian_sequence,
    tune_omega,
    tune_omega_contextual,
)

__all__ = ["LearnedPreconditioner", "NeuralPCG", "NeuralPCGConfig", "NeuralPCGMethod", "frobenius_loss",
           "preconditioner_from_run", "solution_loss", "load_neural_pcg", "IterationCost", "LinearSystem", "RelaxResult", "TsallisINF", "as_systems", "shifted_laplacian_sequence",
           "tune_omega", "tune_omega_contextual"]
