"""Random pore networks and their steady pressure: the convergent graph solver's flow benchmark (arXiv 2106.01680).

A network of ``n`` pores in a cube of side ``size`` (1 mm): pores at uniform random positions, throats
along the edges of their Delaunay triangulation (scipy). Pore diameters are log-normal around
``0.3 s`` (``s = size / n^(1/3)``, the mean spacing; log-standard deviation ``sigma``), capped at
``0.6 s``; a throat has half the smaller diameter of its pores and the length of the gap between them
(at least a tenth of the centre distance). Its Hagen-Poiseuille conductance is ``g = pi r^4 / (8 mu L)``.
Pores within ``0.1 size`` of the face ``x = 0`` are the inlet (pressure ``dp``, 1 bar), those within
``0.1 size`` of ``x = size`` the outlet (0); each face has at least its nearest pore. The pressure
solves the mass balance ``sum_j g_ij (p_i - p_j) = 0`` at every other pore (a graph Laplacian; scipy
sparse LU).

As a graph (:func:`graph_arrays`): node features ``[x / size, y / size, z / size, inlet, outlet,
prescribed p / dp]``, edge features (both directions) ``[throat diameter / s, length / s,
log(g / median g) / 4]``, target ``p / dp``.

Storage layout (``graphs``, padded)
-----------------------------------
For ``sciml data generate pore-network --res R``: networks of ``min_pores .. R`` pores (default
``min_pores = R // 4``, so ``R = 200`` gives the 50-200 pores of ``cgs-porous-flow``), sample ``i`` of seed
``s`` drawn from ``numpy.random.default_rng([s, i])`` alone.

- ``x (N, R, 6)``, ``edge_attr (N, max_edges, 3)``, ``y (N, R, 1)`` float32; ``pos (N, R, 3)`` float64
  (the pore centres over ``size``)
- ``edge_index (N, max_edges, 2)`` int32: ``(source, target)`` per directed edge, ``-1`` padding
- ``num_nodes (N,)``, ``num_edges (N,)`` int32
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from sciml._errors import ConfigError, DataError
from sciml.data.pdes._common import merge_params, padded_block

__all__ = ["PoreNetwork", "pore_network", "solve_pressure", "graph_arrays", "DEFAULTS", "GENERATOR",
           "check_params", "fields", "coords", "generate", "NODE_FEATURES", "EDGE_FEATURES"]

GENERATOR = "sciml.data.pdes.pore_network 1"
NODE_FEATURES = 6
EDGE_FEATURES = 3
DEFAULTS: dict[str, Any] = {"min_pores": None, "dp": 1e5, "sigma": 0.25, "max_edges": None}
"""Generator parameters.

min_pores: the fewest pores (None: ``res // 4``, at least 8); dp: the pressure drop (Pa; the target is
``p / dp``); sigma: log-standard deviation of the pore diameters; max_edges: padding of the directed edges
(None: ``20 res``; networks of 400 pores have about 14.3 directed edges per pore; a network with more is refused with the sample named).
"""


@dataclass
class PoreNetwork:
    """A pore network: ``points (n, 3)``, ``edges (E, 2)`` (each throat once), ``diameter (n,)``,
    ``throat_diameter``, ``length``, ``conductance (E,)``, ``inlet``, ``outlet (n,)`` bool, ``size``, ``spacing``."""

    points: np.ndarray
    edges: np.ndarray
    diameter: np.ndarray
    throat_diameter: np.ndarray
    length: np.ndarray
    conductance: np.ndarray
    inlet: np.ndarray
    outlet: np.ndarray
    size: float
    spacing: float


def pore_network(n: int, rng: np.random.Generator, *, size: float = 1e-3, viscosity: float = 1e-3,
                 sigma: float = 0.25) -> PoreNetwork:
    """A random network of ``n`` pores (see the module docstring)."""
    from scipy.spatial import Delaunay

    if not isinstance(n, (int, np.integer)) or n < 8:
        raise ConfigError(f"a pore network needs at least 8 pores, got {n!r}")
    points = rng.uniform(0.0, size, (n, 3))
    tri = Delaunay(points)
    pairs = np.concatenate([tri.simplices[:, [a, b]] for a in range(4) for b in range(a + 1, 4)])
    edges = np.unique(np.sort(pairs, axis=1), axis=0)
    spacing = size / n ** (1.0 / 3.0)
    diameter = np.minimum(np.exp(rng.normal(math.log(0.3 * spacing), sigma, n)), 0.6 * spacing)
    distance = np.linalg.norm(points[edges[:, 0]] - points[edges[:, 1]], axis=1)
    throat = 0.5 * np.minimum(diameter[edges[:, 0]], diameter[edges[:, 1]])
    length = np.maximum(distance - 0.5 * (diameter[edges[:, 0]] + diameter[edges[:, 1]]), 0.1 * distance)
    conductance = math.pi * (0.5 * throat) ** 4 / (8.0 * viscosity * length)
    inlet = points[:, 0] < 0.1 * size
    outlet = points[:, 0] > 0.9 * size
    inlet[np.argmin(points[:, 0])] = True
    outlet[np.argmax(points[:, 0])] = True
    return PoreNetwork(points, edges, diameter, throat, length, conductance, inlet, outlet, size, spacing)


def solve_pressure(net: PoreNetwork, dp: float = 1e5) -> np.ndarray:
    """Pore pressures ``(n,)``: ``dp`` at the inlet, 0 at the outlet, mass balance elsewhere."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    n = len(net.points)
    i, j, g = net.edges[:, 0], net.edges[:, 1], net.conductance
    w = sp.coo_matrix((np.concatenate([g, g]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n)).tocsr()
    laplacian = sp.diags(np.asarray(w.sum(axis=1)).ravel()) - w
    fixed = net.inlet | net.outlet
    p = np.where(net.inlet, dp, 0.0)
    free = ~fixed
    if free.any():
        a = laplacian[free][:, free].tocsc()
        rhs = -laplacian[free][:, fixed] @ p[fixed]
        p[free] = spsolve(a, rhs)
    if not np.all(np.isfinite(p)):
        raise DataError("the pore-network pressure solve gave non-finite values")
    return p


def graph_arrays(net: PoreNetwork, dp: float = 1e5) -> dict[str, np.ndarray]:
    """The network as graph arrays: ``x (n, 6)``, ``edge_index (2, 2E)`` (both directions), ``edge_attr (2E, 3)``,
    ``y (n,)`` the pressure over ``dp``, ``pos (n, 3)`` the pore centres over ``size``."""
    p = solve_pressure(net, dp)
    x = np.concatenate([net.points / net.size, net.inlet[:, None], net.outlet[:, None],
                        np.where(net.inlet, 1.0, 0.0)[:, None]], axis=1)
    logg = np.log(net.conductance / np.median(net.conductance)) / 4.0
    edge = np.stack([net.throat_diameter / net.spacing, net.length / net.spacing, logg], axis=1)
    index = np.concatenate([net.edges, net.edges[:, ::-1]]).T
    return {"x": x, "edge_index": index, "edge_attr": np.concatenate([edge, edge]), "y": p / dp,
            "pos": net.points / net.size}


# -- sciml data generate pore-network ------------------------------------------------------------------
def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any file is written."""
    merged = merge_params("pore-network", params, DEFAULTS)
    if not isinstance(res, int) or isinstance(res, bool) or not 8 <= res <= 100_000:
        raise ConfigError(f"res (the most pores per network) must be an integer from 8 to 100000, got {res!r}")
    low = merged["min_pores"]
    if low is None:
        low = max(8, res // 4)
    if not isinstance(low, int) or isinstance(low, bool) or not 8 <= low <= res:
        raise ConfigError(f"min_pores must be an integer from 8 to res = {res}, got {low!r}")
    merged["min_pores"] = low
    for key in ("dp", "sigma"):
        value = merged[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{key} must be a positive number, got {value!r}")
        merged[key] = float(value)
    if merged["max_edges"] is None:
        merged["max_edges"] = 20 * res
    if not isinstance(merged["max_edges"], int) or isinstance(merged["max_edges"], bool) or merged["max_edges"] < 2:
        raise ConfigError(f"max_edges must be None (20 res) or an integer >= 2, got {merged['max_edges']!r}")
    return merged


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of a pore-network store (``params`` from :func:`check_params`)."""
    edges = params["max_edges"]
    return {"x": ((res, NODE_FEATURES), "float32"), "edge_index": ((edges, 2), "int32"),
            "edge_attr": ((edges, EDGE_FEATURES), "float32"), "y": ((res, 1), "float32"),
            "pos": ((res, 3), "float64"), "num_nodes": ((), "int32"), "num_edges": ((), "int32")}


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """No entries without a sample axis."""
    return {}


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 32) -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of samples ``start .. n-1`` in the layout of the module docstring."""
    params = check_params(res, params)
    max_edges = params["max_edges"]
    for first in range(start, n, block):
        last = min(n, first + block)
        out = padded_block(fields(res, params), last - first, ("edge_index",))
        for k, index in enumerate(range(first, last)):
            rng = np.random.default_rng([int(seed), int(index)])
            pores = int(rng.integers(params["min_pores"], res + 1))
            g = graph_arrays(pore_network(pores, rng, sigma=params["sigma"]), params["dp"])
            edges = g["edge_index"].shape[1]
            if edges > max_edges:
                raise DataError(f"sample {index} has {edges} directed edges, more than max_edges={max_edges}; "
                                f"set it larger (with --force: the field shapes change)")
            out["x"][k, :pores], out["y"][k, :pores, 0], out["pos"][k, :pores] = g["x"], g["y"], g["pos"]
            out["edge_index"][k, :edges], out["edge_attr"][k, :edges] = g["edge_index"].T, g["edge_attr"]
            out["num_nodes"][k], out["num_edges"][k] = pores, edges
        yield out
