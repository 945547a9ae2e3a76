"""A manufactured solution of ``-div(a grad u) = f`` on the unit square with ``u = 0`` on the boundary."""

from __future__ import annotations

import numpy as np

__all__ = ["manufactured_darcy"]


def manufactured_darcy(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth coefficient, forcing and exact solution at the ``n x n`` nodes (boundary included).

    ``u = sin(pi x) sin(pi y)``, ``a = 1 + 0.5 sin(2 pi x) cos(pi y)`` and
    ``f = -(a_x u_x + a_y u_y) + 2 pi^2 a u``.

    Returns
    -------
    a, f, u : arrays ``(n, n)`` indexed ``[i, j]`` at ``(x_i, y_j) = (i, j) / (n - 1)``.
    """
    x = np.linspace(0.0, 1.0, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    pi = np.pi
    u = np.sin(pi * X) * np.sin(pi * Y)
    a = 1.0 + 0.5 * np.sin(2 * pi * X) * np.cos(pi * Y)
    a_x = pi * np.cos(2 * pi * X) * np.cos(pi * Y)
    a_y = -0.5 * pi * np.sin(2 * pi * X) * np.sin(pi * Y)
    u_x = pi * np.cos(pi * X) * np.sin(pi * Y)
    u_y = pi * np.sin(pi * X) * np.cos(pi * Y)
    f = -(a_x * u_x + a_y * u_y) + 2 * pi**2 * a * u
    return a, f, u
