"""Poisson with Dirichlet data on star-shaped domains: the WoS-NO family (arXiv 2603.01193).

``Lap u = f`` in the star ``r(t) = 1 + c1 cos 4t + c2 cos 8t`` (``c1, c2 ~ U(-c_max, c_max)``),
``f(x) = sum_i beta_i exp(-|x - mu_i|^2)`` over two Gaussian bumps (``beta_i, mu_i ~ N(0, 1)``) and
``u = g`` on the boundary, ``g(t) = b0 + (b1 cos t + b2 sin t + b3 cos 2t + b4 sin 2t) / 4`` at the
polar angle ``t`` (``b ~ U(-1, 1)``), as the authors' data script draws it. Each sample is meshed by gmsh
(:func:`sciml.data.mesh.generate_domain`, ``h = 1 / res``: the star's diameter is about ``2 res``
elements) and solved by scikit-fem (P2 by default, the Dirichlet data interpolated), the solution kept
at the vertices. :mod:`sciml.wos.wosno` trains neural operators on these instances (``sciml train
wos-no``); the finite-element solution is what they are tested against.

Storage layout (padded, as poisson-mesh)
----------------------------------------
- ``points (N, max_nodes, 2)`` float64, ``cells (N, max_cells, 3)`` int32 (-1 padding),
  ``num_nodes (N,)``, ``num_cells (N,)`` int32
- ``params (N, 13)`` float64: ``c1, c2, mu_1x, mu_1y, mu_2x, mu_2y, beta_1, beta_2, b0 .. b4`` (the
  instance's whole description: :func:`unpack` turns a row back into a dict)
- ``on_boundary (N, max_nodes)`` int8: 1 at the vertices on the boundary
- ``f (N, max_nodes)``, ``g (N, max_nodes)`` float32: the source and the boundary function at the vertices
  (``g`` of the polar angle at every vertex; it is the boundary value only where ``on_boundary``)
- ``u (N, max_nodes)`` float32: the finite-element solution at the vertices
- coordinate entry ``cell_type`` = ``b"triangle"``
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from sciml._errors import ConfigError, DataError
from sciml.data.pdes._common import merge_params, padded_block

__all__ = ["DEFAULTS", "GENERATOR", "sample_params", "source_values", "boundary_values", "pack", "unpack",
           "mesh_instance", "boundary_vertices", "check_params", "fields", "coords", "generate"]

GENERATOR = "sciml.data.pdes.poisson_star 1"
DEFAULTS: dict[str, Any] = {"c_max": 0.2, "order": 2, "max_nodes": None, "max_cells": None}
"""Generator parameters.

c_max: ``c1, c2 ~ U(-c_max, c_max)`` (the authors: 0.2; below 0.5 so that ``r(t) > 0``); order: FEM degree
1 or 2; max_nodes, max_cells: padding sizes (None: 1.25 times the counts of the largest stars meshed at
``h`` plus 16).
"""

PARAMS = 13


def sample_params(seed: int, index: int, c_max: float = 0.2) -> dict[str, Any]:
    """Instance ``index`` of the family drawn from ``seed`` (independent of how many others are drawn)."""
    rng = np.random.default_rng([int(seed), int(index)])
    source = rng.standard_normal((2, 3))  # mu_x, mu_y, beta per bump, as the authors' script lays them out
    return {"c1": float(rng.uniform(-c_max, c_max)), "c2": float(rng.uniform(-c_max, c_max)),
            "mu": source[:, :2].tolist(), "beta": source[:, 2].tolist(),
            "b": rng.uniform(-1.0, 1.0, 5).tolist()}


def source_values(params: dict[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``f(x, y) = sum_i beta_i exp(-|x - mu_i|^2)`` (``Lap u = f``)."""
    out = np.zeros(np.broadcast(x, y).shape)
    for (mx, my), beta in zip(params["mu"], params["beta"]):
        out = out + beta * np.exp(-((x - mx) ** 2 + (y - my) ** 2))
    return out


def boundary_values(params: dict[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``g`` at the polar angle of ``(x, y)``: ``b0 + (b1 cos t + b2 sin t + b3 cos 2t + b4 sin 2t) / 4``."""
    b = params["b"]
    t = np.arctan2(y, x)
    return b[0] + (b[1] * np.cos(t) + b[2] * np.sin(t) + b[3] * np.cos(2 * t) + b[4] * np.sin(2 * t)) / 4


def pack(params: dict[str, Any]) -> np.ndarray:
    """The 13 numbers of the ``params`` field."""
    return np.array([params["c1"], params["c2"], *np.ravel(params["mu"]), *params["beta"], *params["b"]],
                    dtype=np.float64)


def unpack(row: Any) -> dict[str, Any]:
    """A ``params`` row back to the dict of :func:`sample_params`."""
    row = np.asarray(row, dtype=np.float64)
    if row.shape != (PARAMS,) or not np.all(np.isfinite(row)):
        raise DataError(f"a poisson-star params row holds {PARAMS} finite numbers, got shape {row.shape}")
    return {"c1": float(row[0]), "c2": float(row[1]), "mu": row[2:6].reshape(2, 2).tolist(),
            "beta": row[6:8].tolist(), "b": row[8:13].tolist()}


def mesh_instance(params: dict[str, Any], h: float):
    """The gmsh mesh (meshio) of the instance's star, centred at the origin, element size ``h``."""
    from sciml.data.mesh import generate_domain

    return generate_domain("star", h=h, c1=params["c1"], c2=params["c2"], center=(0.0, 0.0), radius=1.0)


def boundary_vertices(cells: np.ndarray, num_nodes: int) -> np.ndarray:
    """``(num_nodes,)`` bool: the vertices on an edge that belongs to one triangle only."""
    edges = np.sort(np.concatenate([cells[:, [0, 1]], cells[:, [1, 2]], cells[:, [2, 0]]]), axis=1)
    uniq, counts = np.unique(edges, axis=0, return_counts=True)
    out = np.zeros(num_nodes, dtype=bool)
    out[uniq[counts == 1].ravel()] = True
    return out


def solve_instance(params: dict[str, Any], h: float, order: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mesh and solve one instance: ``points (n, 2)``, ``cells (m, 3)``, ``u (n,)`` (finite elements)."""
    from sciml.data.mesh import mesh_arrays
    from sciml.data.pdes.poisson_mesh import solve

    mesh = mesh_instance(params, h)
    points, cells = mesh_arrays(mesh)
    u = solve(mesh, lambda x, y: -source_values(params, x, y), order=order,  # -Lap u = rho with rho = -f
              dirichlet=lambda x, y: boundary_values(params, x, y)).numpy()
    return points, cells, u


def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any file is written;
    derives ``max_nodes`` / ``max_cells`` when they are None (by meshing the largest stars)."""
    from sciml.data.mesh import mesh_arrays

    merged = merge_params("poisson-star", params, DEFAULTS)
    if not isinstance(res, int) or isinstance(res, bool) or not 2 <= res <= 512:
        raise ConfigError(f"res must be an integer from 2 to 512 (mesh size h = 1/res), got {res!r}")
    c = merged["c_max"]
    if not isinstance(c, (int, float)) or isinstance(c, bool) or not 0 <= c < 0.5:
        raise ConfigError(f"c_max must be a number in [0, 0.5) so that the star stays star-shaped, got {c!r}")
    merged["c_max"] = float(c)
    if merged["order"] not in (1, 2) or isinstance(merged["order"], bool):
        raise ConfigError(f"order must be 1 or 2, got {merged['order']!r}")
    for key in ("max_nodes", "max_cells"):
        value = merged[key]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 3):
            raise ConfigError(f"{key} must be None (derived) or an integer >= 3, got {value!r}")
    if merged["max_nodes"] is None or merged["max_cells"] is None:
        most_nodes = most_cells = 0
        for c1, c2 in ((c, c), (c, -c), (-c, c), (0.0, 0.0)):
            points, cells = mesh_arrays(mesh_instance({"c1": c1, "c2": c2}, 1.0 / res))
            most_nodes, most_cells = max(most_nodes, len(points)), max(most_cells, len(cells))
        if merged["max_nodes"] is None:
            merged["max_nodes"] = int(math.ceil(1.25 * most_nodes)) + 16
        if merged["max_cells"] is None:
            merged["max_cells"] = int(math.ceil(1.25 * most_cells)) + 16
    return merged


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of a poisson-star store (``params`` from :func:`check_params`)."""
    nodes, cells = params["max_nodes"], params["max_cells"]
    return {"points": ((nodes, 2), "float64"), "cells": ((cells, 3), "int32"), "num_nodes": ((), "int32"),
            "num_cells": ((), "int32"), "params": ((PARAMS,), "float64"), "on_boundary": ((nodes,), "int8"),
            "f": ((nodes,), "float32"), "g": ((nodes,), "float32"), "u": ((nodes,), "float32")}


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Entries without a sample axis: the cell type of ``cells``."""
    return {"cell_type": np.bytes_(b"triangle")}


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 8) -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of samples ``start .. n-1`` in the layout of the module docstring."""
    params = check_params(res, params)
    max_nodes, max_cells = params["max_nodes"], params["max_cells"]
    for first in range(start, n, block):
        last = min(n, first + block)
        out = padded_block(fields(res, params), last - first, ("cells",))
        for k, index in enumerate(range(first, last)):
            p = sample_params(seed, index, params["c_max"])
            points, cells, u = solve_instance(p, 1.0 / res, params["order"])
            nn, nc = len(points), len(cells)
            if nn > max_nodes or nc > max_cells:
                raise DataError(f"sample {index} has {nn} nodes and {nc} cells, more than max_nodes={max_nodes} "
                                f"or max_cells={max_cells}; set them larger")
            if not np.all(np.isfinite(u)):
                raise DataError(f"the FEM solve of sample {index} produced non-finite values")
            out["points"][k, :nn], out["cells"][k, :nc] = points, cells
            out["num_nodes"][k], out["num_cells"][k] = nn, nc
            out["params"][k] = pack(p)
            out["on_boundary"][k, :nn] = boundary_vertices(cells, nn)
            out["f"][k, :nn] = source_values(p, points[:, 0], points[:, 1])
            out["g"][k, :nn] = boundary_values(p, points[:, 0], points[:, 1])
            out["u"][k, :nn] = u
        yield out
