"""Standing-wave solutions of ``u_tt = c^2 u_xx`` on ``[-1, 1]`` with ``u_t(0) = 0``, one per boundary type."""

from __future__ import annotations

import math

import numpy as np

from sciml._errors import ConfigError

__all__ = ["standing_wave"]

_BOUNDARY_CONDITIONS = ("dirichlet", "neumann", "mixed")


def standing_wave(x: np.ndarray, times: np.ndarray, *, c: float = 2.0, bc: str = "dirichlet",
                  mode: int = 1) -> np.ndarray:
    """The ``mode``-th standing wave for the boundary conditions ``bc``.

    With ``s = (x + 1) / 2``:

    - ``"dirichlet"`` (``u = 0`` at both ends): ``sin(k pi s) cos(c k pi t / 2)``, ``k = mode``;
    - ``"neumann"`` (``u_x = 0`` at both ends): ``cos(k pi s) cos(c k pi t / 2)``;
    - ``"mixed"`` (``u = 0`` at ``x = -1``, ``u_x = 0`` at ``x = 1``): the same with ``k = mode - 1/2``
      and ``sin``.

    Returns
    -------
    ndarray ``(nt, n)``, float64; row ``j`` at ``times[j]``.

    Shapes
    ------
    ``x (n,)``, ``times (nt,)`` -> ``(nt, n)``.
    """
    if bc not in _BOUNDARY_CONDITIONS:
        raise ConfigError(f"unknown boundary condition {bc!r}; choose one of {', '.join(_BOUNDARY_CONDITIONS)}")
    k = mode - 0.5 if bc == "mixed" else float(mode)
    s = (np.asarray(x, dtype=np.float64) + 1.0) / 2.0
    shape = np.cos(k * math.pi * s) if bc == "neumann" else np.sin(k * math.pi * s)
    times = np.asarray(times, dtype=np.float64).reshape(-1, 1)
    return np.cos(c * k * math.pi * times / 2.0) * shape[None, :]
