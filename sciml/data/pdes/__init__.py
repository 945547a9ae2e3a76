"""Reference numerical solvers that make training data.

Each PDE module offers ``solve(...)`` for the user's own inputs and, for ``sciml data generate``,
``check_params``, ``fields``, ``coords``, ``generate`` and ``GENERATOR``.
"""

from __future__ import annotations

from types import ModuleType

from sciml._errors import ConfigError
from sciml.data.pdes import burgers, combined, darcy, diffusion_systems, heat, navier_stokes, poisson_mesh, wave

__all__ = ["darcy", "burgers", "navier_stokes", "heat", "combined", "wave", "poisson_mesh", "diffusion_systems", "PDES",
           "resolve_pde"]

PDES: dict[str, ModuleType] = {
    "darcy": darcy,
    "burgers": burgers,
    "navier-stokes": navier_stokes,
    "heat": heat,
    "combined": combined,
    "wave": wave,
    "poisson-mesh": poisson_mesh,
    "diffusion-systems": diffusion_systems,
}


def resolve_pde(name: str) -> ModuleType:
    """The generator module for ``name``; an unknown name lists the choices."""
    if name not in PDES:
        raise ConfigError(f"unknown PDE {name!r}; choose one of {', '.join(PDES)}")
    return PDES[name]
