"""Exact solutions of viscous Burgers on the periodic unit interval, by the Cole-Hopf transform."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from sciml._errors import ConfigError

__all__ = ["burgers_cole_hopf"]


def burgers_cole_hopf(x: Any, t: Any, nu: float, *, offset: float = 1.0,
                      amplitudes: Sequence[float] = (0.6, 0.2)) -> torch.Tensor:
    """Exact solution of ``u_t + (u^2/2)_x = nu u_xx`` on the periodic unit interval.

    ``u = -2 nu phi_x / phi`` with the heat-equation solution
    ``phi(x, t) = offset + sum_k amplitudes[k-1] exp(-nu (2 pi k)^2 t) cos(2 pi k x)``, ``k = 1, 2, ...``.
    ``offset > sum |amplitudes|`` keeps ``phi > 0``, so ``u`` is analytic and periodic with
    exponentially decaying Fourier coefficients (spectral methods converge geometrically).
    Smaller ``offset - sum |amplitudes|`` gives steeper fronts.

    Parameters
    ----------
    x : points in space, ``(nx,)``
    t : times, ``(nt,)``, non-negative
    nu : viscosity, positive
    offset, amplitudes : the coefficients of ``phi``

    Returns
    -------
    Tensor ``(nt, nx)``, float64 on ``x``'s device if ``x`` is a tensor, else on the CPU.

    Shapes
    ------
    ``x (nx,)``, ``t (nt,)`` -> ``(nt, nx)``.
    """
    device = x.device if isinstance(x, torch.Tensor) else None
    x = torch.as_tensor(x, dtype=torch.float64, device=device)
    t = torch.as_tensor(t, dtype=torch.float64, device=x.device)
    if x.ndim != 1 or t.ndim != 1:
        raise ConfigError(f"x and t must be 1D, got shapes {tuple(x.shape)} and {tuple(t.shape)}")
    if not nu > 0:
        raise ConfigError(f"nu must be positive, got {nu}")
    if not offset > sum(abs(a) for a in amplitudes):
        raise ConfigError(f"offset {offset} must exceed sum |amplitudes| = {sum(abs(a) for a in amplitudes)} "
                          f"so that phi stays positive")
    phi = torch.full((t.numel(), x.numel()), float(offset), dtype=torch.float64, device=x.device)
    phi_x = torch.zeros_like(phi)
    for k, amplitude in enumerate(amplitudes, start=1):
        wave = 2 * math.pi * k
        decay = amplitude * torch.exp(-nu * wave**2 * t)[:, None]
        phi = phi + decay * torch.cos(wave * x)[None, :]
        phi_x = phi_x - decay * wave * torch.sin(wave * x)[None, :]
    return -2 * nu * phi_x / phi
