"""Reference numerical solvers that make training data.

Each PDE module offers ``solve(...)`` for the user's own inputs and, for ``sciml data generate``,
``check_params``, ``fields``, ``coords``, ``generate`` and ``GENERATOR``. The linear-system families
of :mod:`~sciml.data.pdes.mesh_systems` are objects with the same functions (several per module).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from sciml._errors import ConfigError
from sciml.data.pdes import (burgers, combined, darcy, diffusion_sorption, diffusion_systems, heat, mdp_value, mesh_systems, navier_stokes, poisson_mesh,
                             poisson_star, pore_network, wave)

__all__ = ["darcy", "burgers", "navier_stokes", "heat", "combined", "wave", "poisson_mesh", "poisson_star", "pore_network", "mdp_value", "diffusion_systems",
           "mesh_systems", "diffusion_sorption", "PDES",
           "resolve_pde"]

PDES: dict[str, ModuleType | Any] = {  # a module or a mesh_systems family object
    "darcy": darcy,
    "burgers": burgers,
    "navier-stokes": navier_stokes,
    "heat": heat,
    "combined": combined,
    "wave": wave,
    "poisson-mesh": poisson_mesh,
    "poisson-star": poisson_star,
    "pore-network": pore_network,
    "mdp-value": mdp_value,
    "diffusion-systems": diffusion_systems,
    "diffusion-sorption": diffusion_sorption,
    "anisotropic-systems": mesh_systems.ANISOTROPIC,
    "poisson-mesh-systems": mesh_systems.POISSON_MESH,
    "heat-mesh-systems": mesh_systems.HEAT_MESH,
}


def resolve_pde(name: str) -> ModuleType | Any:
    """The generator module for ``name``; an unknown name lists the choices."""
    if name not in PDES:
        raise ConfigError(f"unknown PDE {name!r}; choose one of {', '.join(PDES)}")
    return PDES[name]
