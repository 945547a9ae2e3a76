"""Finite-difference stencils and P1 finite-element assembly (scipy CSR with int32 indices)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["diffusion_2d", "diffusion_3d", "poisson_2d", "p1_stiffness", "p1_mass", "p1_load"]


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


def diffusion_3d(a: np.ndarray, h: float) -> sp.csr_matrix:
    """Matrix of ``-div(a grad u)`` on the interior nodes of a cubic grid, zero Dirichlet boundary.

    Second-order 7-point stencil; the coefficient on the face between two nodes is the arithmetic
    mean of the node values, as in :func:`diffusion_2d`. With ``a = 1`` it is the Kronecker sum
    ``T x I x I + I x T x I + I x I x T`` of the 1D second difference ``T = tridiag(-1, 2, -1) / h^2``.

    Parameters
    ----------
    a : node values of the coefficient, ``(n, n, n)`` including the boundary nodes
    h : grid spacing, ``1 / (n - 1)`` on the unit cube

    Returns
    -------
    SPD CSR matrix of size ``(n-2)^3`` (int32 indices, sorted, no duplicates), unknowns ordered
    row-major (``u[i, j, k]`` at ``(i*(n-2) + j)*(n-2) + k``).
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 3 or not a.shape[0] == a.shape[1] == a.shape[2] or a.shape[0] < 3:
        raise ValueError(f"a must be a cube of node values (n, n, n) with n >= 3, got shape {a.shape}")
    m = a.shape[0] - 2
    centre = a[1:-1, 1:-1, 1:-1]
    inv_h2 = 1.0 / (h * h)
    index = np.arange(m**3).reshape(m, m, m)
    rows, cols, vals = [], [], []
    diagonal = np.zeros((m, m, m))
    for axis in range(3):
        upper = [slice(1, -1)] * 3
        lower = [slice(1, -1)] * 3
        upper[axis], lower[axis] = slice(2, None), slice(None, -2)
        face_up = 0.5 * (centre + a[tuple(upper)])    # face (i+1/2) along ``axis``
        face_down = 0.5 * (centre + a[tuple(lower)])  # face (i-1/2)
        diagonal += face_up + face_down
        # coupling of node i with i+1 along the axis (and its transpose); boundary couplings vanish
        head = [slice(None)] * 3
        tail = [slice(None)] * 3
        head[axis], tail[axis] = slice(None, -1), slice(1, None)
        coupling = (-face_up[tuple(head)] * inv_h2).ravel()
        rows += [index[tuple(head)].ravel(), index[tuple(tail)].ravel()]
        cols += [index[tuple(tail)].ravel(), index[tuple(head)].ravel()]
        vals += [coupling, coupling]
    rows.append(index.ravel())
    cols.append(index.ravel())
    vals.append((diagonal * inv_h2).ravel())
    return _canonical(sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                    shape=(m**3, m**3)))


def _canonical(matrix: sp.spmatrix) -> sp.csr_matrix:
    """CSR with sorted int32 indices and no duplicates; stored zeros are kept (the pattern stays fixed)."""
    csr = sp.csr_matrix(matrix)
    csr.sum_duplicates()
    csr.sort_indices()
    csr.indices = csr.indices.astype(np.int32)
    csr.indptr = csr.indptr.astype(np.int32)
    return csr


def _p1_gradients(points: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Areas ``(num_cells,)`` and gradients of the three barycentric functions ``(num_cells, 3, 2)``."""
    p = points[cells]  # (C, 3, 2)
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    if np.any(det <= 0):
        raise ValueError(f"cell {int(np.argmax(det <= 0))} is degenerate or clockwise; P1 assembly needs "
                         f"counter-clockwise triangles")
    # lambda_1, lambda_2 = J^-1 (x - p0) with J = [e1 e2], so their gradients are the rows of J^-1
    g1 = np.stack([e2[:, 1], -e2[:, 0]], -1) / det[:, None]
    g2 = np.stack([-e1[:, 1], e1[:, 0]], -1) / det[:, None]
    grads = np.stack([-(g1 + g2), g1, g2], axis=1)
    return 0.5 * det, grads


def _p1_matrix(cells: np.ndarray, local: np.ndarray, num_nodes: int) -> sp.csr_matrix:
    rows = np.repeat(cells, 3, axis=1).ravel()
    cols = np.tile(cells, (1, 3)).ravel()
    return _canonical(sp.coo_matrix((local.ravel(), (rows, cols)), shape=(num_nodes, num_nodes)))


def p1_stiffness(points: np.ndarray, cells: np.ndarray, coefficient: float | np.ndarray = 1.0) -> sp.csr_matrix:
    """P1 finite-element stiffness matrix ``K_ij = int grad(phi_j) . k grad(phi_i)`` on a triangle mesh.

    Parameters
    ----------
    points : node coordinates ``(num_nodes, 2)``
    cells : counter-clockwise triangles ``(num_cells, 3)``
    coefficient : a number, per-cell scalars ``(num_cells,)``, or per-cell symmetric tensors
        ``(num_cells, 2, 2)`` (piecewise constant, so the element integrals are exact)

    Returns
    -------
    Symmetric CSR ``(num_nodes, num_nodes)`` with the full node-connectivity pattern (stored zeros
    kept), int32 indices; no boundary condition applied. SPD on the interior nodes when the
    coefficient is positive (definite).
    """
    points = np.asarray(points, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.int64)
    area, grads = _p1_gradients(points, cells)
    k = np.asarray(coefficient, dtype=np.float64)
    if k.ndim == 0 or k.shape == (len(cells),):
        local = np.broadcast_to(k, (len(cells),))[:, None, None] * np.einsum("cid,cjd->cij", grads, grads)
    elif k.shape == (len(cells), 2, 2):
        local = np.einsum("cid,cde,cje->cij", grads, k, grads)
    else:
        raise ValueError(f"coefficient must be a number, ({len(cells)},) or ({len(cells)}, 2, 2), got {k.shape}")
    local = area[:, None, None] * local
    local = 0.5 * (local + np.transpose(local, (0, 2, 1)))  # exactly symmetric element matrices
    return _p1_matrix(cells, local, len(points))


def p1_mass(points: np.ndarray, cells: np.ndarray) -> sp.csr_matrix:
    """P1 mass matrix ``M_ij = int phi_j phi_i`` (exact: ``area / 12 * (1 + delta_ij)`` per element).

    Shapes: ``points (num_nodes, 2)``, ``cells (num_cells, 3)`` -> CSR ``(num_nodes, num_nodes)``.
    """
    points = np.asarray(points, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.int64)
    area, _ = _p1_gradients(points, cells)
    local = area[:, None, None] / 12.0 * (np.ones((3, 3)) + np.eye(3))
    return _p1_matrix(cells, local, len(points))


def p1_load(points: np.ndarray, cells: np.ndarray, values: float | np.ndarray = 1.0) -> np.ndarray:
    """P1 load vector ``b_i = int f phi_i`` of ``f`` given by node values (its P1 interpolant, exact integral).

    Shapes: ``points (num_nodes, 2)``, ``cells (num_cells, 3)``, ``values`` a number or
    ``(num_nodes,)`` -> ``(num_nodes,)``.
    """
    points = np.asarray(points, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.int64)
    f = np.broadcast_to(np.asarray(values, dtype=np.float64), (len(points),))
    return p1_mass(points, cells) @ f
