"""Helpers shared by the periodic pseudo-spectral solvers (burgers, navier_stokes, heat).

Input conversion and checks for ``solve``, the split of output intervals into equal steps, the
generators' per-sample GRF draws and the parameter checks of ``check_params``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from sciml._errors import ConfigError
from sciml.data.grf import periodic_grf, sample_rng


def as_float64(values: Any, name: str) -> tuple[torch.Tensor, torch.dtype, torch.device]:
    """``values`` as a float64 tensor, with the dtype and device the result must have.

    Tensors keep their device and (floating) dtype for the result; arrays and lists give float64 on
    the CPU.
    """
    if isinstance(values, torch.Tensor):
        if values.is_complex():
            raise ConfigError(f"{name} must be real, got dtype {values.dtype}")
        out_dtype = values.dtype if values.is_floating_point() else torch.float64
        tensor, device = values.detach().to(torch.float64), values.device
    else:
        array = np.asarray(values)
        if array.dtype.kind not in "biuf":
            raise ConfigError(f"{name} must be a real numeric array, got dtype {array.dtype}")
        tensor, out_dtype, device = torch.from_numpy(array.astype(np.float64)), torch.float64, torch.device("cpu")
    if not bool(torch.isfinite(tensor).all()):
        raise ConfigError(f"{name} contains NaN or Inf")
    return tensor, out_dtype, device


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_viscosity(nu: Any) -> float:
    """``nu`` as a float, refused unless a finite positive number."""
    if not _is_number(nu):
        raise ConfigError(f"nu must be a finite number, got {nu!r}")
    if nu <= 0:
        raise ConfigError(f"nu must be positive, got {nu}")
    return float(nu)


def check_times(times: Any) -> torch.Tensor:
    """Output times as a float64 CPU tensor ``(Nt,)``: finite, non-negative and non-decreasing."""
    if isinstance(times, torch.Tensor):
        times = times.detach().cpu()
    t = torch.as_tensor(np.asarray(times, dtype=np.float64))
    if t.ndim != 1 or t.numel() < 1:
        raise ConfigError(f"times must be a 1D sequence with at least one entry, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()) or float(t[0]) < 0 or bool((t[1:] < t[:-1]).any()):
        raise ConfigError(f"times must be finite, non-negative and non-decreasing, got {t.tolist()}")
    return t


def check_step(dt: Any) -> float | None:
    """A user step ``dt``: ``None`` (automatic) or a finite positive number."""
    if dt is None:
        return None
    if not _is_number(dt) or dt <= 0:
        raise ConfigError(f"dt must be a positive number or None (automatic), got {dt!r}")
    return float(dt)


def substeps(interval: float, max_step: float) -> tuple[int, float]:
    """Split ``interval`` into ``m`` equal steps of length ``h <= max_step``; returns ``(m, h)``.

    A relative slack of 1e-9 keeps ``T / dt`` from rounding up to an extra step.
    """
    if interval <= 0:
        return 0, 0.0
    m = max(1, math.ceil(interval / max_step * (1 - 1e-9)))
    return m, interval / m


def grf_sample(seed: int, index: int, draw: int, size: int, dims: int, params: dict[str, Any]) -> torch.Tensor:
    """Sample ``index`` of the periodic GRF ``sigma^2 (-Lap + tau^2)^-alpha`` on ``size^dims`` points.

    White noise is drawn on ``draw^dims`` points from ``sample_rng(seed, index)`` only, coloured by
    :func:`~sciml.data.grf.periodic_grf` and resampled to ``size`` points per axis through its Fourier
    modes (the Nyquist modes dropped, so that the result is a real trigonometric polynomial). A sample
    is therefore the same function for every ``size``: evaluated exactly when ``size >= draw``, its
    modes below ``size / 2`` otherwise. ``params`` holds ``alpha``, ``tau`` and ``sigma``.
    Returns float64 ``(size,) * dims`` on the CPU.
    """
    white = torch.from_numpy(sample_rng(seed, index).standard_normal((1,) + (draw,) * dims))
    field = periodic_grf(white, alpha=params["alpha"], tau=params["tau"], sigma=params["sigma"])[0]
    return fourier_resample(field, size)


def fourier_resample(values: torch.Tensor, size: int) -> torch.Tensor:
    """Trigonometric interpolation (or truncation) of a periodic field to ``size`` points per axis.

    Keeps the modes ``|k| < min(n, size) / 2`` of ``values (*spatial)`` (all axes of equal length n)
    and evaluates them on the new grid; the values at the grid points ``j / size`` are those of the
    trigonometric polynomial, since the Nyquist modes are dropped.
    """
    n, dims = values.shape[0], values.ndim
    keep = (min(n, size) + 1) // 2  # modes 0 .. keep-1 and their negatives
    modes = torch.fft.fftn(values, dim=tuple(range(dims)))
    out = torch.zeros((size,) * dims, dtype=modes.dtype, device=values.device)
    index = torch.cat([torch.arange(keep), torch.arange(-keep + 1, 0)])
    source = torch.meshgrid(*([index % n] * dims), indexing="ij")
    out[torch.meshgrid(*([index % size] * dims), indexing="ij")] = modes[source]
    return torch.fft.ifftn(out, dim=tuple(range(dims))).real * (size / n) ** dims


def positive_number(merged: dict[str, Any], key: str) -> float:
    """``merged[key]`` as a float, refused unless a finite positive number."""
    value = merged[key]
    if not _is_number(value) or value <= 0:
        raise ConfigError(f"{key} must be a positive number, got {value!r}")
    return float(value)


def positive_int(merged: dict[str, Any], key: str, minimum: int = 1) -> int:
    """``merged[key]``, refused unless an integer ``>= minimum``."""
    value = merged[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def check_fine_grid(res: Any, fine: int, pde: str) -> int:
    """The subsampling stride ``fine // res``, refused unless ``res`` divides the fine grid."""
    if isinstance(res, bool) or not isinstance(res, int) or res < 2:
        raise ConfigError(f"res must be an integer >= 2, got {res!r}")
    if fine % res:
        divisors = [d for d in (2 ** p for p in range(1, 15)) if fine % d == 0]
        raise ConfigError(f"res {res} does not divide the {pde} fine grid of {fine} points; choose a res that "
                          f"divides it (e.g. {', '.join(map(str, divisors[-4:]))}) or set fine to a multiple of {res}")
    return fine // res


def grf_variance(n: int, dims: int, alpha: float, tau: float, sigma: float, weight_power: float = 0.0) -> float:
    """Pointwise variance of :func:`~sciml.data.grf.periodic_grf` on ``n^dims`` points.

    With ``weight_power = p`` each mode is weighted by ``|2 pi k|^(2p)`` (``p = -1``: the velocity of a
    vorticity field, ``p = 0``: the field itself).
    """
    k = np.fft.fftfreq(n, d=1.0 / n)
    grids = np.meshgrid(*([k] * dims), indexing="ij")
    k2 = sum(g**2 for g in grids)
    lam = 4 * math.pi**2 * k2
    with np.errstate(divide="ignore"):
        weight = np.where(k2 > 0, lam ** weight_power, 0.0)
    return float(sigma**2 * np.sum(weight * (lam + tau**2) ** (-alpha)))
