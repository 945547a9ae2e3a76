"""Finite-difference stencils and sparse assembly (scipy CSR with int32 indices)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["diffusion_2d", "poisson_2d"]


def diffusion_2d(a: np.ndarray, h: float) -> sp.csr_matrix:
    """Matrix of ``-div(a grad u)`` on the interior nodes of a square grid, zero Dirichlet boundary.

    Second-order 5-point stencil; the coefficient on the face between two nodes is the
    arithmetic mean of the node values (as in the FNO paper's Darcy solver).

    Parameters
    ----------
    a : node values of the coefficient, ``(n, n)`` including the boundary nodes
    h : grid spacing, ``1 / (n - 1)`` on the unit square

    Returns
    -------
    SPD CSR matrix of size ``(n-2)^2``, unknowns ordered row-major (``u[i, j]`` at ``i*(n-2)+j``).
    """
    a = np.asarray(a, dtype=np.float64)
    n = a.shape[0]
    m = n - 2
    east = 0.5 * (a[1:-1, 1:-1] + a[2:, 1:-1])   # face (i+1/2, j)
    west = 0.5 * (a[1:-1, 1:-1] + a[:-2, 1:-1])  # face (i-1/2, j)
    north = 0.5 * (a[1:-1, 1:-1] + a[1:-1, 2:])  # face (i, j+1/2)
    south = 0.5 * (a[1:-1, 1:-1] + a[1:-1, :-2])
    inv_h2 = 1.0 / (h * h)
    index = np.arange(m * m).reshape(m, m)
    rows = [index.ravel()]
    cols = [index.ravel()]
    vals = [((east + west + north + south) * inv_h2).ravel()]
    # couplings between interior neighbours; couplings to boundary nodes vanish (u = 0 there)
    rows += [index[:-1, :].ravel(), index[1:, :].ravel(), index[:, :-1].ravel(), index[:, 1:].ravel()]
    cols += [index[1:, :].ravel(), index[:-1, :].ravel(), index[:, 1:].ravel(), index[:, :-1].ravel()]
    vals += [(-east[:-1, :] * inv_h2).ravel(), (-west[1:, :] * inv_h2).ravel(),
             (-north[:, :-1] * inv_h2).ravel(), (-south[:, 1:] * inv_h2).ravel()]
    matrix = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(m * m, m * m)).tocsr()
    matrix.indices = matrix.indices.astype(np.int32)
    matrix.indptr = matrix.indptr.astype(np.int32)
    return matrix


def poisson_2d(n: int) -> sp.csr_matrix:
    """The 5-point Laplacian ``-Lap`` on the ``(n-2)^2`` interior nodes of an ``n x n`` unit-square grid."""
    return diffusion_2d(np.ones((n, n)), 1.0 / (n - 1))
