"""1D viscous Burgers, the FNO benchmark: ``u_t + (u^2/2)_x = nu u_xx`` on the periodic unit interval.

``u0 ~ N(0, 625 (-Laplacian + 25 I)^-2)`` (a periodic GRF), ``nu = 0.1``; the FNO learns
``u(., 0) -> u(., 1)``. Solved pseudo-spectrally with the 2/3 rule and fourth-order exponential time
differencing (ETDRK4, Cox and Matthews 2002, with the contour-integral coefficients of Kassam and
Trefethen 2005) on a fine grid, then subsampled. Li et al., arXiv 2010.08895, section 5.1.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import torch

from sciml._errors import ConfigError, DataError
from sciml.data.pdes import _spectral as sp
from sciml.data.pdes._common import merge_params, periodic_coords_1d, trajectory_fields_1d

__all__ = ["solve", "max_step", "initial_condition", "generate", "fields", "coords", "check_params",
           "DEFAULTS", "GENERATOR", "ORDER"]

GENERATOR = "sciml.data.pdes.burgers 1"
DRAW = 8192  # white noise of u0 is drawn on this many points (the FNO grid), whatever the fine grid
DEFAULTS: dict[str, Any] = {"nu": 0.1, "T": 1.0, "nt": 11, "fine": 8192, "dt": None,
                            "alpha": 2.0, "tau": 5.0, "sigma": 25.0}
ORDER = 4  # ETDRK4
STEP_COURANT = 0.5  # h * u_max * K of the default step
STABLE_COURANT = 2.0  # refused above (RK4's imaginary-axis limit is 2.8); blow-up was seen from 4
BOUND_SIGMAS = 6.0  # generator: |u0| <= 6 standard deviations of the GRF sets the step
_CONTOUR_POINTS = 32  # on the upper half of the unit circle around each h*L


def max_step(nu: float, n: int, u_max: float) -> float:
    """The largest ETDRK4 step :func:`solve` takes by default: ``0.5 / (u_max * min(K, u_max / nu))``.

    ``K = 2 pi n / 3`` is the largest wavenumber kept by the 2/3 rule. Modes with
    ``2 pi |k| > u_max / nu`` are damped by diffusion faster than advection (treated explicitly) can
    excite them, and the exponential integrator is stable for those at any step; the remaining
    modes need ``h * 2 pi |k| * u_max`` of order one, like explicit RK4. By the maximum principle
    ``max |u(t)| <= max |u0|``, so ``u_max = max |u0|`` holds for the whole run.

    Measured on GRF data at n = 1024: blow-up at 8 times this step for nu = 3e-4 (where ``K``
    binds), 16 times for nu = 3e-3, 32 times for nu = 0.01, none up to 32 times for nu = 0.1; the
    generator refuses a step above 4 times it (a Courant number of 2). For nu = 0.1 the
    generator's step (0.0039, from six standard deviations of ``u0``) is accurate to about 5e-8.
    """
    u_max = max(float(u_max), 1e-12)
    wavenumber = min(2 * math.pi * (n // 3), u_max / nu)
    return STEP_COURANT / (u_max * max(wavenumber, 1e-12))


def _etdrk4_coefficients(lin: torch.Tensor, h: float) -> tuple[torch.Tensor, ...]:
    """``exp(hL)``, ``exp(hL/2)`` and the ETDRK4 weights ``Q, f1, f2, f3`` for a real diagonal ``L``.

    The phi-functions are averaged over a circle of radius 1 around each ``hL`` (Kassam and
    Trefethen), which avoids the cancellation of their closed forms for small ``|hL|``; for real
    ``L`` the upper half circle and the real part suffice.
    """
    hl = h * lin
    angles = math.pi * (torch.arange(_CONTOUR_POINTS, dtype=torch.float64, device=lin.device) + 0.5) / _CONTOUR_POINTS
    z = hl[:, None] + torch.polar(torch.ones_like(angles), angles)[None, :]
    ez, ez2 = torch.exp(z), torch.exp(z / 2)
    q = h * ((ez2 - 1) / z).mean(-1).real
    f1 = h * ((-4 - z + ez * (4 - 3 * z + z**2)) / z**3).mean(-1).real
    f2 = h * ((2 + z + ez * (z - 2)) / z**3).mean(-1).real
    f3 = h * ((-4 - 3 * z - z**2 + ez * (4 - z)) / z**3).mean(-1).real
    return torch.exp(hl), torch.exp(hl / 2), q, f1, f2, f3


def solve(u0: Any, nu: float, times: Any, *, dt: float | None = None) -> torch.Tensor:
    """Solve ``u_t + (u^2/2)_x = nu u_xx`` on the periodic unit interval from ``u0`` at ``t = 0``.

    Parameters
    ----------
    u0 : initial values at ``x_j = j / n``, ``(batch, n)`` or ``(n,)``, tensor or array
    nu : viscosity, positive
    times : output times, non-negative and non-decreasing (``0`` returns ``u0``)
    dt : largest internal step; default :func:`max_step` for the batch's ``max |u0|``.
        Each interval between output times is split into equal steps no longer than ``dt``.

    Returns
    -------
    Tensor ``(batch, Nt, n)`` (``(Nt, n)`` for a 1D ``u0``); float64 for arrays, ``u0``'s floating
    dtype and device for tensors (the computation is float64 throughout).

    Shapes
    ------
    ``u0 (batch, n)`` -> ``(batch, Nt, n)`` with ``Nt = len(times)``.

    Notes
    -----
    Fourier pseudo-spectral in space; the product ``u^2`` is formed from the modes ``|k| < n/3``
    and truncated to them (2/3 rule). ETDRK4 in time, fourth order. With the default step the
    result depends on the batch through ``max |u0|``; pass ``dt`` to make every sample's result
    independent of the others.
    """
    nu = sp.check_viscosity(nu)
    u, out_dtype, device = sp.as_float64(u0, "u0")
    single = u.ndim == 1
    if single:
        u = u[None]
    if u.ndim != 2 or u.shape[1] < 4:
        raise ConfigError(f"u0 must have shape (batch, n) or (n,) with n >= 4, got {tuple(np.shape(u0))}")
    t = sp.check_times(times)
    dt = sp.check_step(dt)
    n = u.shape[1]
    k = torch.fft.rfftfreq(n, d=1.0 / n, dtype=torch.float64, device=device)
    keep = (k < n / 3).to(torch.float64)
    lin = -nu * (2 * math.pi * k) ** 2
    advect = -0.5j * (2 * math.pi * k) * keep  # (u^2/2)_x -> -i pi k FFT(u^2), truncated

    def nonlinear(v: torch.Tensor) -> torch.Tensor:
        return advect * torch.fft.rfft(torch.fft.irfft(v * keep, n=n) ** 2)

    if dt is None:
        dt = max_step(nu, n, float(u.abs().max()))
    v = torch.fft.rfft(u)
    out = torch.empty((u.shape[0], t.numel(), n), dtype=torch.float64, device=device)
    now, cache = 0.0, {}
    for j, target in enumerate(t.tolist()):
        steps, h = sp.substeps(target - now, dt)
        if steps:
            if h not in cache:
                cache = {h: _etdrk4_coefficients(lin, h)}
            e, e2, q, f1, f2, f3 = cache[h]
            for _ in range(steps):
                nv = nonlinear(v)
                a = e2 * v + q * nv
                na = nonlinear(a)
                b = e2 * v + q * na
                nb = nonlinear(b)
                c = e2 * a + q * (2 * nb - nv)
                nc = nonlinear(c)
                v = e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nc
            now = target
        out[:, j] = u if target == 0.0 else torch.fft.irfft(v, n=n)
    out = out.to(out_dtype)
    return out[0] if single else out


def initial_condition(seed: int, index: int, params: dict[str, Any]) -> torch.Tensor:
    """``u0`` of sample ``index`` on the fine grid, ``(fine,)`` float64, from ``sample_rng(seed, index)`` only.

    Drawn on :data:`DRAW` points and Fourier-resampled (:func:`~sciml.data.pdes._spectral.grf_sample`),
    so sample ``i`` is the same function whatever ``fine`` is (band-limited to ``fine / 2`` when
    ``fine < DRAW``).
    """
    return sp.grf_sample(seed, index, DRAW, params["fine"], 1, params)


def _u_bound(params: dict[str, Any]) -> float:
    """``BOUND_SIGMAS`` standard deviations of the initial GRF: the ``max |u0|`` the step is made for."""
    var = sp.grf_variance(min(DRAW, params["fine"]), 1, params["alpha"], params["tau"], params["sigma"])
    return BOUND_SIGMAS * math.sqrt(var)


def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any work.

    Refused: unknown keys; ``nu``, ``T``, ``alpha``, ``tau``, ``sigma`` not positive; ``nt < 2``;
    ``res`` not dividing ``fine``; a fine grid whose 2/3-rule wavenumber ``2 pi fine / 3`` is below
    ``U / nu`` (the viscous scale is not resolved; ``U`` is six standard deviations of ``u0``); a
    ``dt`` above the stability limit, 4 times :func:`max_step` ``(nu, fine, U)``. ``dt = None``
    becomes ``max_step(nu, fine, U)``, stored in the file's parameters.
    """
    merged = merge_params("burgers", params, DEFAULTS)
    for key in ("nu", "T", "alpha", "tau", "sigma"):
        merged[key] = sp.positive_number(merged, key)
    merged["nt"] = sp.positive_int(merged, "nt", 2)
    merged["fine"] = sp.positive_int(merged, "fine", 4)
    sp.check_fine_grid(res, merged["fine"], "burgers")
    bound = _u_bound(merged)
    if 2 * math.pi * (merged["fine"] // 3) < bound / merged["nu"]:
        need = math.ceil(3 * bound / (2 * math.pi * merged["nu"]))
        raise ConfigError(f"fine grid of {merged['fine']} points does not resolve the viscous scale of nu = "
                          f"{merged['nu']} (|u0| up to {bound:.3g}); use fine >= {need}")
    auto = max_step(merged["nu"], merged["fine"], bound)
    dt = sp.check_step(merged["dt"])
    limit = auto * STABLE_COURANT / STEP_COURANT
    if dt is not None and dt > limit:
        raise ConfigError(f"dt = {dt:g} exceeds the ETDRK4 stability limit {limit:.3g} for nu = "
                          f"{merged['nu']} and |u0| up to {bound:.3g} (recommended dt <= {auto:.3g}, the default)")
    merged["dt"] = auto if dt is None else dt
    return merged


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 16, device: str | torch.device = "cpu") -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of Burgers samples ``start .. n-1`` at resolution ``res``.

    Each block is ``{"tensor": u (B, nt, res)}`` in float32: the solution at ``nt`` equally spaced
    times in ``[0, T]`` (``t = 0`` included), solved batched on the fine grid with the fixed step
    ``params["dt"]`` and subsampled every ``fine // res`` points. A sample does not depend on the
    block it is solved in.
    """
    params = check_params(res, params)
    stride = params["fine"] // res
    times = np.linspace(0.0, params["T"], params["nt"])
    bound = _u_bound(params)
    for first in range(start, n, block):
        last = min(n, first + block)
        u0 = torch.stack([initial_condition(seed, i, params) for i in range(first, last)]).to(device)
        peak = u0.abs().amax(dim=1)
        if bool((peak > bound).any()):
            i = first + int(torch.argmax(peak))
            raise DataError(f"burgers sample {i} has max |u0| = {float(peak.max()):.3g}, above the bound "
                            f"{bound:.3g} its time step was chosen for; pass a smaller dt")
        u = solve(u0, params["nu"], times, dt=params["dt"])[:, :, ::stride]
        if not bool(torch.isfinite(u).all()):
            raise DataError(f"burgers solve produced non-finite values in samples {first}..{last - 1}")
        yield {"tensor": u.cpu().numpy().astype(np.float32)}


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of a Burgers store: ``tensor (nt, res)``."""
    return trajectory_fields_1d(params, res)


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Coordinates of a Burgers store: ``t-coordinate (nt,)``, ``x-coordinate (res,)`` at ``j / res``."""
    return periodic_coords_1d(params, res)
