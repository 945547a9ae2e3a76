"""Predictions as files ParaView opens, through meshio: one ``.vtu`` per sample (grids, meshes, graphs)
or one ``.xdmf`` time series per sample (trajectories), with the prediction, the reference and the
error as point fields.

Grids become structured meshes of lines (1D), quads (2D) or hexahedra (3D) on their node
coordinates; meshes keep their triangles; graphs (nodes and edges, no cells) are written with one
``line`` cell per edge. Every file is written atomically (a temporary name, then a rename).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import meshio
import numpy as np

from sciml._errors import DataError
from sciml.io import atomic_path

__all__ = ["grid_cells", "graph_cells", "write_fields", "write_time_series", "sample_file_name"]


def sample_file_name(index: int, suffix: str) -> str:
    return f"sample_{index:05d}{suffix}"


def grid_cells(axes: Sequence[np.ndarray]) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Points ``(P, 3)`` (C order over the axes, as ``array.reshape(-1)``) and cells of a tensor grid.

    ``axes``: the node coordinates of each of 1-3 axes.
    """
    sizes = [len(a) for a in axes]
    if not 1 <= len(sizes) <= 3 or min(sizes) < 2:
        raise DataError(f"a grid for export needs 1-3 axes of at least 2 nodes, got {sizes}")
    mesh = np.meshgrid(*[np.asarray(a, dtype=np.float64) for a in axes], indexing="ij")
    points = np.zeros((int(np.prod(sizes)), 3))
    for k, coordinate in enumerate(mesh):
        points[:, k] = coordinate.reshape(-1)
    index = np.arange(points.shape[0]).reshape(sizes)
    if len(sizes) == 1:
        return points, [("line", np.stack([index[:-1], index[1:]], axis=1))]
    if len(sizes) == 2:
        quads = np.stack([index[:-1, :-1], index[1:, :-1], index[1:, 1:], index[:-1, 1:]], axis=-1)
        return points, [("quad", quads.reshape(-1, 4))]
    i = index
    hexes = np.stack([i[:-1, :-1, :-1], i[1:, :-1, :-1], i[1:, 1:, :-1], i[:-1, 1:, :-1],
                      i[:-1, :-1, 1:], i[1:, :-1, 1:], i[1:, 1:, 1:], i[:-1, 1:, 1:]], axis=-1)
    return points, [("hexahedron", hexes.reshape(-1, 8))]


def graph_cells(edge_index: np.ndarray, num_nodes: int) -> list[tuple[str, np.ndarray]]:
    """One ``line`` cell per undirected edge of ``edge_index (2, E)`` (torch_geometric's layout; both
    directions of an edge give one cell), for graphs without mesh cells."""
    edges = np.asarray(edge_index, dtype=np.int64)
    if edges.ndim != 2 or edges.shape[0] != 2:
        raise DataError(f"edge_index must be (2, num_edges), got {edges.shape}")
    if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
        raise DataError(f"edge_index refers to nodes outside 0..{num_nodes - 1}")
    undirected = np.unique(np.sort(edges.T, axis=1), axis=0)
    return [("line", undirected[undirected[:, 0] != undirected[:, 1]])]


def _point_data(fields: dict[str, np.ndarray], n_points: int) -> dict[str, np.ndarray]:
    out = {}
    for name, values in fields.items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape[0] != n_points:
            raise DataError(f"field {name!r} has {values.shape[0]} values for {n_points} points")
        out[name] = values
    return out


def write_fields(path: str | os.PathLike, points: np.ndarray, cells: list[tuple[str, np.ndarray]],
                 fields: dict[str, np.ndarray]) -> Path:
    """One mesh with point ``fields`` (``(P,)`` or ``(P, C)`` each) as ``path`` (``.vtu``, ``.vtk`` ...)."""
    from sciml.data.mesh import write_mesh

    points = np.asarray(points, dtype=np.float64)
    return write_mesh(meshio.Mesh(points, cells, point_data=_point_data(fields, len(points))), path)


def write_time_series(path: str | os.PathLike, points: np.ndarray, cells: list[tuple[str, np.ndarray]],
                      times: Sequence[float], frames: list[dict[str, np.ndarray]]) -> Path:
    """An XDMF time series (data inline, one file) of ``frames`` (point fields per time) on one mesh."""
    path = Path(path)
    if path.suffix != ".xdmf":
        raise DataError(f"a time series is written as .xdmf, got {path}")
    if len(times) != len(frames):
        raise DataError(f"{len(times)} times but {len(frames)} frames")
    points = np.asarray(points, dtype=np.float64)
    with atomic_path(path) as tmp:
        tmp = Path(tmp)
        named = tmp.with_name(tmp.name + ".xdmf")  # meshio names the format by the suffix
        try:
            with meshio.xdmf.TimeSeriesWriter(named, data_format="XML") as writer:
                writer.write_points_cells(points, cells)
                for t, frame in zip(times, frames):
                    writer.write_data(float(t), point_data=_point_data(frame, len(points)))
            os.replace(named, tmp)
        finally:
            named.unlink(missing_ok=True)
    return path
