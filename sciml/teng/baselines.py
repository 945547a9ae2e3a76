"""The baselines of the TENG report, on the same network, equations, references and initial fit.

- :class:`TdvpRun`: the time-dependent variational principle (Neural Galerkin): ``theta' = argmin ||J theta' -
  L[u_theta]||`` at the collocation points, integrated by classical RK4 with the step ``dt``; one random subset
  of ``params_first`` parameters per step (randomised sparse Neural Galerkin: the full Jacobian is too large
  for a CPU solve per stage), the same ridge as TENG.
- :class:`PinnRun`: a space-time PINN ``u(t, x)`` (the periodic embedding in ``x``, ``t`` appended) trained by Adam
  on ``mean (u_t - L[u])^2`` at fresh random points of ``[0, T] x [0, 2 pi)^2`` plus ``ic_weight x mean (u(0, x)
  - u0)^2``, for a wall-clock budget (equal to TENG's in the experiments) or a number of steps.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from sciml._errors import ConfigError
from sciml.teng.equations import Equation, grid_points, initial_condition
from sciml.teng.model import PeriodicNet, PeriodicNetConfig
from sciml.teng.stepper import TengConfig, TengFailure, TengRun, relative_l2

__all__ = ["TdvpRun", "PinnRun"]


class TdvpRun(TengRun):
    """TDVP / Neural Galerkin with RK4 on the :class:`TengRun` machinery (``config.integrator`` is ignored;
    the floor reported is RK4's on the spectral semi-discretisation)."""

    scheme = "rk4"
    method_name = "tdvp"

    def velocity(self, x: torch.Tensor, theta: torch.Tensor, subset: torch.Tensor, where: str) -> torch.Tensor:
        c = self.config
        _, f = self.rhs(x, theta)
        jac = self.projector.jacobian(x, subset, theta)
        v, rank = self.projector.ridge_solve(jac, f, c.damping)
        if not bool(torch.isfinite(v).all()):
            raise TengFailure(f"the TDVP solve{where} returned non-finite values (rank {rank})")
        self._ranks.append(rank)
        return torch.zeros_like(theta).index_add(0, subset, v)

    def step(self) -> dict[str, Any]:
        c = self.config
        n = self.step_index + 1
        where = f" at step {n} (t = {n * c.dt:.6g})"
        x = self.collocation()
        subset = torch.randperm(self.projector.flat.total, generator=self.generator)[:c.params_first].to(x.device)
        self._ranks: list[int] = []
        th = self.projector.theta
        k1 = self.velocity(x, th, subset, where)
        k2 = self.velocity(x, th + 0.5 * c.dt * k1, subset, where)
        k3 = self.velocity(x, th + 0.5 * c.dt * k2, subset, where)
        k4 = self.velocity(x, th + c.dt * k3, subset, where)
        self.projector.theta = th + (c.dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        self.projector._load(None)
        self.step_index = n
        return {"residuals": [], "min_rank": min(self._ranks)}


class PinnRun:
    """A space-time PINN on ``[0, t_final] x [0, 2 pi)^2`` with the benchmark's equation and initial condition."""

    def __init__(self, config: TengConfig, *, points: int = 2048, ic_points: int = 1024, ic_weight: float = 100.0,
                 lr: float = 1e-3, device: str = "cpu"):
        if points < 1 or ic_points < 1:
            raise ConfigError("the PINN needs at least one residual and one initial point per step")
        self.config, self.points, self.ic_points, self.ic_weight, self.lr = config, points, ic_points, ic_weight, lr
        self.device = torch.device(device)
        self.equation = Equation(config.equation, config.diffusion)
        self.net = PeriodicNet(PeriodicNetConfig(dim=2, width=config.width, depth=config.depth, time_input=True,
                                                 seed=config.model_seed)).to(self.device)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.steps_done = 0
        self.seconds = 0.0

    def _residual(self, tx: torch.Tensor) -> torch.Tensor:
        """``u_t - L[u]`` at ``(t, x, y)`` points, differentiable in the weights
        (:func:`sciml.pinn.derivatives.partials`)."""
        from sciml.pinn.derivatives import partials

        u, first, second = partials(self.net, tx, order=2)
        return first[0, :, 0] - self.equation.rhs(u[:, 0], first[1:, :, 0].T, second[1:, :, 0].sum(dim=0))

    def train(self, *, seconds: float | None = None, steps: int | None = None) -> dict[str, Any]:
        """Adam until ``seconds`` of wall time or ``steps`` steps (cosine-annealed over ``steps`` when given)."""
        if (seconds is None) == (steps is None):
            raise ConfigError("give the PINN either a wall-time budget (seconds) or a number of steps")
        c = self.config
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if steps else None
        tic = time.perf_counter()
        loss = float("nan")
        while True:
            if steps is not None and self.steps_done >= steps:
                break
            if seconds is not None and time.perf_counter() - tic >= seconds:
                break
            g = self.generator
            tx = torch.rand(self.points, 3, generator=g, dtype=torch.float64)
            tx = tx * torch.tensor([c.t_final, 2 * math.pi, 2 * math.pi], dtype=torch.float64)
            x0 = torch.rand(self.ic_points, 2, generator=g, dtype=torch.float64) * (2 * math.pi)
            tx, x0 = tx.to(self.device), x0.to(self.device)
            t0 = torch.cat([torch.zeros(len(x0), 1, dtype=x0.dtype, device=x0.device), x0], dim=1)
            residual = self._residual(tx).pow(2).mean()
            ic = (self.net(t0) - initial_condition(x0, c.amplitude, c.sharpness)).pow(2).mean()
            total = residual + self.ic_weight * ic
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            self.steps_done += 1
            loss = float(total.detach())
            if not math.isfinite(loss):
                raise TengFailure(f"the PINN loss is not finite at step {self.steps_done}")
        self.seconds += time.perf_counter() - tic
        return {"steps": self.steps_done, "seconds": self.seconds, "loss": loss}

    def errors(self, references: dict[int, torch.Tensor], eval_points: int) -> list[dict[str, float]]:
        """Relative L2 against ``references`` (``{step: values on the eval grid}``) at each step's time."""
        x = grid_points(eval_points).to(self.device)
        rows = []
        with torch.no_grad():
            for step, ref in sorted(references.items()):
                t = step * self.config.dt
                tx = torch.cat([torch.full((len(x), 1), t, dtype=x.dtype, device=x.device), x], dim=1)
                rows.append({"step": step, "t": t, "rel_l2": relative_l2(self.net(tx), ref)})
        return rows
