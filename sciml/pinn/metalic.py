"""METALIC: interface conditions of a two-subdomain PINN chosen per PDE parameter by a Gaussian-process
bandit (Li et al., arXiv 2210.12669).

* :class:`XPinn`: one tanh MLP per subdomain; the loss is ``boundary_weight`` x the boundary/initial misfit
  + the PDE residual + ``interface_weight`` x the sum of the chosen interface terms (:data:`INTERFACE_TERMS`,
  nine on/off choices: 512 arms), trained by Adam then L-BFGS (:func:`train_xpinn`).
* :class:`ArmGP`: a gpytorch exact GP over (standardised PDE parameter, 9-bit arm) with the product of an
  RBF kernel on the parameter and a categorical (Hamming) kernel on the arm; reward ``-log10`` of the test
  relative L2. :class:`Bandit` picks arms by UCB (``mean + c std``) or Thompson sampling (one joint
  posterior draw over the 512 arms), and at test time by the best posterior mean; the two-stage variant keeps
  one GP for the Adam phase (rewarded after it) and one for the L-BFGS phase.
* :data:`FAMILIES`: Poisson on the unit square with a steep erf layer at ``y = 0.5`` (manufactured exact
  solution; split at ``y = 0.5``), advection ``u_t + beta u_x = 0`` (exact; split at ``t = 0.5``), reaction
  ``u_t = rho u (1 - u)`` (exact logistic; split at ``t = 0.5``) and Burgers ``u_t + u u_x = nu u_xx``,
  ``u0 = -sin(pi x)`` (sciml's pseudo-spectral solver; split at ``x = 0``, the shock).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from sciml._errors import ConfigError

__all__ = ["INTERFACE_TERMS", "FAMILIES", "Family", "XPinnConfig", "XPinn", "train_xpinn", "arm_from_terms",
           "terms_from_arm", "all_arms", "ArmGP", "Bandit"]

INTERFACE_TERMS = ("continuity", "average", "residual", "residual_continuity", "flux", "ut_continuity",
                   "gradient_residual", "ux_continuity", "uxx_continuity")


def arm_from_terms(terms: Sequence[str]) -> tuple[int, ...]:
    """The 9-bit arm of a set of interface term names; an unknown name is refused with the list."""
    unknown = [t for t in terms if t not in INTERFACE_TERMS]
    if unknown:
        raise ConfigError(f"unknown interface term{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                          f"choose from {', '.join(INTERFACE_TERMS)}")
    return tuple(int(t in terms) for t in INTERFACE_TERMS)


def terms_from_arm(arm: Sequence[int]) -> tuple[str, ...]:
    if len(arm) != len(INTERFACE_TERMS) or any(a not in (0, 1) for a in arm):
        raise ConfigError(f"an arm is {len(INTERFACE_TERMS)} bits (0 or 1), got {list(arm)}")
    return tuple(t for t, a in zip(INTERFACE_TERMS, arm) if a)


def all_arms() -> Tensor:
    """The 512 arms, ``(512, 9)`` float, arm ``i`` the binary digits of ``i`` (term 0 the highest bit)."""
    i = torch.arange(2 ** len(INTERFACE_TERMS))
    bits = [(i >> (len(INTERFACE_TERMS) - 1 - k)) & 1 for k in range(len(INTERFACE_TERMS))]
    return torch.stack(bits, dim=1).float()


# ------------------------------------------------------------------------------------------------ families


@dataclass(frozen=True)
class Family:
    """A PDE family on a box ``lower .. upper`` in coordinates ``(x, t)`` or ``(x, y)``, split at
    ``split_value`` of coordinate ``split_axis`` into two subdomains.

    ``residual(u, d, z, p)``: the PDE residual from ``u`` and the derivative dictionary ``d`` (``x``, ``t``
    / ``y`` first derivatives and ``xx``, ``tt`` second) at points ``z`` for parameter ``p``;
    ``boundary(n, p, rng) -> (points, values)``: boundary and initial data; ``reference(z, p)``: the truth.
    """

    name: str
    parameter: str
    low: float
    high: float
    lower: tuple[float, float]
    upper: tuple[float, float]
    split_axis: int
    split_value: float
    residual: Callable[..., Tensor]
    boundary: Callable[..., tuple[Tensor, Tensor]]
    reference: Callable[[np.ndarray, float], np.ndarray]
    description: str = ""


def _box_edges(n: int, lower, upper, rng: np.random.Generator, sides: Sequence[str]) -> np.ndarray:
    """``n`` points spread over the named sides (``x0``, ``x1``, ``t0``/``y0``, ``t1``/``y1``)."""
    per = max(1, n // len(sides))
    out = []
    for side in sides:
        axis = 0 if side[0] == "x" else 1
        at = lower[axis] if side[1] == "0" else upper[axis]
        other = 1 - axis
        p = np.empty((per, 2))
        p[:, axis] = at
        p[:, other] = rng.uniform(lower[other], upper[other], per)
        out.append(p)
    return np.concatenate(out)


# Poisson: -Lap u = f on [0, 1]^2 with u* = sin(pi x) phi_k(y), phi_k(y) = erf(k (y - 1/2)) - (2 y - 1) erf(k / 2)
def _phi(y, k, lib):
    return lib["erf"](k * (y - 0.5)) - (2 * y - 1) * math.erf(k / 2)


def _phi_yy(y, k, lib):
    s = k * (y - 0.5)
    return -4 * k * k * s / math.sqrt(math.pi) * lib["exp"](-s * s)


_TORCH = {"erf": torch.erf, "exp": torch.exp, "sin": torch.sin}
_NUMPY = {"exp": np.exp, "sin": np.sin}


def _np_erf(x):
    from scipy.special import erf

    return erf(x)


_NUMPY["erf"] = _np_erf


def _poisson_residual(u, d, z, k):
    x, y = z[:, 0:1], z[:, 1:2]
    f = math.pi ** 2 * torch.sin(math.pi * x) * _phi(y, k, _TORCH) - torch.sin(math.pi * x) * _phi_yy(y, k, _TORCH)
    return -(d["xx"] + d["tt"]) - f


def _poisson_boundary(n, k, rng):
    p = _box_edges(n, (0.0, 0.0), (1.0, 1.0), rng, ("x0", "x1", "t0", "t1"))
    return p, np.zeros((len(p), 1))


def _poisson_reference(z, k):
    return (np.sin(np.pi * z[:, 0]) * _phi(z[:, 1], k, _NUMPY))[:, None]


def _advection_residual(u, d, z, beta):
    return d["t"] + beta * d["x"]


def _advection_reference(z, beta):
    return np.sin(z[:, 0] - beta * z[:, 1])[:, None]


def _exact_boundary(reference, lower, upper, sides):
    def boundary(n, p, rng):
        pts = _box_edges(n, lower, upper, rng, sides)
        return pts, reference(pts, p)
    return boundary


def _reaction_residual(u, d, z, rho):
    return d["t"] - rho * u * (1 - u)


def _reaction_reference(z, rho):
    h = np.exp(-((z[:, 0] - np.pi) ** 2) / (2 * (np.pi / 4) ** 2))
    e = np.exp(rho * z[:, 1])
    return (h * e / (h * e + 1 - h))[:, None]


def _burgers_residual(u, d, z, nu):
    return d["t"] + u * d["x"] - nu * d["xx"]


def _burgers_boundary(n, nu, rng):
    pts = _box_edges(n, (-1.0, 0.0), (1.0, 1.0), rng, ("x0", "x1", "t0"))
    values = np.where(pts[:, 1:2] == 0.0, -np.sin(np.pi * pts[:, 0:1]), 0.0)
    return pts, values


_BURGERS_CACHE: dict[float, Any] = {}


def _burgers_reference(z, nu):
    """``u0 = -sin(pi x)`` on ``[-1, 1]`` with ``u(+-1) = 0`` is the period-2 problem (odd symmetry); with
    ``s = (x + 1) / 2`` and ``u = 2 v``: ``v_t + v v_s = nu / 4 v_ss``, ``v0 = sin(2 pi s) / 2``, solved by
    :func:`sciml.data.pdes.burgers.solve` on 4096 points at 201 times and interpolated linearly."""
    from scipy.interpolate import RegularGridInterpolator

    from sciml.data.pdes.burgers import solve

    if nu not in _BURGERS_CACHE:
        fine, times = 4096, np.linspace(0.0, 1.0, 201)
        s = np.arange(fine) / fine
        v = solve(np.sin(2 * np.pi * s) / 2, nu / 4, times).numpy()
        x = np.append(2 * s - 1, 1.0)
        u = 2 * np.concatenate([v, v[:, :1]], axis=1)  # periodic: x = 1 equals x = -1
        _BURGERS_CACHE.clear()
        _BURGERS_CACHE[nu] = RegularGridInterpolator((times, x), u)
    return _BURGERS_CACHE[nu](np.stack([z[:, 1], z[:, 0]], axis=1))[:, None]


FAMILIES: dict[str, Family] = {
    "poisson": Family("poisson", "k", 1.0, 20.0, (0.0, 0.0), (1.0, 1.0), 1, 0.5, _poisson_residual,
                      _poisson_boundary, _poisson_reference,
                      "-Lap u = f on [0, 1]^2, u = sin(pi x) (erf(k (y - 1/2)) - (2y - 1) erf(k/2)), split at y = 1/2"),
    "advection": Family("advection", "beta", 1.0, 20.0, (0.0, 0.0), (2 * math.pi, 1.0), 1, 0.5, _advection_residual,
                        _exact_boundary(_advection_reference, (0.0, 0.0), (2 * math.pi, 1.0), ("x0", "x1", "t0")),
                        _advection_reference, "u_t + beta u_x = 0, u = sin(x - beta t) on [0, 2 pi] x [0, 1], split at t = 1/2"),
    "reaction": Family("reaction", "rho", 1.0, 15.0, (0.0, 0.0), (2 * math.pi, 1.0), 1, 0.5, _reaction_residual,
                       _exact_boundary(_reaction_reference, (0.0, 0.0), (2 * math.pi, 1.0), ("x0", "x1", "t0")),
                       _reaction_reference,
                       "u_t = rho u (1 - u), u0 = exp(-(x - pi)^2 / (2 (pi/4)^2)) on [0, 2 pi] x [0, 1], split at t = 1/2"),
    "burgers": Family("burgers", "nu", 0.005, 0.05, (-1.0, 0.0), (1.0, 1.0), 0, 0.0, _burgers_residual,
                      _burgers_boundary, _burgers_reference,
                      "u_t + u u_x = nu u_xx, u0 = -sin(pi x), u(+-1) = 0 on [-1, 1] x [0, 1], split at x = 0"),
}


def resolve_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ConfigError(f"unknown METALIC family {name!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


# ------------------------------------------------------------------------------------------------- XPINN


@dataclass(frozen=True)
class XPinnConfig:
    """Settings of one XPINN training (the authors' defaults where they are known).

    Attributes
    ----------
    width, depth : each subdomain's tanh MLP (2 -> width x depth -> 1; the authors' 20 x 2)
    boundary_points, collocation_points, interface_points : per subdomain / on the interface
    boundary_weight, interface_weight : loss weights (20 and 5; the residual's is 1)
    adam_steps, lr : the Adam phase; lbfgs_steps : L-BFGS iterations after it (strong Wolfe line search)
    test_points : per axis of the test grid for the relative L2
    """

    width: int = 20
    depth: int = 2
    boundary_points: int = 100
    collocation_points: int = 1000
    interface_points: int = 101
    boundary_weight: float = 20.0
    interface_weight: float = 5.0
    adam_steps: int = 2000
    lr: float = 1e-3
    lbfgs_steps: int = 500
    test_points: int = 64


def _mlp(width: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(2, width), nn.Tanh()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(width, 1))


class XPinn(nn.Module):
    """Two subdomain networks; ``forward(z)`` takes each point's own subdomain network."""

    def __init__(self, family: Family, config: XPinnConfig):
        super().__init__()
        self.family, self.config = family, config
        self.nets = nn.ModuleList([_mlp(config.width, config.depth) for _ in range(2)])
        lo, hi = torch.tensor(family.lower), torch.tensor(family.upper)
        self.register_buffer("centre", (lo + hi) / 2)
        self.register_buffer("halfwidth", (hi - lo) / 2)

    def net(self, i: int, z: Tensor) -> Tensor:
        return self.nets[i]((z - self.centre) / self.halfwidth)

    def side(self, z: Tensor) -> Tensor:
        return (z[:, self.family.split_axis] >= self.family.split_value).long()

    def forward(self, z: Tensor) -> Tensor:
        s = self.side(z)
        return torch.where(s[:, None] == 0, self.net(0, z), self.net(1, z))


def _derivatives(u: Tensor, z: Tensor, third: bool = False) -> dict[str, Tensor]:
    g = torch.autograd.grad(u.sum(), z, create_graph=True)[0]
    d = {"x": g[:, 0:1], "t": g[:, 1:2]}
    d["xx"] = torch.autograd.grad(d["x"].sum(), z, create_graph=True)[0][:, 0:1]
    d["tt"] = torch.autograd.grad(d["t"].sum(), z, create_graph=True)[0][:, 1:2]
    return d


def _interface_loss(model: XPinn, z: Tensor, p: float, arm: Sequence[int]) -> Tensor:
    fam = model.family
    zi = z.clone().requires_grad_(True)
    us, ds, rs = [], [], []
    for i in range(2):
        u = model.net(i, zi)
        d = _derivatives(u, zi)
        us.append(u)
        ds.append(d)
        rs.append(fam.residual(u, d, zi, p))
    on = dict(zip(INTERFACE_TERMS, arm))
    normal = "x" if fam.split_axis == 0 else "t"
    terms = []
    if on["continuity"]:
        terms.append((us[0] - us[1]).pow(2).mean())
    if on["average"]:
        avg = (us[0] + us[1]) / 2
        terms.append(((us[0] - avg).pow(2) + (us[1] - avg).pow(2)).mean())
    if on["residual"]:
        terms.append((rs[0].pow(2) + rs[1].pow(2)).mean())
    if on["residual_continuity"]:
        terms.append((rs[0] - rs[1]).pow(2).mean())
    if on["flux"]:
        terms.append((ds[0][normal] - ds[1][normal]).pow(2).mean())
    if on["ut_continuity"]:
        terms.append((ds[0]["t"] - ds[1]["t"]).pow(2).mean())
    if on["gradient_residual"]:
        for r in rs:
            gr = torch.autograd.grad(r.sum(), zi, create_graph=True)[0]
            terms.append(gr.pow(2).sum(-1).mean())
    if on["ux_continuity"]:
        terms.append((ds[0]["x"] - ds[1]["x"]).pow(2).mean())
    if on["uxx_continuity"]:
        terms.append((ds[0]["xx"] - ds[1]["xx"]).pow(2).mean())
    return sum(terms) if terms else zi.new_zeros(())


@dataclass
class _Points:
    collocation: list[Tensor]
    boundary: list[tuple[Tensor, Tensor]]
    interface: Tensor
    test: Tensor
    truth: Tensor


def _points(family: Family, p: float, cfg: XPinnConfig, seed: int) -> _Points:
    from scipy.stats import qmc

    rng = np.random.default_rng(seed)
    lo, hi = np.array(family.lower), np.array(family.upper)
    a, v = family.split_axis, family.split_value
    colloc, bnd = [], []
    bz, bv = family.boundary(2 * cfg.boundary_points, p, rng)
    for i in range(2):
        sub_lo, sub_hi = lo.copy(), hi.copy()
        if i == 0:
            sub_hi[a] = v
        else:
            sub_lo[a] = v
        pts = qmc.scale(qmc.LatinHypercube(d=2, seed=rng).random(cfg.collocation_points), sub_lo, sub_hi)
        colloc.append(torch.tensor(pts, dtype=torch.float32))
        mask = (bz[:, a] < v) if i == 0 else (bz[:, a] >= v)
        bnd.append((torch.tensor(bz[mask], dtype=torch.float32), torch.tensor(bv[mask], dtype=torch.float32)))
    t = np.linspace(0, 1, cfg.interface_points)
    iface = np.empty((cfg.interface_points, 2))
    iface[:, a] = v
    iface[:, 1 - a] = lo[1 - a] + t * (hi[1 - a] - lo[1 - a])
    g = cfg.test_points
    mesh = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], g), np.linspace(lo[1], hi[1], g), indexing="ij"), -1)
    test = mesh.reshape(-1, 2)
    return _Points(colloc, bnd, torch.tensor(iface, dtype=torch.float32), torch.tensor(test, dtype=torch.float32),
                   torch.tensor(family.reference(test, p), dtype=torch.float32))


def _loss(model: XPinn, pts: _Points, p: float, arm: Sequence[int]) -> Tensor:
    fam, cfg = model.family, model.config
    total = 0.0
    for i in range(2):
        z = pts.collocation[i].clone().requires_grad_(True)
        u = model.net(i, z)
        total = total + fam.residual(u, _derivatives(u, z), z, p).pow(2).mean()
        bz, bv = pts.boundary[i]
        if len(bz):
            total = total + cfg.boundary_weight * (model.net(i, bz) - bv).pow(2).mean()
    if any(arm):
        total = total + cfg.interface_weight * _interface_loss(model, pts.interface, p, arm)
    return total


def relative_l2(model: XPinn, pts: _Points) -> float:
    with torch.no_grad():
        pred = model(pts.test)
    return float((pred - pts.truth).norm() / pts.truth.norm().clamp_min(1e-12))


def train_xpinn(family: Family | str, p: float, arm: Sequence[int], config: XPinnConfig = XPinnConfig(), *,
                seed: int = 0, arm_lbfgs: Sequence[int] | None = None) -> dict[str, Any]:
    """Train an XPINN for parameter ``p`` with the interface terms of ``arm`` (``arm_lbfgs`` in the L-BFGS
    phase, default the same); returns the relative L2 after each phase, the time and the final loss."""
    family = resolve_family(family) if isinstance(family, str) else family
    arm = tuple(int(a) for a in arm)
    terms_from_arm(arm)
    arm2 = arm if arm_lbfgs is None else tuple(int(a) for a in arm_lbfgs)
    terms_from_arm(arm2)
    torch.manual_seed(seed)
    model = XPinn(family, config)
    pts = _points(family, p, config, seed)
    tic = time.perf_counter()
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    for _ in range(config.adam_steps):
        opt.zero_grad(set_to_none=True)
        loss = _loss(model, pts, p, arm)
        loss.backward()
        opt.step()
    after_adam = relative_l2(model, pts)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if config.lbfgs_steps:
        lbfgs = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=config.lbfgs_steps, history_size=50,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

        def closure():
            lbfgs.zero_grad(set_to_none=True)
            value = _loss(model, pts, p, arm2)
            value.backward()
            return value

        lbfgs.step(closure)
    final = relative_l2(model, pts)
    lbfgs_diverged = not math.isfinite(final)
    if lbfgs_diverged and math.isfinite(after_adam):  # an L-BFGS blow-up: keep the Adam phase's network
        model.load_state_dict(state)
        final = after_adam
    diverged = not math.isfinite(final)
    if diverged:  # reported as an infinite error, never as NaN; the bandit's reward caps it (see _reward)
        final = math.inf
        after_adam = after_adam if math.isfinite(after_adam) else math.inf
    with torch.enable_grad():
        loss = float(_loss(model, pts, p, arm2).detach())
    return {"rel_l2": final, "rel_l2_adam": after_adam, "seconds": time.perf_counter() - tic, "loss": loss,
            "arm": list(arm), "arm_lbfgs": list(arm2), "diverged": diverged, "lbfgs_diverged": lbfgs_diverged}


# ------------------------------------------------------------------------------------------------- bandit


MAX_ERROR = 1e3  # the reward of a diverged training: -log10(MAX_ERROR)


def _reward(rel_l2: float) -> float:
    """``-log10`` of the relative L2, clipped to ``[1e-12, MAX_ERROR]``; a NaN or infinite error (a diverged
    training) counts as ``MAX_ERROR``."""
    if not math.isfinite(rel_l2):
        rel_l2 = MAX_ERROR
    return -math.log10(min(max(rel_l2, 1e-12), MAX_ERROR))


class ArmGP:
    """A gpytorch exact GP of the reward over ``(parameter in [0, 1], arm bits)``: constant mean,
    ``ScaleKernel(RBF(parameter) x Hamming(arm))`` (a categorical kernel ``exp(-hamming / 9 / l)``),
    Gaussian likelihood; hyperparameters by Adam on the exact marginal likelihood."""

    def __init__(self, fit_steps: int = 100):
        self.fit_steps = fit_steps
        self.model = None

    @staticmethod
    def _kernel():
        import gpytorch

        class HammingKernel(gpytorch.kernels.Kernel):
            has_lengthscale = True

            def forward(self, x1, x2, diag=False, **params):
                if diag:
                    return torch.ones(x1.shape[:-1], dtype=x1.dtype, device=x1.device)
                d = (x1.unsqueeze(-2) - x2.unsqueeze(-3)).abs().mean(-1)
                return torch.exp(-d / self.lengthscale)

        n = len(INTERFACE_TERMS)
        return gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel(active_dims=(0,))
                                            * HammingKernel(active_dims=tuple(range(1, n + 1))))

    def fit(self, x: Tensor, y: Tensor) -> "ArmGP":
        import gpytorch

        x, y = x.double(), y.double()
        self.mean, self.std = y.mean(), y.std().clamp_min(1e-6) if len(y) > 1 else torch.tensor(1.0)
        yn = (y - self.mean) / self.std
        kernel = self._kernel()

        class _GP(gpytorch.models.ExactGP):
            def __init__(self, train_x, train_y, likelihood):
                super().__init__(train_x, train_y, likelihood)
                self.mean_module = gpytorch.means.ConstantMean()
                self.covar_module = kernel

            def forward(self, z):
                return gpytorch.distributions.MultivariateNormal(self.mean_module(z), self.covar_module(z))

        likelihood = gpytorch.likelihoods.GaussianLikelihood().double()
        model = _GP(x, yn, likelihood).double()
        model.train()
        likelihood.train()
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
        for _ in range(self.fit_steps):
            opt.zero_grad()
            loss = -mll(model(x), yn)
            loss.backward()
            opt.step()
        model.eval()
        likelihood.eval()
        self.model, self.likelihood = model, likelihood
        return self

    def posterior(self, x: Tensor):
        """``(mean, covariance)`` of the reward (latent function) at ``x``, in reward units (the exact joint
        covariance, not gpytorch's fast approximation, so that a joint draw is valid)."""
        with torch.no_grad():
            f = self.model(x.double())
            return f.mean * self.std + self.mean, f.covariance_matrix * self.std ** 2


@dataclass
class Bandit:
    """Contextual bandit over the 512 arms for one family (parameter scaled to ``[0, 1]`` over its range).

    ``strategy``: ``ucb`` (``mean + c std``) or ``thompson`` (one joint posterior draw over the arms)."""

    low: float
    high: float
    strategy: str = "ucb"
    c: float = 1.0
    fit_steps: int = 100
    seed: int = 0
    history: list[tuple[float, tuple[int, ...], float]] = field(default_factory=list)

    def __post_init__(self):
        if self.strategy not in ("ucb", "thompson"):
            raise ConfigError(f"unknown bandit strategy {self.strategy!r}; choose ucb or thompson")
        self.arms = all_arms()
        self.generator = torch.Generator().manual_seed(self.seed)

    def _inputs(self, p: float) -> Tensor:
        s = (p - self.low) / (self.high - self.low)
        return torch.cat([torch.full((len(self.arms), 1), s), self.arms], dim=1)

    def add(self, p: float, arm: Sequence[int], rel_l2: float) -> None:
        self.history.append((p, tuple(int(a) for a in arm), _reward(rel_l2)))

    def _gp(self) -> ArmGP:
        x = torch.tensor([[(p - self.low) / (self.high - self.low), *arm] for p, arm, _ in self.history])
        y = torch.tensor([r for _, _, r in self.history])
        return ArmGP(self.fit_steps).fit(x, y)

    def choose(self, p: float, explore: bool = True) -> tuple[int, ...]:
        """The arm for parameter ``p``: by the strategy, or (``explore=False``) the best posterior mean."""
        if not self.history:
            i = int(torch.randint(len(self.arms), (1,), generator=self.generator))
            return tuple(int(a) for a in self.arms[i])
        mean, cov = self._gp().posterior(self._inputs(p))
        if not explore:
            score = mean
        elif self.strategy == "ucb":
            score = mean + self.c * cov.diagonal().clamp_min(0).sqrt()
        else:
            lam, Q = torch.linalg.eigh(0.5 * (cov + cov.T))  # a square root that round-off cannot break
            z = torch.randn(len(mean), generator=self.generator, dtype=cov.dtype)
            score = mean + Q @ (lam.clamp_min(0).sqrt() * z)
        return tuple(int(a) for a in self.arms[int(score.argmax())])
