"""Sparse SPD linear systems from P1 finite elements: anisotropic diffusion, Poisson and heat steps on meshes.

Three ``sciml data generate`` families (each an object with the interface of a generator module:
``check_params``, ``fields``, ``coords``, ``generate``, ``GENERATOR``, ``DEFAULTS``, plus
``sample_system``), all discretised with linear (P1) triangles assembled by
:mod:`sciml.linalg.assemble`, the boundary nodes eliminated (zero Dirichlet condition):

``anisotropic-systems`` (:data:`ANISOTROPIC`)
    ``-div(K grad u) = f`` on the unit square, ``K = a(x) R(theta) diag(1, eps) R(theta)^T``, on the
    structured triangulation of the ``(res + 2)^2`` grid nodes (``h = 1 / (res + 1)``, each square
    cut along its ``(0, 0)-(1, 1)`` diagonal), so the ``res^2`` unknowns are the interior nodes in
    row-major order as in diffusion-systems. ``eps`` is the anisotropy ratio; ``theta`` is fixed
    (radians) or ``"random"`` (uniform in ``[0, pi)`` per sample); ``a`` is a cosine GRF at the cell
    centroids with ``max a / min a = contrast`` (``contrast = 1``: ``a = 1``). Why P1 FEM and not a
    9-point finite-difference stencil: the P1 stiffness matrix of a uniformly positive definite ``K``
    is SPD for every ``eps > 0`` and ``theta`` (``u^T A u = int grad u_h . K grad u_h > 0`` for
    ``u_h != 0`` vanishing on the boundary), while the usual 9-point stencils are SPD only under
    conditions on ``eps`` and ``theta``; it is not an M-matrix when ``K`` is strongly anisotropic
    off the mesh diagonal. With ``eps = 1`` and ``contrast = 1`` it is ``h^2`` times the 5-point
    Laplacian (plus stored zeros on the diagonal couplings). All samples share one 7-point pattern
    (couplings that vanish for some ``theta`` are kept as stored zeros).
``poisson-mesh-systems`` (:data:`POISSON_MESH`)
    ``-div(a grad u) = f`` on unstructured gmsh meshes (:func:`sciml.data.mesh.generate_domain`)
    of a shape drawn per sample from ``shapes``, placed in the unit square as in
    :mod:`sciml.data.pdes.poisson_mesh` (``h = 1 / res``); ``a`` piecewise constant, a GRF at the
    centroids (``contrast = 1``: ``a = 1``). ``A = K_II`` (stiffness on the interior nodes).
``heat-mesh-systems`` (:data:`HEAT_MESH`)
    One implicit-Euler step of ``u_t = div(a grad u) + f`` on such meshes:
    ``(M_II + dt K_II) x = M_II u_prev + dt (M f)_I`` with ``M`` the P1 mass matrix, ``u_prev`` a
    cosine GRF evaluated at the interior nodes, ``f = source`` a constant.

Right-hand sides: ``rhs="normal"`` (``b ~ N(0, I)``), ``"ones"``, and for Poisson also ``"load"``
(the load vector of ``f = 1``, ``b_i = int phi_i``); heat builds its own. Every solution comes
from :func:`sciml.data.pdes.diffusion_systems.direct_solve` (residual checked). Matrices are
exactly symmetric (values averaged with their transposes) with sorted int32 indices.

Storage layout (padded, per-sample patterns)
--------------------------------------------
anisotropic-systems uses the shared-pattern layout of diffusion-systems (``crow``, ``col``
coordinates; ``values``, ``rhs``, ``solution``) plus ``theta (N,)`` float64. The mesh families
change size and pattern per sample, so each sample is padded to ``max_rows = max_nodes`` unknowns
and ``max_nonzeros = 3 max_nodes + 2 max_cells`` nonzeros (a bound for P1 on a mesh with at most
one hole: ``nnz <= V + 2E`` and ``E <= V + F``), with its true counts beside:

- ``num_rows (N,)``, ``num_nonzeros (N,)`` int32: ``n_i`` and ``nnz_i``
- ``crow (N, max_rows + 1)`` int32: row pointers; entries past ``n_i`` repeat ``nnz_i``
- ``col (N, max_nonzeros)`` int32: sorted column indices; -1 past ``nnz_i``
- ``values (N, max_nonzeros)`` float64 (0 past ``nnz_i``); ``rhs``, ``solution (N, max_rows)`` float64 (0 past ``n_i``)
- ``dofs (N, max_rows)`` int32: the mesh node of each unknown (-1 past ``n_i``)
- ``points (N, max_nodes, 2)`` float64, ``cells (N, max_cells, 3)`` int32 (-1 padding), ``num_nodes (N,)``,
  ``num_cells (N,)``, ``shape_index (N,)`` int32 (index into ``params["shapes"]``): the mesh

``max_nodes`` and ``max_cells`` default to 1.25 times the largest counts of the largest variant
of each listed shape at ``h`` (plus 16), as in poisson-mesh; a sample beyond them stops the
generation with a message to raise them. :func:`sciml.data.pdes.diffusion_systems.load_systems`
opens both layouts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import scipy.sparse as sp

from sciml._errors import ConfigError, DataError
from sciml.data.grf import sample_rng
from sciml.data.mesh import generate_domain, mesh_arrays
from sciml.data.pdes._common import merge_params, padded_block
from sciml.data.pdes.diffusion_systems import direct_solve
from sciml.data.pdes.poisson_mesh import _shape_params, check_domain_params, derive_padding
from sciml.linalg.assemble import p1_mass, p1_stiffness

__all__ = ["ANISOTROPIC", "POISSON_MESH", "HEAT_MESH", "SampledSystem", "SystemFamily", "interior_nodes",
           "restrict", "square_triangulation", "anisotropic_tensor", "smooth_field"]

GRF_MODES = 24  # cosine modes per axis of the fields evaluated at mesh points


def _number(merged: dict[str, Any], key: str, *, positive: bool = True) -> float:
    value = merged[key]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    if positive and not value > 0:
        raise ConfigError(f"{key} must be positive, got {value!r}")
    return float(value)


def _check_grf(merged: dict[str, Any]) -> None:
    for key in ("contrast", "alpha", "tau"):
        merged[key] = _number(merged, key)
    if merged["contrast"] < 1:
        raise ConfigError(f"contrast (max a / min a) must be finite and at least 1, got {merged['contrast']}")


def smooth_field(rng: np.random.Generator, xy: np.ndarray, *, alpha: float, tau: float,
                 modes: int = GRF_MODES) -> np.ndarray:
    """A cosine-series GRF (as :func:`sciml.data.grf.cosine_grf`) evaluated at arbitrary points of ``[0, 1]^2``.

    Draws ``modes^2`` standard normal coefficients from ``rng``. Shapes: ``xy (P, 2)`` -> ``(P,)``.
    """
    xi = rng.standard_normal((modes, modes))
    k = np.arange(modes)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    amplitude = tau ** (alpha - 1.0) * (math.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2.0)
    amplitude[0, 0] = 0.0
    norm = np.where(k == 0, 1.0, math.sqrt(2.0))
    bx = np.cos(math.pi * np.outer(xy[:, 0], k)) * norm
    by = np.cos(math.pi * np.outer(xy[:, 1], k)) * norm
    return np.einsum("pa,ab,pb->p", bx, amplitude * xi, by)


def _log_coefficient(rng: np.random.Generator, xy: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """``a`` at ``xy``: ``exp`` of a GRF rescaled to ``[0, log(contrast)]`` (always drawn, for determinism)."""
    z = smooth_field(rng, xy, alpha=params["alpha"], tau=params["tau"])
    z = (z - z.min()) / max(z.max() - z.min(), 1e-300)
    return np.exp(z * math.log(params["contrast"]))


def anisotropic_tensor(eps: float, theta: float) -> np.ndarray:
    """``R(theta) diag(1, eps) R(theta)^T``, ``(2, 2)``: conductivity 1 along angle ``theta``, ``eps`` across."""
    c, s = math.cos(theta), math.sin(theta)
    rotation = np.array([[c, -s], [s, c]])
    return rotation @ np.diag([1.0, eps]) @ rotation.T


def interior_nodes(num_nodes: int, cells: np.ndarray) -> np.ndarray:
    """Sorted ids of the nodes on no boundary edge (an edge of exactly one triangle), holes included.

    Shapes: ``cells (num_cells, 3)`` -> ``(num_interior,)`` int64.
    """
    edges = np.sort(np.concatenate([cells[:, [0, 1]], cells[:, [1, 2]], cells[:, [2, 0]]]), axis=1).astype(np.int64)
    keys, counts = np.unique(edges[:, 0] * num_nodes + edges[:, 1], return_counts=True)
    single = keys[counts == 1]
    on_boundary = np.zeros(num_nodes, dtype=bool)
    on_boundary[single // num_nodes] = True
    on_boundary[single % num_nodes] = True
    return np.flatnonzero(~on_boundary)


def restrict(matrix: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """``matrix[keep][:, keep]`` with its stored zeros kept, values averaged with the transpose's (exactly
    symmetric), sorted int32 indices."""
    sub = sp.csr_matrix(matrix[keep][:, keep])
    sub.sort_indices()
    n = sub.shape[0]
    row = np.repeat(np.arange(n, dtype=np.int64), np.diff(sub.indptr))
    col = sub.indices.astype(np.int64)
    key = row * n + col
    position = np.searchsorted(key, col * n + row)
    if np.any(position >= len(key)) or np.any(key[np.minimum(position, len(key) - 1)] != col * n + row):
        raise DataError("the assembled matrix does not have a symmetric pattern; this is a bug in sciml")
    sub.data = 0.5 * (sub.data + sub.data[position])
    sub.indices = sub.indices.astype(np.int32)
    sub.indptr = sub.indptr.astype(np.int32)
    return sub


def square_triangulation(res: int) -> tuple[np.ndarray, np.ndarray]:
    """The structured triangulation of the unit square with ``(res + 2)^2`` nodes.

    Node ``(i, j)`` at ``(i h, j h)``, ``h = 1 / (res + 1)``, has id ``i (res + 2) + j``; each square is
    cut along its ``(0, 0)-(1, 1)`` diagonal into two counter-clockwise triangles.

    Shapes: ``points ((res + 2)^2, 2)``, ``cells (2 (res + 1)^2, 3)``.
    """
    size = res + 2
    grid = np.linspace(0.0, 1.0, size)
    x, y = np.meshgrid(grid, grid, indexing="ij")
    points = np.stack([x.ravel(), y.ravel()], axis=1)
    index = np.arange(size * size).reshape(size, size)
    a, b = index[:-1, :-1].ravel(), index[1:, :-1].ravel()
    c, d = index[1:, 1:].ravel(), index[:-1, 1:].ravel()
    cells = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return points, cells


@dataclass
class SampledSystem:
    """One drawn system ``A x = b`` and where it came from.

    Attributes
    ----------
    matrix : SPD CSR ``(n, n)`` (int32 indices, sorted, exactly symmetric)
    rhs : ``(n,)`` float64
    points, cells : the mesh ``(num_nodes, 2)``, ``(num_cells, 3)``
    dofs : ``(n,)`` the mesh node of each unknown
    extra : family-specific values (``shape``, ``theta``, ``u_prev`` ...)
    """

    matrix: sp.csr_matrix
    rhs: np.ndarray
    points: np.ndarray
    cells: np.ndarray
    dofs: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


class SystemFamily:
    """Base of the generator objects; subclasses set ``name``, ``GENERATOR``, ``DEFAULTS`` and the methods."""

    name = ""
    GENERATOR = ""
    DEFAULTS: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<{self.name} generator {self.GENERATOR!r}>"


class AnisotropicSystems(SystemFamily):
    """``anisotropic-systems``: see the module docstring. ``res`` is the number of interior nodes per axis."""

    name = "anisotropic-systems"
    GENERATOR = "sciml.data.pdes.mesh_systems anisotropic 1"
    DEFAULTS: dict[str, Any] = {"eps": 1e-2, "theta": "random", "contrast": 1.0, "alpha": 2.0, "tau": 3.0,
                                "rhs": "normal"}
    RHS_KINDS = ("normal", "ones")

    def check_params(self, res: int, params: dict[str, Any]) -> dict[str, Any]:
        """Merge ``params`` over :attr:`DEFAULTS`, refusing unknown or invalid values before any work."""
        merged = merge_params(self.name, params, self.DEFAULTS)
        if not isinstance(res, int) or isinstance(res, bool) or not 2 <= res <= 4096:
            raise ConfigError(f"res (interior nodes per axis) must be an integer from 2 to 4096, got {res!r}")
        merged["eps"] = _number(merged, "eps")
        if merged["theta"] != "random":
            if not isinstance(merged["theta"], (int, float)) or isinstance(merged["theta"], bool) \
                    or not math.isfinite(merged["theta"]):
                raise ConfigError(f"theta must be an angle in radians or 'random', got {merged['theta']!r}")
            merged["theta"] = float(merged["theta"])
        _check_grf(merged)
        if merged["rhs"] not in self.RHS_KINDS:
            raise ConfigError(f"unknown rhs {merged['rhs']!r}; choose one of {', '.join(self.RHS_KINDS)}")
        return merged

    def sample_system(self, seed: int, index: int, res: int, params: dict[str, Any]) -> SampledSystem:
        """Draw sample ``index``: ``theta`` (when random), then the coefficient, then ``b`` from ``sample_rng``."""
        rng = sample_rng(seed, index)
        theta = float(rng.uniform(0.0, math.pi)) if params["theta"] == "random" else params["theta"]
        points, cells = square_triangulation(res)
        a = _log_coefficient(rng, points[cells].mean(axis=1), params)
        tensor = a[:, None, None] * anisotropic_tensor(params["eps"], theta)
        interior = interior_nodes(len(points), cells)
        matrix = restrict(p1_stiffness(points, cells, tensor), interior)
        rhs = rng.standard_normal(len(interior)) if params["rhs"] == "normal" else np.ones(len(interior))
        return SampledSystem(matrix, rhs, points, cells, interior, {"theta": theta})

    def _pattern(self, res: int) -> sp.csr_matrix:
        points, cells = square_triangulation(res)
        return restrict(p1_stiffness(points, cells, 1.0), interior_nodes(len(points), cells))

    def generate(self, n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
                 block: int = 64) -> Iterator[dict[str, np.ndarray]]:
        """Yield blocks ``{"values": (B, nnz), "rhs": (B, n), "solution": (B, n), "theta": (B,)}``."""
        params = self.check_params(res, params)
        pattern = self._pattern(res)
        for first in range(start, n, block):
            out: dict[str, list] = {"values": [], "rhs": [], "solution": [], "theta": []}
            for i in range(first, min(n, first + block)):
                system = self.sample_system(seed, i, res, params)
                if not (np.array_equal(system.matrix.indptr, pattern.indptr)
                        and np.array_equal(system.matrix.indices, pattern.indices)):
                    raise DataError(f"sample {i} does not have the 7-point pattern of the other samples; "
                                    f"this is a bug in sciml, please report it")
                out["values"].append(system.matrix.data)
                out["rhs"].append(system.rhs)
                out["solution"].append(direct_solve(system.matrix, system.rhs, where=f"sample {i}"))
                out["theta"].append(system.extra["theta"])
            yield {name: np.asarray(values, dtype=np.float64) for name, values in out.items()}

    def fields(self, res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
        """Per-sample fields: ``values (nnz,)``, ``rhs``, ``solution`` ``(res^2,)``, ``theta ()``, float64."""
        n = res * res
        nnz = n + 2 * (2 * res * (res - 1) + (res - 1) ** 2)  # horizontal, vertical and diagonal couplings
        return {"values": ((nnz,), "float64"), "rhs": ((n,), "float64"), "solution": ((n,), "float64"),
                "theta": ((), "float64")}

    def coords(self, res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
        """The shared CSR pattern ``crow (n + 1,)``, ``col (nnz,)``, int32."""
        pattern = self._pattern(res)
        return {"crow": pattern.indptr.astype(np.int32), "col": pattern.indices.astype(np.int32)}


class _MeshFamily(SystemFamily):
    """Systems on gmsh meshes of varied shapes, stored padded (see the module docstring)."""

    COMMON: dict[str, Any] = {"shapes": ["square", "disk", "L", "U", "square-with-hole", "star"], "contrast": 1.0,
                              "alpha": 2.0, "tau": 3.0, "hole_radius": [0.1, 0.25], "star_c": 0.2,
                              "max_nodes": None, "max_cells": None}

    def _check_own(self, merged: dict[str, Any]) -> None:
        raise NotImplementedError

    def check_params(self, res: int, params: dict[str, Any]) -> dict[str, Any]:
        """Merge ``params`` over :attr:`DEFAULTS`, refusing unknown or invalid values before any work.

        ``res`` sets the mesh size ``h = 1 / res``. Derives ``max_nodes`` and ``max_cells`` when they
        are None, by meshing the largest variant of each shape.
        """
        merged = merge_params(self.name, params, self.DEFAULTS)
        check_domain_params(res, merged)
        _check_grf(merged)
        self._check_own(merged)
        derive_padding(res, merged)
        return merged

    def _draw_mesh(self, rng: np.random.Generator, res: int, params: dict[str, Any]):
        shape = params["shapes"][int(rng.integers(len(params["shapes"])))]
        mesh = generate_domain(shape, h=1.0 / res, seed=int(rng.integers(2**31)),
                               **_shape_params(shape, rng, params))
        points, cells = mesh_arrays(mesh)
        coefficient = _log_coefficient(rng, points[cells].mean(axis=1), params)
        return shape, points, cells, coefficient, interior_nodes(len(points), cells)

    def _system(self, rng, points, cells, coefficient, interior, params) -> tuple[sp.csr_matrix, np.ndarray, dict]:
        raise NotImplementedError

    def sample_system(self, seed: int, index: int, res: int, params: dict[str, Any]) -> SampledSystem:
        """Draw sample ``index`` from ``sample_rng(seed, index)``: shape, mesh, coefficient, then ``b``."""
        rng = sample_rng(seed, index)
        shape, points, cells, coefficient, interior = self._draw_mesh(rng, res, params)
        if interior.size == 0:
            raise DataError(f"sample {index} ({shape}) has no interior node at res={res}; use a larger res")
        matrix, rhs, extra = self._system(rng, points, cells, coefficient, interior, params)
        return SampledSystem(matrix, rhs, points, cells, interior, {"shape": shape, **extra})

    def generate(self, n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
                 block: int = 8) -> Iterator[dict[str, np.ndarray]]:
        """Yield blocks of samples ``start .. n-1`` in the padded layout of the module docstring."""
        params = self.check_params(res, params)
        max_nodes, max_cells = params["max_nodes"], params["max_cells"]
        for first in range(start, n, block):
            last = min(n, first + block)
            out = padded_block(self.fields(res, params), last - first, ("col", "cells", "dofs"))
            for k, i in enumerate(range(first, last)):
                system = self.sample_system(seed, i, res, params)
                nn, nc = len(system.points), len(system.cells)
                if nn > max_nodes or nc > max_cells:
                    raise DataError(f"sample {i} ({system.extra['shape']}) has {nn} nodes and {nc} cells, more "
                                    f"than max_nodes={max_nodes} or max_cells={max_cells}; set them larger")
                matrix = system.matrix
                rows, nonzeros = matrix.shape[0], matrix.nnz
                out["crow"][k, :rows + 1] = matrix.indptr
                out["crow"][k, rows + 1:] = nonzeros
                out["col"][k, :nonzeros] = matrix.indices
                out["values"][k, :nonzeros] = matrix.data
                out["rhs"][k, :rows] = system.rhs
                out["solution"][k, :rows] = direct_solve(matrix, system.rhs, where=f"sample {i}")
                out["num_rows"][k], out["num_nonzeros"][k] = rows, nonzeros
                out["dofs"][k, :rows] = system.dofs
                out["points"][k, :nn] = system.points
                out["cells"][k, :nc] = system.cells
                out["num_nodes"][k], out["num_cells"][k] = nn, nc
                out["shape_index"][k] = params["shapes"].index(system.extra["shape"])
            yield out

    def fields(self, res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
        """Per-sample fields of the padded layout (``params`` from :meth:`check_params`)."""
        nodes, cells = params["max_nodes"], params["max_cells"]
        rows, nonzeros = nodes, 3 * nodes + 2 * cells
        return {"values": ((nonzeros,), "float64"), "rhs": ((rows,), "float64"), "solution": ((rows,), "float64"),
                "crow": ((rows + 1,), "int32"), "col": ((nonzeros,), "int32"), "num_rows": ((), "int32"),
                "num_nonzeros": ((), "int32"), "dofs": ((rows,), "int32"), "points": ((nodes, 2), "float64"),
                "cells": ((cells, 3), "int32"), "num_nodes": ((), "int32"), "num_cells": ((), "int32"),
                "shape_index": ((), "int32")}

    def coords(self, res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
        """Entries without a sample axis: the cell type of ``cells``."""
        return {"cell_type": np.bytes_(b"triangle")}


class PoissonMeshSystems(_MeshFamily):
    """``poisson-mesh-systems``: ``A = K_II`` on a gmsh mesh per sample (see the module docstring)."""

    name = "poisson-mesh-systems"
    GENERATOR = "sciml.data.pdes.mesh_systems poisson 1"
    DEFAULTS: dict[str, Any] = {**_MeshFamily.COMMON, "rhs": "normal"}
    RHS_KINDS = ("normal", "ones", "load")

    def _check_own(self, merged: dict[str, Any]) -> None:
        if merged["rhs"] not in self.RHS_KINDS:
            raise ConfigError(f"unknown rhs {merged['rhs']!r}; choose one of {', '.join(self.RHS_KINDS)}")

    def _system(self, rng, points, cells, coefficient, interior, params):
        matrix = restrict(p1_stiffness(points, cells, coefficient), interior)
        n = len(interior)
        if params["rhs"] == "normal":
            rhs = rng.standard_normal(n)
        elif params["rhs"] == "ones":
            rhs = np.ones(n)
        else:
            rhs = (p1_mass(points, cells) @ np.ones(len(points)))[interior]
        return matrix, rhs, {}


class HeatMeshSystems(_MeshFamily):
    """``heat-mesh-systems``: one implicit-Euler step ``(M + dt K)_II`` per sample (see the module docstring)."""

    name = "heat-mesh-systems"
    GENERATOR = "sciml.data.pdes.mesh_systems heat 1"
    DEFAULTS: dict[str, Any] = {**_MeshFamily.COMMON, "dt": 1e-2, "source": 0.0}

    def _check_own(self, merged: dict[str, Any]) -> None:
        merged["dt"] = _number(merged, "dt")
        merged["source"] = _number(merged, "source", positive=False)

    def _system(self, rng, points, cells, coefficient, interior, params):
        mass = p1_mass(points, cells)
        matrix = restrict(mass + params["dt"] * p1_stiffness(points, cells, coefficient), interior)
        u_prev = smooth_field(rng, points[interior], alpha=params["alpha"], tau=params["tau"])
        rhs = restrict(mass, interior) @ u_prev
        if params["source"] != 0.0:
            rhs = rhs + params["dt"] * (mass @ np.full(len(points), params["source"]))[interior]
        return matrix, rhs, {"u_prev": u_prev}


ANISOTROPIC = AnisotropicSystems()
POISSON_MESH = PoissonMeshSystems()
HEAT_MESH = HeatMeshSystems()
