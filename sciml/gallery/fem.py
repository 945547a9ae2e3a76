"""Manufactured solutions of ``-Laplacian u = f`` with ``u = 0`` on the boundary, for FEM order tests.

Each is a :class:`ManufacturedPoisson`: the exact solution and source as functions of ``(x, y)``
arrays (any shape, as scikit-fem passes quadrature points), and the domain as arguments of
:func:`sciml.data.mesh.generate_domain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import meshio
import numpy as np

from sciml._errors import ConfigError

__all__ = ["ManufacturedPoisson", "poisson_square", "poisson_disk", "unit_square_mesh"]


@dataclass(frozen=True)
class ManufacturedPoisson:
    """An exact solution ``u`` of ``-Laplacian u = f`` on a domain where ``u = 0`` on the boundary.

    Attributes
    ----------
    name : short description
    shape : domain shape for :func:`sciml.data.mesh.generate_domain`
    shape_params : that shape's parameters
    solution : ``u(x, y)``, elementwise on arrays
    source : ``f(x, y)``, elementwise on arrays
    """

    name: str
    shape: str
    shape_params: dict[str, Any]
    solution: Callable[[np.ndarray, np.ndarray], np.ndarray]
    source: Callable[[np.ndarray, np.ndarray], np.ndarray]


def poisson_square() -> ManufacturedPoisson:
    """``u = sin(pi x) sin(pi y)``, ``f = 2 pi^2 u`` on the unit square ``[0, 1]^2``."""
    return ManufacturedPoisson(
        name="sin(pi x) sin(pi y) on the unit square", shape="square", shape_params={"side": 1.0, "origin": (0.0, 0.0)},
        solution=lambda x, y: np.sin(np.pi * x) * np.sin(np.pi * y),
        source=lambda x, y: 2 * np.pi**2 * np.sin(np.pi * x) * np.sin(np.pi * y))


def poisson_disk() -> ManufacturedPoisson:
    """``u = 1 - r^2``, ``f = 4`` on the unit disk centred at the origin."""
    return ManufacturedPoisson(
        name="1 - r^2 on the unit disk", shape="disk", shape_params={"radius": 1.0, "center": (0.0, 0.0)},
        solution=lambda x, y: 1.0 - x**2 - y**2,
        source=lambda x, y: np.full(np.broadcast(x, y).shape, 4.0))


def unit_square_mesh(n: int) -> meshio.Mesh:
    """The structured triangulation of ``[0, 1]^2`` with ``n x n`` nodes (scikit-fem's ``init_tensor``).

    Mesh size ``h = 1 / (n - 1)``; halving ``h`` refines uniformly.

    Shapes
    ------
    points ``(n * n, 2)``, cells ``(2 (n - 1)^2, 3)``, counter-clockwise.
    """
    import skfem

    if not isinstance(n, int) or n < 2:
        raise ConfigError(f"n must be an integer >= 2, got {n!r}")
    grid = np.linspace(0.0, 1.0, n)
    mesh = skfem.MeshTri.init_tensor(grid, grid)
    points, cells = mesh.p.T.copy(), mesh.t.T.astype(np.int64)
    a, b = points[cells[:, 1]] - points[cells[:, 0]], points[cells[:, 2]] - points[cells[:, 0]]
    clockwise = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] < 0
    cells[clockwise, 1], cells[clockwise, 2] = cells[clockwise, 2], cells[clockwise, 1].copy()
    return meshio.Mesh(points, [("triangle", cells)])
