"""2D incompressible Navier-Stokes in vorticity form on the unit torus, the FNO benchmark.

``w_t + u . grad w = nu Lap w + f`` with ``u = (psi_y, -psi_x)``, ``-Lap psi = w``, forcing
``f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`` and ``w0 ~ N(0, 7^(3/2) (-Lap + 49 I)^-2.5)`` as
the paper writes it; its code, followed here, scales the standard deviation by ``7^(3/2)``
(``periodic_grf(alpha=2.5, tau=7, sigma=7**1.5)``). Fourier pseudo-spectral in space with the 2/3
rule; Crank-Nicolson on viscosity and Heun's method (explicit RK2) on advection and forcing, second
order in time. Li et al., arXiv 2010.08895, section 5.3.

The paper solves at 256^2 with dt = 1e-4 and stores 64^2 once per unit time up to T = 50
(nu = 1e-3). The generator's defaults are sized for a CPU: a 128^2 fine grid, dt = 2e-3 and T = 10;
at nu = 1e-3 they agree with 256^2 and smaller steps far below float32 precision (see
:func:`check_params`). For nu = 1e-4 or 1e-5 set ``fine=256`` as the paper does.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import torch

from sciml._errors import ConfigError, DataError
from sciml.data.pdes import _spectral as sp
from sciml.data.pdes._common import merge_params

__all__ = ["solve", "fno_forcing", "initial_condition", "generate", "fields", "coords", "check_params",
           "DEFAULTS", "GENERATOR", "ORDER"]

GENERATOR = "sciml.data.pdes.navier_stokes 1"
DRAW = 256  # white noise of w0 is drawn on 256^2 points (the FNO grid), whatever the fine grid
DEFAULTS: dict[str, Any] = {"nu": 1e-3, "T": 10.0, "record_every": 1.0, "fine": 128, "dt": 2e-3,
                            "alpha": 2.5, "tau": 7.0, "sigma": 7.0**1.5}
ORDER = 2  # Crank-Nicolson + Heun
STEP_COURANT = 0.5  # automatic step: h * max(|u| + |v|) * K, K = 2 pi (n // 3)
STABLE_COURANT = 1.0  # refused (before the run, with U_REF) and stopped (during it) above
U_REF = 1.0  # bound on max(|u| + |v|) in the FNO setting, for the check before the run (see check_params)
U_FLOOR = 0.1  # the automatic step never exceeds the Courant step for this speed


def fno_forcing(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The FNO forcing ``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`` at points ``x, y`` (same shape)."""
    phase = 2 * math.pi * (x + y)
    return 0.1 * (torch.sin(phase) + torch.cos(phase))


def _forcing_values(forcing: Any, n: int, device: torch.device) -> torch.Tensor | None:
    """The forcing on the ``n x n`` grid (float64), or ``None`` when it is zero."""
    if forcing is None or callable(forcing):
        grid = torch.arange(n, dtype=torch.float64, device=device) / n
        x, y = torch.meshgrid(grid, grid, indexing="ij")
        values = (fno_forcing if forcing is None else forcing)(x, y)
        values = torch.as_tensor(values, dtype=torch.float64, device=device)
        name = "forcing(x, y)"
    elif isinstance(forcing, (int, float)) and not isinstance(forcing, bool) and forcing == 0:
        return None
    else:
        values, _, _ = sp.as_float64(forcing, "forcing")
        values, name = values.to(device), "forcing"
    if values.shape != (n, n):
        raise ConfigError(f"{name} must have shape ({n}, {n}) like the grid of w0, got {tuple(values.shape)}")
    if not bool(torch.isfinite(values).all()):
        raise ConfigError(f"{name} contains NaN or Inf")
    return values


def solve(w0: Any, nu: float, times: Any, forcing: Any = None, *, dt: float | None = None) -> torch.Tensor:
    """Solve the vorticity equation on the unit torus from ``w0`` at ``t = 0``.

    Parameters
    ----------
    w0 : vorticity at ``(x_i, y_j) = (i, j) / n``, ``(batch, n, n)`` or ``(n, n)``, tensor or array
    nu : viscosity, positive
    times : output times, non-negative and non-decreasing (``0`` returns ``w0``)
    forcing : ``None`` for the FNO forcing :func:`fno_forcing`, ``0`` for none, a callable
        ``f(x, y)`` of the grid tensors (``(n, n)``, ``indexing="ij"``) or values ``(n, n)``
    dt : largest step; each interval between output times is split into equal steps no longer
        than ``dt``. Default: adaptive, each step at most ``0.5 / (max(U, 0.1) K)`` with
        ``U = max(|u| + |v|)`` over the batch at the step's start and ``K = 2 pi (n // 3)`` the
        largest wavenumber kept (Courant number 0.5).

    Returns
    -------
    Tensor ``(batch, Nt, n, n)`` (``(Nt, n, n)`` for a 2D ``w0``); float64 for arrays, ``w0``'s
    floating dtype and device for tensors (the computation is float64 throughout).

    Raises
    ------
    ConfigError
        For bad inputs, and when the advective Courant number ``h max(|u| + |v|) K`` exceeds 1
        during the run or the solution stops being finite (the explicit advection blows up): pass
        a smaller ``dt``.

    Shapes
    ------
    ``w0 (batch, n, n)`` -> ``(batch, Nt, n, n)`` with ``Nt = len(times)``; axis ``-2`` is ``x``.

    Notes
    -----
    Per step, with ``A = 1 - h nu |k|^2 / 2``, ``B = 1 + h nu |k|^2 / 2`` on the Fourier modes and
    ``N(w) = -u . grad w`` formed from the modes ``|k_x|, |k_y| < n/3`` and truncated to them:
    ``B w* = A w + h (N(w) + f)``, then ``B w' = A w + h ((N(w) + N(w*)) / 2 + f)``.
    With the default step, results depend on the batch through ``U``; pass ``dt`` to make every
    sample independent of the others.
    """
    nu = sp.check_viscosity(nu)
    w, out_dtype, device = sp.as_float64(w0, "w0")
    single = w.ndim == 2
    if single:
        w = w[None]
    if w.ndim != 3 or w.shape[1] != w.shape[2] or w.shape[1] < 4:
        raise ConfigError(f"w0 must have shape (batch, n, n) or (n, n) with n >= 4, got {tuple(np.shape(w0))}")
    t = sp.check_times(times)
    dt = sp.check_step(dt)
    n = w.shape[1]
    f = _forcing_values(forcing, n, device)
    f_hat = None if f is None else torch.fft.rfft2(f)

    freq_x = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64, device=device)[:, None]
    freq_y = torch.fft.rfftfreq(n, d=1.0 / n, dtype=torch.float64, device=device)[None, :]
    keep = ((freq_x.abs() < n / 3) & (freq_y < n / 3)).to(torch.float64)  # the 2/3 rule
    kx, ky = 2 * math.pi * freq_x, 2 * math.pi * freq_y
    k2 = kx**2 + ky**2
    inv_k2 = torch.where(k2 > 0, 1.0 / torch.where(k2 > 0, k2, 1.0), 0.0)
    # modes of u = psi_y, v = -psi_x, w_x, w_y from those of w (psi = w / |k|^2)
    ops = keep * torch.stack([1j * ky * inv_k2, -1j * kx * inv_k2, (1j * kx).expand_as(k2), (1j * ky).expand_as(k2)])
    wavenumber = 2 * math.pi * (n // 3)
    peak = torch.zeros((), dtype=torch.float64, device=device)  # largest h * max(|u| + |v|) seen

    def advection(w_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Modes of ``-u . grad w`` (2/3 rule) and ``max(|u| + |v|)`` over the batch."""
        u, v, w_x, w_y = torch.fft.irfft2(w_hat[:, None] * ops, s=(n, n)).unbind(1)
        return -keep * torch.fft.rfft2(u * w_x + v * w_y), (u.abs() + v.abs()).amax()

    def step(w_hat: torch.Tensor, n0: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One Crank-Nicolson/Heun step of length ``h``; ``n0 = advection(w_hat)``."""
        half = 0.5 * h * nu * k2
        base = (1 - half) * w_hat + (0.0 if f_hat is None else h * f_hat)
        n1, s1 = advection((base + h * n0) / (1 + half))
        return (base + 0.5 * h * (n0 + n1)) / (1 + half), s1

    w_hat = torch.fft.rfft2(w)
    out = torch.empty((w.shape[0], t.numel(), n, n), dtype=torch.float64, device=device)
    now = 0.0
    for j, target in enumerate(t.tolist()):
        left = target - now
        fixed, taken = (sp.substeps(left, dt) if dt is not None else None), 0
        while left > 0:
            n0, s0 = advection(w_hat)
            if fixed is None:  # adaptive: the Courant step for the current velocity
                steps, h = sp.substeps(left, STEP_COURANT / (max(float(s0), U_FLOOR) * wavenumber))
            else:
                steps, h = fixed[0] - taken, fixed[1]
            w_hat, s1 = step(w_hat, n0, h)
            peak = torch.maximum(peak, torch.maximum(s0, s1) * h)
            taken += 1
            left = 0.0 if steps == 1 else left - h
        if target > now:
            courant = float(peak) * wavenumber
            if not math.isfinite(courant):
                raise ConfigError(f"the solution blew up (non-finite velocity) before t = {target:g}; "
                                  f"pass a smaller dt")
            if courant > STABLE_COURANT:
                raise ConfigError(f"the time step is unstable: the advective Courant number h max(|u| + |v|) "
                                  f"2 pi (n // 3) reached {courant:.3g} (above {STABLE_COURANT}) before "
                                  f"t = {target:g}; pass a smaller dt")
            now = target
        out[:, j] = w if target == 0.0 else torch.fft.irfft2(w_hat, s=(n, n))
    out = out.to(out_dtype)
    return out[0] if single else out


def initial_condition(seed: int, index: int, params: dict[str, Any]) -> torch.Tensor:
    """``w0`` of sample ``index`` on the fine grid, ``(fine, fine)`` float64, from ``sample_rng(seed, index)`` only.

    Drawn on :data:`DRAW` ``^2`` points and Fourier-resampled
    (:func:`~sciml.data.pdes._spectral.grf_sample`), so sample ``i`` is the same function whatever
    ``fine`` is (band-limited to ``fine / 2`` when ``fine < DRAW``).
    """
    return sp.grf_sample(seed, index, DRAW, params["fine"], 2, params)


def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any work.

    Refused: unknown keys; ``nu``, ``T``, ``record_every``, ``dt``, ``alpha``, ``tau``, ``sigma``
    not positive; ``T`` not a whole multiple of ``record_every``; ``res`` not dividing ``fine``;
    a ``dt`` whose Courant number ``dt * U_REF * 2 pi (fine // 3)`` exceeds 1. Each record interval
    is split into equal steps no longer than ``dt``.

    ``U_REF = 1`` bounds ``max(|u| + |v|)`` in the FNO setting: measured on 4 samples at 64^2, it
    grows from 0.07 at t = 0 to 0.40 at t = 40 (nu = 1e-3), 0.76 at t = 30 (nu = 1e-4) and 0.65 at
    t = 20 (nu = 1e-5). Blow-up was seen from a Courant number of about 1 (nu = 1e-5; at
    nu = 1e-3 viscosity keeps it stable beyond 1.7). The default ``dt = 2e-3`` on the 128^2 grid
    has Courant number 0.53 for ``U_REF`` and a time error of 5e-8 relative (nu = 1e-3, t <= 20,
    against dt = 1e-3); the 128^2 and 64^2 grids then agree to 1e-10.
    """
    merged = merge_params("navier-stokes", params, DEFAULTS)
    for key in ("nu", "T", "record_every", "dt", "alpha", "tau", "sigma"):
        merged[key] = sp.positive_number(merged, key)
    merged["fine"] = sp.positive_int(merged, "fine", 4)
    sp.check_fine_grid(res, merged["fine"], "navier-stokes")
    records = merged["T"] / merged["record_every"]
    if abs(records - round(records)) > 1e-9 * records or round(records) < 1:
        raise ConfigError(f"T = {merged['T']:g} must be a whole multiple of record_every = "
                          f"{merged['record_every']:g}")
    courant = merged["dt"] * U_REF * 2 * math.pi * (merged["fine"] // 3)
    if courant > STABLE_COURANT:
        limit = STABLE_COURANT / (U_REF * 2 * math.pi * (merged["fine"] // 3))
        raise ConfigError(f"dt = {merged['dt']:g} is unstable on the {merged['fine']}^2 grid: advective Courant "
                          f"number {courant:.3g} > {STABLE_COURANT} for velocities up to {U_REF}; "
                          f"use dt <= {limit:.3g}")
    return merged


def _times(params: dict[str, Any]) -> np.ndarray:
    records = round(params["T"] / params["record_every"])
    return params["record_every"] * np.arange(records + 1)


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 4, device: str | torch.device = "cpu") -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of Navier-Stokes samples ``start .. n-1`` at resolution ``res``.

    Each block is ``{"tensor": w (B, nt, res, res)}`` in float32: the vorticity at
    ``t = 0, record_every, ..., T``, solved batched on the ``fine`` grid with steps of at most ``dt``
    (fixed, not adaptive) and subsampled every ``fine // res`` points, so a sample does not depend
    on the block it is solved in. Blocks of 4 keep a 128^2 solve in a CPU's cache: about 0.37 s per
    sample and unit time on one core, against 1.2 s in blocks of 20; on a GPU pass a larger ``block``.
    """
    params = check_params(res, params)
    stride = params["fine"] // res
    times = _times(params)
    for first in range(start, n, block):
        last = min(n, first + block)
        w0 = torch.stack([initial_condition(seed, i, params) for i in range(first, last)]).to(device)
        w = solve(w0, params["nu"], times, dt=params["dt"])[:, :, ::stride, ::stride]
        if not bool(torch.isfinite(w).all()):
            raise DataError(f"navier-stokes solve produced non-finite values in samples {first}..{last - 1}")
        yield {"tensor": w.cpu().numpy().astype(np.float32)}


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of a Navier-Stokes store: ``tensor (nt, res, res)``."""
    return {"tensor": ((len(_times(params)), res, res), "float32")}


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Coordinates: ``t-coordinate (nt,)``, ``x-coordinate`` and ``y-coordinate (res,)`` at ``i / res``."""
    x = np.arange(res) / res
    return {"t-coordinate": _times(params), "x-coordinate": x, "y-coordinate": x}
