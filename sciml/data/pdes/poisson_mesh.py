"""Electrostatics on varied 2D meshes: ``-div(eps grad u) = rho`` in Omega, ``u = 0`` on its boundary.

The data of the GNN boundary-value solver (Lotzsch et al., arXiv 2206.14092): each sample draws a
domain shape, meshes it with gmsh (:func:`sciml.data.mesh.generate_domain`), draws a source
``rho`` (a sum of Gaussian bumps centred inside the domain) and optionally a piecewise-constant
permittivity ``eps`` (a disk inclusion), and solves by finite elements (scikit-fem, P1 or P2,
Dirichlet condition on every boundary curve, holes included). Values are stored at the mesh
vertices.

Resolution
----------
``res`` sets the mesh size ``h = 1 / res``. The generator places every shape inside the unit
square (disk and star centred at (0.5, 0.5) with outer radius 0.5; L, U and the holed squares
are ``[0, 1]^2`` minus their cut-outs), so ``res`` is about the number of elements across a domain.

Storage layout (padded)
-----------------------
Meshes differ per sample while the store's per-sample fields have fixed shapes, so each sample
is padded to ``max_nodes`` nodes and ``max_cells`` triangles, with its true counts beside:

- ``points (N, max_nodes, 2)`` float64, rows past ``num_nodes`` are 0
- ``cells (N, max_cells, 3)`` int32 node indices (counter-clockwise), rows past ``num_cells`` are -1
- ``num_nodes (N,)``, ``num_cells (N,)`` int32
- ``shape_index (N,)`` int32, the sample's shape as an index into ``params["shapes"]``
- ``rho (N, max_nodes)`` float32 source at the nodes (the solver uses its P1 interpolant)
- ``eps (N, max_cells)`` float32 permittivity per triangle (padding 0)
- ``u (N, max_nodes)`` float32 solution at the nodes (padding 0)
- coordinate entry ``cell_type`` = ``b"triangle"``

``max_nodes`` and ``max_cells`` default to 1.25 times the largest counts found by meshing the
largest variant of each listed shape at ``h`` (plus 16); a sample that still exceeds them stops
the generation with a message to raise them. :func:`load_sample` cuts the padding off.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Iterator

import meshio
import numpy as np
import torch

from sciml._errors import ConfigError, DataError
from sciml.data.grf import sample_rng
from sciml.data.mesh import SHAPES, check_mesh, generate_domain, mesh_arrays, to_graph
from sciml.data.store import Store, open_store
from sciml.data.pdes._common import merge_params, padded_block

__all__ = ["solve", "l2_error", "load_sample", "sample_problem", "generate", "fields", "coords", "check_params",
           "DEFAULTS", "GENERATOR"]

GENERATOR = "sciml.data.pdes.poisson_mesh 1"
DEFAULTS: dict[str, Any] = {
    "shapes": ["square", "disk", "L", "U", "square-with-hole", "star"],
    "order": 2,
    "n_sources": [1, 3],
    "source_width": [0.03, 0.1],
    "source_amplitude": [1.0, 10.0],
    "eps_inclusion": [1.0, 1.0],
    "inclusion_radius": [0.1, 0.3],
    "hole_radius": [0.1, 0.25],
    "star_c": 0.2,
    "max_nodes": None,
    "max_cells": None,
}
"""Generator parameters.

shapes: domain shapes drawn uniformly per sample (any of :data:`sciml.data.mesh.SHAPES`); order: FEM
degree 1 or 2; n_sources: inclusive range of the number of Gaussian bumps ``a exp(-|x-c|^2 / (2 w^2))``;
source_width: range of ``w``; source_amplitude: range of ``|a|`` (the sign is drawn with
probability 1/2); eps_inclusion: range of the permittivity inside a disk inclusion of radius in
inclusion_radius centred inside the domain, ``eps = 1`` elsewhere (``[1, 1]`` gives ``eps = 1``
everywhere); hole_radius: range of the hole radius (square-with-hole, annulus) or half-side
(square-with-square-hole), below 0.4; star_c: ``c1, c2`` uniform in ``[-star_c, star_c]``;
max_nodes, max_cells: padding sizes (None: derived, see the module docstring).
"""

ORDERS = (1, 2)
_RANGES = {"n_sources": "integer", "source_width": "positive", "source_amplitude": "non-negative",
           "eps_inclusion": "positive", "inclusion_radius": "positive", "hole_radius": "positive"}


# ------------------------------------------------------------------------------------------- solve


def _triangle_mesh(mesh: Any) -> tuple[np.ndarray, np.ndarray]:
    checked = check_mesh(mesh, orientation="any")
    points, cells = mesh_arrays(checked)
    if points.shape[1] != 2 or cells.shape[1] != 3:
        raise DataError(f"the Poisson solver needs a planar triangle mesh, got points {points.shape} and "
                        f"cells {cells.shape}")
    return points, cells


def _basis(points: np.ndarray, cells: np.ndarray, order: int, intorder: int):
    import skfem

    if order not in ORDERS:
        raise ConfigError(f"unknown FEM order {order!r}; choose one of {', '.join(map(str, ORDERS))}")
    mesh = skfem.MeshTri(np.ascontiguousarray(points.T), np.ascontiguousarray(cells.T))
    element = skfem.ElementTriP1() if order == 1 else skfem.ElementTriP2()
    return skfem.Basis(mesh, element, intorder=intorder)


def _at_quadrature(values: Any, name: str, basis, num_nodes: int, num_cells: int, *, per_cell: bool) -> np.ndarray:
    """A number, callable ``f(x, y)``, node values (rho) or cell values (eps) at the quadrature points."""
    import skfem

    x = np.asarray(basis.global_coordinates())  # (2, num_cells, num_qp)
    if callable(values):
        out = np.asarray(values(x[0], x[1]), dtype=np.float64)
        if out.shape == ():
            out = np.full(x.shape[1:], float(out))
        if out.shape != x.shape[1:]:
            raise DataError(f"{name}(x, y) returned shape {out.shape} for inputs of shape {x.shape[1:]}")
    else:
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            out = np.full(x.shape[1:], float(arr))
        elif per_cell and arr.shape == (num_cells,):
            out = np.repeat(arr[:, None], x.shape[2], axis=1)
        elif not per_cell and arr.shape == (num_nodes,):
            out = np.asarray(basis.with_element(skfem.ElementTriP1()).interpolate(arr))
        else:
            expected = f"({num_cells},) cell values" if per_cell else f"({num_nodes},) node values"
            raise DataError(f"{name} has shape {arr.shape}; expected a number, a callable f(x, y) or {expected}")
    if not np.all(np.isfinite(out)):
        raise DataError(f"{name} has non-finite values")
    return out


def solve(mesh: Any, rho: Any, eps: Any = 1.0, *, order: int = 1, dirichlet: Any = None) -> torch.Tensor:
    """Solve ``-div(eps grad u) = rho`` with ``u = g`` on the whole boundary by finite elements.

    Parameters
    ----------
    mesh : planar triangle mesh, a :class:`meshio.Mesh` or ``(points, cells)``; checked with
        :func:`sciml.data.mesh.check_mesh` (either orientation is accepted)
    rho : source: a number, node values ``(num_nodes,)`` (their P1 interpolant is used), or a
        callable ``rho(x, y)`` evaluated at the quadrature points
    eps : permittivity: a number, cell values ``(num_cells,)`` (piecewise constant) or a callable
        ``eps(x, y)``; must be positive
    order : polynomial degree of the Lagrange elements, 1 or 2
    dirichlet : boundary data ``g``: ``None`` (``u = 0``) or a callable ``g(x, y)`` on arrays, evaluated at
        the boundary degrees of freedom (vertices, and edge midpoints for P2)

    Returns
    -------
    Tensor ``(num_nodes,)``, the solution at the mesh vertices: float64, or ``rho``'s floating
    dtype and device when ``rho`` is a tensor.

    Shapes
    ------
    points ``(num_nodes, 2)``, cells ``(num_cells, 3)``, rho ``(num_nodes,)``, eps ``(num_cells,)``.
    """
    import scipy.sparse.linalg as spla
    import skfem
    from skfem.helpers import dot, grad

    if order not in ORDERS:
        raise ConfigError(f"unknown FEM order {order!r}; choose one of {', '.join(map(str, ORDERS))}")
    points, cells = _triangle_mesh(mesh)
    basis = _basis(points, cells, order, intorder=2 * order + 2)
    rho_q = _at_quadrature(rho, "rho", basis, len(points), len(cells), per_cell=False)
    eps_q = _at_quadrature(eps, "eps", basis, len(points), len(cells), per_cell=True)
    if np.any(eps_q <= 0):
        raise DataError(f"eps must be positive everywhere (the operator must stay elliptic); its minimum is "
                        f"{eps_q.min():.3g}")

    @skfem.BilinearForm
    def stiffness(u, v, w):
        return w.eps * dot(grad(u), grad(v))

    @skfem.LinearForm
    def load(v, w):
        return w.rho * v

    matrix = stiffness.assemble(basis, eps=eps_q)
    rhs = load.assemble(basis, rho=rho_q)
    solution = np.zeros(basis.N)
    boundary = basis.get_dofs().all()
    if dirichlet is not None:
        if not callable(dirichlet):
            raise ConfigError("dirichlet must be a callable g(x, y) (or None for u = 0)")
        where = basis.doflocs[:, boundary]
        values = np.asarray(dirichlet(where[0], where[1]), dtype=np.float64)
        if values.shape != (len(boundary),):
            values = np.broadcast_to(values, (len(boundary),)) if values.ndim == 0 else values
        if values.shape != (len(boundary),):
            raise DataError(f"dirichlet(x, y) returned shape {values.shape} for {len(boundary)} boundary points")
        if not np.all(np.isfinite(values)):
            raise DataError("the Dirichlet data g has non-finite values on the boundary")
        solution[boundary] = values
        rhs = rhs - matrix @ solution
    interior = basis.complement_dofs(boundary)
    solution[interior] = spla.spsolve(matrix[interior][:, interior].tocsc(), rhs[interior])
    result = torch.from_numpy(solution[basis.nodal_dofs[0]].copy())
    if isinstance(rho, torch.Tensor):
        result = result.to(dtype=rho.dtype if rho.is_floating_point() else torch.float64, device=rho.device)
    return result


def l2_error(mesh: Any, values: Any, exact: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
             intorder: int = 6) -> float:
    """``||I_h values - exact||_{L2(Omega_h)}``, with ``I_h`` the P1 interpolant of node values.

    For a P1 solution this is its exact L2 error; integrated by quadrature of degree ``intorder``.

    Shapes
    ------
    values ``(num_nodes,)``; ``exact(x, y)`` takes and returns arrays of one shape.
    """
    import skfem

    points, cells = _triangle_mesh(mesh)
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(points),):
        raise DataError(f"values has shape {values.shape} but the mesh has {len(points)} nodes")
    basis = _basis(points, cells, 1, intorder)

    @skfem.Functional
    def squared(w):
        return (w.uh - exact(w.x[0], w.x[1])) ** 2

    return math.sqrt(squared.assemble(basis, uh=basis.interpolate(values)))


# ---------------------------------------------------------------------------------------- generator


def _range(params: dict[str, Any], key: str) -> list:
    value = params[key]
    kind = _RANGES[key]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(f"{key} must be a range [low, high], got {value!r}")
    for v in value:
        if kind == "integer":
            ok = isinstance(v, int) and not isinstance(v, bool) and v >= 1
        else:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            ok = ok and (v >= 0 if kind == "non-negative" else v > 0)
        if not ok:
            what = "integers >= 1" if kind == "integer" else f"{kind} numbers"
            raise ConfigError(f"{key} must be a range [low, high] of {what}, got {value!r}")
    if value[0] > value[1]:
        raise ConfigError(f"{key} must have low <= high, got {value!r}")
    return [value[0], value[1]] if kind == "integer" else [float(value[0]), float(value[1])]


def _shape_params(shape: str, rng: np.random.Generator | None, params: dict[str, Any],
                  variant: dict[str, float] | None = None) -> dict[str, Any]:
    """Parameters of ``shape`` placed in the unit square; random when ``rng`` is given, else ``variant``."""
    hole_lo, hole_hi = params["hole_radius"]
    draw = (lambda lo, hi: float(rng.uniform(lo, hi))) if rng is not None else None
    v = variant or {}
    if shape == "disk":
        return {"center": (0.5, 0.5), "radius": 0.5}
    if shape in ("square-with-hole", "square-with-square-hole"):
        r = draw(hole_lo, hole_hi) if draw else v.get("hole", hole_lo)
        # keep the hole at least 0.1 from the outer boundary
        center = (draw(r + 0.1, 0.9 - r), draw(r + 0.1, 0.9 - r)) if draw else (0.5, 0.5)
        if shape == "square-with-hole":
            return {"hole_center": center, "hole_radius": r}
        return {"hole_center": center, "hole_side": 2 * r}
    if shape == "annulus":
        r = draw(hole_lo, hole_hi) if draw else v.get("hole", hole_lo)
        return {"center": (0.5, 0.5), "radius": 0.5, "inner_radius": r}
    if shape == "star":
        c = params["star_c"]
        c1, c2 = (draw(-c, c), draw(-c, c)) if draw else (v.get("c1", 0.0), v.get("c2", 0.0))
        return {"center": (0.5, 0.5), "radius": 0.5 / (1 + abs(c1) + abs(c2)), "c1": c1, "c2": c2}
    return {}  # square, L, U: [0, 1]^2 and their defaults


def _variants(shape: str, params: dict[str, Any]) -> list[dict[str, float]]:
    """The shape variants with the most area or boundary, for the padding sizes."""
    if shape == "star":
        c = params["star_c"]
        return [{"c1": 0.0, "c2": 0.0}, {"c1": c, "c2": c}, {"c1": c, "c2": -c}]
    return [{"hole": params["hole_radius"][0]}]


def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any file is written.

    Derives ``max_nodes`` and ``max_cells`` when they are None (by meshing, see the module docstring).
    """
    merged = merge_params("poisson-mesh", params, DEFAULTS)
    check_domain_params(res, merged)
    if merged["order"] not in ORDERS or isinstance(merged["order"], bool):
        raise ConfigError(f"order must be one of {', '.join(map(str, ORDERS))}, got {merged['order']!r}")
    for key in _RANGES:
        merged[key] = _range(merged, key)
    derive_padding(res, merged)
    return merged


def check_domain_params(res: int, merged: dict[str, Any]) -> None:
    """Check (in place) what every mesh family shares: ``res`` (``h = 1/res``), ``shapes``,
    ``hole_radius`` and ``star_c``; also used by :mod:`sciml.data.pdes.mesh_systems`."""
    if not isinstance(res, int) or isinstance(res, bool) or not 4 <= res <= 1024:
        raise ConfigError(f"res must be an integer from 4 to 1024 (mesh size h = 1/res), got {res!r}")
    shapes = [merged["shapes"]] if isinstance(merged["shapes"], str) else merged["shapes"]
    if not isinstance(shapes, (list, tuple)) or not shapes or not all(isinstance(s, str) for s in shapes):
        raise ConfigError(f"shapes must be a non-empty list of shape names, got {shapes!r}")
    bad = [s for s in shapes if s not in SHAPES]
    if bad:
        raise ConfigError(f"unknown shape{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))} in shapes; "
                          f"choose from {', '.join(SHAPES)}")
    merged["shapes"] = list(shapes)
    merged["hole_radius"] = _range(merged, "hole_radius")
    if merged["hole_radius"][1] >= 0.4:
        raise ConfigError(f"hole_radius must stay below 0.4 so that holes fit in the unit square, "
                          f"got {merged['hole_radius']}")
    c = merged["star_c"]
    if not isinstance(c, (int, float)) or isinstance(c, bool) or not 0 <= c < 0.5:
        raise ConfigError(f"star_c must be a number in [0, 0.5) so that r(t) > 0, got {c!r}")
    merged["star_c"] = float(c)


def derive_padding(res: int, merged: dict[str, Any]) -> None:
    """Check ``max_nodes``/``max_cells`` and derive the ones that are None (in place), by meshing the
    largest variant of each shape and adding a margin (25 % + 16)."""
    for key in ("max_nodes", "max_cells"):
        value = merged[key]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 3):
            raise ConfigError(f"{key} must be None (derived) or an integer >= 3, got {value!r}")
    if merged["max_nodes"] is None or merged["max_cells"] is None:
        most_nodes = most_cells = 0
        for shape in merged["shapes"]:
            for variant in _variants(shape, merged):
                points, cells = mesh_arrays(generate_domain(shape, h=1.0 / res,
                                                            **_shape_params(shape, None, merged, variant)))
                most_nodes, most_cells = max(most_nodes, len(points)), max(most_cells, len(cells))
        if merged["max_nodes"] is None:
            merged["max_nodes"] = int(math.ceil(1.25 * most_nodes)) + 16
        if merged["max_cells"] is None:
            merged["max_cells"] = int(math.ceil(1.25 * most_cells)) + 16


def _points_in_mesh(rng: np.random.Generator, points: np.ndarray, cells: np.ndarray, count: int) -> np.ndarray:
    """``count`` points uniform in the meshed domain: a cell by area, then a uniform point in it."""
    a, b, c = points[cells[:, 0]], points[cells[:, 1]], points[cells[:, 2]]
    area = 0.5 * np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    chosen = rng.choice(len(cells), size=count, p=area / area.sum())
    s, t = rng.random(count), rng.random(count)
    flip = s + t > 1
    s[flip], t[flip] = 1 - s[flip], 1 - t[flip]
    return a[chosen] + s[:, None] * (b - a)[chosen] + t[:, None] * (c - a)[chosen]


def sample_problem(seed: int, index: int, res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Draw sample ``index``: its shape, mesh, source and permittivity (``params`` from :func:`check_params`).

    Returns
    -------
    dict with ``shape`` (name), ``shape_params``, ``mesh`` (meshio), ``rho`` node values
    ``(num_nodes,)``, ``eps`` cell values ``(num_cells,)`` and ``sources`` (centres, widths, amplitudes).
    """
    rng = sample_rng(seed, index)
    shape = params["shapes"][int(rng.integers(len(params["shapes"])))]
    shape_params = _shape_params(shape, rng, params)
    mesh = generate_domain(shape, h=1.0 / res, seed=int(rng.integers(2**31)), **shape_params)
    points, cells = mesh_arrays(mesh)
    count = int(rng.integers(params["n_sources"][0], params["n_sources"][1] + 1))
    centres = _points_in_mesh(rng, points, cells, count)
    widths = rng.uniform(*params["source_width"], size=count)
    amplitudes = rng.uniform(*params["source_amplitude"], size=count) * rng.choice([-1.0, 1.0], size=count)
    squared = ((points[:, None, :] - centres[None]) ** 2).sum(-1)
    rho = (amplitudes * np.exp(-squared / (2 * widths**2))).sum(axis=1)
    inclusion_centre = _points_in_mesh(rng, points, cells, 1)[0]
    inclusion_radius = rng.uniform(*params["inclusion_radius"])
    inclusion_eps = rng.uniform(*params["eps_inclusion"])
    centroids = points[cells].mean(axis=1)
    inside = np.linalg.norm(centroids - inclusion_centre, axis=1) < inclusion_radius
    eps = np.where(inside, inclusion_eps, 1.0)
    return {"shape": shape, "shape_params": shape_params, "mesh": mesh, "rho": rho, "eps": eps,
            "sources": {"centres": centres, "widths": widths, "amplitudes": amplitudes}}


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 8) -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of samples ``start .. n-1`` in the padded layout of the module docstring."""
    params = check_params(res, params)
    max_nodes, max_cells = params["max_nodes"], params["max_cells"]
    for first in range(start, n, block):
        last = min(n, first + block)
        count = last - first
        out = padded_block(fields(res, params), count, ("cells",))
        for k, index in enumerate(range(first, last)):
            sample = sample_problem(seed, index, res, params)
            points, cells = mesh_arrays(sample["mesh"])
            if len(points) > max_nodes or len(cells) > max_cells:
                raise DataError(f"sample {index} ({sample['shape']}) has {len(points)} nodes and {len(cells)} cells, "
                                f"more than max_nodes={max_nodes} or max_cells={max_cells}; set them larger")
            u = solve(sample["mesh"], sample["rho"], sample["eps"], order=params["order"]).numpy()
            if not np.all(np.isfinite(u)):
                raise DataError(f"the FEM solve of sample {index} produced non-finite values")
            nn, nc = len(points), len(cells)
            out["points"][k, :nn] = points
            out["cells"][k, :nc] = cells
            out["num_nodes"][k], out["num_cells"][k] = nn, nc
            out["shape_index"][k] = params["shapes"].index(sample["shape"])
            out["rho"][k, :nn] = sample["rho"]
            out["eps"][k, :nc] = sample["eps"]
            out["u"][k, :nn] = u
        yield out


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of a poisson-mesh store (``params`` from :func:`check_params`)."""
    nodes, cells = params["max_nodes"], params["max_cells"]
    return {"points": ((nodes, 2), "float64"), "cells": ((cells, 3), "int32"), "num_nodes": ((), "int32"),
            "num_cells": ((), "int32"), "shape_index": ((), "int32"), "rho": ((nodes,), "float32"),
            "eps": ((cells,), "float32"), "u": ((nodes,), "float32")}


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Entries without a sample axis: the cell type of ``cells``."""
    return {"cell_type": np.bytes_(b"triangle")}


def load_sample(store_or_path: Any, index: int, *, dtype: torch.dtype = torch.float32):
    """Rebuild sample ``index`` of a poisson-mesh store as a torch_geometric graph.

    Parameters
    ----------
    store_or_path : an open :class:`sciml.data.Store` or the path of one
    index : sample index, ``0 <= index < N``
    dtype : floating dtype of ``x``, ``y``, ``pos``, ``edge_attr``

    Returns
    -------
    torch_geometric.data.Data from :func:`sciml.data.mesh.to_graph` with node features
    ``x = [rho, eps_node, boundary]`` (``eps_node`` the mean permittivity of the cells around the
    node), target ``y = u``, and ``cell_eps`` (per-cell permittivity) and ``shape_index``.

    Shapes
    ------
    ``x (num_nodes, 3)``, ``y (num_nodes, 1)``, ``pos (num_nodes, 2)``, ``edge_index (2, num_edges)``,
    ``edge_attr (num_edges, 3)``, ``face (3, num_cells)``, ``cell_eps (num_cells,)``.
    """
    required = tuple(fields(1, {"max_nodes": 1, "max_cells": 1}))
    if isinstance(store_or_path, Store):
        store, owned = store_or_path, False
        missing = [name for name in required if name not in store.fields]
        if missing:
            raise DataError(f"{store.path} is not a poisson-mesh store: it lacks {', '.join(missing)}")
    elif isinstance(store_or_path, (str, os.PathLike)):
        store, owned = open_store(store_or_path, required=required), True
    else:
        raise DataError(f"load_sample expects a Store or a path, got {type(store_or_path).__name__}")
    try:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < store.n_samples:
            raise IndexError(f"sample index {index!r} is out of range for {store.path} with {store.n_samples} samples")
        index = int(index)
        nn, nc = int(store.read("num_nodes", index)), int(store.read("num_cells", index))
        points = store.read("points", index)[:nn]
        cells = store.read("cells", index)[:nc].astype(np.int64)
        rho = store.read("rho", index)[:nn].astype(np.float64)
        eps = store.read("eps", index)[:nc].astype(np.float64)
        u = store.read("u", index)[:nn]
        shape_index = int(store.read("shape_index", index))
    finally:
        if owned:
            store.close()
    mesh = meshio.Mesh(points, [("triangle", cells)])
    try:
        counts = np.bincount(cells.ravel(), minlength=nn)
        eps_node = np.bincount(cells.ravel(), weights=np.repeat(eps, 3), minlength=nn) / np.maximum(counts, 1)
        data = to_graph(mesh, fields={"rho": rho, "eps": eps_node}, dtype=dtype)
    except DataError as exc:
        raise DataError(f"{store.path}: sample {index} does not hold a valid mesh: {exc}") from exc
    data.y = torch.from_numpy(np.asarray(u, dtype=np.float64)).to(dtype)[:, None]
    data.cell_eps = torch.from_numpy(eps).to(dtype)
    data.shape_index = torch.tensor([shape_index])
    return data
