"""Graphs over grids and point sets for the graph solvers, and the checks every graph passes.

Edges follow torch_geometric's convention: ``edge_index[0]`` is the source ``j``, ``edge_index[1]``
the target ``i``; a message ``j -> i`` is aggregated at ``i``. Graphs here are small (a 1-D grid of a
few hundred nodes), so neighbours come from the full distance matrix (no torch_cluster needed);
batched graphs are copies of one graph with offset node numbers (:func:`batch_edges`).
"""

from __future__ import annotations

import torch

from sciml._errors import DataError

__all__ = ["radius_graph_1d", "knn_graph", "check_graph", "batch_edges", "edge_displacement"]


def _displacements(x: torch.Tensor, period: float | None) -> torch.Tensor:
    """``d[i, j] = x_j - x_i`` (wrapped into ``[-period/2, period/2)`` on a periodic line)."""
    d = x[None, :] - x[:, None]
    if period is not None:
        d = torch.remainder(d + 0.5 * period, period) - 0.5 * period
    return d


def _check_points(x: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
    if x.numel() < 2:
        raise DataError(f"a graph needs at least 2 nodes, got {x.numel()}")
    if not bool(torch.isfinite(x).all()):
        raise DataError("node positions contain NaN or Inf")
    if x.unique().numel() != x.numel():
        raise DataError("two nodes share a position; the grid has duplicate points")
    return x


def radius_graph_1d(x: torch.Tensor, radius: float, *, period: float | None = None) -> torch.Tensor:
    """Edges between the nodes of a 1-D grid closer than ``radius`` (both directions, no self loops).

    Parameters
    ----------
    x : node positions ``(n,)``
    radius : neighbourhood radius (MP-PDE: ``neighbors * dx`` plus a little)
    period : the domain length of a periodic line (distances wrap), or ``None``

    Returns
    -------
    ``edge_index (2, E)`` int64, sorted by target then source.

    Raises
    ------
    DataError
        For fewer than 2 nodes, duplicate or non-finite positions, or a radius that leaves a node without
        neighbours.
    """
    x = _check_points(x)
    if not radius > 0:
        raise DataError(f"the graph radius must be positive, got {radius}")
    d = _displacements(x, period).abs()
    adjacency = d <= radius
    adjacency.fill_diagonal_(False)
    target, source = torch.nonzero(adjacency, as_tuple=True)
    edge_index = torch.stack([source, target])
    check_graph(edge_index, x.numel())
    return edge_index


def knn_graph(x: torch.Tensor, k: int, *, period: float | None = None) -> torch.Tensor:
    """Edges from the ``k`` nearest nodes of every node (MP-PDE's graph on irregular grids).

    Returns ``edge_index (2, n * k)``: for every target ``i`` its ``k`` nearest sources ``j != i``.
    """
    x = _check_points(x)
    n = x.numel()
    if not 1 <= k < n:
        raise DataError(f"k = {k} nearest neighbours need 1 <= k < {n} (the number of nodes)")
    d = _displacements(x, period).abs()
    d.fill_diagonal_(float("inf"))
    source = torch.topk(d, k, dim=1, largest=False).indices  # (n, k), nearest first
    target = torch.arange(n).repeat_interleave(k)
    edge_index = torch.stack([source.reshape(-1), target])
    check_graph(edge_index, n)
    return edge_index


def check_graph(edge_index: torch.Tensor, num_nodes: int) -> None:
    """Refuse a graph the solvers cannot use: wrong shape, node numbers out of range, self loops, isolated nodes.

    A node is isolated when no edge reaches it (it would receive no message, and mean aggregation
    would silently give it zeros).
    """
    if not isinstance(edge_index, torch.Tensor) or edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise DataError(f"edge_index must be a (2, E) integer tensor, got "
                        f"{tuple(getattr(edge_index, 'shape', ())) or type(edge_index).__name__}")
    if edge_index.dtype not in (torch.int64, torch.int32):
        raise DataError(f"edge_index must hold integers, got {edge_index.dtype}")
    if edge_index.numel() == 0:
        raise DataError(f"the graph has {num_nodes} nodes and no edges")
    if int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes:
        raise DataError(f"edge_index refers to node {int(edge_index.max())} (or a negative one) but the graph has "
                        f"{num_nodes} nodes")
    loops = edge_index[0] == edge_index[1]
    if bool(loops.any()):
        raise DataError(f"the graph has {int(loops.sum())} self loop(s) (first at node {int(edge_index[0][loops][0])}); "
                        f"messages come from neighbours only")
    reached = torch.zeros(num_nodes, dtype=torch.bool)
    reached[edge_index[1].cpu()] = True
    if not bool(reached.all()):
        isolated = torch.nonzero(~reached).reshape(-1)
        raise DataError(f"the graph has {isolated.numel()} isolated node(s) (first: node {int(isolated[0])}), which "
                        f"no edge reaches; widen the neighbourhood")


def batch_edges(edge_index: torch.Tensor, num_nodes: int, batch: int) -> torch.Tensor:
    """``batch`` copies of one graph, the copy ``b`` numbered from ``b * num_nodes`` (torch_geometric's batching)."""
    offsets = (torch.arange(batch, device=edge_index.device) * num_nodes).repeat_interleave(edge_index.shape[1])
    return edge_index.repeat(1, batch) + offsets


def edge_displacement(x: torch.Tensor, edge_index: torch.Tensor, *, period: float | None = None) -> torch.Tensor:
    """``x_i - x_j`` of every edge ``j -> i`` (wrapped on a periodic line), ``(E,)``: MP-PDE's ``x_i - x_j``."""
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
    d = x[edge_index[1]] - x[edge_index[0]]
    if period is not None:
        d = torch.remainder(d + 0.5 * period, period) - 0.5 * period
    return d
