"""Random pore networks and their steady pressure: the convergent graph solver's flow benchmark.

A network of ``n`` pores in a cube of side ``size`` (1 mm): pores at uniform random positions, throats
along the edges of their Delaunay triangulation (scipy). Pore diameters are log-normal around
``0.3 s`` (``s = size / n^(1/3)``, the mean spacing), capped at ``0.6 s``; a throat has half the smaller
diameter of its pores and the length of the gap between them (at least a tenth of the centre
distance). Its Hagen-Poiseuille conductance is ``g = pi r^4 / (8 mu L)``. Pores within ``0.1 size`` of
the face ``x = 0`` are the inlet (pressure ``dp``, 1 bar), those within ``0.1 size`` of ``x = size`` the
outlet (0); each face has at least its nearest pore. The pressure solves the mass balance
``sum_j g_ij (p_i - p_j) = 0`` at every other pore (a graph Laplacian; scipy sparse LU).

:func:`graph_sample` turns a network into a torch_geometric ``Data``: node features
``[x / size, y / size, z / size, inlet, outlet, prescribed p / dp]``, edge features (both directions)
``[throat diameter / s, length / s, log(g / median g) / 4]``, target ``p / dp``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sciml._errors import ConfigError, DataError

__all__ = ["PoreNetwork", "pore_network", "solve_pressure", "graph_sample", "sample_graphs"]

NODE_FEATURES = 6
EDGE_FEATURES = 3


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


def graph_sample(net: PoreNetwork, dp: float = 1e5):
    """The network as a torch_geometric ``Data`` with its normalised pressure as ``y (n, 1)``."""
    import torch
    from torch_geometric.data import Data

    p = solve_pressure(net, dp)
    x = np.concatenate([net.points / net.size, net.inlet[:, None], net.outlet[:, None],
                        np.where(net.inlet, 1.0, 0.0)[:, None]], axis=1)
    logg = np.log(net.conductance / np.median(net.conductance)) / 4.0
    edge = np.stack([net.throat_diameter / net.spacing, net.length / net.spacing, logg], axis=1)
    index = np.concatenate([net.edges, net.edges[:, ::-1]]).T
    return Data(x=torch.tensor(x, dtype=torch.float32), edge_index=torch.tensor(index, dtype=torch.long),
                edge_attr=torch.tensor(np.concatenate([edge, edge]), dtype=torch.float32),
                y=torch.tensor(p / dp, dtype=torch.float32)[:, None], num_nodes=len(p))


def sample_graphs(count: int, pores: tuple[int, int], seed: int) -> list:
    """``count`` networks with a pore count uniform in ``[pores[0], pores[1]]``, from ``seed`` alone."""
    rng = np.random.default_rng(seed)
    low, high = pores
    if not 8 <= low <= high:
        raise ConfigError(f"pores must be a range [low, high] with 8 <= low <= high, got {pores}")
    return [graph_sample(pore_network(int(rng.integers(low, high + 1)), rng)) for _ in range(count)]
