"""Exact cell averages of smooth periodic solutions, for testing finite-volume schemes.

All live on ``n`` equal cells of the periodic domain ``[0, L)``, cell ``i`` being
``[i h, (i + 1) h]`` with ``h = L / n``. The cell average of ``sin(kappa x + theta)`` over cell
``i`` is ``sinc(kappa h / 2) sin(kappa x_i + theta)`` with ``x_i = (i + 1/2) h`` and
``sinc(z) = sin(z) / z``, so every function here is exact to round-off.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["cell_centers", "advected_sine", "dispersive_mode", "manufactured_combined"]


def cell_centers(n: int, L: float = 16.0) -> np.ndarray:
    """Centres ``x_i = (i + 1/2) L / n`` of ``n`` equal periodic cells, ``(n,)``."""
    return (np.arange(n) + 0.5) * (L / n)


def _sine_averages(n: int, L: float, kappa: float, phase: np.ndarray) -> np.ndarray:
    """Cell averages of ``sin(kappa x + phase)``; ``phase`` of shape ``(nt, 1)`` gives ``(nt, n)``."""
    h = L / n
    half = 0.5 * kappa * h
    factor = math.sin(half) / half if half != 0.0 else 1.0
    return factor * np.sin(kappa * cell_centers(n, L)[None, :] + phase)


def advected_sine(n: int, times: np.ndarray, *, speed: float = 1.0, L: float = 16.0, mode: int = 1) -> np.ndarray:
    """Cell averages of ``u = sin(2 pi mode (x - speed t) / L)``, the solution of ``u_t + speed u_x = 0``.

    Returns
    -------
    ndarray ``(nt, n)``, float64; row ``k`` at ``times[k]``.

    Shapes
    ------
    ``times (nt,)`` -> ``(nt, n)``.
    """
    kappa = 2.0 * math.pi * mode / L
    times = np.asarray(times, dtype=np.float64).reshape(-1, 1)
    return _sine_averages(n, L, kappa, -kappa * speed * times)


def dispersive_mode(n: int, times: np.ndarray, *, beta: float, gamma: float, L: float = 16.0,
                    mode: int = 1) -> np.ndarray:
    """Cell averages of the exact solution of ``u_t + (-beta u_x + gamma u_xx)_x = 0`` from ``sin(kappa x)``.

    ``u = exp(-beta kappa^2 t) sin(kappa x + gamma kappa^3 t)`` with ``kappa = 2 pi mode / L``: diffusion
    damps the mode, dispersion moves it at speed ``-gamma kappa^2``.

    Returns
    -------
    ndarray ``(nt, n)``, float64.

    Shapes
    ------
    ``times (nt,)`` -> ``(nt, n)``.
    """
    kappa = 2.0 * math.pi * mode / L
    times = np.asarray(times, dtype=np.float64).reshape(-1, 1)
    return np.exp(-beta * kappa**2 * times) * _sine_averages(n, L, kappa, gamma * kappa**3 * times)


def manufactured_combined(n: int, times: np.ndarray, *, alpha: float, beta: float, gamma: float,
                          amplitude: float = 1.0, omega: float = 0.3, mode: int = 1, phase: float = 0.0,
                          L: float = 16.0) -> tuple[np.ndarray, np.ndarray]:
    """A travelling sine that solves the forced combined equation exactly.

    ``u = a sin(theta)``, ``theta = kappa x + omega t + phase``, ``kappa = 2 pi mode / L``, solves
    ``u_t + (alpha u^2 - beta u_x + gamma u_xx)_x = delta`` with
    ``delta = (a omega - gamma a kappa^3) cos(theta) + beta a kappa^2 sin(theta) + alpha a^2 kappa sin(2 theta)``,
    which is a sum of three terms ``A_j sin(omega_j t + 2 pi l_j x / L + phi_j)`` of the MP-PDE forcing.

    Returns
    -------
    forcing : ndarray ``(3, 4)``, rows ``(A_j, omega_j, l_j, phi_j)``
    u : ndarray ``(nt, n)``, exact cell averages at ``times``

    Shapes
    ------
    ``times (nt,)`` -> ``forcing (3, 4)``, ``u (nt, n)``.
    """
    kappa = 2.0 * math.pi * mode / L
    a = amplitude
    forcing = np.array([[a * omega - gamma * a * kappa**3, omega, mode, phase + 0.5 * math.pi],
                        [beta * a * kappa**2, omega, mode, phase],
                        [alpha * a * a * kappa, 2.0 * omega, 2 * mode, 2.0 * phase]], dtype=np.float64)
    times = np.asarray(times, dtype=np.float64).reshape(-1, 1)
    return forcing, a * _sine_averages(n, L, kappa, omega * times + phase)
