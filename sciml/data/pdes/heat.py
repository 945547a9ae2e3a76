"""The heat equation ``u_t = nu Lap u`` on the periodic unit interval (or unit torus), solved exactly.

Each Fourier mode of ``u0`` is multiplied by ``exp(-nu |2 pi k|^2 t)``: exact in time, and exact in
space for the trigonometric interpolant of ``u0``, so the only error is round-off. The generator
draws ``u0`` like :mod:`sciml.data.pdes.burgers` (same GRF, same fine grid, same seeds give the same
``u0``), a linear baseline for the nonlinear Burgers data.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import torch

from sciml._errors import ConfigError, DataError
from sciml.data.pdes import _spectral as sp
from sciml.data.pdes._common import merge_params, periodic_coords_1d, trajectory_fields_1d

__all__ = ["solve", "initial_condition", "generate", "fields", "coords", "check_params", "DEFAULTS", "GENERATOR"]

GENERATOR = "sciml.data.pdes.heat 1"
DRAW = 8192  # white noise of u0 is drawn on this many points (the FNO grid), whatever the fine grid
DEFAULTS: dict[str, Any] = {"nu": 0.01, "T": 1.0, "nt": 11, "fine": 8192, "alpha": 2.0, "tau": 5.0, "sigma": 25.0}


def solve(u0: Any, nu: float, times: Any) -> torch.Tensor:
    """Solve ``u_t = nu Lap u`` on the periodic unit interval (1D) or unit torus (2D), exactly.

    Parameters
    ----------
    u0 : values at ``x_j = j / n``: ``(n,)`` or ``(batch, n)`` in 1D, ``(batch, n, m)`` in 2D;
        tensor or array
    nu : diffusivity, positive
    times : output times, non-negative and non-decreasing

    Returns
    -------
    Tensor ``(batch, Nt, *spatial)`` (``(Nt, n)`` for a 1D ``u0`` of shape ``(n,)``); float64 for
    arrays, ``u0``'s floating dtype and device for tensors (computed in float64).

    Shapes
    ------
    ``u0 (batch, *spatial)`` -> ``(batch, Nt, *spatial)``, ``Nt = len(times)``, one or two spatial axes.
    """
    nu = sp.check_viscosity(nu)
    u, out_dtype, device = sp.as_float64(u0, "u0")
    single = u.ndim == 1
    if single:
        u = u[None]
    if u.ndim not in (2, 3) or min(u.shape[1:]) < 2:
        raise ConfigError(f"u0 must have shape (n,), (batch, n) or (batch, n, m) with n, m >= 2, "
                          f"got {tuple(np.shape(u0))}")
    t = sp.check_times(times).to(device)
    spatial = u.shape[1:]
    dims = tuple(range(-len(spatial), 0))
    freqs = [torch.fft.fftfreq(s, d=1.0 / s, dtype=torch.float64, device=device) for s in spatial[:-1]]
    freqs.append(torch.fft.rfftfreq(spatial[-1], d=1.0 / spatial[-1], dtype=torch.float64, device=device))
    k2 = sum(g**2 for g in torch.meshgrid(*freqs, indexing="ij"))
    decay = torch.exp(-nu * 4 * math.pi**2 * k2 * t.reshape(-1, *([1] * len(spatial))))  # (Nt, *modes)
    modes = torch.fft.rfftn(u, dim=dims)[:, None] * decay[None]
    out = torch.fft.irfftn(modes, s=spatial, dim=dims).to(out_dtype)
    return out[0] if single else out


def initial_condition(seed: int, index: int, params: dict[str, Any]) -> torch.Tensor:
    """``u0`` of sample ``index`` on the fine grid, ``(fine,)`` float64, from ``sample_rng(seed, index)`` only.

    Drawn on :data:`DRAW` points and Fourier-resampled (:func:`~sciml.data.pdes._spectral.grf_sample`),
    so sample ``i`` is the same function whatever ``fine`` is (band-limited to ``fine / 2`` when
    ``fine < DRAW``).
    """
    return sp.grf_sample(seed, index, DRAW, params["fine"], 1, params)


def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any work.

    Refused: unknown keys; ``nu``, ``T``, ``alpha``, ``tau``, ``sigma`` not positive; ``nt < 2``;
    ``res`` not dividing ``fine``.
    """
    merged = merge_params("heat", params, DEFAULTS)
    for key in ("nu", "T", "alpha", "tau", "sigma"):
        merged[key] = sp.positive_number(merged, key)
    merged["nt"] = sp.positive_int(merged, "nt", 2)
    merged["fine"] = sp.positive_int(merged, "fine", 2)
    sp.check_fine_grid(res, merged["fine"], "heat")
    return merged


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 64, device: str | torch.device = "cpu") -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of heat-equation samples ``start .. n-1`` at resolution ``res``.

    Each block is ``{"tensor": u (B, nt, res)}`` in float32 at ``nt`` equally spaced times in
    ``[0, T]`` (``t = 0`` included), solved on the fine grid and subsampled every ``fine // res`` points.
    """
    params = check_params(res, params)
    stride = params["fine"] // res
    times = np.linspace(0.0, params["T"], params["nt"])
    for first in range(start, n, block):
        last = min(n, first + block)
        u0 = torch.stack([initial_condition(seed, i, params) for i in range(first, last)]).to(device)
        u = solve(u0, params["nu"], times)[:, :, ::stride]
        if not bool(torch.isfinite(u).all()):
            raise DataError(f"heat solve produced non-finite values in samples {first}..{last - 1}")
        yield {"tensor": u.cpu().numpy().astype(np.float32)}


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of a heat store: ``tensor (nt, res)``."""
    return trajectory_fields_1d(params, res)


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Coordinates of a heat store: ``t-coordinate (nt,)``, ``x-coordinate (res,)`` at ``j / res``."""
    return periodic_coords_1d(params, res)
