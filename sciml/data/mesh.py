"""Unstructured meshes: meshio read/write, quality checks, 2D domain generation, mesh -> graph.

Meshes are :class:`meshio.Mesh` objects. The functions here work on the mesh's top-dimensional
simplices: ``triangle`` cells (2D domains, or surfaces in 3D such as ``.ply``/``.obj`` files) or
``tetra`` cells; lower-dimensional blocks (``line``, ``vertex``, boundary triangles of a tetra
mesh) are ignored. Points whose ``z`` column is exactly zero under triangle cells are treated as
2D, since most file formats store 2D meshes with ``z = 0``.

Triangles of a 2D mesh are expected counter-clockwise (positive signed area), the convention of
gmsh, scikit-fem and FEniCS. :func:`check_mesh` refuses clockwise triangles by default and
flips them with ``orientation="reorient"``.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import meshio
import numpy as np
import torch

from sciml._errors import ConfigError, DataError
from sciml.io import atomic_path

__all__ = ["read_mesh", "write_mesh", "check_mesh", "to_graph", "generate_domain", "mesh_arrays", "star_radius",
           "SHAPES", "ORIENTATIONS"]

ORIENTATIONS = ("ccw", "reorient", "any")

_SIMPLICES = {"triangle": 3, "tetra": 4}
# Cell types of the same topological dimension as a triangle or a tetrahedron that we do not handle.
_OTHER_2D = {"quad", "triangle6", "triangle7", "quad8", "quad9", "polygon"}
_OTHER_3D = {"hexahedron", "wedge", "pyramid", "tetra10", "hexahedron20", "hexahedron27", "wedge15"}


# --------------------------------------------------------------------------------------------- I/O


def read_mesh(path: str | os.PathLike) -> meshio.Mesh:
    """Read a mesh file in any format meshio knows (``.msh``, ``.vtu``, ``.xdmf``, ``.ply``, ``.obj`` ...).

    The format comes from the extension; where it names several (``.msh``: gmsh or ANSYS) each
    is tried. Unlike ``meshio.read``, a file that no reader accepts raises instead of printing
    and exiting the interpreter.

    Raises
    ------
    DataError
        If the file does not exist or meshio cannot read it; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"mesh file {path} does not exist")
    if path.is_dir():
        raise DataError(f"mesh file {path} is a directory")
    formats = _file_formats(path)
    try:  # meshio's per-format readers; meshio.read itself calls sys.exit(1) on failure
        from meshio._helpers import reader_map
    except ImportError:  # pragma: no cover - a meshio that moved it
        reader_map = {fmt: (lambda name, fmt=fmt: meshio.read(name, file_format=fmt)) for fmt in formats}
    failures = []
    for fmt in formats:
        try:
            return reader_map[fmt](str(path))
        except (Exception, SystemExit) as exc:  # readers raise ReadError, KeyError, ValueError ... on bad files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            failures.append(f"as {fmt}: {first}")
    raise DataError(f"mesh file {path} cannot be read by meshio ({'; '.join(failures)})")


def _file_formats(path: Path) -> list[str]:
    ext, found = "", []
    for suffix in reversed(path.suffixes):
        ext = suffix.lower() + ext
        found += meshio.extension_to_filetypes.get(ext, [])
    if not found:
        known = ", ".join(sorted(meshio.extension_to_filetypes))
        raise DataError(f"cannot tell the mesh format of {path} from its extension; use one of {known}")
    # meshio lists ANSYS before gmsh for .msh; gmsh is what .msh means in this project
    return sorted(found, key=lambda fmt: fmt != "gmsh")


def write_mesh(mesh: meshio.Mesh, path: str | os.PathLike) -> Path:
    """Write ``mesh`` with meshio, in the format its extension names, atomically.

    The file is written under a temporary name beside ``path`` and renamed over it when complete,
    so a reader never sees a file cut short. ``.msh`` means gmsh 4.1; ``.xdmf`` is written with
    its data inline (XML), so that the single file can be renamed. 2D points are written with
    ``z = 0``, as most formats require three coordinates.

    Returns
    -------
    The path written.
    """
    if not isinstance(mesh, meshio.Mesh):
        raise DataError(f"write_mesh expects a meshio.Mesh, got {type(mesh).__name__}")
    path = Path(path)
    fmt = _file_formats(path)[0]
    points = np.asarray(mesh.points, dtype=np.float64)
    if points.ndim == 2 and points.shape[1] == 2:
        points = np.column_stack([points, np.zeros(len(points))])
    cells = mesh.cells
    if fmt == "ply" and all(len(b.data) == 0 or np.max(b.data) < 2**31 for b in cells):
        cells = [(b.type, np.asarray(b.data, dtype=np.int32)) for b in cells]  # PLY has no 64-bit ints
    out = meshio.Mesh(points, cells, point_data=mesh.point_data, cell_data=mesh.cell_data,
                      field_data=mesh.field_data, point_sets=mesh.point_sets, cell_sets=mesh.cell_sets)
    kwargs = {"data_format": "XML"} if fmt == "xdmf" else {}
    with atomic_path(path) as tmp:
        try:
            meshio.write(tmp, out, file_format=fmt, **kwargs)
        except Exception as exc:
            raise DataError(f"cannot write mesh {path} as {fmt}: {exc}") from exc
    return path


# ----------------------------------------------------------------------------- arrays and checks


@dataclass(frozen=True)
class _Simplices:
    points: np.ndarray  # (num_nodes, dim) float64
    cells: np.ndarray  # (num_cells, k) int64
    cell_type: str  # "triangle" or "tetra"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _simplices(mesh: Any) -> _Simplices:
    """Points and top-dimensional simplices of a mesh or a ``(points, cells)`` pair, index-checked."""
    if isinstance(mesh, meshio.Mesh):
        points = np.asarray(mesh.points)
        types = [block.type for block in mesh.cells]
        if "tetra" in types:
            cell_type, unsupported = "tetra", _OTHER_3D
        elif "triangle" in types:
            cell_type, unsupported = "triangle", _OTHER_2D
        else:
            raise DataError(f"mesh has cells of type {', '.join(sorted(set(types))) or 'none'}; "
                            f"supported: triangle, tetra")
        bad = sorted(set(types) & unsupported)
        if bad:
            raise DataError(f"mesh mixes {cell_type} cells with {', '.join(bad)} cells; only pure "
                            f"triangle or tetra meshes are supported")
        blocks = [np.asarray(b.data) for b in mesh.cells if b.type == cell_type]
        cells = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    elif isinstance(mesh, (tuple, list)) and len(mesh) == 2:
        points, cells = np.asarray(mesh[0]), np.asarray(mesh[1])
        if cells.ndim != 2 or cells.shape[1] not in (3, 4):
            raise DataError(f"cells must have shape (num_cells, 3) for triangles or (num_cells, 4) for "
                            f"tetrahedra, got {cells.shape}")
        cell_type = "triangle" if cells.shape[1] == 3 else "tetra"
    else:
        raise DataError(f"expected a meshio.Mesh or a (points, cells) pair, got {type(mesh).__name__}")
    if points.ndim != 2 or points.shape[1] not in (2, 3) or points.dtype.kind not in "iuf":
        raise DataError(f"mesh points must be a numeric (num_nodes, 2) or (num_nodes, 3) array, got shape "
                        f"{points.shape} and dtype {points.dtype}")
    if cells.dtype.kind not in "iu":
        raise DataError(f"mesh cells must be integer node indices, got dtype {cells.dtype}")
    points = points.astype(np.float64)
    cells = cells.astype(np.int64)
    if cell_type == "tetra" and points.shape[1] != 3:
        raise DataError(f"tetra cells need 3D points, got points of shape {points.shape}")
    bad_nodes = np.flatnonzero(~np.isfinite(points).all(axis=1))
    if bad_nodes.size:
        more = f" ({_plural(bad_nodes.size - 1, 'more node')} too)" if bad_nodes.size > 1 else ""
        raise DataError(f"mesh node {bad_nodes[0]} has a non-finite coordinate "
                        f"{points[bad_nodes[0]].tolist()}{more}")
    if cell_type == "triangle" and points.shape[1] == 3 and np.all(points[:, 2] == 0.0):
        points = points[:, :2]
    if len(cells) == 0:
        raise DataError("mesh has no triangle or tetra cells")
    out_of_range = (cells < 0) | (cells >= len(points))
    if out_of_range.any():
        element, corner = np.argwhere(out_of_range)[0]
        raise DataError(f"mesh element {element} ({cell_type}) refers to node {cells[element, corner]}, but "
                        f"the mesh has {len(points)} nodes (valid indices 0..{len(points) - 1})")
    return _Simplices(points, cells, cell_type)


def mesh_arrays(mesh: Any) -> tuple[np.ndarray, np.ndarray]:
    """Points and top-dimensional cells of a mesh, with the basic checks (finite, indices in range).

    Shapes
    ------
    points ``(num_nodes, dim)`` float64 (``dim = 2`` for planar triangle meshes), cells
    ``(num_cells, 3)`` or ``(num_cells, 4)`` int64.
    """
    s = _simplices(mesh)
    return s.points, s.cells


def _signed_measure(points: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed area (planar triangles; unsigned for surfaces) or signed volume, and the longest edge."""
    corners = points[cells]  # (C, k, dim)
    edges = corners[:, 1:] - corners[:, :1]
    k = cells.shape[1]
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    longest = np.max([np.linalg.norm(corners[:, a] - corners[:, b], axis=-1) for a, b in pairs], axis=0)
    if k == 3 and points.shape[1] == 2:
        measure = 0.5 * (edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 0, 1] * edges[:, 1, 0])
    elif k == 3:
        measure = 0.5 * np.linalg.norm(np.cross(edges[:, 0], edges[:, 1]), axis=-1)
    else:
        measure = np.linalg.det(edges) / 6.0
    return measure, longest


def check_mesh(mesh: Any, *, orientation: str = "ccw", degenerate_rtol: float = 1e-8) -> meshio.Mesh:
    """Check a simplex mesh for the defects that break assembly or graph construction.

    Checks, in this order: finite coordinates, node indices in range, no repeated vertex in a
    cell, no degenerate cell (``|area| <= degenerate_rtol * longest_edge^2``, or
    ``|volume| <= degenerate_rtol * longest_edge^3``), orientation, no duplicate cells (the same
    node set twice), no unreferenced nodes.

    Parameters
    ----------
    mesh : a :class:`meshio.Mesh` or a pair ``(points, cells)``
    orientation : how clockwise triangles of a planar mesh (negative tetra volumes) are treated.
        ``"ccw"`` refuses them, naming the first; when *every* cell is clockwise the message says
        the mesh uses the opposite convention and suggests ``"reorient"``. ``"reorient"`` flips
        each clockwise cell to counter-clockwise (the returned mesh is new). ``"any"`` skips the
        check. Triangles of a surface in 3D have no orientation to check.
    degenerate_rtol : relative size below which a cell counts as degenerate

    Returns
    -------
    meshio.Mesh
        The checked mesh: ``mesh`` itself when it is a meshio mesh and nothing was flipped,
        otherwise a new mesh holding the points, the one simplex block and the point data.

    Raises
    ------
    DataError
        Naming the first offending element or node index and what is wrong with it.

    Shapes
    ------
    points ``(num_nodes, 2 or 3)``, cells ``(num_cells, 3)`` triangles or ``(num_cells, 4)`` tetrahedra.
    """
    if orientation not in ORIENTATIONS:
        raise ConfigError(f"unknown orientation {orientation!r}; choose one of {', '.join(ORIENTATIONS)}")
    s = _simplices(mesh)
    points, cells, kind = s.points, s.cells, s.cell_type
    ordered = np.sort(cells, axis=1)
    repeated = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
    if repeated.size:
        e = repeated[0]
        row = ordered[e]
        node = row[1:][row[1:] == row[:-1]][0]
        raise DataError(f"mesh element {e} ({kind}) is degenerate: node {node} appears more than once "
                        f"in {cells[e].tolist()}")
    measure, longest = _signed_measure(points, cells)
    scale = longest ** (2 if kind == "triangle" else 3)
    tiny = np.flatnonzero(np.abs(measure) <= degenerate_rtol * scale)
    if tiny.size:
        e = tiny[0]
        what = "area" if kind == "triangle" else "volume"
        more = f" ({_plural(tiny.size - 1, 'more element')} too)" if tiny.size > 1 else ""
        raise DataError(f"mesh element {e} ({kind}) is degenerate: its {what} {measure[e]:.3g} is at most "
                        f"{degenerate_rtol:g} x its longest edge {longest[e]:.3g} to the power "
                        f"{2 if kind == 'triangle' else 3}{more}")
    oriented = kind == "tetra" or points.shape[1] == 2
    flipped = np.flatnonzero(measure < 0) if oriented and orientation != "any" else np.empty(0, dtype=int)
    if flipped.size and orientation == "ccw":
        if flipped.size == len(cells):
            raise DataError(f"all {len(cells)} {kind} cells are ordered clockwise (negative signed "
                            f"{'area' if kind == 'triangle' else 'volume'}): the mesh uses the opposite "
                            f"convention; pass orientation='reorient' to flip them to counter-clockwise")
        e = flipped[0]
        more = f" ({_plural(flipped.size - 1, 'more element')} too)" if flipped.size > 1 else ""
        raise DataError(f"mesh element {e} ({kind}) is inverted: nodes {cells[e].tolist()} are ordered "
                        f"clockwise (signed {'area' if kind == 'triangle' else 'volume'} {measure[e]:.3g}) "
                        f"while the other cells are counter-clockwise{more}")
    _, first, counts = np.unique(ordered, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup_key = ordered[first[np.flatnonzero(counts > 1)[0]]]
        same = np.flatnonzero((ordered == dup_key).all(axis=1))
        raise DataError(f"mesh elements {same[0]} and {same[1]} ({kind}) are duplicates: both have nodes "
                        f"{dup_key.tolist()}")
    used = np.zeros(len(points), dtype=bool)
    used[cells.ravel()] = True
    unused = np.flatnonzero(~used)
    if unused.size:
        more = f" ({_plural(unused.size - 1, 'more node')} too)" if unused.size > 1 else ""
        raise DataError(f"mesh node {unused[0]} is unreferenced: no element uses it{more}; remove such nodes "
                        f"(meshio.Mesh.remove_orphaned_nodes)")
    if isinstance(mesh, meshio.Mesh) and not flipped.size:
        return mesh
    if flipped.size:
        cells = cells.copy()
        cells[flipped, 0], cells[flipped, 1] = cells[flipped, 1], cells[flipped, 0].copy()
    point_data = dict(mesh.point_data) if isinstance(mesh, meshio.Mesh) else {}
    return meshio.Mesh(points, [(kind, cells)], point_data=point_data)


# ------------------------------------------------------------------------------------------ graph


def _facets(cells: np.ndarray) -> np.ndarray:
    """All (k-1)-vertex facets of each simplex, sorted within each facet: ``(num_cells * k, k - 1)``."""
    k = cells.shape[1]
    faces = np.concatenate([np.delete(cells, j, axis=1) for j in range(k)])
    return np.sort(faces, axis=1)


def _boundary_nodes(num_nodes: int, cells: np.ndarray) -> np.ndarray:
    facets = _facets(cells)
    unique, counts = np.unique(facets, axis=0, return_counts=True)
    flag = np.zeros(num_nodes, dtype=bool)
    flag[unique[counts == 1].ravel()] = True
    return flag


def _node_fields(mesh: Any, fields: Any, num_nodes: int) -> list[np.ndarray]:
    if fields is None:
        return []
    if isinstance(fields, Mapping):
        items = list(fields.items())
    elif isinstance(fields, (str, bytes)) or not isinstance(fields, Sequence):
        raise DataError(f"fields must be a list of point-data names or a dict name -> node values, "
                        f"got {type(fields).__name__}")
    else:
        point_data = mesh.point_data if isinstance(mesh, meshio.Mesh) else {}
        missing = [name for name in fields if name not in point_data]
        if missing:
            raise DataError(f"the mesh has no point field {', '.join(map(repr, missing))}; it has "
                            f"{', '.join(map(repr, point_data)) or 'none'}")
        items = [(name, point_data[name]) for name in fields]
    columns = []
    for name, values in items:
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        values = np.asarray(values)
        if values.dtype.kind not in "biuf" or values.ndim not in (1, 2) or values.shape[0] != num_nodes:
            raise DataError(f"field {name!r} has shape {values.shape} and dtype {values.dtype}, expected "
                            f"numeric node values ({num_nodes},) or ({num_nodes}, k)")
        values = values.astype(np.float64).reshape(num_nodes, -1)
        if not np.all(np.isfinite(values)):
            node = np.argwhere(~np.isfinite(values))[0, 0]
            raise DataError(f"field {name!r} has a non-finite value at node {node}")
        columns.append(values)
    return columns


def to_graph(mesh: Any, *, fields: Sequence[str] | Mapping[str, Any] | None = None,
             dtype: torch.dtype = torch.float32):
    """Turn a simplex mesh into a torch_geometric graph.

    Nodes are the mesh points; edges are the cell edges, each undirected edge once in each
    direction, sorted by (source, target).

    Parameters
    ----------
    mesh : a :class:`meshio.Mesh` or a pair ``(points, cells)``
    fields : node features: names of ``mesh.point_data`` entries, or a dict ``name -> values``
        with values ``(num_nodes,)`` or ``(num_nodes, k)``; concatenated in the given order
    dtype : floating dtype of ``x``, ``pos`` and ``edge_attr``

    Returns
    -------
    torch_geometric.data.Data with

    - ``x``: the fields' columns followed by the boundary flag (1.0 on boundary nodes)
    - ``pos``: node coordinates
    - ``edge_index``: int64, ``edge_index[0]`` the source ``j``, ``edge_index[1]`` the target ``i``
    - ``edge_attr``: ``[x_j - x_i, |x_j - x_i|]``, i.e. ``pos[source] - pos[target]`` and its
      length (torch_geometric's ``Cartesian`` and ``Distance`` conventions)
    - ``boundary``: bool, True on nodes of facets (edges in 2D, faces in 3D) that belong to
      exactly one cell; the boundary of the domain, holes included
    - ``face``: the cells, int64 ``(k, num_cells)`` (torch_geometric's name and layout for mesh
      cells, so that batching offsets them by the node count like ``edge_index``)

    Shapes
    ------
    ``x (num_nodes, F + 1)``, ``pos (num_nodes, dim)``, ``edge_index (2, num_edges)``,
    ``edge_attr (num_edges, dim + 1)``, ``boundary (num_nodes,)``, ``face (3 or 4, num_cells)``.
    """
    from torch_geometric.data import Data

    s = _simplices(mesh)
    points, cells = s.points, s.cells
    num_nodes = len(points)
    columns = _node_fields(mesh, fields, num_nodes)
    k = cells.shape[1]
    pairs = np.concatenate([cells[:, [a, b]] for a in range(k) for b in range(a + 1, k)])
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    both = np.concatenate([pairs, pairs[:, ::-1]])
    both = both[np.lexsort((both[:, 1], both[:, 0]))]
    edge_index = torch.from_numpy(np.ascontiguousarray(both.T))
    pos = torch.from_numpy(points)
    delta = pos[edge_index[0]] - pos[edge_index[1]]
    edge_attr = torch.cat([delta, delta.norm(dim=1, keepdim=True)], dim=1)
    boundary = _boundary_nodes(num_nodes, cells)
    x = np.concatenate(columns + [boundary[:, None].astype(np.float64)], axis=1)
    return Data(x=torch.from_numpy(x).to(dtype), edge_index=edge_index, edge_attr=edge_attr.to(dtype),
                pos=pos.to(dtype), boundary=torch.from_numpy(boundary),
                face=torch.from_numpy(np.ascontiguousarray(cells.T)), num_nodes=num_nodes)


# --------------------------------------------------------------------------------- domain shapes


def _point(value: Any, name: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a pair of numbers (x, y), got {value!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return x, y


def _positive(params: dict[str, Any], *names: str) -> None:
    for name in names:
        value = params[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name} must be a positive number, got {value!r}")


def _fraction(params: dict[str, Any], *names: str) -> None:
    for name in names:
        value = params[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1:
            raise ConfigError(f"{name} must be a number strictly between 0 and 1, got {value!r}")


def _polygon(occ, corners: Sequence[tuple[float, float]]) -> int:
    """A closed curve loop through ``corners``; returns the loop tag."""
    tags = [occ.addPoint(x, y, 0.0) for x, y in corners]
    lines = [occ.addLine(tags[i], tags[(i + 1) % len(tags)]) for i in range(len(tags))]
    return occ.addCurveLoop(lines)


def _circle(occ, center: tuple[float, float], radius: float) -> int:
    return occ.addCurveLoop([occ.addCircle(center[0], center[1], 0.0, radius)])


def _square_corners(origin: tuple[float, float], side: float) -> list[tuple[float, float]]:
    x0, y0 = origin
    return [(x0, y0), (x0 + side, y0), (x0 + side, y0 + side), (x0, y0 + side)]


def _build_square(occ, p: dict[str, Any]) -> list[int]:
    return [_polygon(occ, _square_corners(p["origin"], p["side"]))]


def _check_square(p: dict[str, Any]) -> None:
    _positive(p, "side")
    p["origin"] = _point(p["origin"], "origin")


def _build_disk(occ, p: dict[str, Any]) -> list[int]:
    return [_circle(occ, p["center"], p["radius"])]


def _check_disk(p: dict[str, Any]) -> None:
    _positive(p, "radius")
    p["center"] = _point(p["center"], "center")


def _build_l(occ, p: dict[str, Any]) -> list[int]:
    (x0, y0), s, c = p["origin"], p["side"], p["cut"]
    return [_polygon(occ, [(x0, y0), (x0 + s, y0), (x0 + s, y0 + (1 - c) * s), (x0 + (1 - c) * s, y0 + (1 - c) * s),
                           (x0 + (1 - c) * s, y0 + s), (x0, y0 + s)])]


def _check_l(p: dict[str, Any]) -> None:
    _check_square(p)
    _fraction(p, "cut")


def _build_u(occ, p: dict[str, Any]) -> list[int]:
    (x0, y0), s = p["origin"], p["side"]
    left, right = x0 + 0.5 * (1 - p["slot_width"]) * s, x0 + 0.5 * (1 + p["slot_width"]) * s
    bottom = y0 + (1 - p["slot_depth"]) * s
    return [_polygon(occ, [(x0, y0), (x0 + s, y0), (x0 + s, y0 + s), (right, y0 + s), (right, bottom),
                           (left, bottom), (left, y0 + s), (x0, y0 + s)])]


def _check_u(p: dict[str, Any]) -> None:
    _check_square(p)
    _fraction(p, "slot_width", "slot_depth")


def _hole_inside(p: dict[str, Any], half: float) -> None:
    (x0, y0), s = p["origin"], p["side"]
    cx, cy = p["hole_center"]
    if not (x0 < cx - half and cx + half < x0 + s and y0 < cy - half and cy + half < y0 + s):
        raise ConfigError(f"the hole (center {p['hole_center']}, half-width {half:g}) must lie strictly inside "
                          f"the square [{x0:g}, {x0 + s:g}] x [{y0:g}, {y0 + s:g}]")


def _build_square_hole(occ, p: dict[str, Any]) -> list[int]:
    return [_polygon(occ, _square_corners(p["origin"], p["side"])), _circle(occ, p["hole_center"], p["hole_radius"])]


def _check_square_hole(p: dict[str, Any]) -> None:
    _check_square(p)
    _positive(p, "hole_radius")
    p["hole_center"] = _point(p["hole_center"], "hole_center")
    _hole_inside(p, p["hole_radius"])


def _build_square_square_hole(occ, p: dict[str, Any]) -> list[int]:
    half = 0.5 * p["hole_side"]
    cx, cy = p["hole_center"]
    return [_polygon(occ, _square_corners(p["origin"], p["side"])),
            _polygon(occ, _square_corners((cx - half, cy - half), p["hole_side"]))]


def _check_square_square_hole(p: dict[str, Any]) -> None:
    _check_square(p)
    _positive(p, "hole_side")
    p["hole_center"] = _point(p["hole_center"], "hole_center")
    _hole_inside(p, 0.5 * p["hole_side"])


def _build_annulus(occ, p: dict[str, Any]) -> list[int]:
    return [_circle(occ, p["center"], p["radius"]), _circle(occ, p["center"], p["inner_radius"])]


def _check_annulus(p: dict[str, Any]) -> None:
    _check_disk(p)
    _positive(p, "inner_radius")
    if p["inner_radius"] >= p["radius"]:
        raise ConfigError(f"inner_radius {p['inner_radius']} must be smaller than radius {p['radius']}")


def star_radius(t: np.ndarray, c1: float, c2: float, radius: float = 1.0) -> np.ndarray:
    """The star boundary ``r(t) = radius * (1 + c1 cos 4t + c2 cos 8t)`` (WoS-NO's domains)."""
    return radius * (1.0 + c1 * np.cos(4 * t) + c2 * np.cos(8 * t))


def _build_star(occ, p: dict[str, Any]) -> list[int]:
    n = p["spline_points"]
    t = 2 * np.pi * np.arange(n) / n
    r = star_radius(t, p["c1"], p["c2"], p["radius"])
    cx, cy = p["center"]
    tags = [occ.addPoint(cx + r[i] * np.cos(t[i]), cy + r[i] * np.sin(t[i]), 0.0) for i in range(n)]
    curve = occ.addSpline(tags + [tags[0]])  # closed (periodic) interpolating B-spline
    occ.remove([(0, tag) for tag in tags[1:]])  # interpolation points only; keep them out of the mesh
    return [occ.addCurveLoop([curve])]


def _snap_star(points: np.ndarray, boundary: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """Move boundary nodes radially from the spline onto r(t) itself (a shift of about 1e-4 * radius)."""
    centre = np.asarray(p["center"])
    offset = points[boundary] - centre
    t = np.arctan2(offset[:, 1], offset[:, 0])
    r = star_radius(t, p["c1"], p["c2"], p["radius"])
    points = points.copy()
    points[boundary] = centre + r[:, None] * np.column_stack([np.cos(t), np.sin(t)])
    return points


def _check_star(p: dict[str, Any]) -> None:
    _check_disk(p)
    for name in ("c1", "c2"):
        if not isinstance(p[name], (int, float)) or isinstance(p[name], bool) or not math.isfinite(p[name]):
            raise ConfigError(f"{name} must be a finite number, got {p[name]!r}")
    if abs(p["c1"]) + abs(p["c2"]) >= 1:
        raise ConfigError(f"the star needs |c1| + |c2| < 1 so that r(t) > 0, got c1={p['c1']}, c2={p['c2']}")
    n = p["spline_points"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 16:
        raise ConfigError(f"spline_points must be an integer >= 16, got {n!r}")


@dataclass(frozen=True)
class _Shape:
    defaults: dict[str, Any]
    check: Callable[[dict[str, Any]], None]
    build: Callable[[Any, dict[str, Any]], list[int]]
    area: Callable[[dict[str, Any]], float]  # for the size guard
    # moves boundary nodes from gmsh's curve onto the exact one: (points, boundary mask, params) -> points
    snap: Callable[[np.ndarray, np.ndarray, dict[str, Any]], np.ndarray] | None = None


SHAPES: dict[str, _Shape] = {
    "square": _Shape({"side": 1.0, "origin": (0.0, 0.0)}, _check_square, _build_square, lambda p: p["side"] ** 2),
    "disk": _Shape({"radius": 1.0, "center": (0.0, 0.0)}, _check_disk, _build_disk,
                   lambda p: math.pi * p["radius"] ** 2),
    "L": _Shape({"side": 1.0, "origin": (0.0, 0.0), "cut": 0.5}, _check_l, _build_l, lambda p: p["side"] ** 2),
    "U": _Shape({"side": 1.0, "origin": (0.0, 0.0), "slot_width": 1 / 3, "slot_depth": 2 / 3}, _check_u, _build_u,
                lambda p: p["side"] ** 2),
    "square-with-hole": _Shape({"side": 1.0, "origin": (0.0, 0.0), "hole_center": (0.5, 0.5), "hole_radius": 0.25},
                               _check_square_hole, _build_square_hole, lambda p: p["side"] ** 2),
    "square-with-square-hole": _Shape({"side": 1.0, "origin": (0.0, 0.0), "hole_center": (0.5, 0.5),
                                       "hole_side": 0.4}, _check_square_square_hole, _build_square_square_hole,
                                      lambda p: p["side"] ** 2),
    "annulus": _Shape({"radius": 1.0, "inner_radius": 0.5, "center": (0.0, 0.0)}, _check_annulus, _build_annulus,
                      lambda p: math.pi * p["radius"] ** 2),
    "star": _Shape({"radius": 1.0, "c1": 0.2, "c2": 0.1, "center": (0.0, 0.0), "spline_points": 128},
                   _check_star, _build_star,
                   lambda p: math.pi * (p["radius"] * (1 + abs(p["c1"]) + abs(p["c2"]))) ** 2,
                   _snap_star),
}
"""Shapes of :func:`generate_domain` with their default parameters (see its docstring)."""

_MAX_TRIANGLES = 10_000_000

# gmsh options set for each meshing; restored afterwards when the caller had gmsh initialised.
_GMSH_OPTIONS = ("General.Terminal", "General.NumThreads", "Mesh.MaxNumThreads2D", "Mesh.RandomSeed",
                 "Mesh.Algorithm", "Mesh.MeshSizeMin", "Mesh.MeshSizeMax", "Mesh.MeshSizeFromPoints",
                 "Mesh.MeshSizeFromCurvature", "Mesh.MeshSizeExtendFromBoundary", "Mesh.ElementOrder")


@contextlib.contextmanager
def _gmsh_session() -> Iterator[Any]:
    """A fresh gmsh model; gmsh is initialised (without its SIGINT handler) and finalised here
    unless the caller already holds a gmsh session, whose options and current model are restored."""
    import gmsh

    owner = not gmsh.isInitialized()
    if owner:
        gmsh.initialize(["sciml"], readConfigFiles=False, interruptible=False)
        saved, previous = {}, None
    else:
        saved = {name: gmsh.option.getNumber(name) for name in _GMSH_OPTIONS}
        previous = gmsh.model.getCurrent()
    gmsh.model.add(f"sciml-domain-{os.getpid()}-{id(saved)}")
    try:
        yield gmsh
    finally:
        gmsh.model.remove()
        if owner:
            gmsh.finalize()
        else:
            for name, value in saved.items():
                gmsh.option.setNumber(name, value)
            if previous:
                gmsh.model.setCurrent(previous)


def generate_domain(shape: str, *, h: float = 0.1, seed: int = 0, **shape_params: Any) -> meshio.Mesh:
    """Mesh a 2D domain with linear triangles using gmsh.

    Shapes and their parameters (defaults in :data:`SHAPES`):

    - ``"square"``: ``[x0, x0 + side] x [y0, y0 + side]``; ``side=1``, ``origin=(0, 0)``
    - ``"disk"``: ``radius=1``, ``center=(0, 0)``
    - ``"L"``: the square without its upper-right ``cut * side`` square; ``cut=0.5`` (plus square's)
    - ``"U"``: the square without a slot from the top edge, centred, ``slot_width=1/3`` and
      ``slot_depth=2/3`` as fractions of ``side`` (plus square's)
    - ``"square-with-hole"``: the square without the disk ``hole_center=(0.5, 0.5)``, ``hole_radius=0.25``
    - ``"square-with-square-hole"``: the square without the square ``hole_center=(0.5, 0.5)``, ``hole_side=0.4``
    - ``"annulus"``: ``radius=1``, ``inner_radius=0.5``, ``center=(0, 0)``
    - ``"star"``: ``r(t) = radius * (1 + c1 cos 4t + c2 cos 8t)`` around ``center``; ``radius=1``,
      ``c1=0.2``, ``c2=0.1`` (needs ``|c1| + |c2| < 1``); gmsh meshes the periodic B-spline
      through ``spline_points=128`` points of r(t), then the boundary nodes are moved radially onto
      r(t) itself

    Parameters
    ----------
    shape : one of the names above
    h : target element size (gmsh's ``Mesh.MeshSizeMin`` and ``Max``)
    seed : gmsh's ``Mesh.RandomSeed`` (its algorithms' random perturbations); gmsh runs on one
        thread, so the same arguments give the same mesh
    **shape_params : the shape's parameters; unknown names are refused

    Returns
    -------
    meshio.Mesh with 2D points and one ``triangle`` block, counter-clockwise, no unreferenced
    nodes; boundary nodes lie on the boundary curves (holes included).

    Shapes
    ------
    points ``(num_nodes, 2)`` float64, cells ``(num_cells, 3)`` int64.
    """
    if shape not in SHAPES:
        raise ConfigError(f"unknown domain shape {shape!r}; choose one of {', '.join(SHAPES)}")
    spec = SHAPES[shape]
    unknown = sorted(set(shape_params) - set(spec.defaults))
    if unknown:
        raise ConfigError(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for shape "
                          f"{shape!r}; valid: {', '.join(spec.defaults)}")
    params = {**spec.defaults, **shape_params}
    spec.check(params)
    if not isinstance(h, (int, float)) or isinstance(h, bool) or not math.isfinite(h) or h <= 0:
        raise ConfigError(f"h must be a positive mesh size, got {h!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**31:
        raise ConfigError(f"seed must be an integer in [0, 2^31), got {seed!r}")
    estimate = spec.area(params) / (0.433 * h * h)  # equilateral triangles of side h
    if estimate > _MAX_TRIANGLES:
        raise ConfigError(f"h={h:g} would give about {estimate:.3g} triangles for shape {shape!r}; "
                          f"the limit is {_MAX_TRIANGLES:g}")
    with _gmsh_session() as gmsh:
        options = {"General.Terminal": 0, "General.NumThreads": 1, "Mesh.MaxNumThreads2D": 1,
                   "Mesh.RandomSeed": int(seed), "Mesh.Algorithm": 6, "Mesh.MeshSizeMin": float(h),
                   "Mesh.MeshSizeMax": float(h), "Mesh.MeshSizeFromPoints": 0, "Mesh.MeshSizeFromCurvature": 0,
                   "Mesh.MeshSizeExtendFromBoundary": 0, "Mesh.ElementOrder": 1}
        for name, value in options.items():
            gmsh.option.setNumber(name, value)
        occ = gmsh.model.occ
        try:
            loops = spec.build(occ, params)
            occ.addPlaneSurface(loops)
            occ.synchronize()
            gmsh.model.mesh.generate(2)
        except Exception as exc:
            raise DataError(f"gmsh could not mesh shape {shape!r} with h={h:g} and {params}: {exc}") from exc
        tags, coords, _ = gmsh.model.mesh.getNodes()
        types, _, nodes = gmsh.model.mesh.getElements(2)
    triangle_type = 2  # gmsh's 3-node triangle
    if list(types) != [triangle_type]:
        raise DataError(f"gmsh produced element types {list(types)} for shape {shape!r}, expected triangles only")
    points = np.asarray(coords, dtype=np.float64).reshape(-1, 3)[:, :2]
    tags = np.asarray(tags, dtype=np.int64)
    triangles = np.asarray(nodes[0], dtype=np.int64).reshape(-1, 3)
    # Keep only nodes used by triangles, in gmsh's tag order, and renumber 0 .. P-1.
    order = np.argsort(tags)
    tags, points = tags[order], points[order]
    position = np.searchsorted(tags, triangles)
    used = np.zeros(len(tags), dtype=bool)
    used[position.ravel()] = True
    renumber = np.cumsum(used) - 1
    points, cells = points[used], renumber[position]
    a, b = points[cells[:, 1]] - points[cells[:, 0]], points[cells[:, 2]] - points[cells[:, 0]]
    clockwise = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] < 0
    cells[clockwise, 1], cells[clockwise, 2] = cells[clockwise, 2], cells[clockwise, 1].copy()
    if spec.snap is not None:
        points = spec.snap(points, _boundary_nodes(len(points), cells), params)
        area, _ = _signed_measure(points, cells)
        if np.any(area <= 0):
            raise DataError(f"moving the boundary nodes of shape {shape!r} onto the exact curve inverted element "
                            f"{int(np.argmax(area <= 0))}; use a smaller h or more spline_points")
    return meshio.Mesh(points, [("triangle", cells)])
