"""Learned tuning of classical solvers: parameters chosen from data rather than by hand."""

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

__all__ = ["IterationCost", "LinearSystem", "RelaxResult", "TsallisINF", "as_systems", "shifted_laplacian_sequence",
           "tune_omega", "tune_omega_contextual"]
