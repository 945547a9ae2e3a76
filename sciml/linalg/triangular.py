"""Sparse triangular solves, set up once and applied to many right-hand sides.

:class:`TriangularSolver` validates a sparse triangular matrix once, prepares one of two
kernels, and then solves ``T x = b`` for single or batched right-hand sides:

* ``"levels"``: level scheduling in plain torch ops, on any device. Rows are grouped into
  levels so that a row depends only on rows of earlier levels; each level is then three
  vectorised ops (gather, multiply, index_add) for the whole batch.
* ``"torch"``: torch's own sparse CSR triangular solve (``torch.triangular_solve`` with a
  sparse CSR matrix: MKL on CPU, cuSPARSE on CUDA), where the torch build supports it.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np
import scipy.sparse as sp
import torch

from sciml._errors import ConfigError, SciMLError
from sciml.runtime import torch_threads

__all__ = ["TriangularSolver"]

METHODS = ("auto", "levels", "torch")


def _dag_levels(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, int]:
    """Level of every node of a directed acyclic graph: 0 without predecessors, else 1 + max over them.

    An edge ``src[e] -> dst[e]`` means ``dst[e]`` needs ``src[e]`` first. Kahn's algorithm, one
    vectorised sweep per level, so the cost is O(edges log edges) plus a few numpy calls per level.

    Shapes: ``src``, ``dst`` ``(num_edges,)`` int; returns levels ``(n,)`` int64 and the number of levels.
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    successors = dst[np.argsort(src, kind="stable")]
    successor_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=successor_ptr[1:])
    waiting_on = np.bincount(dst, minlength=n)
    level = np.full(n, -1, dtype=np.int64)
    frontier = np.flatnonzero(waiting_on == 0)
    n_levels = 0
    while frontier.size:
        level[frontier] = n_levels
        n_levels += 1
        starts = successor_ptr[frontier]
        counts = successor_ptr[frontier + 1] - starts
        total = int(counts.sum())
        if total == 0:
            break
        # concatenated ranges starts[f] : starts[f] + counts[f]
        offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        reached, times = np.unique(successors[offsets + np.arange(total)], return_counts=True)
        waiting_on[reached] -= times
        frontier = reached[waiting_on[reached] == 0]
    if (level < 0).any():
        raise SciMLError("the dependency graph has a cycle; this is a bug in sciml, please report it")
    return level, n_levels


def _to_scipy_csr(T) -> sp.csr_matrix:
    """A float64 copy of ``T`` (scipy sparse, or torch sparse CSR) as canonical scipy CSR."""
    if isinstance(T, torch.Tensor):
        if T.layout != torch.sparse_csr or T.dim() != 2:
            raise SciMLError(f"T must be a 2-D torch sparse CSR tensor or a scipy sparse matrix; got a "
                             f"torch tensor with layout {T.layout} and shape {tuple(T.shape)}")
        if T.is_complex():
            raise SciMLError(f"T must be real; got dtype {T.dtype}")
        matrix = sp.csr_matrix((T.values().detach().cpu().double().numpy(),
                                T.col_indices().cpu().numpy(), T.crow_indices().cpu().numpy()),
                               shape=tuple(T.shape))
    elif sp.issparse(T):
        if np.issubdtype(T.dtype, np.complexfloating):
            raise SciMLError(f"T must be real; got dtype {T.dtype}")
        matrix = sp.csr_matrix(T, dtype=np.float64, copy=True)
    else:
        raise SciMLError(f"T must be a scipy sparse matrix or a torch sparse CSR tensor; got {type(T).__name__}")
    matrix.sum_duplicates()  # also sorts the column indices of each row
    return matrix


def _default_dtype(T) -> torch.dtype:
    is_float32 = T.dtype == torch.float32 if isinstance(T, torch.Tensor) else T.dtype == np.float32
    return torch.float32 if is_float32 else torch.float64


def _validate_triangle(matrix: sp.csr_matrix, lower: bool, unit_diagonal: bool) -> np.ndarray:
    """Check shape, finiteness, triangle and diagonal; return the diagonal ``(n,)``."""
    rows, cols = matrix.shape
    if rows != cols:
        raise SciMLError(f"T must be square; got shape ({rows}, {cols})")
    if rows == 0:
        raise SciMLError("T is empty (shape (0, 0)); there is nothing to solve")
    if not np.isfinite(matrix.data).all():
        bad = np.flatnonzero(~np.isfinite(matrix.data))[0]
        row = int(np.searchsorted(matrix.indptr, bad, side="right") - 1)
        raise SciMLError(f"T has a non-finite value {matrix.data[bad]} at ({row}, {matrix.indices[bad]})")
    matrix.eliminate_zeros()  # a stored zero is not an entry: it neither breaks the triangle nor counts as diagonal
    row_of = np.repeat(np.arange(rows), np.diff(matrix.indptr))
    wrong = matrix.indices > row_of if lower else matrix.indices < row_of
    if wrong.any():
        first = np.flatnonzero(wrong)[0]
        side, shape = ("above", "lower") if lower else ("below", "upper")
        raise SciMLError(f"T has an entry {side} the diagonal at ({row_of[first]}, {matrix.indices[first]}) "
                         f"but was declared {shape} triangular")
    diagonal = matrix.diagonal()
    if not unit_diagonal and (diagonal == 0).any():
        row = int(np.flatnonzero(diagonal == 0)[0])
        raise SciMLError(f"T has a zero or missing diagonal entry in row {row}; a triangular solve needs a "
                         f"nonzero diagonal (or pass unit_diagonal=True if the diagonal is implicitly 1)")
    return diagonal


@functools.lru_cache(maxsize=None)
def _torch_sparse_triangular_support(device: torch.device, dtype: torch.dtype) -> str | None:
    """``None`` if ``torch.triangular_solve`` handles a sparse CSR matrix on ``device`` in ``dtype``, else why not."""
    try:
        probe = _torch_csr(sp.csr_matrix(np.array([[2.0, 0.0], [1.0, 4.0]])), device, dtype)
        rhs = torch.tensor([[2.0], [9.0]], dtype=dtype, device=device)
        solution = torch.triangular_solve(rhs, probe, upper=False).solution
    except (RuntimeError, NotImplementedError, TypeError) as error:
        return str(error).splitlines()[0]
    expected = torch.tensor([[1.0], [2.0]], dtype=dtype)
    if not torch.allclose(solution.cpu(), expected):
        return f"it returned {solution.flatten().tolist()} instead of [1.0, 2.0] on a 2x2 test"
    return None


def _torch_csr(matrix: sp.csr_matrix, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    with warnings.catch_warnings():  # torch warns once per process that sparse CSR is "beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(matrix.indptr.astype(np.int64)),
                                       torch.from_numpy(matrix.indices.astype(np.int64)),
                                       torch.from_numpy(matrix.data).to(dtype), size=matrix.shape,
                                       device=device, check_invariants=False)


class TriangularSolver:
    """Solve ``T x = b`` for a sparse triangular ``T``, set up once and applied to many ``b``.

    Parameters
    ----------
    T : scipy sparse matrix (any format) or 2-D torch sparse CSR tensor, square, triangular.
        Stored zeros are ignored. Validated once here: square, finite, no entry on the wrong
        side of the diagonal, and (unless ``unit_diagonal``) a nonzero diagonal.
    lower : True if ``T`` is lower triangular, False if upper triangular (keyword only).
    unit_diagonal : treat the diagonal as ones; stored diagonal entries are then not read
        (as in ``scipy.sparse.linalg.spsolve_triangular``).
    device : where the solves run; default the device of a torch ``T``, else CPU.
    dtype : ``torch.float32`` or ``torch.float64``; default float32 if ``T`` is float32, else float64.
    method : ``"levels"``, ``"torch"`` or ``"auto"``.

        * ``"levels"``: level scheduling in torch ops; works on every device and dtype.
          A row's level is 1 + the largest level of the rows it depends on; a level costs three
          torch ops for the whole batch, so a solve costs about ``3 * n_levels`` kernel calls
          (the 5-point Laplacian on an m x m grid has ``2m - 1`` levels).
        * ``"torch"``: ``torch.triangular_solve`` with a sparse CSR matrix (MKL on CPU, cuSPARSE
          on CUDA). Raises :class:`~sciml.SciMLError` if this torch build cannot do it on ``device``.
        * ``"auto"``: ``"torch"`` wherever it works, else ``"levels"``. Measured on 2 shared CPU
          threads (torch 2.13 CPU with MKL, float64, lower triangle of the interior 5-point
          Poisson matrix; best of 5; set-up, then solve time per call for 1 and 16 right-hand sides):

          ======  =======================  =======================  ==================
          grid    levels                   torch (MKL)              scipy spsolve_tri.
          ======  =======================  =======================  ==================
          256^2   24 ms, 4.5 ms, 17-26 ms  2.8 ms, 1.1 ms, 21 ms    -, 4.5 ms, 33 ms
          512^2   73 ms, 12 ms, 116 ms     12 ms, 5 ms, 90 ms       -, 17 ms, 130 ms
          ======  =======================  =======================  ==================

          torch is 2.5-4x faster for one right-hand side and level with or faster than "levels"
          for 16 (about 40 ms of its 90 ms there is the (batch, n) <-> (n, batch) transposition).
          On CUDA no timing was taken; cuSPARSE does its own level analysis, so ``"torch"`` is
          chosen there too when it works.

    Attributes
    ----------
    n : size of ``T``.
    lower, unit_diagonal : as given.
    method : the method actually used, ``"levels"`` or ``"torch"``.
    n_levels : number of levels for ``"levels"``, ``None`` for ``"torch"``.
    device, dtype : where and in which precision the solves run.

    Shapes: ``T`` ``(n, n)``; :meth:`solve` maps ``b`` ``(n,)`` or ``(batch, n)`` to ``x`` of the same shape.
    """

    def __init__(self, T, *, lower: bool, unit_diagonal: bool = False, device=None, dtype=None,
                 method: str = "auto"):
        if method not in METHODS:
            raise ConfigError(f"unknown triangular solve method {method!r}; choose one of {', '.join(METHODS)}")
        matrix = _to_scipy_csr(T)
        if dtype is None:
            dtype = _default_dtype(T)
        if dtype not in (torch.float32, torch.float64):
            raise SciMLError(f"dtype must be torch.float32 or torch.float64; got {dtype}")
        if device is None:
            device = T.device if isinstance(T, torch.Tensor) else "cpu"
        self.device = torch.device(device)
        self.dtype = dtype
        self.lower = bool(lower)
        self.unit_diagonal = bool(unit_diagonal)
        diagonal = _validate_triangle(matrix, self.lower, self.unit_diagonal)
        self.n = matrix.shape[0]

        if method in ("auto", "torch"):
            reason = _torch_sparse_triangular_support(self.device, dtype)
            if reason is None:
                method = "torch"
            elif method == "torch":
                raise SciMLError(f"method 'torch' is not available: this torch build ({torch.__version__}) "
                                 f"cannot solve a sparse CSR triangular system on {self.device} in {dtype} "
                                 f"({reason}); use method='levels'")
            else:
                method = "levels"
        self.method = method

        strict = matrix - sp.diags(matrix.diagonal(), format="csr")
        strict.eliminate_zeros()
        if method == "torch":
            self.n_levels = None
            # Always hand over a full diagonal: MKL's unit-triangular mode misreads a missing one.
            full_diagonal = np.ones(self.n) if self.unit_diagonal else diagonal
            full = (strict + sp.diags(full_diagonal, format="csr")).tocsr()
            full.sort_indices()
            self._matrix = _torch_csr(full, self.device, dtype)
        else:
            self._setup_levels(strict, np.ones(self.n) if self.unit_diagonal else diagonal)

    def _setup_levels(self, strict: sp.csr_matrix, diagonal: np.ndarray) -> None:
        n = self.n
        row_of = np.repeat(np.arange(n), np.diff(strict.indptr))
        level, self.n_levels = _dag_levels(n, strict.indices, row_of)
        # Renumber rows level by level: each level's rows, and their entries, become contiguous slices.
        order = np.argsort(level, kind="stable")
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        permuted = strict[order]
        level_ptr = np.searchsorted(level[order], np.arange(self.n_levels + 1))
        entry_ptr = permuted.indptr[level_ptr]
        permuted_row = np.repeat(np.arange(n), np.diff(permuted.indptr))
        local_row = permuted_row - level_ptr[level[order][permuted_row]]
        # Divide each row by its diagonal once here, so a solve is a unit-diagonal solve of D^-1 T;
        # store the negated values, because index_add_ with alpha=-1 is several times slower on CPU.
        scaled = -permuted.data / diagonal[order][permuted_row]

        def to_torch(array, dtype):
            return torch.as_tensor(array, dtype=dtype).to(self.device)

        self._order = to_torch(order, torch.int64)
        self._inverse_order = to_torch(position, torch.int64)
        self._diagonal = to_torch(diagonal, self.dtype)
        columns = to_torch(position[permuted.indices], torch.int64)
        negated_values = to_torch(scaled, self.dtype)
        local_row = to_torch(local_row, torch.int64)
        self._levels = []
        for k in range(self.n_levels):
            r0, r1, e0, e1 = (int(v) for v in (level_ptr[k], level_ptr[k + 1], entry_ptr[k], entry_ptr[k + 1]))
            if e1 > e0:
                self._levels.append((r0, r1, columns[e0:e1], negated_values[e0:e1, None], local_row[e0:e1]))

    def __repr__(self) -> str:
        levels = f", n_levels={self.n_levels}" if self.method == "levels" else ""
        return (f"TriangularSolver(n={self.n}, lower={self.lower}, unit_diagonal={self.unit_diagonal}, "
                f"method={self.method!r}{levels}, device={self.device}, dtype={self.dtype})")

    def solve(self, b: torch.Tensor) -> torch.Tensor:
        """Return ``x`` with ``T x = b``.

        Parameters
        ----------
        b : right-hand side(s), a torch tensor on :attr:`device` with dtype :attr:`dtype`.

        Returns
        -------
        x : a new tensor of the same shape, device and dtype as ``b``.

        Shapes: ``b`` ``(n,)`` or ``(batch, n)`` -> ``x`` the same shape.
        """
        if not isinstance(b, torch.Tensor):
            raise SciMLError(f"b must be a torch tensor; got {type(b).__name__}")
        if b.dim() not in (1, 2) or b.shape[-1] != self.n:
            raise SciMLError(f"T has shape ({self.n}, {self.n}) but b has shape {tuple(b.shape)}; "
                             f"expected ({self.n},) or (batch, {self.n})")
        if b.dtype != self.dtype:
            raise SciMLError(f"b has dtype {b.dtype} but the solver was set up for {self.dtype}")
        if b.device != self.device:
            raise SciMLError(f"b is on {b.device} but the solver was set up on {self.device}")
        columns = b.reshape(-1, self.n).t()  # (n, batch): rows of x are contiguous for gathers
        # A triangular solve is a chain of small dependent steps: on CPU, extra OpenMP threads only add
        # synchronisation (and, on a loaded machine, spin-waiting: an IC(0)-PCG solve took 2835 ms instead of
        # 5.8 ms), so one thread.
        with torch_threads(1) if self.device.type == "cpu" else contextlib.nullcontext():
            if self.method == "torch":
                x = torch.triangular_solve(columns.contiguous(), self._matrix, upper=not self.lower,
                                           unitriangular=self.unit_diagonal).solution
            else:
                x = self._solve_levels(columns)
        return x.t().contiguous().reshape(b.shape)

    def _solve_levels(self, columns: torch.Tensor) -> torch.Tensor:
        # work in level order: a level's rows are the slice x[r0:r1]
        x = (columns / self._diagonal[:, None]).index_select(0, self._order)
        for r0, r1, level_columns, level_negated_values, level_rows in self._levels:
            x[r0:r1].index_add_(0, level_rows, x.index_select(0, level_columns) * level_negated_values)
        return x.index_select(0, self._inverse_order)
