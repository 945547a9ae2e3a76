"""Sparse SPD linear systems of 2D diffusion, the training data of learned CG preconditioners.

Each sample is one system ``A x = b`` from ``-div(a grad u) = f`` on the ``m x m`` interior nodes of
the unit square (``h = 1 / (m + 1)``, zero Dirichlet boundary, 5-point stencil with face
coefficients the arithmetic mean of the node values, :func:`sciml.linalg.assemble.diffusion_2d`).
``log a`` is a cosine-series Gaussian random field rescaled to ``[0, log(contrast)]``, so
``max a / min a = contrast`` (as :func:`sciml.gallery.diffusion2d_grf`, but drawn from the
per-sample stream :func:`sciml.data.grf.sample_rng`). The right-hand side is standard normal
(``rhs="normal"``) or all ones (``rhs="ones"``); the solution comes from a sparse direct solve.
The setting of Neural PCG (Li et al., arXiv 2305.16432) and NeuralIF (Hausner et al., arXiv 2305.16368).

Storage layout
--------------
All samples share the 5-point pattern (``n = m^2`` unknowns, ``nnz = 5 m^2 - 4 m``), stored once:

- ``crow (n + 1,)`` int32, ``col (nnz,)`` int32: CSR row pointers and sorted column indices
  (coordinate datasets, no sample axis)
- ``values (N, nnz)`` float64: the matrix entries of each system in that CSR order
- ``rhs (N, n)`` float64, ``solution (N, n)`` float64, unknowns ordered row-major

:func:`load_systems` opens such a file as a torch Dataset.
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
from sciml.linalg.assemble import diffusion_2d
from sciml.data.pdes._common import merge_params

__all__ = ["sample_coefficient", "sample_system", "generate", "fields", "coords", "check_params", "load_systems",
           "SystemsDataset", "check_pattern", "DEFAULTS", "GENERATOR", "RHS_KINDS"]

GENERATOR = "sciml.data.pdes.diffusion_systems 1"
DEFAULTS: dict[str, Any] = {"contrast": 1e3, "alpha": 2.0, "tau": 3.0, "rhs": "normal"}
RHS_KINDS = ("normal", "ones")
MAX_MODES = 64  # cosine modes per axis of the GRF (the spectrum decays like |k|^-alpha)
RESIDUAL_RTOL = 1e-6  # a stored solution must satisfy ||A x - b|| <= this * ||b||


def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any work.

    ``res`` is ``m``, the number of interior nodes per axis (``n = m^2`` unknowns).
    """
    merged = merge_params("diffusion-systems", params, DEFAULTS)
    if not isinstance(res, int) or isinstance(res, bool) or res < 2:
        raise ConfigError(f"res (interior nodes per axis) must be an integer of at least 2, got {res!r}")
    for key in ("contrast", "alpha", "tau"):
        if not isinstance(merged[key], (int, float)) or isinstance(merged[key], bool):
            raise ConfigError(f"{key} must be a number, got {merged[key]!r}")
        merged[key] = float(merged[key])
    if not 1.0 <= merged["contrast"] < math.inf:
        raise ConfigError(f"contrast (max a / min a) must be finite and at least 1, got {merged['contrast']}")
    if not (merged["alpha"] > 0 and merged["tau"] > 0):
        raise ConfigError(f"alpha and tau must be positive, got alpha={merged['alpha']}, tau={merged['tau']}")
    if merged["rhs"] not in RHS_KINDS:
        raise ConfigError(f"unknown rhs {merged['rhs']!r}; choose one of {', '.join(RHS_KINDS)}")
    return merged


def sample_coefficient(seed: int, index: int, res: int, params: dict[str, Any],
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """The coefficient ``a`` of sample ``index`` at the ``(res + 2, res + 2)`` nodes, boundary included.

    ``log a`` is a cosine GRF rescaled to ``[0, log(contrast)]``; ``rng`` (default
    ``sample_rng(seed, index)``) supplies its coefficients.
    """
    rng = sample_rng(seed, index) if rng is None else rng
    size = res + 2
    modes = min(size, MAX_MODES)
    z = cosine_grf(rng.standard_normal((1, modes, modes)), size, alpha=params["alpha"], tau=params["tau"])[0]
    z = (z - z.min()) / max(z.max() - z.min(), 1e-300)
    return np.exp(z * math.log(params["contrast"]))


def sample_system(seed: int, index: int, res: int, params: dict[str, Any]) -> tuple[sp.csr_matrix, np.ndarray]:
    """Matrix ``A`` (canonical CSR, int32 indices) and right-hand side ``b (n,)`` of sample ``index``.

    The coefficient is drawn first and the right-hand side second from ``sample_rng(seed, index)``.
    """
    rng = sample_rng(seed, index)
    a = sample_coefficient(seed, index, res, params, rng=rng)
    matrix = diffusion_2d(a, 1.0 / (res + 1))
    matrix.sum_duplicates()
    matrix.sort_indices()
    n = res * res
    rhs = rng.standard_normal(n) if params["rhs"] == "normal" else np.ones(n)
    return matrix, rhs


def _pattern(res: int) -> sp.csr_matrix:
    """The shared 5-point pattern (the matrix of the constant coefficient)."""
    matrix = diffusion_2d(np.ones((res + 2, res + 2)), 1.0 / (res + 1))
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 64) -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of systems ``start .. n-1`` on the ``res x res`` interior grid.

    Each block is ``{"values": (B, nnz), "rhs": (B, n), "solution": (B, n)}`` in float64.
    """
    params = check_params(res, params)
    pattern = _pattern(res)
    for first in range(start, n, block):
        last = min(n, first + block)
        values, rhs, solution = [], [], []
        for i in range(first, last):
            matrix, b = sample_system(seed, i, res, params)
            if not (np.array_equal(matrix.indptr, pattern.indptr) and np.array_equal(matrix.indices, pattern.indices)):
                raise DataError(f"sample {i} does not have the 5-point pattern of the other samples; "
                                f"this is a bug in sciml, please report it")
            x = spla.spsolve(matrix.tocsc(), b)
            if not np.all(np.isfinite(x)):
                raise DataError(f"the direct solve of sample {i} produced non-finite values")
            values.append(matrix.data)
            rhs.append(b)
            solution.append(x)
        yield {"values": np.stack(values), "rhs": np.stack(rhs), "solution": np.stack(solution)}


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of a diffusion-systems store."""
    n = res * res
    nnz = 5 * n - 4 * res
    return {"values": ((nnz,), "float64"), "rhs": ((n,), "float64"), "solution": ((n,), "float64")}


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """The shared CSR pattern: ``crow (n + 1,)`` and ``col (nnz,)``, int32."""
    pattern = _pattern(res)
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


class SystemsDataset(StoreDataset):
    """Linear systems sharing one sparsity pattern, read lazily from a diffusion-systems store.

    Parameters
    ----------
    path : dataset file with per-sample ``values``, ``rhs``, ``solution`` and coordinates ``crow``, ``col``

    Attributes
    ----------
    crow, col : the shared pattern, int32 tensors ``(n + 1,)`` and ``(nnz,)``
    n, nnz : unknowns and nonzeros per system
    attrs : the store's root attributes

    Shapes
    ------
    item: dict ``values (nnz,)``, ``rhs (n,)``, ``solution (n,)`` float64 and the pattern
    ``crow (n + 1,)``, ``col (nnz,)`` int32, so that a default-collated batch
    (``values (B, nnz)`` first) carries everything a training step needs.
    """

    FIELDS = ("values", "rhs", "solution")

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with open_store(self.path, required=self.FIELDS) as store:
            for name in ("crow", "col"):
                if name not in store.coords:
                    raise DataError(f"{self.path} has no coordinate dataset {name!r} (the shared CSR pattern); "
                                    f"is it a diffusion-systems file?")
            crow = store.read("crow")
            col = store.read("col")
            self.n = check_pattern(crow, col, where=str(self.path))
            self.nnz = len(col)
            expected = {"values": (self.nnz,), "rhs": (self.n,), "solution": (self.n,)}
            for name, shape in expected.items():
                found = store.fields[name][0][1:]
                if found != shape:
                    raise DataError(f"{self.path}: field {name!r} has per-sample shape {found}, expected {shape} "
                                    f"for a pattern with n = {self.n} and nnz = {self.nnz}")
            self.n_samples = store.n_samples
            self.attrs = store.attrs
            self._check_solution(store, crow, col)
        self.crow = torch.from_numpy(crow.astype(np.int32))
        self.col = torch.from_numpy(col.astype(np.int32))
        super().__init__()

    def _check_solution(self, store: Store, crow: np.ndarray, col: np.ndarray) -> None:
        """The first sample's solution must solve its system (catches mismatched or mislabelled fields)."""
        matrix = sp.csr_matrix((store.read("values", 0), col, crow), shape=(self.n, self.n))
        b, x = store.read("rhs", 0), store.read("solution", 0)
        residual = np.linalg.norm(matrix @ x - b)
        if not residual <= RESIDUAL_RTOL * np.linalg.norm(b):
            raise DataError(f"{self.path}: sample 0's solution does not solve its system "
                            f"(||A x - b|| / ||b|| = {residual / max(np.linalg.norm(b), 1e-300):.3g} > "
                            f"{RESIDUAL_RTOL})")

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = int(index)
        if not -self.n_samples <= index < self.n_samples:
            raise IndexError(f"sample {index} is out of range for {self.n_samples} samples")
        index %= self.n_samples
        store = self._handle()
        item = {}
        for name in self.FIELDS:
            tensor = torch.from_numpy(np.ascontiguousarray(store.read(name, index), dtype=np.float64))
            if not bool(torch.isfinite(tensor).all()):
                raise DataError(f"{self.path}: field {name!r} sample {index} contains NaN or Inf")
            item[name] = tensor
        item["crow"], item["col"] = self.crow, self.col
        return item

    def matrix(self, index: int) -> sp.csr_matrix:
        """System ``index`` as a scipy CSR matrix (float64, int32 indices)."""
        values = self[index]["values"].numpy()
        return sp.csr_matrix((values, self.col.numpy(), self.crow.numpy()), shape=(self.n, self.n))

    def __repr__(self) -> str:
        return f"SystemsDataset({str(self.path)!r}, n_samples={self.n_samples}, n={self.n}, nnz={self.nnz})"


def load_systems(path: str | os.PathLike) -> SystemsDataset:
    """Open and validate a store of linear systems sharing one pattern (see the module docstring)."""
    return SystemsDataset(path)
