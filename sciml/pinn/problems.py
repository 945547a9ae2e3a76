"""The PDE problems physics-informed kinds train on: geometry, residual, boundary and initial terms,
an optional hard output transform, and the exact or reference solution they are measured against.

A problem is rebuilt from a model's config alone (:func:`make_problem`), so a saved PINN needs no
code beside its weights. Residual functions take the network ``f`` (pointwise, ``(N, dim) -> (N, C)``)
and points, and return ``(N, k)`` values whose mean square is the loss term; derivatives come from
:mod:`sciml.pinn.derivatives`. Coordinates are space first, time last.

Problems (``PROBLEMS``):

* ``convection``: ``u_t + c u_x = 0`` on ``[0, 2 pi] x [0, 1]``, ``u0 = sin x``, periodic; exact
  ``sin(x - c t)`` (Krishnapriyan et al. 2021; the Lagrangian-PINN paper's first test);
* ``convection-diffusion``: ``u_t + c u_x = nu u_xx``, same domain, exact ``exp(-nu t) sin(x - c t)``;
* ``burgers``: ``u_t + u u_x = nu u_xx``, ``u0 = sin x``, periodic on ``[0, 2 pi] x [0, T]``; reference
  from :func:`sciml.data.pdes.burgers.solve` (pseudo-spectral ETDRK4) after rescaling to its unit period;
* ``poisson-box``: ``-Lap u = d pi^2 prod sin(pi x_i)`` on ``[0, 1]^d``, ``u = 0`` on the boundary, exact
  ``prod sin(pi x_i)``; hard transform ``prod x_i (1 - x_i) N``;
* ``poisson-disk``: ``-Lap u = 1`` on the unit disk, ``u = 0`` on the circle, exact ``(1 - |x|^2) / 4``;
  hard transform ``(1 - |x|^2) N``;
* ``poisson-ball``: ``-Lap u = 1`` on the unit ball of R^d, exact ``(1 - |x|^2) / (2 d)``, same transform;
* ``laplace-l-shape``: ``Lap u = 0`` on the L-shaped polygon of area 3, Dirichlet data from the harmonic
  ``u = x^3 - 3 x y^2 + x y`` (its exact solution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from sciml._errors import ConfigError
from sciml.geometry import Ball, Box, Disk, Domain, Interval, Polygon, SpaceTime
from sciml.pinn.derivatives import partials

__all__ = ["Problem", "PROBLEMS", "make_problem", "problem_names", "TWO_PI"]

TWO_PI = 2.0 * math.pi
Pointwise = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Problem:
    """One PDE problem for a pointwise model.

    Attributes
    ----------
    name : registry name (``convection`` ...)
    pde : the equation in words
    domain : a :mod:`sciml.geometry` domain (``SpaceTime`` for evolution problems; time is last)
    coordinate_names : names of the coordinates (``("x", "t")`` ...)
    residual : ``(f, x) -> (N, k)`` PDE residual at interior points
    boundary : ``(f, x, normals) -> (N, k)`` boundary residual at boundary points, or ``None``
    initial : ``(f, x) -> (N, k)`` initial-condition residual at points with ``t = t0``, or ``None``
    exact : ``x -> (N, C)`` exact solution, or ``None``
    reference : ``(nx, nt) -> (points (nt * nx, 2), values (nt * nx, C))`` on the evolution grid, from sciml's own
        solvers, or ``None``
    hard : ``(x, raw (N, C)) -> (N, C)`` output transform that meets ``hard_terms`` exactly, or ``None``
    hard_terms : the terms ``hard`` satisfies (left out of the loss when it is used)
    periodic : the period of coordinate 0, for periodic embeddings, or ``None``
    grid : ``(nx, nt)`` evaluation grid of evolution problems (the papers' 256 x 100)
    params : the problem's parameters (JSON-ready)
    """

    name: str
    pde: str
    domain: Domain
    coordinate_names: tuple[str, ...]
    residual: Callable[[Pointwise, torch.Tensor], torch.Tensor]
    boundary: Callable[[Pointwise, torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    initial: Callable[[Pointwise, torch.Tensor], torch.Tensor] | None = None
    exact: Callable[[torch.Tensor], torch.Tensor] | None = None
    reference: Callable[[int, int], tuple[np.ndarray, np.ndarray]] | None = None
    hard: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    hard_terms: tuple[str, ...] = ()
    periodic: float | None = None
    grid: tuple[int, int] | None = None
    channels: int = 1
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return self.domain.dim

    @property
    def time_dependent(self) -> bool:
        return self.coordinate_names[-1] == "t"

    def evaluation_points(self, nx: int | None = None, nt: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Points and reference values to measure a model on, for evolution problems: the ``nx x nt`` grid
        (default :attr:`grid`; ``x`` on the periodic grid, ``t`` from ``t0`` to ``t1``) with the exact or the
        reference solution; values ``None`` when the problem has neither."""
        if self.grid is None:
            raise ConfigError(f"problem {self.name!r} has no evaluation grid")
        nx, nt = nx or self.grid[0], nt or self.grid[1]
        if self.reference is not None:
            return self.reference(nx, nt)
        points = grid_points(self, nx, nt)
        values = self.exact(torch.from_numpy(points)).numpy() if self.exact is not None else None
        return points, values


def grid_points(problem: Problem, nx: int, nt: int) -> np.ndarray:
    """``(nt * nx, 2)`` points ``(x, t)``: ``x_j = x0 + j L / nx`` (periodic, the end left out) or ``nx``
    points with both ends, ``t`` from ``t0`` to ``t1`` in ``nt`` points; ``t`` varies slowest."""
    lower, upper = problem.domain.bounding_box()
    if problem.periodic:
        x = lower[0] + (upper[0] - lower[0]) * np.arange(nx) / nx
    else:
        x = np.linspace(lower[0], upper[0], nx)
    t = np.linspace(lower[-1], upper[-1], nt)
    tt, xx = np.meshgrid(t, x, indexing="ij")
    return np.stack([xx.ravel(), tt.ravel()], axis=1)


# -- evolution problems on the periodic interval -------------------------------------------------------

def _periodic_boundary(f: Pointwise, x: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    """``u(0, t) - u(2 pi, t)`` at the times of the boundary points."""
    t = x[:, -1:]
    left = torch.cat([torch.zeros_like(t), t], dim=1)
    right = torch.cat([torch.full_like(t, TWO_PI), t], dim=1)
    return f(left) - f(right)


def _sine_initial(f: Pointwise, x: torch.Tensor) -> torch.Tensor:
    return f(x) - torch.sin(x[:, :1])


def _advection_diffusion(c: float, nu: float):
    def residual(f: Pointwise, x: torch.Tensor) -> torch.Tensor:
        _, first, second = partials(f, x, [0, 1])
        return first[1] + c * first[0] - nu * second[0]
    return residual


def _burgers_residual(nu: float):
    def residual(f: Pointwise, x: torch.Tensor) -> torch.Tensor:
        u, first, second = partials(f, x, [0, 1])
        return first[1] + u * first[0] - nu * second[0]
    return residual


def _initial_hard(x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """``u = sin x + t N``: the initial condition exactly."""
    return torch.sin(x[:, :1]) + x[:, -1:] * raw


def burgers_reference(nu: float, T: float, nx: int = 256, nt: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Reference of ``u_t + u u_x = nu u_xx``, ``u0 = sin x`` on ``[0, 2 pi)``: with ``x = 2 pi s`` and
    ``u = 2 pi v``, ``v_t + v v_s = (nu / 4 pi^2) v_ss`` on the unit period, which
    :func:`sciml.data.pdes.burgers.solve` solves (pseudo-spectral, ETDRK4, on 8192 points, then every
    ``8192 / nx``-th point). Returns points ``(nt * nx, 2)`` and values ``(nt * nx, 1)``."""
    from sciml.data.pdes.burgers import solve

    fine = 8192
    if fine % nx:
        raise ConfigError(f"the Burgers reference grid needs nx dividing {fine}, got {nx}")
    s = np.arange(fine) / fine
    v0 = np.sin(TWO_PI * s) / TWO_PI
    times = np.linspace(0.0, T, nt)
    v = solve(v0, nu / TWO_PI ** 2, times).numpy()  # (nt, fine)
    u = TWO_PI * v[:, :: fine // nx]
    x = TWO_PI * np.arange(nx) / nx
    tt, xx = np.meshgrid(times, x, indexing="ij")
    return np.stack([xx.ravel(), tt.ravel()], axis=1), u.reshape(-1, 1)


def _periodic_problem(name: str, pde: str, residual, exact, *, T: float = 1.0, reference=None,
                      params: dict[str, Any]) -> Problem:
    return Problem(name=name, pde=pde, domain=SpaceTime(Interval(0.0, TWO_PI), 0.0, T), coordinate_names=("x", "t"),
                   residual=residual, boundary=_periodic_boundary, initial=_sine_initial, exact=exact,
                   reference=reference, hard=_initial_hard, hard_terms=("initial",), periodic=TWO_PI,
                   grid=(256, 100), params=params)


def _convection(c: float, nu: float, T: float) -> Problem:
    def exact(x: torch.Tensor) -> torch.Tensor:
        return (torch.exp(-nu * x[:, 1:]) * torch.sin(x[:, :1] - c * x[:, 1:]))
    name = "convection" if nu == 0 else "convection-diffusion"
    pde = f"u_t + {c:g} u_x = 0" if nu == 0 else f"u_t + {c:g} u_x = {nu:g} u_xx"
    return _periodic_problem(name, pde + ", u0 = sin x, periodic on [0, 2 pi]", _advection_diffusion(c, nu), exact,
                             T=T, params={"c": c, "nu": nu, "T": T})


def _burgers(nu: float, T: float) -> Problem:
    return _periodic_problem("burgers", f"u_t + u u_x = {nu:g} u_xx, u0 = sin x, periodic on [0, 2 pi]",
                             _burgers_residual(nu), None, T=T, reference=lambda nx, nt: burgers_reference(nu, T, nx, nt),
                             params={"nu": nu, "T": T})


# -- elliptic problems ---------------------------------------------------------------------------------------

def _dirichlet_zero(f: Pointwise, x: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    return f(x)


def _poisson_box(dim: int) -> Problem:
    def exact(x: torch.Tensor) -> torch.Tensor:
        return torch.prod(torch.sin(math.pi * x), dim=1, keepdim=True)

    def residual(f: Pointwise, x: torch.Tensor) -> torch.Tensor:
        _, _, second = partials(f, x)
        return -second.sum(dim=0) - dim * math.pi ** 2 * exact(x)

    def hard(x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return torch.prod(x * (1.0 - x), dim=1, keepdim=True) * raw

    return Problem(name="poisson-box", pde=f"-Lap u = {dim} pi^2 prod sin(pi x_i) on [0, 1]^{dim}, u = 0 on the boundary",
                   domain=Box([0.0] * dim, [1.0] * dim), coordinate_names=_space_names(dim), residual=residual,
                   boundary=_dirichlet_zero, exact=exact, hard=hard, hard_terms=("boundary",), params={"dim": dim})


def _poisson_disk() -> Problem:
    def exact(x: torch.Tensor) -> torch.Tensor:
        return 0.25 * (1.0 - (x ** 2).sum(dim=1, keepdim=True))

    def residual(f: Pointwise, x: torch.Tensor) -> torch.Tensor:
        _, _, second = partials(f, x)
        return -second.sum(dim=0) - 1.0

    def hard(x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return (1.0 - (x ** 2).sum(dim=1, keepdim=True)) * raw

    return Problem(name="poisson-disk", pde="-Lap u = 1 on the unit disk, u = 0 on the circle", domain=Disk((0.0, 0.0), 1.0),
                   coordinate_names=("x", "y"), residual=residual, boundary=_dirichlet_zero, exact=exact, hard=hard,
                   hard_terms=("boundary",), params={})


def _poisson_ball(dim: int) -> Problem:
    def exact(x: torch.Tensor) -> torch.Tensor:
        return (1.0 - (x ** 2).sum(dim=1, keepdim=True)) / (2.0 * dim)

    def residual(f: Pointwise, x: torch.Tensor) -> torch.Tensor:
        _, _, second = partials(f, x)
        return -second.sum(dim=0) - 1.0

    def hard(x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return (1.0 - (x ** 2).sum(dim=1, keepdim=True)) * raw

    return Problem(name="poisson-ball", pde=f"-Lap u = 1 on the unit ball of R^{dim}, u = 0 on the sphere",
                   domain=Ball.unit(dim), coordinate_names=_space_names(dim), residual=residual,
                   boundary=_dirichlet_zero, exact=exact, hard=hard, hard_terms=("boundary",), params={"dim": dim})


L_SHAPE = ((0.0, 0.0), (2.0, 0.0), (2.0, 1.0), (1.0, 1.0), (1.0, 2.0), (0.0, 2.0))


def _laplace_l_shape() -> Problem:
    # a harmonic polynomial: Lap u = 0, its own values as the Dirichlet data
    def exact(x: torch.Tensor) -> torch.Tensor:
        a, b = x[:, :1], x[:, 1:2]
        return a ** 3 - 3 * a * b ** 2 + a * b

    def residual(f: Pointwise, x: torch.Tensor) -> torch.Tensor:
        _, _, second = partials(f, x)
        return second.sum(dim=0)

    def boundary(f: Pointwise, x: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
        return f(x) - exact(x)

    return Problem(name="laplace-l-shape", pde="Lap u = 0 on the L-shaped polygon (0,0)-(2,0)-(2,1)-(1,1)-(1,2)-(0,2), "
                   "u = x^3 - 3 x y^2 + x y on its boundary", domain=Polygon(L_SHAPE), coordinate_names=("x", "y"),
                   residual=residual, boundary=boundary, exact=exact, params={})


def _space_names(dim: int) -> tuple[str, ...]:
    from sciml.data.points import COORDINATE_NAMES

    return tuple(COORDINATE_NAMES[:dim]) if dim <= len(COORDINATE_NAMES) else tuple(f"x{i}" for i in range(dim))


# -- the table -------------------------------------------------------------------------------------------------

PROBLEMS: dict[str, dict[str, Any]] = {
    "convection": {"c": 1.0, "nu": 0.0, "T": 1.0},
    "convection-diffusion": {"c": 1.0, "nu": 0.01, "T": 1.0},
    "burgers": {"nu": 0.01, "T": 1.0},
    "poisson-box": {"dim": 2},
    "poisson-disk": {},
    "poisson-ball": {"dim": 3},
    "laplace-l-shape": {},
}


def problem_names() -> tuple[str, ...]:
    return tuple(PROBLEMS)


def make_problem(name: str, *, c: float | None = None, nu: float | None = None, T: float | None = None,
                 dim: int | None = None) -> Problem:
    """The problem ``name`` with its parameters (``None`` takes the problem's default; a parameter the
    problem does not have must stay ``None``)."""
    if name not in PROBLEMS:
        raise ConfigError(f"unknown problem {name!r}; choose one of {', '.join(PROBLEMS)}")
    given = {"c": c, "nu": nu, "T": T, "dim": dim}
    defaults = PROBLEMS[name]
    foreign = [k for k, v in given.items() if v is not None and k not in defaults]
    if foreign:
        raise ConfigError(f"problem {name!r} has no parameter {', '.join(foreign)} (its parameters: "
                          f"{', '.join(defaults) or 'none'})")
    p = {k: (given[k] if given[k] is not None else v) for k, v in defaults.items()}
    if "nu" in p and p["nu"] < 0:
        raise ConfigError(f"nu must be non-negative, got {p['nu']}")
    if name == "burgers" and not p["nu"] > 0:
        raise ConfigError(f"burgers needs a positive viscosity nu, got {p['nu']}")
    if "T" in p and not p["T"] > 0:
        raise ConfigError(f"T must be positive, got {p['T']}")
    if "dim" in p and p["dim"] < 1:
        raise ConfigError(f"dim must be at least 1, got {p['dim']}")
    if name == "convection" and p["nu"] != 0:
        raise ConfigError("convection has nu = 0; use the convection-diffusion problem for nu > 0")
    if name in ("convection", "convection-diffusion"):
        return _convection(float(p["c"]), float(p["nu"]), float(p["T"]))
    if name == "burgers":
        return _burgers(float(p["nu"]), float(p["T"]))
    if name == "poisson-box":
        return _poisson_box(int(p["dim"]))
    if name == "poisson-ball":
        return _poisson_ball(int(p["dim"]))
    if name == "laplace-l-shape":
        return _laplace_l_shape()
    return _poisson_disk()
