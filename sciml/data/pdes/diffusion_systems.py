"""Sparse SPD linear systems of 2D and 3D diffusion, the training data of learned CG preconditioners.

Each sample is one system ``A x = b`` from ``-div(a grad u) = f`` on the ``m^d`` interior nodes of
the unit square (``dim=2``) or cube (``dim=3``), ``m = res``, ``h = 1 / (m + 1)``, zero Dirichlet
boundary, 5-point (2D) or 7-point (3D) stencil with face coefficients the arithmetic mean of the
node values (:func:`sciml.linalg.assemble.diffusion_2d`, :func:`~sciml.linalg.assemble.diffusion_3d`).
``log a`` is a cosine-series Gaussian random field rescaled to ``[0, log(contrast)]``, so
``max a / min a = contrast`` (in 2D as :func:`sciml.gallery.diffusion2d_grf`, but drawn from the
per-sample stream :func:`sciml.data.grf.sample_rng`; in 3D the same series with 3D cosines).

A wider family: ``contrast_range: [lo, hi]`` and ``tau_range: [lo, hi]`` (both log-uniform) and
``alpha_range: [lo, hi]`` (uniform) draw the contrast, the inverse correlation length ``tau`` (the
field varies on lengths of about ``1 / tau``) and the smoothness ``alpha`` per sample, in place of
the fixed ``contrast``, ``tau``, ``alpha`` (a range and its fixed value together are refused). The
draws come from a stream of their own, ``default_rng([seed, index, 1])``
(:func:`sample_hyperparameters`), so the field's coefficients and the right-hand side are those of
the fixed-parameter sample of the same seed and index; without ranges nothing changes. The
right-hand side is standard normal (``rhs="normal"``) or all ones (``rhs="ones"``); the solution
comes from a sparse direct solve whose residual is checked (:func:`direct_solve`).
The setting of Neural PCG (Li et al., arXiv 2305.16432) and NeuralIF (Hausner et al., arXiv 2305.16368).

Storage layout (one shared pattern)
-----------------------------------
All samples share the stencil's pattern (``n = m^d`` unknowns, ``nnz = 5 m^2 - 4 m`` in 2D,
``7 m^3 - 6 m^2`` in 3D), stored once:

- ``crow (n + 1,)`` int32, ``col (nnz,)`` int32: CSR row pointers and sorted column indices
  (coordinate datasets, no sample axis)
- ``values (N, nnz)`` float64: the matrix entries of each system in that CSR order
- ``rhs (N, n)`` float64, ``solution (N, n)`` float64, unknowns ordered row-major

Families whose pattern or size changes per sample (:mod:`sciml.data.pdes.mesh_systems`) use the
padded layout described there. :func:`load_systems` opens either layout as a torch Dataset.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from sciml._errors import ConfigError, DataError
from sciml.data.grf import cosine_grf, sample_rng
from sciml.data.datasets import StoreDataset
from sciml.data.store import Store, open_store
from sciml.linalg.assemble import diffusion_2d, diffusion_3d
from sciml.data.pdes._common import merge_params

__all__ = ["sample_hyperparameters", "sample_coefficient", "sample_system", "generate", "fields", "coords",
           "check_params", "load_systems", "SystemsDataset", "check_pattern", "direct_solve", "DEFAULTS", "RANGES",
           "GENERATOR", "RHS_KINDS", "DIMS"]

GENERATOR = "sciml.data.pdes.diffusion_systems 1"
DEFAULTS: dict[str, Any] = {"dim": 2, "contrast": 1e3, "alpha": 2.0, "tau": 3.0, "rhs": "normal"}
# optional per-sample ranges, each replacing the fixed parameter it names; absent unless given, so the stored
# parameters (and data) of a store made without them are what they were before ranges existed
RANGES: dict[str, str] = {"contrast_range": "contrast", "tau_range": "tau", "alpha_range": "alpha"}
LOG_UNIFORM = ("contrast_range", "tau_range")  # alpha_range is uniform
RHS_KINDS = ("normal", "ones")
DIMS = (2, 3)
MAX_MODES = {2: 64, 3: 16}  # cosine modes per axis of the GRF (the spectrum decays like |k|^-alpha)
RESIDUAL_RTOL = 1e-6  # a stored solution must satisfy ||A x - b|| <= this * ||b||
INT32_MAX = np.iinfo(np.int32).max


def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any work.

    ``res`` is ``m``, the number of interior nodes per axis (``n = m^dim`` unknowns).
    """
    params = {key: value for key, value in params.items() if not (key in RANGES and value is None)}
    merged = merge_params("diffusion-systems", params, {**DEFAULTS, **dict.fromkeys(RANGES)})
    for key, fixed in RANGES.items():
        if key in params and fixed in params:
            raise ConfigError(f"give {fixed} or {key}, not both ({fixed} is the value of every sample, {key} the "
                              f"range each sample's {fixed} is drawn from)")
        if key in params:
            merged[key] = _range(key, params[key])
            del merged[fixed]
        else:
            del merged[key]
    if not isinstance(res, int) or isinstance(res, bool) or res < 2:
        raise ConfigError(f"res (interior nodes per axis) must be an integer of at least 2, got {res!r}")
    if merged["dim"] not in DIMS or isinstance(merged["dim"], bool):
        raise ConfigError(f"dim must be one of {', '.join(map(str, DIMS))}, got {merged['dim']!r}")
    if _nnz(res, merged["dim"]) > INT32_MAX:
        raise ConfigError(f"res={res} in {merged['dim']}D gives {_nnz(res, merged['dim'])} nonzeros, more than "
                          f"int32 indices can address")
    for key in ("contrast", "alpha", "tau"):
        if key not in merged:  # drawn per sample from its range
            continue
        if not isinstance(merged[key], (int, float)) or isinstance(merged[key], bool):
            raise ConfigError(f"{key} must be a number, got {merged[key]!r}")
        merged[key] = float(merged[key])
    if "contrast" in merged and not 1.0 <= merged["contrast"] < math.inf:
        raise ConfigError(f"contrast (max a / min a) must be finite and at least 1, got {merged['contrast']}")
    for key in ("alpha", "tau"):
        if key in merged and not merged[key] > 0:
            raise ConfigError(f"{key} must be positive, got {key}={merged[key]}")
    if "contrast_range" in merged and not merged["contrast_range"][0] >= 1.0:
        raise ConfigError(f"contrast_range must lie in [1, inf) (a contrast is max a / min a), got "
                          f"{merged['contrast_range']}")
    for key in ("tau_range", "alpha_range"):
        if key in merged and not merged[key][0] > 0:
            raise ConfigError(f"{key} must hold positive numbers, got {merged[key]}")
    if merged["rhs"] not in RHS_KINDS:
        raise ConfigError(f"unknown rhs {merged['rhs']!r}; choose one of {', '.join(RHS_KINDS)}")
    return merged


def _range(key: str, value: Any) -> list[float]:
    """``[lo, hi]`` with ``lo <= hi``, finite; strings that spell numbers count (YAML 1.1 reads ``1e6`` as one)."""
    def number(v: Any) -> float | None:
        if isinstance(v, bool):
            return None
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                return None
        return None

    items = list(value) if isinstance(value, (list, tuple)) else None
    bounds = [number(v) for v in items] if items is not None else None
    if bounds is None or len(bounds) != 2 or any(b is None or not math.isfinite(b) for b in bounds):
        raise ConfigError(f"{key} must be two finite numbers [lo, hi], got {value!r}")
    if bounds[0] > bounds[1]:
        raise ConfigError(f"{key} must have lo <= hi, got [{bounds[0]:g}, {bounds[1]:g}]")
    return bounds


def sample_hyperparameters(seed: int, index: int, params: dict[str, Any]) -> dict[str, float]:
    """``{"contrast", "alpha", "tau"}`` of sample ``index``: the fixed values, or draws from the ranges.

    ``params`` are checked parameters (:func:`check_params`). Ranges draw from
    ``default_rng([seed, index, 1])``, three uniforms always taken in the order contrast, tau, alpha
    (so one range's draw does not depend on whether another is given); ``contrast_range`` and
    ``tau_range`` are log-uniform, ``alpha_range`` uniform.
    """
    out = {fixed: float(params[fixed]) for fixed in RANGES.values() if fixed in params}
    if any(key in params for key in RANGES):
        uniforms = dict(zip(("contrast_range", "tau_range", "alpha_range"),
                            np.random.default_rng([int(seed), int(index), 1]).random(3)))
        for key, fixed in RANGES.items():
            if key in params:
                lo, hi = params[key]
                u = float(uniforms[key])
                out[fixed] = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if key in LOG_UNIFORM \
                    else lo + u * (hi - lo)
    return out


def _nnz(res: int, dim: int) -> int:
    return 5 * res**2 - 4 * res if dim == 2 else 7 * res**3 - 6 * res**2


def _cosine_grf_3d(xi: np.ndarray, size: int, *, alpha: float, tau: float) -> np.ndarray:
    """The 3D analogue of :func:`sciml.data.grf.cosine_grf` for one sample: ``xi (K, K, K)`` -> ``(size,)*3``."""
    modes = xi.shape[0]
    k = np.arange(modes)
    k1, k2, k3 = np.meshgrid(k, k, k, indexing="ij")
    amplitude = tau ** (alpha - 1.0) * (math.pi**2 * (k1**2 + k2**2 + k3**2) + tau**2) ** (-alpha / 2.0)
    amplitude[0, 0, 0] = 0.0
    norm = np.where(k == 0, 1.0, math.sqrt(2.0))
    basis = np.cos(math.pi * np.outer(np.linspace(0.0, 1.0, size), k)) * norm  # (size, K)
    return np.einsum("ia,jb,kc,abc->ijk", basis, basis, basis, amplitude * xi, optimize=True)


def sample_coefficient(seed: int, index: int, res: int, params: dict[str, Any],
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """The coefficient ``a`` of sample ``index`` at the ``(res + 2,) * dim`` nodes, boundary included.

    ``log a`` is a cosine GRF rescaled to ``[0, log(contrast)]``; ``rng`` (default
    ``sample_rng(seed, index)``) supplies its coefficients; contrast, ``alpha`` and ``tau`` are the
    sample's (:func:`sample_hyperparameters`).
    """
    rng = sample_rng(seed, index) if rng is None else rng
    hyper = sample_hyperparameters(seed, index, params)
    size = res + 2
    dim = params.get("dim", 2)
    modes = min(size, MAX_MODES[dim])
    if dim == 2:
        z = cosine_grf(rng.standard_normal((1, modes, modes)), size, alpha=hyper["alpha"], tau=hyper["tau"])[0]
    else:
        z = _cosine_grf_3d(rng.standard_normal((modes, modes, modes)), size, alpha=hyper["alpha"], tau=hyper["tau"])
    z = (z - z.min()) / max(z.max() - z.min(), 1e-300)
    return np.exp(z * math.log(hyper["contrast"]))


def _assemble(a: np.ndarray, res: int, dim: int) -> sp.csr_matrix:
    matrix = (diffusion_2d if dim == 2 else diffusion_3d)(a, 1.0 / (res + 1))
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def sample_system(seed: int, index: int, res: int, params: dict[str, Any]) -> tuple[sp.csr_matrix, np.ndarray]:
    """Matrix ``A`` (canonical CSR, int32 indices) and right-hand side ``b (n,)`` of sample ``index``.

    The coefficient is drawn first and the right-hand side second from ``sample_rng(seed, index)``.
    """
    rng = sample_rng(seed, index)
    a = sample_coefficient(seed, index, res, params, rng=rng)
    dim = params.get("dim", 2)
    matrix = _assemble(a, res, dim)
    n = res**dim
    rhs = rng.standard_normal(n) if params["rhs"] == "normal" else np.ones(n)
    return matrix, rhs


def _pattern(res: int, dim: int = 2) -> sp.csr_matrix:
    """The shared stencil pattern (the matrix of the constant coefficient)."""
    return _assemble(np.ones((res + 2,) * dim), res, dim)


def direct_solve(matrix: sp.spmatrix, rhs: np.ndarray, *, where: str = "the system") -> np.ndarray:
    """``A^-1 b`` by a sparse LU (SuperLU, symmetric mode and minimum-degree ordering on ``A + A^T``).

    Raises
    ------
    DataError
        The factorisation fails, or the solution is not finite, or ``||A x - b|| > 1e-6 ||b||``.
    """
    try:
        lu = spla.splu(sp.csc_matrix(matrix), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                       options={"SymmetricMode": True})
        x = lu.solve(np.asarray(rhs, dtype=np.float64))
    except RuntimeError as exc:  # SuperLU reports an exactly singular matrix this way
        raise DataError(f"the direct solve of {where} failed: {exc}") from exc
    if not np.all(np.isfinite(x)):
        raise DataError(f"the direct solve of {where} produced non-finite values")
    residual = np.linalg.norm(matrix @ x - rhs)
    if not residual <= RESIDUAL_RTOL * np.linalg.norm(rhs):
        raise DataError(f"the direct solve of {where} left ||A x - b|| / ||b|| = "
                        f"{residual / max(np.linalg.norm(rhs), 1e-300):.3g} > {RESIDUAL_RTOL}")
    return x


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 64) -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of systems ``start .. n-1`` on the ``res^dim`` interior grid.

    Each block is ``{"values": (B, nnz), "rhs": (B, n), "solution": (B, n)}`` in float64.
    """
    params = check_params(res, params)
    pattern = _pattern(res, params["dim"])
    for first in range(start, n, block):
        last = min(n, first + block)
        values, rhs, solution = [], [], []
        for i in range(first, last):
            matrix, b = sample_system(seed, i, res, params)
            if not (np.array_equal(matrix.indptr, pattern.indptr) and np.array_equal(matrix.indices, pattern.indices)):
                raise DataError(f"sample {i} does not have the stencil pattern of the other samples; "
                                f"this is a bug in sciml, please report it")
            values.append(matrix.data)
            rhs.append(b)
            solution.append(direct_solve(matrix, b, where=f"sample {i}"))
        yield {"values": np.stack(values), "rhs": np.stack(rhs), "solution": np.stack(solution)}


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of a diffusion-systems store."""
    dim = params.get("dim", 2)
    n = res**dim
    return {"values": ((_nnz(res, dim),), "float64"), "rhs": ((n,), "float64"), "solution": ((n,), "float64")}


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """The shared CSR pattern: ``crow (n + 1,)`` and ``col (nnz,)``, int32."""
    pattern = _pattern(res, params.get("dim", 2))
    return {"crow": pattern.indptr.astype(np.int32), "col": pattern.indices.astype(np.int32)}


def check_pattern(crow: np.ndarray, col: np.ndarray, *, where: str = "the matrix") -> int:
    """Check a CSR pattern: valid row pointers, sorted in-range columns without repeats. Returns ``n``.

    Shapes: ``crow (n + 1,)``, ``col (nnz,)`` integer arrays.

    Raises
    ------
    DataError
        Naming ``where`` and what is wrong.
    """
    crow = np.asarray(crow)
    col = np.asarray(col)
    if crow.ndim != 1 or col.ndim != 1 or crow.dtype.kind not in "iu" or col.dtype.kind not in "iu":
        raise DataError(f"{where}: crow and col must be 1-D integer arrays, got crow {crow.shape} {crow.dtype} "
                        f"and col {col.shape} {col.dtype}")
    n = len(crow) - 1
    if n < 1:
        raise DataError(f"{where}: crow has {len(crow)} entries; a CSR pattern of n rows has n + 1 >= 2")
    if crow[0] != 0 or crow[-1] != len(col) or np.any(np.diff(crow) < 0):
        raise DataError(f"{where}: crow must rise from 0 to nnz = {len(col)}, got {crow[0]} .. {crow[-1]}"
                        f"{' with decreasing steps' if np.any(np.diff(crow) < 0) else ''}")
    if len(col) and (col.min() < 0 or col.max() >= n):
        raise DataError(f"{where}: column indices must lie in [0, {n}), got {col.min()} .. {col.max()}")
    row = np.repeat(np.arange(n), np.diff(crow))
    key = row.astype(np.int64) * n + col
    if np.any(np.diff(key) <= 0):
        raise DataError(f"{where}: the column indices of each row must be sorted and without repeats")
    return n


PADDED_FIELDS = ("crow", "col", "num_rows", "num_nonzeros")


class SystemsDataset(StoreDataset):
    """Linear systems read lazily from a store of any linear-system family.

    Opens both layouts: one pattern shared by all samples (coordinates ``crow``, ``col``; the
    diffusion-systems and anisotropic-systems families) and per-sample padded patterns with
    counts (fields ``crow``, ``col``, ``num_rows``, ``num_nonzeros``; the mesh families, see
    :mod:`sciml.data.pdes.mesh_systems`). Sample 0's pattern is checked and its solution must solve
    its system.

    Parameters
    ----------
    path : dataset file with per-sample ``values``, ``rhs``, ``solution`` and a pattern in either layout

    Attributes
    ----------
    shared_pattern : whether all systems share one pattern (then ``crow``, ``col`` hold it)
    crow, col : the shared pattern, int32 tensors ``(n + 1,)`` and ``(nnz,)``; None for padded stores
    n, nnz : unknowns and nonzeros per system (shared), or the padded sizes (largest possible)
    num_rows, num_nonzeros : ``(N,)`` int64 arrays, the true size and nonzeros of every system
    attrs : the store's root attributes

    Shapes
    ------
    item: dict ``values (nnz,)``, ``rhs (n,)``, ``solution (n,)`` float64, ``crow (n + 1,)``,
    ``col (nnz,)`` int32 and ``num_rows ()``, ``num_nonzeros ()`` int64, with ``n``, ``nnz`` the
    padded sizes for padded stores (entries past the counts are padding: ``crow`` stays at the
    system's nnz, ``col`` is -1, the rest 0). A default-collated batch (``values (B, nnz)`` first)
    carries everything a training step needs; :meth:`matrix`, :meth:`rhs` and :meth:`solution`
    give one system without padding.
    """

    FIELDS = ("values", "rhs", "solution")

    def __init__(self, path: str | os.PathLike, *, require_solution: bool = True):
        self.path = Path(path)
        with open_store(self.path, required=self.FIELDS if require_solution else ("values", "rhs")) as store:
            self.has_solution = "solution" in store.fields
            if not self.has_solution:  # systems to solve, without reference solutions (predict, not eval)
                self.FIELDS = ("values", "rhs")
            self.shared_pattern = not all(name in store.fields for name in PADDED_FIELDS)
            if self.shared_pattern:
                for name in ("crow", "col"):
                    if name not in store.coords:
                        raise DataError(f"{self.path} has no coordinate dataset {name!r} (a shared CSR pattern) and "
                                        f"not the per-sample fields {', '.join(PADDED_FIELDS)} (padded patterns); "
                                        f"is it a linear-systems file?")
                crow, col = store.read("crow"), store.read("col")
                self.n = check_pattern(crow, col, where=str(self.path))
                self.nnz = len(col)
                self.num_rows = np.full(store.n_samples, self.n, dtype=np.int64)
                self.num_nonzeros = np.full(store.n_samples, self.nnz, dtype=np.int64)
            else:
                self.n = store.fields["rhs"][0][1] if len(store.fields["rhs"][0]) == 2 else -1
                self.nnz = store.fields["values"][0][1] if len(store.fields["values"][0]) == 2 else -1
                self.num_rows = store.read("num_rows").astype(np.int64)
                self.num_nonzeros = store.read("num_nonzeros").astype(np.int64)
            expected = {"values": (self.nnz,), "rhs": (self.n,)}
            if self.has_solution:
                expected["solution"] = (self.n,)
            if not self.shared_pattern:
                expected.update({"crow": (self.n + 1,), "col": (self.nnz,), "num_rows": (), "num_nonzeros": ()})
            for name, shape in expected.items():
                found = store.fields[name][0][1:]
                if found != shape:
                    raise DataError(f"{self.path}: field {name!r} has per-sample shape {found}, expected {shape} "
                                    f"for systems with n = {self.n} and nnz = {self.nnz}")
            if not self.shared_pattern:
                bad = np.flatnonzero((self.num_rows < 1) | (self.num_rows > self.n) | (self.num_nonzeros < 1)
                                     | (self.num_nonzeros > self.nnz))
                if bad.size:
                    i = int(bad[0])
                    raise DataError(f"{self.path}: sample {i} claims {self.num_rows[i]} rows and "
                                    f"{self.num_nonzeros[i]} nonzeros, outside the padded sizes {self.n} and "
                                    f"{self.nnz}")
                crow, col = self._cut_pattern(store, 0)
                check_pattern(crow, col, where=f"{self.path} sample 0")
            self.n_samples = store.n_samples
            self.attrs = store.attrs
            if self.has_solution:
                self._check_solution(store, crow, col)
        if self.shared_pattern:
            self.crow: torch.Tensor | None = torch.from_numpy(crow.astype(np.int32))
            self.col: torch.Tensor | None = torch.from_numpy(col.astype(np.int32))
        else:
            self.crow = self.col = None
        super().__init__()

    def _cut_pattern(self, store: Store, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows, nonzeros = int(self.num_rows[index]), int(self.num_nonzeros[index])
        crow = store.read("crow", index)[:rows + 1]
        if crow[-1] != nonzeros:
            raise DataError(f"{self.path}: sample {index}'s crow ends at {crow[-1]} but num_nonzeros is {nonzeros}")
        return crow, store.read("col", index)[:nonzeros]

    def _check_solution(self, store: Store, crow: np.ndarray, col: np.ndarray) -> None:
        """The first sample's solution must solve its system (catches mismatched or mislabelled fields)."""
        n, nnz = len(crow) - 1, len(col)
        matrix = sp.csr_matrix((store.read("values", 0)[:nnz], col, crow), shape=(n, n))
        b, x = store.read("rhs", 0)[:n], store.read("solution", 0)[:n]
        residual = np.linalg.norm(matrix @ x - b)
        if not residual <= RESIDUAL_RTOL * np.linalg.norm(b):
            raise DataError(f"{self.path}: sample 0's solution does not solve its system "
                            f"(||A x - b|| / ||b|| = {residual / max(np.linalg.norm(b), 1e-300):.3g} > "
                            f"{RESIDUAL_RTOL})")

    def _read(self, indices: list[int]) -> dict[str, np.ndarray]:
        """Stacked fields of ``indices`` (any order, repeats allowed), one HDF5 call per field."""
        for i in indices:
            if not -self.n_samples <= i < self.n_samples:
                raise IndexError(f"sample {i} is out of range for {self.n_samples} samples")
        indices = [i % self.n_samples for i in indices]
        unique, inverse = np.unique(indices, return_inverse=True)
        store = self._handle()
        names = self.FIELDS if self.shared_pattern else self.FIELDS + ("crow", "col")
        out = {}
        for name in names:
            values = store.read(name, unique.tolist())[inverse]
            if name in self.FIELDS:
                finite = np.isfinite(values).all(axis=1)
                if not finite.all():
                    raise DataError(f"{self.path}: field {name!r} sample {indices[int(np.argmin(finite))]} "
                                    f"contains NaN or Inf")
            out[name] = values
        return out

    def _items(self, indices: list[int]) -> list[dict[str, torch.Tensor]]:
        arrays = self._read(indices)
        items = []
        for k, index in enumerate(indices):
            item = {name: torch.from_numpy(np.ascontiguousarray(arrays[name][k], dtype=np.float64))
                    for name in self.FIELDS}
            if self.shared_pattern:
                item["crow"], item["col"] = self.crow, self.col
            else:
                item["crow"] = torch.from_numpy(np.ascontiguousarray(arrays["crow"][k], dtype=np.int32))
                item["col"] = torch.from_numpy(np.ascontiguousarray(arrays["col"][k], dtype=np.int32))
            item["num_rows"] = torch.tensor(int(self.num_rows[index % self.n_samples]))
            item["num_nonzeros"] = torch.tensor(int(self.num_nonzeros[index % self.n_samples]))
            items.append(item)
        return items

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self._items([int(index)])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, torch.Tensor]]:
        return self._items([int(i) for i in indices])

    def pattern(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The CSR pattern ``(crow (n_i + 1,), col (nnz_i,))`` of system ``index``, int32 tensors."""
        if self.shared_pattern:
            return self.crow, self.col
        item = self[index]
        rows, nonzeros = int(item["num_rows"]), int(item["num_nonzeros"])
        return item["crow"][:rows + 1], item["col"][:nonzeros]

    def matrix(self, index: int) -> sp.csr_matrix:
        """System ``index`` as a scipy CSR matrix (float64, int32 indices), without padding."""
        item = self[index]
        rows, nonzeros = int(item["num_rows"]), int(item["num_nonzeros"])
        crow, col = item["crow"][:rows + 1].numpy(), item["col"][:nonzeros].numpy()
        if crow[-1] != nonzeros:
            raise DataError(f"{self.path}: sample {index}'s crow ends at {crow[-1]} but num_nonzeros is {nonzeros}")
        return sp.csr_matrix((item["values"][:nonzeros].numpy(), col, crow), shape=(rows, rows))

    def rhs(self, index: int) -> np.ndarray:
        """The right-hand side ``b (n_i,)`` of system ``index``, without padding."""
        return self[index]["rhs"][:int(self.num_rows[index])].numpy()

    def solution(self, index: int) -> np.ndarray:
        """The stored solution ``x (n_i,)`` of system ``index``, without padding."""
        if not self.has_solution:
            raise DataError(f"{self.path} holds no reference solutions (no 'solution' field)")
        return self[index]["solution"][:int(self.num_rows[index])].numpy()

    def __repr__(self) -> str:
        if self.shared_pattern:
            return f"SystemsDataset({str(self.path)!r}, n_samples={self.n_samples}, n={self.n}, nnz={self.nnz})"
        return (f"SystemsDataset({str(self.path)!r}, n_samples={self.n_samples}, n={self.num_rows.min()}.."
                f"{self.num_rows.max()}, nnz={self.num_nonzeros.min()}..{self.num_nonzeros.max()}, padded)")


def load_systems(path: str | os.PathLike, *, require_solution: bool = True) -> SystemsDataset:
    """Open and validate a store of linear systems of any family (see :class:`SystemsDataset`);
    ``require_solution=False`` also opens systems without reference solutions."""
    return SystemsDataset(path, require_solution=require_solution)
