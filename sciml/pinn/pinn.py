"""The plain physics-informed network (Raissi, Perdikaris, Karniadakis 2019) on the problems of
:mod:`sciml.pinn.problems`: an MLP ``u(x)`` trained on the PDE residual at collocation points plus
boundary and initial terms (soft, weighted) or with an output transform that meets them exactly.

``sciml train pinn --problem NAME --set c=30 ...`` trains it through :class:`sciml.train.Trainer`,
drawing fresh collocation points every step (or using a fixed grid, ``sampling=grid``), AdamW then
optionally L-BFGS (``lbfgs_epochs``). ``sciml.load(RUN).predict(points)`` answers at any points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from sciml._errors import ConfigError, DataError
from sciml.pinn.problems import Problem, grid_points, make_problem

__all__ = ["PinnConfig", "PinnNet", "PinnMethod", "MLP", "SPEC", "problem_of", "collocation_grid"]

ACTIVATIONS = {"tanh": nn.Tanh, "sin": None, "gelu": nn.GELU, "silu": nn.SiLU}


class _Sine(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return _Sine() if name == "sin" else ACTIVATIONS[name]()


class MLP(nn.Module):
    """``in_features -> width (x depth hidden layers, activation) -> out_features``, Xavier-normal weights,
    zero biases (the PINN literature's initialisation)."""

    def __init__(self, in_features: int, out_features: int, width: int, depth: int, act: str = "tanh"):
        super().__init__()
        if width < 1 or depth < 1:
            raise ConfigError(f"an MLP needs width and depth of at least 1, got width {width}, depth {depth}")
        layers: list[nn.Module] = []
        sizes = [in_features] + [width] * depth
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), activation(act)]
        layers.append(nn.Linear(sizes[-1], out_features))
        self.net = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.net:
            if isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass(frozen=True)
class PinnConfig:
    """A PINN on one problem.

    Attributes
    ----------
    problem : :data:`sciml.pinn.problems.PROBLEMS` name
    c, nu, T, dim : problem parameters (``None``: the problem's default; see :func:`make_problem`)
    width, depth, activation : the MLP (``depth`` hidden layers)
    periodic_embedding : feed ``(cos x, sin x, ...)`` instead of ``x`` for a periodic coordinate 0
        (periodicity then holds exactly and the boundary term is dropped)
    hard : use the problem's output transform (its ``hard_terms`` hold exactly and leave the loss)
    sampling : collocation points: ``uniform``, ``sobol``, ``lhs`` (fresh every step) or ``grid`` (the
        problem's ``grid_nx x grid_nt`` grid every step; evolution problems)
    n_interior, n_boundary, n_initial : points per step of each term
    w_residual, w_boundary, w_initial : loss weights
    dtype : ``float32`` or ``float64``
    """

    problem: str = "convection"
    c: float | None = None
    nu: float | None = None
    T: float | None = None
    dim: int | None = None
    width: int = 50
    depth: int = 4
    activation: str = "tanh"
    periodic_embedding: bool = False
    hard: bool = False
    sampling: Literal["uniform", "sobol", "lhs", "grid"] = "uniform"
    grid_nx: int = 256
    grid_nt: int = 100
    n_interior: int = 2000
    n_boundary: int = 200
    n_initial: int = 256
    w_residual: float = 1.0
    w_boundary: float = 1.0
    w_initial: float = 1.0
    dtype: Literal["float32", "float64"] = "float32"

    def __post_init__(self):
        for name in ("n_interior", "n_boundary", "n_initial", "grid_nx", "grid_nt"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("w_residual", "w_boundary", "w_initial"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")

    @property
    def channels(self) -> int:
        return 1


def problem_of(config: Any) -> Problem:
    """The :class:`~sciml.pinn.problems.Problem` a config describes."""
    return make_problem(config.problem, c=config.c, nu=config.nu, T=config.T, dim=config.dim)


def _torch_dtype(name: str) -> torch.dtype:
    return torch.float64 if name == "float64" else torch.float32


class PinnNet(nn.Module):
    """``u(x)`` of a PINN: pointwise, ``(..., dim) -> (..., 1)``.

    Shapes: ``x (N, dim)`` or ``(B, P, dim)`` -> ``(N, 1)`` or ``(B, P, 1)``; coordinates in the
    problem's order (space, then time).
    """

    def __init__(self, config: PinnConfig):
        super().__init__()
        self.config = config
        self.problem = problem_of(config)
        if config.periodic_embedding and not self.problem.periodic:
            raise ConfigError(f"periodic_embedding needs a periodic problem; {config.problem!r} is not periodic")
        if config.hard and self.problem.hard is None:
            raise ConfigError(f"problem {config.problem!r} has no hard output transform")
        features = self.problem.dim + (1 if config.periodic_embedding else 0)
        self.mlp = MLP(features, config.channels, config.width, config.depth, config.activation)
        self.to(_torch_dtype(config.dtype))

    @property
    def dim(self) -> int:
        return self.problem.dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.periodic_embedding:
            return x
        angle = x[..., :1] * (2.0 * np.pi / self.problem.periodic)
        return torch.cat([torch.cos(angle), torch.sin(angle), x[..., 1:]], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.dim:
            raise DataError(f"points have {x.shape[-1]} coordinates, the {self.config.problem} PINN takes {self.dim}")
        flat = x.reshape(-1, self.dim)
        out = self.mlp(self.features(flat))
        if self.config.hard:
            out = self.problem.hard(flat, out)
        return out.reshape(*x.shape[:-1], out.shape[-1])

    def extra_repr(self) -> str:
        return f"problem={self.config.problem!r}, dim={self.dim}, hard={self.config.hard}"


def collocation_grid(problem: Problem, nx: int, nt: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The fixed grid of an evolution problem as a batch: interior ``(nt * nx, 2)`` points, the initial
    row (``t = t0``) and the two ends (for periodic or Dirichlet terms)."""
    if not problem.time_dependent:
        raise ConfigError(f"sampling=grid is for evolution problems; {problem.name!r} is not one (use uniform, "
                          f"sobol or lhs)")
    points = torch.from_numpy(grid_points(problem, nx, nt)).to(dtype)
    initial = points[:nx]
    lower, upper = problem.domain.bounding_box()
    t = points[::nx, 1:]
    boundary = torch.cat([torch.cat([torch.full_like(t, lower[0]), t], 1),
                          torch.cat([torch.full_like(t, upper[0]), t], 1)])
    normals = torch.cat([torch.cat([-torch.ones_like(t), torch.zeros_like(t)], 1),
                         torch.cat([torch.ones_like(t), torch.zeros_like(t)], 1)])
    return {"interior": points, "boundary": boundary, "normals": normals, "initial": initial}


class PinnMethod:
    """Training of a :class:`PinnNet`: ``sample`` draws the collocation points, ``step`` the weighted terms."""

    def __init__(self, model: PinnNet):
        self.model = model
        self.config = model.config
        self.problem = model.problem
        self.dtype = _torch_dtype(model.config.dtype)
        self.terms = self._terms()
        self._grid = None

    def _terms(self) -> tuple[str, ...]:
        c, p = self.config, self.problem
        terms = ["residual"]
        if p.boundary is not None and c.w_boundary > 0 and not (c.hard and "boundary" in p.hard_terms):
            if not (c.periodic_embedding and p.periodic):  # the embedding makes u periodic exactly
                terms.append("boundary")
        if p.initial is not None and c.w_initial > 0 and not (c.hard and "initial" in p.hard_terms):
            terms.append("initial")
        return tuple(terms)

    def sample(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        c, domain = self.config, self.problem.domain
        if c.sampling == "grid":
            if self._grid is None:
                self._grid = collocation_grid(self.problem, c.grid_nx, c.grid_nt, self.dtype)
            return self._grid
        seeds = torch.randint(0, 2 ** 31 - 1, (3,), generator=generator).tolist()
        batch = {"interior": domain.sample_interior(c.n_interior, method=c.sampling, seed=seeds[0], dtype=self.dtype)}
        if "boundary" in self.terms:
            points, normals = domain.sample_boundary(c.n_boundary, method=c.sampling, seed=seeds[1], dtype=self.dtype)
            batch.update(boundary=points, normals=normals)
        if "initial" in self.terms:
            batch["initial"] = domain.sample_initial(c.n_initial, method=c.sampling, seed=seeds[2], dtype=self.dtype)
        return batch

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c, p = self.config, self.problem
        f = self.model
        x = batch["interior"]
        out: dict[str, torch.Tensor] = {"residual": mean_square(p, "residual", p.residual(f, x), x)}
        loss = c.w_residual * out["residual"]
        if "boundary" in self.terms:
            xb = batch["boundary"]
            out["boundary"] = mean_square(p, "boundary", p.boundary(f, xb, batch["normals"]), xb)
            loss = loss + c.w_boundary * out["boundary"]
        if "initial" in self.terms:
            x0 = batch["initial"]
            out["initial"] = mean_square(p, "initial", p.initial(f, x0), x0)
            loss = loss + c.w_initial * out["initial"]
        out["loss"] = loss
        return out


def mean_square(problem: Problem, term: str, values: Any, points: torch.Tensor) -> torch.Tensor:
    """The mean square of a term's values, which must be ``(N,)`` or ``(N, k)`` for ``N`` points."""
    n = points.shape[0]
    if not isinstance(values, torch.Tensor) or values.ndim not in (1, 2) or values.shape[0] != n:
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise DataError(f"the {term} term of problem {problem.name!r} returned {shape} for {n} points; it must "
                        f"return ({n},) or ({n}, k) values")
    return values.pow(2).mean()


def require_in_domain(problem: Problem, points: np.ndarray, counts: np.ndarray, where: str) -> None:
    """Refuse points outside the problem's domain (a periodic coordinate is wrapped first), one sentence."""
    lower, upper = problem.domain.bounding_box()
    total, outside, first = 0, 0, None
    for sample, count in zip(points, counts):
        q = np.array(sample[:int(count)], dtype=np.float64)
        if problem.periodic:
            q[:, 0] = lower[0] + np.mod(q[:, 0] - lower[0], problem.periodic)
        inside = problem.domain.contains(torch.from_numpy(q), tol=1e-9 * max(1.0, float(np.max(upper - lower))))
        bad = ~inside.numpy()
        total += len(q)
        outside += int(bad.sum())
        if first is None and bad.any():
            first = q[np.argmax(bad)]
    if outside:
        names = ", ".join(problem.coordinate_names)
        raise DataError(f"{outside} of the {total} points of {where} lie outside the domain of problem {problem.name!r} "
                        f"({problem.domain!r} in {names}); first: {np.round(first, 6).tolist()}")


def _point_inference(check=None):
    """Point-set inference whose files must lie in the model's domain: ``check(model, points, counts, where)``
    raises for points outside it (default: the problem's domain, :func:`require_in_domain`)."""
    from sciml.train.inference import PointSetInference

    check = check or (lambda model, points, counts, where: require_in_domain(model.problem, points, counts, where))

    class DomainPointInference(PointSetInference):
        def open(self, path, model, metadata):
            data = super().open(path, model, metadata)
            for start in range(0, len(data), 256):
                points, _, counts = data.read(list(range(start, min(len(data), start + 256))))
                check(model, points, counts, str(path))
            return data

    return DomainPointInference()


def _identity(model: PinnNet) -> dict[str, Any]:
    lower, upper = model.problem.domain.bounding_box()
    return {"problem": model.problem.name, "pde": model.problem.pde, "params": model.problem.params,
            "domain": {"lower": [float(v) for v in lower], "upper": [float(v) for v in upper],
                       "coordinate_names": list(model.problem.coordinate_names)}}


def _spec():
    from sciml.data.points import read_point_set
    from sciml.train.spec import ModelSpec

    return ModelSpec(
        name="pinn", config_cls=PinnConfig, build=PinnNet, method=PinnMethod, dataset=read_point_set,
        complete_config=lambda config, data: config, prepare=lambda model, data: None,
        paper="Raissi, Perdikaris, Karniadakis, Physics-informed neural networks, J. Comput. Phys. 378 (2019); "
              "arXiv:1711.10561",
        summary="MLP u(x) trained on the PDE residual and soft or hard boundary/initial terms, fresh points each step",
        inference=_point_inference(), needs_data=False, identity=_identity,
        train_defaults={"steps_per_epoch": 50, "epochs": 40, "lr": 1e-3, "weight_decay": 0.0, "scheduler": "none"},
        example={"points": {"expr": "sin(x - t)", "box": "0:6.283185307179586", "time": "0:1", "n": 2,
                            "points": 64},
                 "overrides": {"problem": "convection", "epochs": 2, "steps_per_epoch": 3, "n_interior": 64,
                               "n_boundary": 16, "n_initial": 16, "width": 8, "depth": 2}})


SPEC = _spec()
