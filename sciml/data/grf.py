"""Gaussian random fields: periodic (FFT) and cosine/Neumann (the FNO Darcy coefficient).

Both draw ``z = sigma * sum_k (lambda_k + tau^2)^(-alpha/2) xi_k phi_k`` with ``xi_k ~ N(0, 1)``,
``phi_k`` the orthonormal eigenfunctions of the Laplacian (periodic exponentials or Neumann
cosines) and ``lambda_k`` its eigenvalues, i.e. a sample of ``N(0, sigma^2 (-Laplacian + tau^2 I)^-alpha)``
with the constant mode removed. Li et al., arXiv 2010.08895, section 5.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sciml._errors import ConfigError

__all__ = ["cosine_grf", "periodic_grf", "sample_rng"]


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for sample ``index`` of a dataset drawn with ``seed``.

    Each sample has its own stream, so a generation resumed at sample ``k`` draws exactly what an
    uninterrupted one would.
    """
    return np.random.default_rng([int(seed), int(index)])


def _check(alpha: float, tau: float) -> None:
    if not alpha > 0 or not tau > 0:
        raise ConfigError(f"GRF needs alpha > 0 and tau > 0, got alpha={alpha}, tau={tau}")


def cosine_grf(xi: np.ndarray, size: int, *, alpha: float = 2.0, tau: float = 3.0,
               sigma: float | None = None) -> np.ndarray:
    """Evaluate 2D Neumann (cosine-series) GRF samples on the node grid of the unit square.

    Parameters
    ----------
    xi : standard normal coefficients, ``(batch, K, K)``; mode ``(0, 0)`` is ignored
    size : grid points per axis, nodes ``x_i = i / (size - 1)`` including the boundary
    alpha, tau : smoothness and length-scale of ``(-Laplacian + tau^2)^(-alpha)``
    sigma : amplitude; default ``tau^(alpha - 1)`` as in the FNO paper's generator

    Returns
    -------
    ndarray ``(batch, size, size)``, float64.

    Notes
    -----
    ``phi_k(x, y) = c_k1 c_k2 cos(pi k1 x) cos(pi k2 y)`` with ``c_0 = 1``, ``c_k = sqrt(2)``
    (orthonormal on the unit square), ``lambda_k = pi^2 (k1^2 + k2^2)``; the series is truncated
    at ``K`` modes per axis.
    """
    _check(alpha, tau)
    xi = np.asarray(xi, dtype=np.float64)
    if xi.ndim != 3 or xi.shape[1] != xi.shape[2]:
        raise ConfigError(f"xi must have shape (batch, K, K), got {xi.shape}")
    modes = xi.shape[1]
    sigma = tau ** (alpha - 1.0) if sigma is None else sigma
    k = np.arange(modes)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    amplitude = sigma * (math.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2.0)
    amplitude[0, 0] = 0.0
    norm = np.where(k == 0, 1.0, math.sqrt(2.0))
    x = np.linspace(0.0, 1.0, size)
    basis = np.cos(math.pi * np.outer(x, k)) * norm  # (size, K)
    return basis @ (amplitude * xi) @ basis.T


def periodic_grf(white: torch.Tensor, *, alpha: float = 2.0, tau: float = 3.0, sigma: float = 1.0) -> torch.Tensor:
    """Periodic GRF samples on the unit torus ``[0, 1)^d`` from white noise, by FFT.

    Parameters
    ----------
    white : standard normal grid values ``(batch, *spatial)`` (d = 1, 2 or 3 spatial axes)
    alpha, tau, sigma : covariance ``sigma^2 (-Laplacian + tau^2)^(-alpha)``, ``lambda_k = 4 pi^2 |k|^2``

    Returns
    -------
    Tensor of the same shape, dtype and device as ``white``; the mean (k = 0) mode is zero.
    """
    _check(alpha, tau)
    spatial = white.shape[1:]
    if not 1 <= len(spatial) <= 3:
        raise ConfigError(f"periodic_grf supports 1 to 3 spatial axes, got shape {tuple(white.shape)}")
    dims = tuple(range(1, white.ndim))
    freqs = [torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64, device=white.device) for n in spatial]
    grids = torch.meshgrid(*freqs, indexing="ij")
    k2 = sum(g**2 for g in grids)
    amplitude = sigma * (4 * math.pi**2 * k2 + tau**2) ** (-alpha / 2.0)
    amplitude[(0,) * len(spatial)] = 0.0
    scale = math.sqrt(math.prod(spatial))  # white noise's DFT has variance N per mode
    field = torch.fft.ifftn(torch.fft.fftn(white.to(torch.float64), dim=dims) * amplitude * scale, dim=dims).real
    return field.to(white.dtype)
