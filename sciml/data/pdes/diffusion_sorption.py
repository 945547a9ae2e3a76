"""1-D diffusion-sorption ``u_t = D / R(u) u_xx`` on ``(0, 1) x (0, T]`` (PDEBench's equation, the
PI-HC-MoE benchmark), solved by finite volumes and an implicit (BDF) integrator.

The retardation factor is Freundlich's, ``R(u) = 1 + (1 - phi) / phi * rho_s * k * n_f * (u + eps)^(n_f - 1)``,
with PDEBench's coefficients as defaults. ``eps`` (1e-6, as PDEBench's generator) keeps ``R`` finite where
``u = 0``. Boundaries: ``u(0, t) = 1`` and the Cauchy outflow condition at ``x = 1``,
``u(1, t) = -D u_x(1, t)`` (the concentration leaving equals the diffusive flux out). The sign is that of
PDEBench's generator; the equation as printed, ``u = +D u_x``, would make ``e^{x / D}`` a boundary mode growing
like ``exp(t D / (R D^2))``, about ``e^{700 t}``, which no data set shows.

Space: ``nx`` cells of width ``h = 1 / nx``, unknowns at the centres ``(i + 1/2) h``; both boundary
conditions through ghost values that make the face conditions hold exactly for the linear reconstruction
(second order, checked by a convergence test). Time: scipy's BDF with a tridiagonal Jacobian pattern and
tight tolerances (``rtol``, ``atol``), so the time error is far below the space error.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from sciml._errors import ConfigError, DataError
from sciml.data.grf import sample_rng
from sciml.data.pdes._common import merge_params

__all__ = ["solve", "retardation", "initial_condition", "generate", "fields", "coords", "check_params", "DEFAULTS",
           "GENERATOR", "cell_centres"]

GENERATOR = "sciml.data.pdes.diffusion_sorption 1"
DEFAULTS: dict[str, Any] = {"D": 5e-4, "phi": 0.29, "rho_s": 2880.0, "k": 3.5e-4, "n_f": 0.874, "eps": 1e-6,
                            "T": 500.0, "nt": 101, "fine": 1024, "u_left": 1.0, "ic": "uniform", "ic_high": 0.2,
                            "rtol": 1e-8, "atol": 1e-10}
IC_KINDS = ("uniform", "zero", "smooth")


def cell_centres(nx: int) -> np.ndarray:
    """The ``nx`` cell centres ``(i + 1/2) / nx`` of the solver's grid."""
    return (np.arange(nx) + 0.5) / nx


def retardation(u: np.ndarray | Any, params: dict[str, Any]) -> Any:
    """Freundlich retardation ``R(u)``; works on numpy arrays and torch tensors alike."""
    p = params
    return 1.0 + (1.0 - p["phi"]) / p["phi"] * p["rho_s"] * p["k"] * p["n_f"] * (u + p["eps"]) ** (p["n_f"] - 1.0)


def _rhs(u: np.ndarray, h: float, p: dict[str, Any]) -> np.ndarray:
    D = p["D"]
    ghost_left = 2.0 * p["u_left"] - u[0]  # (u_g + u_0) / 2 = u_left
    r = D / h
    ghost_right = u[-1] * (r - 0.5) / (r + 0.5)  # (u_N + u_g) / 2 = -D (u_g - u_N) / h
    padded = np.concatenate(([ghost_left], u, [ghost_right]))
    uxx = (padded[2:] - 2.0 * padded[1:-1] + padded[:-2]) / h**2
    return D / retardation(np.maximum(u, 0.0), p) * uxx


def solve(u0: Any, times: Any, params: dict[str, Any] | None = None) -> np.ndarray:
    """Solve diffusion-sorption from cell averages ``u0`` (``(nx,)``, on :func:`cell_centres`).

    Parameters
    ----------
    u0 : initial values at the ``nx`` cell centres, finite and non-negative
    times : output times, non-negative and increasing, the first may be 0
    params : overrides of :data:`DEFAULTS` (coefficients, ``u_left``, ``rtol``, ``atol``)

    Returns
    -------
    ``(len(times), nx)`` float64, the solution at the cell centres at each time.
    """
    p = check_params(None, dict(params or {}), fill_grid=False)
    u = np.asarray(u0, dtype=np.float64)
    if u.ndim != 1 or u.shape[0] < 3:
        raise ConfigError(f"u0 must have shape (nx,) with nx >= 3, got {u.shape}")
    if not np.all(np.isfinite(u)) or u.min() < 0:
        raise DataError("u0 must be finite and non-negative (a concentration)")
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size < 1 or t[0] < 0 or np.any(np.diff(t) <= 0):
        raise ConfigError("times must be a non-empty, increasing list of non-negative numbers")
    from scipy.integrate import solve_ivp
    from scipy.sparse import diags

    nx, h = u.shape[0], 1.0 / u.shape[0]
    pattern = diags([np.ones(nx - 1), np.ones(nx), np.ones(nx - 1)], [-1, 0, 1])
    if t[-1] == 0:
        return u[None].copy()
    sol = solve_ivp(lambda _t, v: _rhs(v, h, p), (0.0, float(t[-1])), u, method="BDF", t_eval=t,
                    rtol=p["rtol"], atol=p["atol"], jac_sparsity=pattern)
    if not sol.success or sol.y.shape[1] != t.size:
        raise DataError(f"diffusion-sorption integration failed: {sol.message}")
    out = sol.y.T
    if not np.all(np.isfinite(out)):
        raise DataError("diffusion-sorption solve produced non-finite values")
    return out


def initial_condition(seed: int, index: int, params: dict[str, Any]) -> np.ndarray:
    """``u0`` of sample ``index`` on the ``fine`` grid, from ``sample_rng(seed, index)`` only.

    ``uniform``: independent values uniform in ``[0, ic_high)`` per fine cell (PDEBench's draw);
    ``smooth``: ``ic_high * (0.5 + 0.5 sin(2 pi (a x + b)))`` with ``a`` in 1 .. 4, ``b`` uniform; ``zero``: 0.
    """
    rng = sample_rng(seed, index)
    n = params["fine"]
    if params["ic"] == "zero":
        return np.zeros(n)
    if params["ic"] == "uniform":
        return rng.uniform(0.0, params["ic_high"], size=n)
    a, b = rng.integers(1, 5), rng.uniform()
    return params["ic_high"] * (0.5 + 0.5 * np.sin(2 * np.pi * (a * cell_centres(n) + b)))


def check_params(res: int | None, params: dict[str, Any], fill_grid: bool = True) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any work.

    Refused: unknown keys; ``D``, ``T``, ``rho_s``, ``k``, ``n_f``, ``rtol``, ``atol`` not positive; ``phi``
    outside ``(0, 1)``; ``eps`` negative; ``nt < 2``; an unknown ``ic``; ``res`` not dividing ``fine``.
    """
    p = merge_params("diffusion-sorption", params, DEFAULTS)
    for key in ("D", "T", "rho_s", "k", "n_f", "rtol", "atol", "ic_high"):
        if not (isinstance(p[key], (int, float)) and np.isfinite(p[key]) and p[key] > 0):
            raise ConfigError(f"diffusion-sorption parameter {key} must be a positive number, got {p[key]!r}")
        p[key] = float(p[key])
    if not 0 < p["phi"] < 1:
        raise ConfigError(f"diffusion-sorption porosity phi must lie in (0, 1), got {p['phi']!r}")
    if p["eps"] < 0 or p["u_left"] < 0:
        raise ConfigError("diffusion-sorption eps and u_left must be non-negative")
    if p["ic"] not in IC_KINDS:
        raise ConfigError(f"unknown diffusion-sorption ic {p['ic']!r}; choose one of {', '.join(IC_KINDS)}")
    if int(p["nt"]) != p["nt"] or p["nt"] < 2:
        raise ConfigError(f"diffusion-sorption nt must be an integer of at least 2, got {p['nt']!r}")
    p["nt"] = int(p["nt"])
    if fill_grid and res is not None and (res < 3 or p["fine"] % res):
        raise ConfigError(f"diffusion-sorption resolution {res} must be at least 3 and divide fine = {p['fine']}")
    return p


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 16, device: Any = "cpu") -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of samples ``start .. n-1``: ``{"tensor": u (B, nt, res)}`` float32, solved on ``fine``
    cells and averaged over ``fine // res`` cells (cell averages at ``res`` centres)."""
    params = check_params(res, params)
    times = np.linspace(0.0, params["T"], params["nt"])
    group = params["fine"] // res
    for first in range(start, n, block):
        rows = []
        for i in range(first, min(n, first + block)):
            u = solve(initial_condition(seed, i, params), times, params)
            rows.append(u.reshape(params["nt"], res, group).mean(-1))
        yield {"tensor": np.stack(rows).astype(np.float32)}


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample field: ``tensor (nt, res)``."""
    return {"tensor": ((params["nt"], res), "float32")}


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """``t-coordinate (nt,)`` in ``[0, T]`` and ``x-coordinate (res,)`` at the cell centres."""
    return {"t-coordinate": np.linspace(0.0, params["T"], params["nt"]), "x-coordinate": cell_centres(res)}
