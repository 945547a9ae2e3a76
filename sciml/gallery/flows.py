"""Exact solutions on the periodic unit interval and torus: Taylor-Green vortex and heat equation."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from sciml._errors import ConfigError

__all__ = ["taylor_green_vorticity", "heat_exact"]


def _grid(values: Any, like: torch.Tensor | None = None) -> torch.Tensor:
    device = values.device if isinstance(values, torch.Tensor) else (None if like is None else like.device)
    return torch.as_tensor(values, dtype=torch.float64, device=device)


def taylor_green_vorticity(x: Any, y: Any, t: Any, nu: float, *, k: int = 1,
                           amplitude: float = 1.0) -> torch.Tensor:
    """Decaying Taylor-Green vortex on the unit torus: an exact solution of the unforced vorticity equation.

    ``w = amplitude sin(2 pi k x) sin(2 pi k y) exp(-8 pi^2 k^2 nu t)``, with stream function
    ``psi = w / (8 pi^2 k^2)`` and velocity ``(psi_y, -psi_x)``. ``w`` is an eigenfunction of the
    Laplacian, so ``u . grad w = 0`` and ``w_t = nu Lap w`` holds exactly; a Fourier method with
    ``n > 2 k`` points has no spatial error, only its time integrator's.

    Parameters
    ----------
    x, y : points along each axis, ``(nx,)`` and ``(ny,)``
    t : times, ``(nt,)``
    nu : viscosity, non-negative
    k : wavenumber, a positive integer
    amplitude : peak vorticity at ``t = 0``

    Returns
    -------
    Tensor ``(nt, nx, ny)`` (``indexing="ij"``), float64 on ``x``'s device.

    Shapes
    ------
    ``x (nx,)``, ``y (ny,)``, ``t (nt,)`` -> ``(nt, nx, ny)``.
    """
    x = _grid(x)
    y, t = _grid(y, x), _grid(t, x)
    if x.ndim != 1 or y.ndim != 1 or t.ndim != 1:
        raise ConfigError(f"x, y and t must be 1D, got shapes {tuple(x.shape)}, {tuple(y.shape)}, {tuple(t.shape)}")
    if not nu >= 0 or isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"need nu >= 0 and a positive integer k, got nu={nu}, k={k!r}")
    wave = 2 * math.pi * k
    decay = amplitude * torch.exp(-2 * nu * wave**2 * t)
    return decay[:, None, None] * torch.outer(torch.sin(wave * x), torch.sin(wave * y))[None]


def heat_exact(x: Any, t: Any, nu: float, *, modes: Sequence[int] = (1, 3),
               amplitudes: Sequence[float] = (1.0, 0.5), phases: Sequence[float] = (0.0, 0.7)) -> torch.Tensor:
    """Exact solution of ``u_t = nu u_xx`` on the periodic unit interval for a trigonometric ``u0``.

    ``u = sum_m amplitudes[m] cos(2 pi k_m x + phases[m]) exp(-nu (2 pi k_m)^2 t)``, ``k_m = modes[m]``.
    Products ``u(x, t) u(y, t)`` solve the 2D equation ``u_t = nu Lap u`` on the torus.

    Parameters
    ----------
    x : points, ``(nx,)``
    t : times, ``(nt,)``
    nu : diffusivity, non-negative
    modes, amplitudes, phases : the terms of the series (equal lengths; modes non-negative integers)

    Returns
    -------
    Tensor ``(nt, nx)``, float64 on ``x``'s device.

    Shapes
    ------
    ``x (nx,)``, ``t (nt,)`` -> ``(nt, nx)``.
    """
    x = _grid(x)
    t = _grid(t, x)
    if x.ndim != 1 or t.ndim != 1:
        raise ConfigError(f"x and t must be 1D, got shapes {tuple(x.shape)} and {tuple(t.shape)}")
    if not len(modes) == len(amplitudes) == len(phases):
        raise ConfigError(f"modes, amplitudes and phases need equal lengths, got {len(modes)}, "
                          f"{len(amplitudes)}, {len(phases)}")
    if not nu >= 0 or any(isinstance(m, bool) or not isinstance(m, int) or m < 0 for m in modes):
        raise ConfigError(f"need nu >= 0 and non-negative integer modes, got nu={nu}, modes={list(modes)}")
    u = torch.zeros((t.numel(), x.numel()), dtype=torch.float64, device=x.device)
    for mode, amplitude, phase in zip(modes, amplitudes, phases):
        wave = 2 * math.pi * mode
        u = u + amplitude * torch.exp(-nu * wave**2 * t)[:, None] * torch.cos(wave * x + phase)[None, :]
    return u
