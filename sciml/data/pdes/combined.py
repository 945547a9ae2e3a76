"""The MP-PDE combined equation: Burgers, KdV and diffusion in one family, with a random forcing.

``u_t + (alpha u^2 - beta u_x + gamma u_xx)_x = delta(t, x)`` on the periodic domain ``[0, L)``,
``L = 16``, with ``delta = sum_j A_j sin(omega_j t + 2 pi l_j x / L + phi_j)`` (five terms) and
``u(0) = delta(0, .)``. Brandstetter, Worrall and Welling, arXiv 2202.03376, section 4.

Discretisation (finite volume on cell averages ``u_i``, cell ``i = [i h, (i+1) h]``, ``h = L / n``):

- convective flux ``alpha u^2``: WENO5 (Jiang-Shu, ``eps = 1e-6``) reconstruction of the two face
  states and the exact Godunov flux of ``f(u) = alpha u^2`` (any sign of ``alpha``);
- diffusive ``-beta u_x`` and dispersive ``gamma u_xx`` flux: fourth-order central differences of
  the cell averages at the faces (so the scheme is 4th order where diffusion or dispersion act, 5th
  where only the WENO5 flux does, and total variation stays controlled at Burgers shocks);
- forcing: exact cell averages ``sinc(kappa h / 2) sin(kappa x_i + omega t + phi)``;
- time: SSP-RK3 (Shu-Osher) with a per-sample adaptive step ``dt = cfl / rate``,
  ``rate = a / h + (16/3) beta / (2.51 h^2) + 4.61 |gamma| / (sqrt(3) h^3)``, ``a = 2 |alpha| max|u|``.
  The three terms are the convective CFL and the diffusive and dispersive stability limits of
  SSP-RK3 (its region reaches -2.51 on the real and ``sqrt(3)`` on the imaginary axis; 16/3 and
  4.61 are the spectral radii of the two central stencils). SSP-RK3 is the strong-stability-preserving
  partner of WENO: no overshoots at shocks, where error-controlled Runge-Kutta pairs stall, no
  rejected steps, and for E3 the dispersive limit ``dt ~ h^3`` already makes the time error
  negligible. Each sample keeps its own step and clock, so a sample's trajectory does not depend on
  which other samples share its batch. Steps are shortened to land exactly on the output times.

Families (``alpha`` is the coefficient of ``u^2`` in the flux; the released code writes the
convective term as ``alpha' u u_x``, i.e. ``alpha' = 2 alpha``):

- E1: ``alpha = 0.5``, ``beta = gamma = 0`` (Burgers), ``T = 4``;
- E2: ``alpha = 0.5``, ``beta ~ U[0, 0.2]``, ``gamma = 0``, ``T = 4``;
- E3: ``alpha ~ U[0, 3]``, ``beta ~ U[0, 0.4]``, ``gamma ~ U[0, 1]``, ``T = 2``.

``convention="paper"`` draws ``l`` from ``{1, 2, 3}`` as the paper writes; ``convention="code"`` draws
``l`` from ``{1, 2}`` and E3's ``beta`` from ``U[0.1, 0.4]`` as the released code does. The
convention is stored with the dataset's parameters.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import torch

from sciml._errors import ConfigError, DataError
from sciml.data.grf import sample_rng
from sciml.data.pdes._common import float64_tensor, merge_params

__all__ = ["solve", "solve_advection", "weno5", "forcing_average", "sample_parameters", "generate", "fields",
           "coords", "check_params", "DEFAULTS", "GENERATOR", "FAMILIES", "CONVENTIONS"]

GENERATOR = "sciml.data.pdes.combined 1"
FAMILIES = ("E1", "E2", "E3")
CONVENTIONS = ("paper", "code")
N_WAVES = 5
DEFAULTS: dict[str, Any] = {"family": "E1", "convention": "paper", "alpha": None, "beta": None, "gamma": None,
                            "T": None, "nt": 250, "fine": 200, "L": 16.0, "cfl": 0.8}

# [low, high] of the uniform draws; equal ends mean a fixed value.
_FAMILY_RANGES = {"E1": {"alpha": [0.5, 0.5], "beta": [0.0, 0.0], "gamma": [0.0, 0.0], "T": 4.0},
                  "E2": {"alpha": [0.5, 0.5], "beta": [0.0, 0.2], "gamma": [0.0, 0.0], "T": 4.0},
                  "E3": {"alpha": [0.0, 3.0], "beta": [0.0, 0.4], "gamma": [0.0, 1.0], "T": 2.0}}
_CODE_E3_BETA = [0.1, 0.4]
_WAVENUMBERS = {"paper": 3, "code": 2}  # l is drawn from {1, ..., this}

_WENO_EPS = 1e-6
_RK3_REAL, _RK3_IMAG = 2.5127, math.sqrt(3.0)  # SSP-RK3 stability interval on the real / imaginary axis
_RHO_DIFFUSION = 16.0 / 3.0  # spectral radius * h^2 of the 4th-order diffusion stencil
_RHO_DISPERSION = 4.6088  # spectral radius * h^3 of the 4th-order dispersion stencil
_MAX_STEPS = 10_000_000


# ----------------------------------------------------------------------------------------------
# spatial discretisation


def _periodic_pad(u: torch.Tensor, width: int) -> torch.Tensor:
    return torch.cat([u[:, -width:], u, u[:, :width]], dim=1)


def _weno5_edges(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Left- and right-edge WENO5 values of cells ``2 .. m-3`` of ``v (batch, m)``."""
    a, b, c, d, e = (v[:, k:v.shape[1] - 4 + k] for k in range(5))  # cells j-2 .. j+2
    beta0 = 13.0 / 12.0 * (a - 2.0 * b + c) ** 2 + 0.25 * (a - 4.0 * b + 3.0 * c) ** 2
    beta1 = 13.0 / 12.0 * (b - 2.0 * c + d) ** 2 + 0.25 * (b - d) ** 2
    beta2 = 13.0 / 12.0 * (c - 2.0 * d + e) ** 2 + 0.25 * (3.0 * c - 4.0 * d + e) ** 2
    s0, s1, s2 = (1.0 / (_WENO_EPS + beta0) ** 2, 1.0 / (_WENO_EPS + beta1) ** 2, 1.0 / (_WENO_EPS + beta2) ** 2)
    # right edge x_{j+1/2}: linear weights 0.1, 0.6, 0.3 on the stencils ending at j, centred, starting at j
    w0, w1, w2 = 0.1 * s0, 0.6 * s1, 0.3 * s2
    right = (w0 * (2.0 * a - 7.0 * b + 11.0 * c) + w1 * (-b + 5.0 * c + 2.0 * d)
             + w2 * (2.0 * c + 5.0 * d - e)) / (6.0 * (w0 + w1 + w2))
    # left edge x_{j-1/2}: the mirror image, linear weights 0.3, 0.6, 0.1
    w0, w1, w2 = 0.3 * s0, 0.6 * s1, 0.1 * s2
    left = (w0 * (-a + 5.0 * b + 2.0 * c) + w1 * (2.0 * b + 5.0 * c - d)
            + w2 * (11.0 * c - 7.0 * d + 2.0 * e)) / (6.0 * (w0 + w1 + w2))
    return left, right


def weno5(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """WENO5 (Jiang-Shu) face states of periodic cell averages.

    Parameters
    ----------
    u : cell averages, ``(batch, n)`` tensor, ``n >= 3``

    Returns
    -------
    minus, plus : the states just left and just right of face ``x_{i+1/2}`` (between cells ``i`` and
        ``i + 1``, periodically), each ``(batch, n)``; fifth order where ``u`` is smooth.

    Shapes
    ------
    ``u (batch, n)`` -> ``minus (batch, n)``, ``plus (batch, n)``.
    """
    if not isinstance(u, torch.Tensor) or u.ndim != 2 or u.shape[1] < 3:
        raise ConfigError(f"weno5 expects a tensor of shape (batch, n) with n >= 3, got "
                          f"{tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__}")
    left, right = _weno5_edges(_periodic_pad(u, 3))  # cells -1 .. n
    return right[:, 1:-1], left[:, 2:]


def _godunov_quadratic(alpha: torch.Tensor, minus: torch.Tensor, plus: torch.Tensor) -> torch.Tensor:
    """Exact Riemann (Godunov) flux of ``f(u) = alpha u^2``: min of f over [minus, plus], or max over [plus, minus]."""
    f_minus, f_plus = alpha * minus * minus, alpha * plus * plus
    rising = minus <= plus
    flux = torch.where(rising, torch.minimum(f_minus, f_plus), torch.maximum(f_minus, f_plus))
    straddles = (torch.minimum(minus, plus) < 0) & (torch.maximum(minus, plus) > 0)  # f(0) = 0 is a candidate
    flux = torch.where(straddles & rising, torch.clamp(flux, max=0.0), flux)
    return torch.where(straddles & ~rising, torch.clamp(flux, min=0.0), flux)


class _Forcing:
    """Exact cell averages of ``sum_j A_j sin(omega_j t + kappa_j x + phi_j)``, split as
    ``sum_j S_j(x) cos(omega_j t) + C_j(x) sin(omega_j t)`` so only ``(batch, J)`` trigonometry runs per stage."""

    def __init__(self, forcing: torch.Tensor, n: int, L: float):
        h = L / n
        amplitude, self.omega, wavenumber, phase = forcing.unbind(-1)  # (batch, J) each
        kappa = 2.0 * math.pi * wavenumber / L
        half = 0.5 * kappa * h
        sinc = torch.where(half == 0, torch.ones_like(half), torch.sin(half) / torch.where(half == 0, 1.0, half))
        x = (torch.arange(n, dtype=forcing.dtype, device=forcing.device) + 0.5) * h
        angle = kappa[..., None] * x + phase[..., None]  # (batch, J, n)
        scale = (amplitude * sinc)[..., None]
        self.sin_part, self.cos_part = scale * torch.sin(angle), scale * torch.cos(angle)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        wt = self.omega * t[:, None]
        cos_wt, sin_wt = torch.cos(wt), torch.sin(wt)
        total = self.sin_part[:, 0] * cos_wt[:, :1] + self.cos_part[:, 0] * sin_wt[:, :1]
        for j in range(1, self.omega.shape[1]):  # a fixed summation order, whatever the batch
            total = total + self.sin_part[:, j] * cos_wt[:, j:j + 1] + self.cos_part[:, j] * sin_wt[:, j:j + 1]
        return total


class _CombinedOperator:
    """Right-hand side and stable step of the semi-discrete combined equation for one batch."""

    def __init__(self, alpha, beta, gamma, forcing: _Forcing | None, n: int, L: float):
        self.alpha, self.beta, self.gamma = alpha[:, None], beta[:, None], gamma[:, None]
        self.forcing, self.h = forcing, L / n
        h = self.h
        self.linear_rate = (_RHO_DIFFUSION * beta.abs() / (_RK3_REAL * h * h)
                            + _RHO_DISPERSION * gamma.abs() / (_RK3_IMAG * h**3))

    def __call__(self, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.h
        v = _periodic_pad(u, 3)  # cells -3 .. n+2
        left, right = _weno5_edges(v)  # cells -1 .. n
        flux = _godunov_quadratic(self.alpha, right[:, :-1], left[:, 1:])  # faces -1/2 .. n-1/2
        c = [v[:, k:v.shape[1] - 5 + k] for k in range(6)]  # cells j-2 .. j+3 around face j+1/2, j = -1 .. n-1
        u_x = (c[1] - 15.0 * c[2] + 15.0 * c[3] - c[4]) / (12.0 * h)
        u_xx = (-c[0] + 7.0 * c[1] - 6.0 * c[2] - 6.0 * c[3] + 7.0 * c[4] - c[5]) / (8.0 * h * h)
        flux = flux - self.beta * u_x + self.gamma * u_xx
        dudt = (flux[:, :-1] - flux[:, 1:]) / h
        if self.forcing is not None:
            dudt = dudt + self.forcing(t)
        return dudt

    def max_step(self, u: torch.Tensor) -> torch.Tensor:
        speed = 2.0 * self.alpha[:, 0].abs() * u.abs().amax(dim=1)
        return 1.0 / (speed / self.h + self.linear_rate)


class _AdvectionOperator:
    """WENO5 with the upwind (Godunov) flux for ``u_t + speed u_x = 0``."""

    def __init__(self, speed: torch.Tensor, n: int, L: float):
        self.speed, self.h = speed[:, None], L / n

    def __call__(self, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        left, right = _weno5_edges(_periodic_pad(u, 3))
        flux = torch.where(self.speed >= 0, self.speed * right[:, :-1], self.speed * left[:, 1:])
        return (flux[:, :-1] - flux[:, 1:]) / self.h

    def max_step(self, u: torch.Tensor) -> torch.Tensor:
        return self.h / self.speed[:, 0].abs()


def _integrate(operator, u: torch.Tensor, times: torch.Tensor, cfl: float) -> torch.Tensor:
    """SSP-RK3 from ``times[0]`` through ``times``, each sample with its own step ``cfl * max_step``."""
    batch = u.shape[0]
    t = times[0].expand(batch).clone()
    out = [u]
    steps = 0
    for target in times[1:]:
        while True:
            remaining = target - t
            active = remaining > 0
            limit = cfl * operator.max_step(u)
            broken = active & ~(limit > 0)
            any_active, any_broken = torch.stack([active.any(), broken.any()]).tolist()
            if any_broken:
                bad = int(torch.nonzero(broken)[0, 0])
                raise DataError(f"batch entry {bad} has no stable time step at t = {float(t[bad]):.6g}: its solution "
                                f"is non-finite or its wave speed overflows; check the coefficients and u0")
            if not any_active:
                break
            steps += 1
            if steps > _MAX_STEPS:
                raise DataError(f"more than {_MAX_STEPS} time steps; the stable step is too small for these "
                                f"coefficients at this resolution")
            last = limit >= remaining
            dt = torch.where(active, torch.where(last, remaining, limit), torch.zeros_like(limit))
            dt_col = dt[:, None]
            stage1 = u + dt_col * operator(u, t)
            stage2 = 0.75 * u + 0.25 * (stage1 + dt_col * operator(stage1, t + dt))
            stage3 = u / 3.0 + 2.0 / 3.0 * (stage2 + dt_col * operator(stage2, t + 0.5 * dt))
            u = torch.where(active[:, None], stage3, u)
            t = torch.where(active, torch.where(last, target, t + dt), t)
        out.append(u)
    return torch.stack(out, dim=1)


# ----------------------------------------------------------------------------------------------
# public solvers


def _check_state(u0: Any) -> tuple[torch.Tensor, Any]:
    like = u0 if isinstance(u0, torch.Tensor) else None
    device = u0.device if like is not None else torch.device("cpu")
    u = float64_tensor(u0, "u0", device)
    if u.ndim != 2 or u.shape[1] < 6:
        raise ConfigError(f"u0 must have shape (batch, nx) with nx >= 6, got {tuple(u.shape)}")
    if not bool(torch.isfinite(u).all()):
        raise ConfigError("u0 must be finite")
    return u, like


def _check_times(times: Any, device: torch.device) -> torch.Tensor:
    t = float64_tensor(times, "times", device)
    if t.ndim != 1 or t.shape[0] < 1:
        raise ConfigError(f"times must have shape (nt,) with nt >= 1, got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()) or (t.shape[0] > 1 and not bool((t[1:] > t[:-1]).all())):
        raise ConfigError("times must be finite and strictly increasing")
    return t


def _per_sample(value: Any, name: str, batch: int, device: torch.device) -> torch.Tensor:
    v = float64_tensor(value, name, device)
    if v.ndim == 0:
        v = v.expand(batch)
    if v.shape != (batch,):
        raise ConfigError(f"{name} must be a number or have shape ({batch},), got {tuple(v.shape)}")
    if not bool(torch.isfinite(v).all()):
        raise ConfigError(f"{name} must be finite")
    return v.contiguous()


def _check_cfl(cfl: Any) -> float:
    if not isinstance(cfl, (int, float)) or isinstance(cfl, bool) or not 0.0 < cfl <= 1.0:
        raise ConfigError(f"cfl must be a number in (0, 1] (a fraction of the stable SSP-RK3 step), got {cfl!r}")
    return float(cfl)


def _check_length(L: Any) -> float:
    if not isinstance(L, (int, float)) or isinstance(L, bool) or not (math.isfinite(L) and L > 0):
        raise ConfigError(f"L must be a positive number, got {L!r}")
    return float(L)


def _check_forcing(forcing: Any, batch: int, device: torch.device) -> torch.Tensor:
    f = float64_tensor(forcing, "forcing", device)
    if f.ndim != 3 or f.shape[0] != batch or f.shape[1] < 1 or f.shape[2] != 4:
        raise ConfigError(f"forcing must have shape ({batch}, J, 4) with columns (A, omega, l, phi), "
                          f"got {tuple(f.shape)}")
    if not bool(torch.isfinite(f).all()):
        raise ConfigError("forcing must be finite")
    wavenumber = f[..., 2]
    if not bool((wavenumber == torch.round(wavenumber)).all()):
        raise ConfigError("forcing wavenumbers l (column 2) must be integers so that the forcing is L-periodic")
    return f


def _restore(result: torch.Tensor, like: Any) -> torch.Tensor:
    if like is not None and like.is_floating_point():
        return result.to(like.dtype)
    return result


def forcing_average(forcing: Any, nx: int, t: float = 0.0, L: float = 16.0) -> torch.Tensor:
    """Exact cell averages of ``delta(t, x) = sum_j A_j sin(omega_j t + 2 pi l_j x / L + phi_j)``.

    Parameters
    ----------
    forcing : ``(batch, J, 4)`` rows ``(A_j, omega_j, l_j, phi_j)``, tensor or array, integer ``l_j``
    nx : number of cells of ``[0, L)``
    t : the time

    Returns
    -------
    Tensor ``(batch, nx)`` on ``forcing``'s device (float64, or ``forcing``'s floating dtype).
    With ``t = 0`` this is the MP-PDE initial condition ``u0 = delta(0, x)``.

    Shapes
    ------
    ``forcing (batch, J, 4)`` -> ``(batch, nx)``.
    """
    like = forcing if isinstance(forcing, torch.Tensor) else None
    device = forcing.device if like is not None else torch.device("cpu")
    if not isinstance(nx, int) or isinstance(nx, bool) or nx < 1:
        raise ConfigError(f"nx must be a positive integer, got {nx!r}")
    f = float64_tensor(forcing, "forcing", device)
    f = _check_forcing(f, f.shape[0] if f.ndim == 3 else -1, device)
    average = _Forcing(f, nx, _check_length(L))
    return _restore(average(torch.full((f.shape[0],), float(t), dtype=torch.float64, device=device)), like)


def solve(u0: Any, times: Any, alpha: Any, beta: Any, gamma: Any, forcing: Any = None, L: float = 16.0,
          *, cfl: float = 0.8) -> torch.Tensor:
    """Solve the combined equation ``u_t + (alpha u^2 - beta u_x + gamma u_xx)_x = delta`` on ``[0, L)``.

    WENO5-Godunov convective flux, fourth-order central diffusive and dispersive fluxes, SSP-RK3 with a
    per-sample adaptive stable step (see the module docstring).

    Parameters
    ----------
    u0 : cell averages at ``times[0]``, ``(batch, nx)``, ``nx >= 6``, tensor or array
    times : output times ``(nt,)``, strictly increasing; ``u0`` is the state at ``times[0]``
    alpha, beta, gamma : numbers or per-sample values ``(batch,)``; ``beta >= 0``
    forcing : ``None`` or ``(batch, J, 4)`` rows ``(A_j, omega_j, l_j, phi_j)`` of
        ``delta = sum_j A_j sin(omega_j t + 2 pi l_j x / L + phi_j)``, integer ``l_j``
    L : period of the domain
    cfl : fraction in ``(0, 1]`` of the stable step (convective CFL and diffusive/dispersive limits)

    Returns
    -------
    Tensor ``(batch, nt, nx)`` of cell averages, row ``k`` at ``times[k]``, on ``u0``'s device (float64,
    or ``u0``'s floating dtype; the computation is in float64).

    Raises
    ------
    ConfigError
        On a wrong shape, a non-finite input, ``beta < 0`` (ill-posed), non-integer ``l`` or ``cfl`` outside ``(0, 1]``.
    DataError
        If the solution becomes non-finite.

    Shapes
    ------
    ``u0 (batch, nx)``, ``times (nt,)``, ``alpha/beta/gamma (batch,)``, ``forcing (batch, J, 4)``
    -> ``(batch, nt, nx)``.
    """
    u, like = _check_state(u0)
    batch, nx = u.shape
    device = u.device
    t = _check_times(times, device)
    coefficients = [_per_sample(v, name, batch, device) for v, name in ((alpha, "alpha"), (beta, "beta"),
                                                                          (gamma, "gamma"))]
    if bool((coefficients[1] < 0).any()):
        raise ConfigError("beta must be non-negative (negative diffusion is ill-posed)")
    L, cfl = _check_length(L), _check_cfl(cfl)
    source = None if forcing is None else _Forcing(_check_forcing(forcing, batch, device), nx, L)
    operator = _CombinedOperator(*coefficients, source, nx, L)
    return _restore(_integrate(operator, u, t, cfl), like)


def solve_advection(u0: Any, times: Any, speed: Any = 1.0, L: float = 16.0, *, cfl: float = 0.8) -> torch.Tensor:
    """Linear advection ``u_t + speed u_x = 0`` on ``[0, L)`` with the same WENO5 / SSP-RK3 discretisation.

    The flux is ``speed u`` with the upwind (Godunov) face state; this is the combined equation's
    scheme with a linear flux, used to measure WENO5's order on smooth data.

    Parameters
    ----------
    u0 : cell averages ``(batch, nx)``; times : ``(nt,)`` strictly increasing
    speed : a number or ``(batch,)``, non-zero
    cfl : fraction in ``(0, 1]`` of ``h / |speed|``

    Returns
    -------
    Tensor ``(batch, nt, nx)`` on ``u0``'s device.

    Shapes
    ------
    ``u0 (batch, nx)``, ``times (nt,)`` -> ``(batch, nt, nx)``.
    """
    u, like = _check_state(u0)
    batch, nx = u.shape
    t = _check_times(times, u.device)
    a = _per_sample(speed, "speed", batch, u.device)
    if bool((a == 0).any()):
        raise ConfigError("speed must be non-zero")
    operator = _AdvectionOperator(a, nx, _check_length(L))
    return _restore(_integrate(operator, u, t, _check_cfl(cfl)), like)


# ----------------------------------------------------------------------------------------------
# dataset generator


def _check_range(value: Any, name: str, default: list[float], minimum: float | None) -> list[float]:
    if value is None:
        value = default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value, value]
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise ConfigError(f"{name} must be a number or a range [low, high], got {value!r}")
    low, high = float(value[0]), float(value[1])
    if low > high:
        raise ConfigError(f"{name} range [{low}, {high}] has low > high")
    if minimum is not None and low < minimum:
        raise ConfigError(f"{name} must be >= {minimum:g} (the MP-PDE families use {name} >= 0), got range "
                          f"[{low}, {high}]")
    return [low, high]


def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any work.

    ``alpha``, ``beta``, ``gamma`` are ``None`` (the family's range), a number (fixed) or ``[low, high]``
    (uniform); ``T = None`` is the family's horizon. The result holds the resolved values.
    """
    merged = merge_params("combined", params, DEFAULTS)
    family, convention = merged["family"], merged["convention"]
    if family not in FAMILIES:
        raise ConfigError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    if convention not in CONVENTIONS:
        raise ConfigError(f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
    ranges = dict(_FAMILY_RANGES[family])
    if family == "E3" and convention == "code":
        ranges["beta"] = list(_CODE_E3_BETA)
    merged["alpha"] = _check_range(merged["alpha"], "alpha", ranges["alpha"], None)
    merged["beta"] = _check_range(merged["beta"], "beta", ranges["beta"], 0.0)
    merged["gamma"] = _check_range(merged["gamma"], "gamma", ranges["gamma"], 0.0)
    T = ranges["T"] if merged["T"] is None else merged["T"]
    if not isinstance(T, (int, float)) or isinstance(T, bool) or not (math.isfinite(T) and T > 0):
        raise ConfigError(f"T must be a positive number, got {T!r}")
    merged["T"] = float(T)
    for key, low in (("nt", 2), ("fine", 6)):
        value = merged[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{key} must be an integer >= {low}, got {value!r}")
    if not isinstance(res, int) or isinstance(res, bool) or res < 1 or merged["fine"] % res:
        raise ConfigError(f"res {res!r} must divide the fine grid ({merged['fine']} cells) so that cell averages "
                          f"downsample by averaging groups of cells; e.g. res = 100, 50 or 40 with fine = 200")
    merged["L"] = _check_length(merged["L"])
    merged["cfl"] = _check_cfl(merged["cfl"])
    return merged


def sample_parameters(seed: int, index: int, params: dict[str, Any]) -> dict[str, Any]:
    """The random draws of sample ``index``: ``alpha``, ``beta``, ``gamma`` and ``forcing (5, 4)``.

    Everything comes from :func:`sciml.data.grf.sample_rng` ``(seed, index)``, in a fixed order
    (amplitudes, frequencies, wavenumbers, phases, then the three coefficients), so a sample does not
    depend on the others. ``params`` must come from :func:`check_params`.
    """
    rng = sample_rng(seed, index)
    amplitude = rng.uniform(-0.5, 0.5, N_WAVES)
    omega = rng.uniform(-0.4, 0.4, N_WAVES)
    wavenumber = rng.integers(1, _WAVENUMBERS[params["convention"]] + 1, N_WAVES).astype(np.float64)
    phase = rng.uniform(0.0, 2.0 * math.pi, N_WAVES)
    draws = rng.random(3)
    out: dict[str, Any] = {"forcing": np.stack([amplitude, omega, wavenumber, phase], axis=1)}
    for key, unit in zip(("alpha", "beta", "gamma"), draws):
        low, high = params[key]
        out[key] = low + (high - low) * float(unit)
    return out


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 64) -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of combined-equation samples ``start .. n-1`` at resolution ``res``.

    Each block holds ``tensor (B, nt, res)`` (cell averages, solved on ``fine`` cells and averaged in
    groups of ``fine // res``), ``alpha``, ``beta``, ``gamma`` ``(B,)`` and ``forcing (B, 5, 4)``, float32.
    A block is solved as one batch (64 samples amortise torch's per-operation overhead on a CPU); each
    sample keeps its own time step, so a sample's values do not depend on ``block`` or ``start``.
    """
    params = check_params(res, params)
    fine, L = params["fine"], params["L"]
    group = fine // res
    times = np.linspace(0.0, params["T"], params["nt"])
    for first in range(start, n, block):
        draws = [sample_parameters(seed, i, params) for i in range(first, min(n, first + block))]
        forcing = torch.from_numpy(np.stack([d["forcing"] for d in draws]))
        coefficients = {key: torch.tensor([d[key] for d in draws], dtype=torch.float64)
                        for key in ("alpha", "beta", "gamma")}
        u0 = forcing_average(forcing, fine, 0.0, L)
        u = solve(u0, times, coefficients["alpha"], coefficients["beta"], coefficients["gamma"], forcing, L,
                  cfl=params["cfl"])
        u = u.reshape(len(draws), params["nt"], res, group).mean(dim=-1).numpy()
        if not np.all(np.isfinite(u)):
            raise DataError(f"combined solve produced non-finite values in samples {first}..{first + len(draws) - 1}")
        yield {"tensor": u.astype(np.float32),
               **{key: value.numpy().astype(np.float32) for key, value in coefficients.items()},
               "forcing": forcing.numpy().astype(np.float32)}


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of a combined-equation store."""
    return {"tensor": ((params["nt"], res), "float32"), "alpha": ((), "float32"), "beta": ((), "float32"),
            "gamma": ((), "float32"), "forcing": ((N_WAVES, 4), "float32")}


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """``t-coordinate (nt,)`` and ``x-coordinate (res,)``, the cell centres ``(i + 1/2) L / res``."""
    return {"t-coordinate": np.linspace(0.0, params["T"], params["nt"]),
            "x-coordinate": (np.arange(res) + 0.5) * (params["L"] / res)}
