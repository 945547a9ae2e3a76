"""Lagrangian PINNs (Mojgani, Balajewicz, Hassanzadeh, arXiv 2205.02902).

For ``w_t + f(x, t, w) w_x = g w_xx`` on a periodic interval, follow the characteristics: one
branch learns ``X(x0, t)`` with ``X_t = f`` and ``X(x0, 0) = x0``, the other the state ``w(x0, t)``
on them, with ``D_t w = g w_xx``. Both take ``(cos x0, sin x0, t)`` (periodicity in ``x0`` exactly).
The loss is the paper's::

    w_char ||X_t - f||^2 + w_state ||w_t - g w_xx||^2 + w_initial (||X(., 0) - x0||^2 + ||w(., 0) - w0||^2)

with weights 10, 1, 1000 by default (mean squares over the collocation points, by default the
paper's full 256 x 100 grid in ``(x0, t)``).

Two choices are ours and are configurable:

* ``X = x0 + char_scale * N_X(cos x0, sin x0, t)``: the network sees only ``cos x0, sin x0``, so the
  identity part is added; ``char_scale`` (default ``max |f| * T``: ``|c| T`` for convection, ``max |w0| T``
  for Burgers) makes the network's output O(1) whatever ``c`` (a rescaling, not a constraint: the
  initial term still carries ``X(., 0) = x0``);
* ``diffusion=x0`` (default) uses ``w_x0x0`` as the paper writes it; ``diffusion=chain`` computes ``w_xx``
  along the characteristics by the chain rule, ``(w_x0x0 X_x0 - w_x0 X_x0x0) / X_x0^3``, exact for any
  ``X`` (the two agree when ``X_x0 = 1``, as for constant-speed convection) but unstable while training:
  wherever the untrained characteristic branch has ``X_x0`` near 0 the term explodes (convection-
  diffusion at c = 10, small scale: a state loss of 1e17 at the first epoch, relative L2 2.8).

The Eulerian field at any ``(x, t)``, which :meth:`LpinnNet.forward` returns (and so ``predict``,
``sciml eval`` and ``sciml predict``), is interpolated from the Lagrangian solution: at each time the
characteristic feet of ``eval_x0`` points are mapped to ``X mod L``, sorted, and ``w`` is interpolated
linearly and periodically at ``x``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sciml._errors import ConfigError, DataError
from sciml.pinn.derivatives import partials
from sciml.pinn.pinn import MLP, _torch_dtype, collocation_grid
from sciml.pinn.problems import make_problem

__all__ = ["LpinnConfig", "LpinnNet", "LpinnMethod", "SPEC", "PERIODIC_PROBLEMS", "eulerian_wxx"]

PERIODIC_PROBLEMS = ("convection", "convection-diffusion", "burgers")


@dataclass(frozen=True)
class LpinnConfig:
    """A Lagrangian PINN.

    Attributes
    ----------
    problem : ``convection``, ``convection-diffusion`` or ``burgers``
    c, nu, T : problem parameters (``None``: the problem's defaults)
    width, state_depth, char_depth, activation : the two branches (the authors' code: state 5 x 50
        tanh, characteristic 2 layers)
    char_scale : output scale of the characteristic branch (``None``: ``max |f| T``)
    diffusion : ``x0`` (the paper's ``w_x0x0``) or ``chain`` (exact ``w_xx`` along characteristics; fragile)
    sampling : ``grid`` (the ``grid_nx x grid_nt`` grid in ``(x0, t)`` every step) or ``uniform``
        (``n_points`` fresh points and ``n_initial`` on ``t = 0``)
    w_char, w_state, w_initial : loss weights (the paper's 10, 1, 1000)
    eval_x0 : characteristic feet per time used to interpolate the Eulerian field
    dtype : ``float32`` or ``float64``
    """

    problem: str = "convection"
    c: float | None = None
    nu: float | None = None
    T: float | None = None
    width: int = 50
    state_depth: int = 5
    char_depth: int = 2
    activation: str = "tanh"
    char_scale: float | None = None
    diffusion: Literal["chain", "x0"] = "x0"
    sampling: Literal["grid", "uniform"] = "grid"
    grid_nx: int = 256
    grid_nt: int = 100
    n_points: int = 4096
    n_initial: int = 256
    w_char: float = 10.0
    w_state: float = 1.0
    w_initial: float = 1000.0
    eval_x0: int = 512
    dtype: Literal["float32", "float64"] = "float32"

    def __post_init__(self):
        if self.problem not in PERIODIC_PROBLEMS:
            raise ValueError(f"the Lagrangian PINN solves {', '.join(PERIODIC_PROBLEMS)}; got problem {self.problem!r}")
        for name in ("grid_nx", "grid_nt", "n_points", "n_initial"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.eval_x0 < 4:
            raise ValueError(f"eval_x0 must be at least 4, got {self.eval_x0}")
        if self.char_scale is not None and not self.char_scale > 0:
            raise ValueError(f"char_scale must be positive, got {self.char_scale}")

    @property
    def dim(self) -> int:
        return 2

    @property
    def channels(self) -> int:
        return 1


class LpinnNet(nn.Module):
    """The two branches of a Lagrangian PINN, and the Eulerian field they define.

    Shapes: :meth:`lagrangian` ``(N, 2)`` points ``(x0, t)`` -> ``X (N, 1)``, ``w (N, 1)``;
    :meth:`forward` ``(..., 2)`` points ``(x, t)`` -> ``(..., 1)`` Eulerian values.
    """

    def __init__(self, config: LpinnConfig):
        super().__init__()
        self.config = config
        self.problem = make_problem(config.problem, c=config.c, nu=config.nu, T=config.T)
        lower, upper = self.problem.domain.bounding_box()
        self.x_lower, self.period = float(lower[0]), float(upper[0] - lower[0])
        self.t_final = float(upper[-1])
        self.char = MLP(3, 1, config.width, config.char_depth, config.activation)
        self.state = MLP(3, 1, config.width, config.state_depth, config.activation)
        self.char_scale = config.char_scale if config.char_scale is not None else self.default_char_scale()
        self.to(_torch_dtype(config.dtype))

    def default_char_scale(self) -> float:
        """``max |f| T``: ``|c| T`` for convection (1 when ``c = 0``), ``max |w0| T = T`` for Burgers."""
        speed = abs(self.problem.params.get("c", 1.0)) if self.problem.name != "burgers" else 1.0
        return max(speed, 1.0) * self.t_final

    def _features(self, x0t: torch.Tensor) -> torch.Tensor:
        angle = (x0t[:, :1] - self.x_lower) * (2.0 * math.pi / self.period)
        return torch.cat([torch.cos(angle), torch.sin(angle), x0t[:, 1:]], dim=1)

    def characteristic(self, x0t: torch.Tensor) -> torch.Tensor:
        """``X(x0, t)``, ``(N, 1)``."""
        return x0t[:, :1] + self.char_scale * self.char(self._features(x0t))

    def state_on(self, x0t: torch.Tensor) -> torch.Tensor:
        """``w(x0, t)``, ``(N, 1)``."""
        return self.state(self._features(x0t))

    def lagrangian(self, x0t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.characteristic(x0t), self.state_on(x0t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 2:
            raise DataError(f"points must be (x, t) pairs, got {x.shape[-1]} coordinates")
        flat = x.reshape(-1, 2)
        out = torch.empty(flat.shape[0], 1, dtype=flat.dtype, device=flat.device)
        times, inverse = torch.unique(flat[:, 1], return_inverse=True)
        m = self.config.eval_x0
        x0 = self.x_lower + self.period * torch.arange(m, dtype=flat.dtype, device=flat.device) / m
        chunk = max(1, 65536 // m)
        for start in range(0, len(times), chunk):
            ts = times[start:start + chunk]
            grid = torch.stack([x0.repeat(len(ts)), ts.repeat_interleave(m)], dim=1)
            X, w = self.lagrangian(grid)
            X = torch.remainder(X.reshape(len(ts), m) - self.x_lower, self.period)
            w = w.reshape(len(ts), m)
            order = torch.argsort(X, dim=1)
            X, w = torch.gather(X, 1, order), torch.gather(w, 1, order)
            # periodic padding: one foot before the first and one after the last
            X = torch.cat([X[:, -1:] - self.period, X, X[:, :1] + self.period], dim=1)
            w = torch.cat([w[:, -1:], w, w[:, :1]], dim=1)
            # rows laid end to end with a gap of 3 periods: one sorted sequence, one searchsorted for every point
            width, span = X.shape[1], 3.0 * self.period
            rows = torch.arange(len(ts), dtype=flat.dtype, device=flat.device)[:, None]
            sequence = (X + span * rows).reshape(-1)
            selected = torch.nonzero((inverse >= start) & (inverse < start + len(ts))).reshape(-1)
            row = inverse[selected] - start
            q = torch.remainder(flat[selected, 0] - self.x_lower, self.period)
            right = torch.searchsorted(sequence, q + span * row.to(flat.dtype))
            right = torch.minimum(torch.maximum(right, row * width + 1), row * width + width - 1)
            xl, xr = sequence[right - 1] - span * row.to(flat.dtype), sequence[right] - span * row.to(flat.dtype)
            wl, wr = w.reshape(-1)[right - 1], w.reshape(-1)[right]
            weight = (q - xl) / torch.clamp(xr - xl, min=torch.finfo(flat.dtype).tiny)
            out[selected, 0] = wl + weight * (wr - wl)
        return out.reshape(*x.shape[:-1], 1)

    def extra_repr(self) -> str:
        return f"problem={self.config.problem!r}, char_scale={self.char_scale:g}, diffusion={self.config.diffusion!r}"


class LpinnMethod:
    """Training of a :class:`LpinnNet` on the characteristic, state and initial terms."""

    def __init__(self, model: LpinnNet):
        import os

        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if world > 1:
            raise ConfigError(f"the LPINN trains in one process (its two branches are called directly, which "
                              f"DistributedDataParallel would not synchronise); this is a torchrun job of {world}: "
                              f"run `sciml train lpinn` without torchrun")
        self.model = model
        self.net = model
        self.config = model.config
        self.problem = model.problem
        self.dtype = _torch_dtype(model.config.dtype)
        self.nu = float(self.problem.params.get("nu", 0.0))
        self._grid = None

    def sample(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        c = self.config
        if c.sampling == "grid":
            if self._grid is None:
                grid = collocation_grid(self.problem, c.grid_nx, c.grid_nt, self.dtype)
                self._grid = {"interior": grid["interior"], "initial": grid["initial"]}
            return self._grid
        net = self.net
        x0 = net.x_lower + net.period * torch.rand(c.n_points, 1, generator=generator, dtype=self.dtype)
        t = net.t_final * torch.rand(c.n_points, 1, generator=generator, dtype=self.dtype)
        x_init = net.x_lower + net.period * torch.rand(c.n_initial, 1, generator=generator, dtype=self.dtype)
        return {"interior": torch.cat([x0, t], 1), "initial": torch.cat([x_init, torch.zeros_like(x_init)], 1)}

    def _speed(self, X: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.problem.name == "burgers":
            return w
        return torch.full_like(w, float(self.problem.params["c"]))

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c, net = self.config, self.net
        p = batch["interior"]
        X, dX, d2X = partials(net.characteristic, p, [0, 1])
        w, dw, d2w = partials(net.state_on, p, [0, 1])
        char = dX[1] - self._speed(X, w)
        if self.nu == 0:
            w_xx = torch.zeros_like(w)
        elif c.diffusion == "chain":
            w_xx = eulerian_wxx(dw[0], d2w[0], dX[0], d2X[0])
        else:
            w_xx = d2w[0]
        state = dw[1] - self.nu * w_xx
        p0 = batch["initial"]
        X0, w0 = net.lagrangian(p0)
        initial = (X0 - p0[:, :1]).pow(2).mean() + (w0 - torch.sin(p0[:, :1])).pow(2).mean()
        out = {"characteristic": char.pow(2).mean(), "state": state.pow(2).mean(), "initial": initial}
        out["loss"] = c.w_char * out["characteristic"] + c.w_state * out["state"] + c.w_initial * initial
        return out


def eulerian_wxx(w_x0: torch.Tensor, w_x0x0: torch.Tensor, X_x0: torch.Tensor, X_x0x0: torch.Tensor) -> torch.Tensor:
    """``d^2 w / dx^2`` at ``x = X(x0, t)`` from derivatives in ``x0``: ``w_x = w_x0 / X_x0``, so
    ``w_xx = (w_x0x0 X_x0 - w_x0 X_x0x0) / X_x0^3`` (characteristics that do not cross: ``X_x0 > 0``)."""
    return (w_x0x0 * X_x0 - w_x0 * X_x0x0) / X_x0 ** 3


def _spec():
    from sciml.data.points import read_point_set
    from sciml.pinn.pinn import _identity, _point_inference
    from sciml.train.spec import ModelSpec

    return ModelSpec(
        name="lpinn", config_cls=LpinnConfig, build=LpinnNet, method=LpinnMethod, dataset=read_point_set,
        complete_config=lambda config, data: config, prepare=lambda model, data: None,
        paper="Mojgani, Balajewicz, Hassanzadeh, Lagrangian PINNs: a causality-conforming solution to failure "
              "modes of physics-informed neural networks, arXiv:2205.02902",
        summary="two-branch PINN on characteristics (X_t = f, D_t w = g w_xx) for convection, convection-diffusion, "
                "Burgers; Eulerian field by interpolation",
        inference=_point_inference(), needs_data=False, identity=_identity,
        train_defaults={"steps_per_epoch": 50, "epochs": 40, "lr": 1e-2, "weight_decay": 0.0, "scheduler": "cosine",
                        "lbfgs_epochs": 10},
        example={"points": {"expr": "sin(x - t)", "box": "0:6.283185307179586", "time": "0:1", "n": 2,
                            "points": 64},
                 "overrides": {"problem": "convection", "epochs": 2, "steps_per_epoch": 3, "lbfgs_epochs": 1,
                               "lbfgs_max_iter": 3, "grid_nx": 16, "grid_nt": 8, "width": 8, "eval_x0": 32}})


SPEC = _spec()
