"""Zero fill-in incomplete Cholesky factorization, IC(0), vectorised by level scheduling.

IC(0) computes a lower triangular ``L`` with the sparsity pattern of ``tril(A)`` such that
``(L L^T)_ij = A_ij`` for every ``(i, j)`` in that pattern. Entry by entry:

    L_ij = (A_ij - sum_k L_ik L_jk) / L_jj     (j < i),
    L_ii = sqrt(A_ii - sum_k L_ik^2),

with ``k < j`` running over the columns where both row ``i`` and row ``j`` of ``L`` have entries.
An entry can be computed as soon as the entries in its formula are known. The symbolic phase
enumerates those dependencies once (as triples ``(target, factor, factor)``) and groups the
entries into levels of the dependency graph; the numeric phase then computes a whole level with
a few numpy calls (gather, multiply, ``bincount`` per target, divide or square root). The 5-point
Laplacian on an m x m grid has about ``4m`` levels, so the Python loop runs ``O(m)`` times,
not once per nonzero. This keeps the module free of compiled extensions (no numba, no C): the
symbolic phase is reused unchanged when the factorization is retried with a diagonal shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sciml._errors import ConfigError, SciMLError
from sciml.linalg.triangular import _dag_levels

__all__ = ["IC0Factor", "ic0"]

# |A - A^T| above this fraction of max |A| counts as non-symmetric (assembly round-off is far below)
SYMMETRY_RTOL = 1e-10
FIRST_SHIFT = 1e-3


@dataclass(frozen=True)
class IC0Factor:
    """Result of :func:`ic0`.

    Attributes
    ----------
    L : lower triangular CSR matrix with exactly the stored pattern of ``tril(A)``, int32
        indices, positive diagonal, and ``(L L^T)_ij = (A + shift * diag(A))_ij`` on that pattern.
    shift : the diagonal shift ``alpha`` that was used; 0.0 when plain IC(0) succeeded.
    attempts : number of factorizations tried (1 when plain IC(0) succeeded).

    Shapes: ``L`` ``(n, n)`` for ``A`` ``(n, n)``.
    """

    L: sp.csr_matrix
    shift: float
    attempts: int


def _validated_lower_triangle(A) -> sp.csr_matrix:
    """Check that ``A`` is a real, square, finite, symmetric sparse matrix with a positive diagonal;
    return ``tril(A)`` as float64 CSR with sorted, summed entries."""
    if not sp.issparse(A):
        raise SciMLError(f"A must be a scipy sparse matrix; got {type(A).__name__} "
                         f"(wrap a dense array with scipy.sparse.csr_matrix)")
    rows, cols = A.shape
    if rows != cols:
        raise SciMLError(f"A must be square; got shape ({rows}, {cols})")
    if rows == 0:
        raise SciMLError("A is empty (shape (0, 0)); there is nothing to factor")
    if np.issubdtype(A.dtype, np.complexfloating):
        raise SciMLError(f"A must be real symmetric; got dtype {A.dtype}")
    A = sp.csr_matrix(A, dtype=np.float64, copy=True)
    A.sum_duplicates()
    if not np.isfinite(A.data).all():
        bad = np.flatnonzero(~np.isfinite(A.data))[0]
        row = int(np.searchsorted(A.indptr, bad, side="right") - 1)
        raise SciMLError(f"A has a non-finite value {A.data[bad]} at ({row}, {A.indices[bad]})")
    scale = np.abs(A.data).max() if A.nnz else 0.0
    asymmetry = (A - A.T).tocoo()
    if asymmetry.nnz and np.abs(asymmetry.data).max() > SYMMETRY_RTOL * scale:
        worst = np.argmax(np.abs(asymmetry.data))
        i, j = int(asymmetry.row[worst]), int(asymmetry.col[worst])
        raise SciMLError(f"A is not symmetric: A[{i}, {j}] = {A[i, j]:.6g} but A[{j}, {i}] = {A[j, i]:.6g} "
                         f"(max |A - A^T| = {np.abs(asymmetry.data).max():.3g}, max |A| = {scale:.3g}); "
                         f"IC(0) needs a symmetric positive definite matrix")
    diagonal = A.diagonal()
    if (diagonal <= 0).any():
        row = int(np.flatnonzero(diagonal <= 0)[0])
        raise SciMLError(f"A[{row}, {row}] = {diagonal[row]:.6g} is not positive (or missing); "
                         f"IC(0) needs a symmetric positive definite matrix")
    lower = sp.tril(A, format="csr")
    lower.sort_indices()
    return lower


class _IC0Plan:
    """Symbolic phase: dependency triples and level schedule for the pattern of ``lower``."""

    def __init__(self, lower: sp.csr_matrix):
        n, nnz = lower.shape[0], lower.nnz
        self.lower = lower
        row = np.repeat(np.arange(n, dtype=np.int64), np.diff(lower.indptr))
        col = lower.indices.astype(np.int64)
        diagonal_entry = lower.indptr[1:].astype(np.int64) - 1  # sorted rows end with their diagonal
        is_diagonal = row == col
        strict = np.flatnonzero(~is_diagonal)

        # Off-diagonal triples: entries (i, k) and (j, k), k < j < i, of one column k give a term of
        # L_ij if (i, j) is in the pattern. Enumerate all such pairs column by column.
        by_column = strict[np.lexsort((row[strict], col[strict]))]
        column_sorted = col[by_column]
        group_end = np.searchsorted(column_sorted, column_sorted, side="right")
        partners = group_end - np.arange(by_column.size) - 1
        first = np.repeat(np.arange(by_column.size), partners)
        second = first + 1 + np.arange(first.size) - np.repeat(np.cumsum(partners) - partners, partners)
        upper_entry, lower_entry = by_column[first], by_column[second]  # (j, k) and (i, k), j < i
        key = row[lower_entry] * n + row[upper_entry]
        entry_keys = row * n + col  # increasing along CSR order
        target = np.searchsorted(entry_keys, key).clip(max=nnz - 1)
        found = entry_keys[target] == key
        target, factor_a, factor_b = target[found], lower_entry[found], upper_entry[found]
        # Diagonal triples: L_ii needs every L_ik^2.
        target = np.concatenate([target, diagonal_entry[row[strict]]])
        factor_a = np.concatenate([factor_a, strict])
        factor_b = np.concatenate([factor_b, strict])

        # L_ij waits for L_jj and for both factors of each of its triples.
        level, n_levels = _dag_levels(
            nnz,
            np.concatenate([diagonal_entry[col[strict]], factor_a, factor_b]),
            np.concatenate([strict, target, target]))
        # Renumber entries by (level, off-diagonal before diagonal): each level is a contiguous slice.
        order = np.lexsort((is_diagonal, level))
        position = np.empty(nnz, dtype=np.int64)
        position[order] = np.arange(nnz)
        self.order = order
        self.diagonal_position = position[diagonal_entry]
        self.divisor = position[diagonal_entry[col[order]]]  # for an off-diagonal L_ij: where L_jj is
        target, factor_a, factor_b = position[target], position[factor_a], position[factor_b]
        by_target = np.argsort(target, kind="stable")
        target, factor_a, factor_b = target[by_target], factor_a[by_target], factor_b[by_target]

        entry_ptr = np.searchsorted(level[order], np.arange(n_levels + 1))
        diagonal_ptr = entry_ptr[:-1] + np.add.reduceat((~is_diagonal[order]).astype(np.int64), entry_ptr[:-1])
        triple_ptr = np.searchsorted(target, entry_ptr)
        self.n_levels = n_levels
        self.levels = []
        for k in range(n_levels):
            e0, e_diag, e1 = int(entry_ptr[k]), int(diagonal_ptr[k]), int(entry_ptr[k + 1])
            t0, t1 = int(triple_ptr[k]), int(triple_ptr[k + 1])
            triples = (target[t0:t1] - e0, factor_a[t0:t1], factor_b[t0:t1]) if t1 > t0 else None
            self.levels.append((e0, e_diag, e1, triples, self.divisor[e0:e_diag]))

    def factor(self, shift: float) -> sp.csr_matrix | None:
        """Numeric phase on ``A + shift * diag(A)``; ``None`` if a pivot is not positive and finite."""
        values = self.lower.data[self.order]  # becomes L in place, level by level
        values[self.diagonal_position] *= 1.0 + shift
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            for e0, e_diag, e1, triples, divisor in self.levels:
                if triples is not None:
                    local_target, factor_a, factor_b = triples
                    values[e0:e1] -= np.bincount(local_target, weights=values[factor_a] * values[factor_b],
                                                 minlength=e1 - e0)
                values[e0:e_diag] /= values[divisor]
                np.sqrt(values[e_diag:e1], out=values[e_diag:e1])
            # sqrt turned a negative pivot into NaN and a zero one into 0; both spread or show here
            if not (np.isfinite(values).all() and (values[self.diagonal_position] > 0).all()):
                return None
        data = np.empty_like(values)
        data[self.order] = values
        n = self.lower.shape[0]
        L = sp.csr_matrix((data, self.lower.indices.astype(np.int32), self.lower.indptr.astype(np.int32)),
                          shape=(n, n))
        return L


def ic0(A, *, max_attempts: int = 12) -> IC0Factor:
    """Zero fill-in incomplete Cholesky factorization ``A ~ L L^T``, with a shifted fallback.

    ``L`` has exactly the stored sparsity pattern of ``tril(A)`` and ``(L L^T)_ij = A_ij`` for
    every stored ``(i, j)`` of ``A``. IC(0) can break down on an SPD matrix that is not an
    M-matrix (a pivot ``A_ii - sum_k L_ik^2`` that is not positive). Then the factorization is
    restarted on ``A + alpha * diag(A)`` (Manteuffel's shifted incomplete Cholesky, 1980) with
    ``alpha = 1e-3``, doubling ``alpha`` on each further failure, for at most ``max_attempts``
    factorizations in all (the first one unshifted). The shift used is reported in ``shift``.

    Implementation: level-scheduled and vectorised in numpy (see the module docstring); the
    interior 5-point Poisson matrix on a 512 x 512 grid (262144 unknowns) factors in 0.2-0.4 s
    on 2 shared CPU threads, mostly the symbolic phase (the numeric phase is about 15 ms).

    Parameters
    ----------
    A : scipy sparse matrix, square, real, finite, symmetric (``max |A - A^T| <= 1e-10 max |A|``)
        with a positive diagonal. Only ``tril(A)`` enters the factorization.
    max_attempts : number of factorizations to try, at least 1.

    Returns
    -------
    IC0Factor
        ``L`` (CSR, int32 indices), ``shift`` (the ``alpha`` used, 0.0 if none) and ``attempts``.

    Raises
    ------
    SciMLError
        If ``A`` is not as described, or if every attempt met a non-positive pivot.

    Shapes: ``A`` ``(n, n)`` -> ``L`` ``(n, n)``.
    """
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, (int, np.integer)) or max_attempts < 1:
        raise ConfigError(f"max_attempts must be an integer >= 1; got {max_attempts!r}")
    plan = _IC0Plan(_validated_lower_triangle(A))
    shift = 0.0
    for attempt in range(1, max_attempts + 1):
        L = plan.factor(shift)
        if L is not None:
            return IC0Factor(L=L, shift=shift, attempts=attempt)
        last_shift = shift
        shift = FIRST_SHIFT if shift == 0.0 else 2.0 * shift
    raise SciMLError(f"IC(0) met a non-positive pivot in all {max_attempts} attempts, the last one with the "
                     f"diagonal shift alpha = {last_shift:g} (A + alpha * diag(A)); A may be indefinite or far "
                     f"from an M-matrix: use a Jacobi or AMG preconditioner instead")
