"""Model SPD matrices for solver tests and benchmarks (scipy CSR, int32 indices)."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from sciml.linalg.assemble import diffusion_2d

__all__ = ["poisson2d", "poisson3d", "diffusion2d_grf", "spd_with_spectrum", "indefinite"]


def _int32(A: sp.spmatrix) -> sp.csr_matrix:
    A = sp.csr_matrix(A)
    A.sum_duplicates()
    A.sort_indices()
    A.indices = A.indices.astype(np.int32)
    A.indptr = A.indptr.astype(np.int32)
    return A


def poisson2d(m: int) -> sp.csr_matrix:
    """5-point ``-Laplacian`` on the ``m x m`` interior nodes of the unit square (``h = 1/(m+1)``), size ``m^2``."""
    return diffusion_2d(np.ones((m + 2, m + 2)), 1.0 / (m + 1))


def poisson3d(m: int) -> sp.csr_matrix:
    """7-point ``-Laplacian`` on the ``m^3`` interior nodes of the unit cube (``h = 1/(m+1)``)."""
    h2 = (m + 1) ** 2
    T = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1]) * h2
    eye = sp.identity(m)
    return _int32(sp.kron(sp.kron(T, eye), eye) + sp.kron(sp.kron(eye, T), eye) + sp.kron(sp.kron(eye, eye), T))


def diffusion2d_grf(m: int, *, contrast: float = 1e3, seed: int = 0) -> sp.csr_matrix:
    """``-div(a grad u)`` on the ``m x m`` interior grid with ``log a`` a Gaussian random field.

    ``log a`` is a cosine-series GRF (``alpha = 2``, ``tau = 3``) rescaled so that
    ``max a / min a = contrast``; face coefficients are arithmetic means.
    """
    from sciml.data.grf import cosine_grf

    if contrast < 1:
        raise ValueError(f"contrast must be at least 1, got {contrast}")
    rng = np.random.default_rng(seed)
    modes = min(m + 2, 64)
    z = cosine_grf(rng.standard_normal((1, modes, modes)), m + 2)[0]
    z = (z - z.min()) / max(z.max() - z.min(), 1e-300)
    a = np.exp(z * math.log(contrast))
    return diffusion_2d(a, 1.0 / (m + 1))


def spd_with_spectrum(eigenvalues: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """A dense SPD matrix ``Q diag(eigenvalues) Q^T`` with a random orthogonal ``Q`` (condition number known)."""
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    if np.any(eigenvalues <= 0):
        raise ValueError("eigenvalues must be positive")
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    return (q * eigenvalues) @ q.T


def indefinite(m: int) -> sp.csr_matrix:
    """A symmetric indefinite matrix: the 2D Poisson matrix shifted by its middle eigenvalue (for breakdown tests)."""
    A = poisson2d(m)
    k = np.arange(1, m + 1)
    eig = np.sort((4 * (m + 1) ** 2 * np.sin(k * np.pi / (2 * (m + 1))) ** 2)[:, None]
                  + (4 * (m + 1) ** 2 * np.sin(k * np.pi / (2 * (m + 1))) ** 2)[None, :], axis=None)
    middle = 0.5 * (eig[len(eig) // 2] + eig[len(eig) // 2 - 1])
    return _int32(A - middle * sp.identity(m * m))
