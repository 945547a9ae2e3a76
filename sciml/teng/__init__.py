"""TENG: time-evolving natural gradient (arXiv 2404.10771), with its baselines and reference solutions.

Public API: :class:`TengConfig`, :class:`TengRun` (:mod:`sciml.teng.stepper`), the network
(:mod:`sciml.teng.model`) and the benchmark equations with their spectral references
(:mod:`sciml.teng.equations`).
"""

from sciml.teng.equations import (EQUATIONS, Equation, GridInitialCondition, SpectralSolver, initial_condition,
                                  scheme_floor)
from sciml.teng.model import FlatParams, PeriodicNet, PeriodicNetConfig
from sciml.teng.stepper import Projector, TengConfig, TengFailure, TengRun

__all__ = ["EQUATIONS", "Equation", "GridInitialCondition", "SpectralSolver", "initial_condition", "scheme_floor", "FlatParams",
           "PeriodicNet", "PeriodicNetConfig", "Projector", "TengConfig", "TengFailure", "TengRun"]
