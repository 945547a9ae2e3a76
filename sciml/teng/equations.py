"""The TENG benchmarks on ``[0, 2 pi)^2`` (periodic), their initial condition, reference solutions and the
time-discretisation floor of each scheme.

- ``heat``: ``u_t = D Lap u`` (the paper: ``D = 0.1``); reference exact in Fourier space;
- ``allen-cahn``: ``u_t = D Lap u + u - u^3`` (``D = 0.005``);
- ``burgers``: ``u_t = -u (u_x + u_y) + D Lap u`` (``D = 0.01``);

The references of the two nonlinear equations come from a pseudo-spectral solver written here (2/3-rule
de-aliasing, integrating-factor RK4, fourth order in time: tested). The initial condition is ours (the
paper's is given only as data files in its code): ``u0(x, y) = amplitude * exp(-(1 + cos 2x)) sin y``, a
smooth product with the same symmetries and amplitude as the authors' field.

The *floor* of a scheme is the error of that time integrator (explicit Euler or Heun, the step ``dt``) run on
the spectral semi-discretisation itself: what TENG-Euler or TENG-Heun would reach with a perfect projection
at every step (the paper: about 3e-4 and 3e-7 for heat at ``dt = 0.005``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from sciml._errors import ConfigError

__all__ = ["EQUATIONS", "PAPER_COEFFICIENTS", "Equation", "initial_condition", "grid_points", "GridInitialCondition",
           "SpectralSolver",
           "scheme_floor"]

EQUATIONS = ("heat", "allen-cahn", "burgers")
PAPER_COEFFICIENTS = {"heat": 0.1, "allen-cahn": 0.005, "burgers": 0.01}


@dataclass(frozen=True)
class Equation:
    """``u_t = rhs(u, grad u, Lap u)`` of one benchmark with its diffusion coefficient ``D``."""

    name: str
    coefficient: float

    def __post_init__(self) -> None:
        if self.name not in EQUATIONS:
            raise ConfigError(f"unknown TENG equation {self.name!r}; choose one of {', '.join(EQUATIONS)}")
        if not (isinstance(self.coefficient, (int, float)) and math.isfinite(self.coefficient)
                and self.coefficient > 0):
            raise ConfigError(f"the diffusion coefficient of {self.name} must be a positive number, got "
                              f"{self.coefficient!r}")

    def rhs(self, u: torch.Tensor, grad: torch.Tensor, lap: torch.Tensor) -> torch.Tensor:
        """``u_t`` at points from ``u (N,)``, ``grad (N, d)`` and ``lap (N,)``: ``D lap + N(u, grad)``."""
        out = self.coefficient * lap
        if self.nonlinear is not None:
            out = out + self.nonlinear(u, grad)
        return out

    @property
    def nonlinear(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
        """The non-diffusive part ``N(u, grad u)`` (``None`` for heat)."""
        if self.name == "allen-cahn":
            return lambda u, grad: u - u ** 3
        if self.name == "burgers":
            return lambda u, grad: -u * grad.sum(dim=-1)
        return None


def grid_points(n: int, dim: int = 2, *, shift: torch.Tensor | None = None, period: float = 2 * math.pi
                ) -> torch.Tensor:
    """The ``n^dim`` points of the uniform grid on ``[0, period)^dim`` (``ij`` order; ``shift`` moves the grid,
    wrapped into the box), float64 ``(n^dim, dim)``."""
    if n < 1:
        raise ConfigError(f"grid points per dimension must be at least 1, got {n}")
    axis = torch.arange(n, dtype=torch.float64) * (period / n)
    x = torch.stack(torch.meshgrid(*([axis] * dim), indexing="ij"), dim=-1).reshape(-1, dim)
    if shift is not None:
        x = torch.remainder(x + shift.to(torch.float64), period)
    return x


def initial_condition(x: torch.Tensor, amplitude: float = 0.5, sharpness: float = 1.0) -> torch.Tensor:
    """``u0 = amplitude * exp(-sharpness (1 + cos 2x)) sin y`` at points ``x (N, 2)``. ``sharpness`` sets how fast
    the spectrum decays in ``x`` (mode ``2n`` is ``I_n(sharpness) / I_0(sharpness)`` of mode 0): 1 puts 2.2e-3 of
    the largest coefficient at mode 8 and 1.8e-5 at mode 12; 0.5 puts 1.5e-4 and 3.2e-7 there, close to the
    authors' initial field (1.7e-4 and 6.6e-8, from the coefficients their code ships)."""
    if x.shape[-1] != 2:
        raise ConfigError(f"the TENG initial condition is defined in 2-D; got points of dimension {x.shape[-1]}")
    return amplitude * torch.exp(-sharpness * (1.0 + torch.cos(2 * x[..., 0]))) * torch.sin(x[..., 1])


class GridInitialCondition:
    """An initial condition given as values on the uniform ``n x n`` grid of ``[0, 2 pi)^2`` (``ij`` order, the
    endpoint ``2 pi`` excluded), evaluated anywhere by trigonometric interpolation.

    Refused with one sentence: NaN or Inf values, a grid that is not square, and data that are not periodic (or
    not resolved): more than ``tolerance`` of the energy in the upper third of the grid's wavenumbers, as when
    the field jumps across the boundary or the last row repeats the first."""

    def __init__(self, values, tolerance: float = 1e-8):
        u = torch.as_tensor(values, dtype=torch.float64)
        if u.ndim != 2 or u.shape[0] != u.shape[1] or u.shape[0] < 4:
            raise ConfigError(f"an initial condition on a grid must be a square n x n array with n >= 4, got shape "
                              f"{tuple(u.shape)}")
        if not bool(torch.isfinite(u).all()):
            raise ConfigError(f"the initial condition has {int((~torch.isfinite(u)).sum())} NaN or Inf values")
        n = u.shape[0]
        u_hat = torch.fft.fft2(u) / n ** 2
        k = torch.fft.fftfreq(n, 1.0 / n, dtype=torch.float64)
        high = (k.abs()[:, None] > n / 3) | (k.abs()[None, :] > n / 3)
        energy = u_hat.abs().pow(2)
        fraction = float(energy[high].sum() / energy.sum().clamp_min(1e-300))
        if fraction > tolerance:
            raise ConfigError(f"the initial condition is not periodic on [0, 2 pi)^2 or not resolved by its {n} x {n} "
                              f"grid: {fraction:.2g} of its energy sits in the upper third of the wavenumbers "
                              f"(at most {tolerance:g}); sample a periodic field at x_i = 2 pi i / n, endpoint "
                              f"excluded")
        self.n, self.u_hat, self.k = n, u_hat, k

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # separable: u(x, y) = Re sum_a e^{i k_a x} (sum_b u_hat[a, b] e^{i k_b y}), in chunks of points
        k = self.k.to(x.device)
        coef = self.u_hat.to(x.device)
        out = torch.empty(len(x), dtype=torch.float64, device=x.device)
        for s in range(0, len(x), 1024):
            ex = torch.exp(1j * x[s:s + 1024, :1] * k)  # (B, n)
            ey = torch.exp(1j * x[s:s + 1024, 1:2] * k)
            out[s:s + 1024] = ((ex @ coef) * ey).sum(dim=1).real
        return out


class SpectralSolver:
    """Pseudo-spectral solver of an :class:`Equation` on an ``n x n`` grid of ``[0, 2 pi)^2``.

    ``evolve(u_hat, t)`` advances Fourier coefficients by ``t`` in steps of at most ``max_step``: exactly for
    heat, by integrating-factor RK4 with 2/3-rule de-aliasing of the nonlinear term otherwise.
    ``rhs(u_hat)`` is the semi-discrete right-hand side (for the scheme floors).
    """

    def __init__(self, equation: Equation, n: int, max_step: float = 1e-3):
        if n < 8 or n % 2:
            raise ConfigError(f"the reference grid must be even and at least 8 points per side, got {n}")
        if not max_step > 0:
            raise ConfigError(f"max_step must be positive, got {max_step}")
        self.equation, self.n, self.max_step = equation, n, float(max_step)
        k = torch.fft.fftfreq(n, 1.0 / n, dtype=torch.float64)
        self.kx, self.ky = torch.meshgrid(k, k, indexing="ij")
        self.k2 = self.kx ** 2 + self.ky ** 2
        self.linear = -equation.coefficient * self.k2
        cut = n / 3.0
        self.dealias = ((self.kx.abs() < cut) & (self.ky.abs() < cut)).to(torch.float64)

    def transform(self, u: torch.Tensor) -> torch.Tensor:
        """Grid values ``(n, n)`` (``ij``) to Fourier coefficients."""
        return torch.fft.fft2(u)

    def values(self, u_hat: torch.Tensor) -> torch.Tensor:
        return torch.fft.ifft2(u_hat).real

    def _nonlinear(self, u_hat: torch.Tensor) -> torch.Tensor:
        u_hat = u_hat * self.dealias
        u = torch.fft.ifft2(u_hat).real
        grad = torch.stack([torch.fft.ifft2(1j * self.kx * u_hat).real, torch.fft.ifft2(1j * self.ky * u_hat).real],
                           dim=-1)
        return torch.fft.fft2(self.equation.nonlinear(u, grad)) * self.dealias

    def rhs(self, u_hat: torch.Tensor) -> torch.Tensor:
        out = self.linear * u_hat
        if self.equation.nonlinear is not None:
            out = out + self._nonlinear(u_hat)
        return out

    def evolve(self, u_hat: torch.Tensor, t: float) -> torch.Tensor:
        if t < 0:
            raise ConfigError(f"cannot evolve backwards (t = {t})")
        if t == 0:
            return u_hat
        if self.equation.nonlinear is None:
            return u_hat * torch.exp(self.linear * t)
        from sciml.data.pdes._spectral import substeps

        steps, h = substeps(t, self.max_step)
        e, e2 = torch.exp(self.linear * h), torch.exp(self.linear * h / 2)
        for _ in range(steps):
            n1 = self._nonlinear(u_hat)
            a = e2 * (u_hat + 0.5 * h * n1)
            n2 = self._nonlinear(a)
            b = e2 * u_hat + 0.5 * h * n2
            n3 = self._nonlinear(b)
            c = e * u_hat + h * e2 * n3
            n4 = self._nonlinear(c)
            u_hat = e * u_hat + (h / 6.0) * (e * n1 + 2.0 * e2 * (n2 + n3) + n4)
        return u_hat


def scheme_floor(solver: SpectralSolver, u0_hat: torch.Tensor, scheme: str, dt: float, steps: int,
                 every: int = 1, at: list[int] | None = None) -> list[tuple[float, torch.Tensor]]:
    """``[(t, u_hat)]`` every ``every`` steps (or at the step indices ``at``) of explicit Euler (``euler``), Heun
    (``heun``) or classical RK4 (``rk4``, the TDVP baseline's integrator) with step ``dt`` on ``solver``'s
    semi-discretisation, from ``u0_hat`` (step 0 included)."""
    wanted = set(range(0, steps + 1, every)) if at is None else set(at)
    if scheme not in ("euler", "heun", "rk4"):
        raise ConfigError(f"unknown scheme {scheme!r}; choose euler, heun or rk4")
    # modes on which this explicit scheme is unstable at this dt (|R(dt lambda_k)| > 1 for the diffusion's
    # eigenvalue) are dropped: the initial data have no content there above round-off, and exact arithmetic
    # would keep them empty; in floating point the round-off there grows without bound (heat on a 128^2 grid,
    # Euler, dt = 0.005: |R| = 3 at the highest modes)
    z = solver.linear * dt
    amplification = {"euler": 1 + z, "heun": 1 + z + z ** 2 / 2,
                     "rk4": 1 + z + z ** 2 / 2 + z ** 3 / 6 + z ** 4 / 24}[scheme]
    keep = (amplification.abs() <= 1.0).to(u0_hat.dtype)
    dropped = float((u0_hat * (1 - keep)).abs().pow(2).sum() / u0_hat.abs().pow(2).sum().clamp_min(1e-300))
    if dropped > 1e-20:
        raise ConfigError(f"{scheme} is unstable at dt = {dt} on wavenumbers that carry {dropped:.2g} of the initial "
                          f"energy; take a smaller dt or a coarser error grid (eval_points)")
    out = [(0.0, u0_hat)] if 0 in wanted else []
    u = u0_hat * keep
    for step in range(1, steps + 1):
        f = solver.rhs(u)
        if scheme == "euler":
            u = u + dt * f
        elif scheme == "rk4":
            k2 = solver.rhs(u + 0.5 * dt * f)
            k3 = solver.rhs(u + 0.5 * dt * k2)
            k4 = solver.rhs(u + dt * k3)
            u = u + (dt / 6.0) * (f + 2 * k2 + 2 * k3 + k4)
        else:
            mid = u + dt * f
            u = u + 0.5 * dt * (f + solver.rhs(mid))
        u = u * keep
        if step in wanted:
            out.append((step * dt, u))
    return out
