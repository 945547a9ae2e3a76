"""TENG: time-evolving natural gradient (Chen, McCarran, Vizcaino, Soljacic, Luo, arXiv 2404.10771).

Every time step projects a target function onto the network by repeated least squares in function space:
``theta <- theta + delta`` with ``delta = argmin || J_S delta - (target - u_theta) ||`` at the collocation
points, ``J_S`` the Jacobian of ``u_theta`` at those points with respect to a random subset ``S`` of the
parameters (drawn afresh at every iteration: ``params_first`` at the first iteration of a step, then
``params_rest``). Targets:

- TENG-Euler: ``u_n + dt L[u_n]`` (``iterations + 2`` least-squares iterations);
- TENG-Heun: first ``u* = u_n + dt L[u_n]`` (``iterations + 2``), then ``u_n + dt/2 (L[u_n] + L[u*])``
  (``iterations``), starting from the first stage's parameters.

Everything is float64. ``J_S`` comes from the network's written-out backward pass
(:meth:`~sciml.teng.model.PeriodicNet.factors`; ``torch.func.vmap(jacrev)`` for other models and as the tested
reference), the solve from ``torch.linalg.lstsq`` (QR with column pivoting, ``gelsy``, rank-revealing: the numerical rank of
every solve is recorded; SVD with ``lstsq_driver: gelsd``). :class:`TengRun` checkpoints after every time
step and resumes from the last one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import torch

from sciml._errors import ConfigError, DataError
from sciml.teng.equations import (PAPER_COEFFICIENTS, Equation, SpectralSolver, grid_points, initial_condition,
                                  scheme_floor)
from sciml.teng.model import FlatParams, PeriodicNet, PeriodicNetConfig
from sciml.train.trainer import TrainingError

__all__ = ["TengConfig", "Projector", "TengRun", "TengFailure", "relative_l2"]

log = logging.getLogger("sciml.teng")


class TengFailure(TrainingError):
    """A TENG run that cannot go on (a non-finite solve or residual, a rank-0 solve); the last good step stays
    checkpointed. The command line reports it with exit status 1, as a failed training run."""


@dataclass(frozen=True)
class TengConfig:
    """One TENG run (defaults: the paper's heat benchmark with the authors' code settings).

    Attributes
    ----------
    equation : ``heat``, ``allen-cahn`` or ``burgers`` (:mod:`sciml.teng.equations`)
    coefficient : the diffusion coefficient (``None``: the paper's, 0.1 / 0.005 / 0.01)
    integrator : ``euler`` or ``heun``
    dt, t_final : time step and final time (``t_final / dt`` steps)
    points : collocation grid points per dimension (``points^2`` points, equal quadrature weights)
    resample : shift the collocation grid by a random offset at every step (the authors keep it fixed)
    iterations : least-squares iterations per stage (Euler ``iterations + 2``; Heun ``iterations + 2`` then
        ``iterations``: 7 and 12 per step with the authors' 5)
    params_first, params_rest : parameters in the random subset of the first and of the later iterations
    width, depth, model_seed : the network (:class:`~sciml.teng.model.PeriodicNetConfig`)
    seed : the random parameter subsets and grid shifts
    amplitude, sharpness : of the initial condition (:func:`~sciml.teng.equations.initial_condition`)
    init_adam_steps, init_lr : Adam on the initial fit before the least-squares iterations
    init_steps : homotopy steps of the initial fit (from the network's function to ``u0``)
    init_iterations, init_params : Levenberg-Marquardt iterations on ``u0`` after the homotopy, and the subset
        size of every least-squares iteration of the initial fit
    eval_points, eval_every : the error against the reference on a ``eval_points^2`` grid every ``eval_every``
        steps (and at the last)
    reference_step : the largest step of the reference solver's RK4 (nonlinear equations)
    damping : ridge of every least-squares solve, relative to the largest squared column norm of ``J_S``
        (``null``: plain Gauss-Newton as the authors' code; on this problem it diverges within a few steps
        unless the Jacobian is well conditioned)
    solver : the ridge solves by QR of the augmented matrix ``[J; ridge I]`` (``qr``) or by Cholesky on the
        normal equations (``normal``: about twice as fast; the ridge bounds their condition number)
    lstsq_driver : ``gelsy`` (pivoted QR) or ``gelsd`` (SVD); ``rcond`` their cut-off (``None``: LAPACK's default)
    chunk : points per Jacobian chunk (memory ``chunk x parameters``)
    """

    equation: Literal["heat", "allen-cahn", "burgers"] = "heat"
    coefficient: float | None = None
    integrator: Literal["euler", "heun"] = "heun"
    dt: float = 0.005
    t_final: float = 4.0
    points: int = 128
    resample: bool = False
    iterations: int = 5
    params_first: int = 1536
    params_rest: int = 1024
    width: int = 40
    depth: int = 7
    model_seed: int = 1234
    seed: int = 8844
    amplitude: float = 0.5
    sharpness: float = 1.0
    init_adam_steps: int = 2000
    init_lr: float = 1e-3
    init_steps: int = 100
    init_iterations: int = 50
    init_params: int = 1536
    eval_points: int = 128
    eval_every: int = 10
    reference_step: float = 1e-3
    damping: float | None = 1e-10
    solver: Literal["qr", "normal"] = "qr"
    lstsq_driver: Literal["gelsy", "gelsd"] = "gelsy"
    rcond: float | None = None
    chunk: int = 4096

    def __post_init__(self) -> None:
        for key in ("dt", "t_final", "reference_step"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{key} must be a positive number, got {value!r}")
        if not (math.isfinite(self.sharpness) and self.sharpness >= 0):
            raise ConfigError(f"sharpness must be a finite number >= 0, got {self.sharpness!r}")
        if self.t_final < self.dt * (1 - 1e-9):
            raise ConfigError(f"t_final = {self.t_final} is shorter than one step dt = {self.dt}")
        for key in ("points", "params_first", "params_rest", "init_params", "eval_points", "eval_every", "chunk"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be at least 1, got {getattr(self, key)}")
        for key, allowed in (("integrator", ("euler", "heun")), ("solver", ("qr", "normal")),
                             ("lstsq_driver", ("gelsy", "gelsd"))):
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}")
        for key in ("points", "params_first", "params_rest", "init_params", "eval_points", "eval_every", "chunk",
                    "iterations", "init_iterations", "init_adam_steps", "init_steps", "width", "depth"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{key} must be a whole number, got {value!r}")
        if self.integrator == "heun" and self.iterations < 1:
            raise ConfigError("TENG-Heun needs iterations >= 1 (its second stage has `iterations` solves)")
        if self.eval_points < 8 or self.eval_points % 2:
            raise ConfigError(f"eval_points (the error and reference grid) must be even and at least 8, got "
                              f"{self.eval_points}")
        if abs(self.t_final / self.dt - round(self.t_final / self.dt)) > 1e-6 * max(1.0, self.t_final / self.dt):
            raise ConfigError(f"t_final = {self.t_final} is not a whole number of steps dt = {self.dt}")
        if self.coefficient is not None and (isinstance(self.coefficient, bool)
                                             or not isinstance(self.coefficient, (int, float))):
            raise ConfigError(f"coefficient must be a number or null, got {self.coefficient!r}")
        if min(self.iterations, self.init_iterations, self.init_adam_steps, self.init_steps) < 0:
            raise ConfigError("iterations, init_steps, init_iterations and init_adam_steps must be non-negative")
        if self.damping is not None and not (math.isfinite(self.damping) and self.damping >= 0):
            raise ConfigError(f"damping must be a non-negative number or null, got {self.damping!r}")
        Equation(self.equation, self.coefficient if self.coefficient is not None
                 else PAPER_COEFFICIENTS.get(self.equation, 1.0))
        PeriodicNetConfig(width=self.width, depth=self.depth)

    @property
    def diffusion(self) -> float:
        return PAPER_COEFFICIENTS[self.equation] if self.coefficient is None else self.coefficient

    @property
    def steps(self) -> int:
        return int(round(self.t_final / self.dt))

    @property
    def net(self) -> PeriodicNetConfig:
        return PeriodicNetConfig(dim=2, width=self.width, depth=self.depth, seed=self.model_seed)


def relative_l2(pred: torch.Tensor, ref: torch.Tensor) -> float:
    return float((pred - ref).norm() / ref.norm())


class Projector:
    """Least-squares projections of functions onto the network ``net`` (its parameters as one flat vector)."""

    def __init__(self, net: PeriodicNet, *, driver: str = "gelsy", rcond: float | None = None, chunk: int = 4096,
                 jacobian: str = "factors", normal: bool = False):
        if jacobian not in ("factors", "func"):
            raise ConfigError(f"unknown Jacobian method {jacobian!r}; choose factors or func")
        self.net, self.flat = net, FlatParams(net)
        self.driver, self.rcond, self.chunk, self.method, self.normal = driver, rcond, chunk, jacobian, normal
        self.theta = self.flat.get()
        self._index = net.jacobian_index() if hasattr(net, "jacobian_index") else None
        if self._index is None and jacobian == "factors":
            self.method = "func"

    def _load(self, theta: torch.Tensor | None) -> torch.Tensor:
        theta = self.theta if theta is None else theta
        self.flat.set(theta)
        return theta

    def u(self, x: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor:
        self._load(theta)
        with torch.no_grad():
            return torch.cat([self.net(x[s:s + self.chunk]) for s in range(0, len(x), self.chunk)])

    def derivatives(self, x: torch.Tensor, theta: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``u (N,)``, ``grad u (N, d)`` and ``Lap u (N,)`` at ``x`` (exact: :func:`sciml.pinn.derivatives.partials`)."""
        from sciml.pinn.derivatives import partials

        self._load(theta)
        with torch.no_grad():
            u, first, second = partials(self.net, x, order=2, chunk_size=self.chunk)
        return u[:, 0], first[:, :, 0].T, second.sum(dim=0)[:, 0]

    def jacobian(self, x: torch.Tensor, subset: torch.Tensor, theta: torch.Tensor | None = None,
                 method: str | None = None) -> torch.Tensor:
        """``d u(x_i) / d theta_S``: ``(N, |S|)``; ``method`` ``factors`` (the network's written-out backward
        pass, gathered) or ``func`` (``torch.func.vmap(jacrev)``)."""
        theta = self._load(theta)
        if (method or self.method) == "factors":
            li, ri = self._index[0][subset.cpu()].to(x.device), self._index[1][subset.cpu()].to(x.device)
            out = []
            with torch.no_grad():
                for s in range(0, len(x), self.chunk):
                    _, left, right = self.net.factors(x[s:s + self.chunk])
                    out.append(left[:, li] * right[:, ri])
            return torch.cat(out)
        base = theta.detach()

        def point(sub, y):
            full = base.index_put((subset,), sub)
            return self.flat(full, y[None])[0]

        jac = torch.func.vmap(torch.func.jacrev(point), in_dims=(None, 0))
        sub = base[subset]
        return torch.cat([jac(sub, x[s:s + self.chunk]).detach() for s in range(0, len(x), self.chunk)])

    def ridge_solve(self, jac: torch.Tensor, residual: torch.Tensor, lam: float | None) -> tuple[torch.Tensor, int]:
        """``argmin ||jac delta - residual||^2 + lam max_p ||jac[:, p]||^2 ||delta||^2`` (plain least squares when
        ``lam`` is ``None``): by Cholesky on the normal equations when the projector was built with
        ``normal=True`` (the ridge bounds their condition number by ``1 / lam``; about twice as fast as the QR,
        ``sciml bench teng``), else by QR of the augmented matrix ``[jac; ridge I]``. Returns the step and the
        rank of the solve (-1 when unknown)."""
        if lam is None:
            return self.solve(jac, residual)
        if self.normal:
            gram = jac.T @ jac
            gram.diagonal().add_(lam * float(gram.diagonal().max()))
            factor, info = torch.linalg.cholesky_ex(gram)
            if int(info) == 0:
                return torch.cholesky_solve((jac.T @ residual)[:, None], factor)[:, 0], jac.shape[1]
        ridge = math.sqrt(lam) * jac.pow(2).sum(dim=0).max().sqrt()
        eye = ridge * torch.eye(jac.shape[1], dtype=jac.dtype, device=jac.device)
        return self.solve(torch.cat([jac, eye]), torch.cat([residual, residual.new_zeros(jac.shape[1])]))

    def solve(self, jac: torch.Tensor, residual: torch.Tensor) -> tuple[torch.Tensor, int]:
        # CUDA's lstsq has only the unpivoted QR (gels): no rank, full rank assumed (the ridge keeps it so)
        driver = "gels" if jac.is_cuda else self.driver
        out = torch.linalg.lstsq(jac, residual[:, None], rcond=None if jac.is_cuda else self.rcond, driver=driver)
        rank = int(out.rank) if out.rank is not None and out.rank.numel() else -1
        return out.solution[:, 0], rank

    def project(self, x: torch.Tensor, target: torch.Tensor, sizes: list[int], generator: torch.Generator,
                *, where: str = "", damping: float | None = None, adaptive: bool = False) -> list[dict[str, float]]:
        """``len(sizes)`` least-squares iterations towards ``target`` at ``x`` (a random subset of ``sizes[i]``
        parameters at iteration ``i``); updates :attr:`theta` in place. ``damping``: a ridge ``damping * max column
        norm^2`` on the solve (Tikhonov; ``None``: plain Gauss-Newton); ``adaptive``: Levenberg-Marquardt, a step
        that does not lower the residual is retried with 4x the damping, an accepted one divides it by 3. Returns per iteration the relative residual
        before the update and the rank of the solve, then the final residual."""
        info = []
        total = self.flat.total
        scale = target.norm().clamp_min(1e-300)
        residual = target - self.u(x)
        lam = damping
        for size in sizes:
            subset = torch.randperm(total, generator=generator)[:min(size, total)].to(x.device)
            jac = self.jacobian(x, subset)
            before = float(residual.norm() / scale)
            if lam is None or not adaptive:
                delta, rank = self.ridge_solve(jac, residual, lam)
                theta = self.theta.index_add(0, subset, delta)
                residual = target - self.u(x, theta)
            else:
                for _ in range(12):
                    delta, rank = self.ridge_solve(jac, residual, lam)
                    theta = self.theta.index_add(0, subset, delta)
                    trial = target - self.u(x, theta)
                    if float(trial.norm()) < float(residual.norm()):
                        residual, lam = trial, max(lam / 3, 1e-12)
                        break
                    lam *= 4
                else:
                    theta = self.theta
            if rank == 0:
                raise TengFailure(f"the least-squares solve{where} has rank 0: the network's Jacobian vanished on the "
                                  f"parameter subset (saturated network?)")
            if 0 < rank < len(subset):
                log.warning("least-squares solve%s lost rank: %d of %d parameters", where, rank, len(subset))
            if not (bool(torch.isfinite(delta).all()) and bool(torch.isfinite(residual).all())):
                raise TengFailure(f"the least-squares solve{where} gave non-finite values (rank {rank} of "
                                  f"{len(subset)}); the Jacobian or the residual is not finite")
            self.theta = theta
            info.append({"residual": before, "rank": rank, "size": int(len(subset))})
        self._load(None)
        info.append({"residual": float(residual.norm() / scale)})
        return info

    def fit_adam(self, x: torch.Tensor, target: torch.Tensor, steps: int, lr: float) -> float:
        """Adam on the mean squared error (the start of the initial fit); returns the final relative error."""
        if steps == 0:
            return float((self.u(x) - target).norm() / target.norm())
        self._load(None)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        for _ in range(steps):
            loss = (self.net(x) - target).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        self.theta = self.flat.get()
        return float((self.u(x) - target).norm() / target.norm())


class TengRun:
    """A TENG time integration with its reference, history and per-step checkpoint.

    ``net``: another model ``(N, 2) -> (N,)`` in place of the configured network (its Jacobian by ``torch.func``).
    ``initial``: the initial condition, a function of points ``(N, 2) -> (N,)`` or values on a uniform grid of
    ``[0, 2 pi)^2`` (:class:`~sciml.teng.equations.GridInitialCondition`: periodicity checked); default ours.
    ``TengRun(config).run(checkpoint=PATH)`` fits ``u0``, then steps to ``t_final``; with an existing
    checkpoint of the same config it resumes after the last completed step (a checkpoint of another config is
    refused, never overwritten). ``history``: per evaluated step ``{step, t, rel_l2, floor_rel_l2, seconds,
    residuals, min_rank}``.
    """

    def __init__(self, config: TengConfig, *, device: str = "cpu", net: torch.nn.Module | None = None,
                 initial: Callable[[torch.Tensor], torch.Tensor] | Any | None = None):
        self.config = config
        if initial is None:
            self.initial = lambda x: initial_condition(x, config.amplitude, config.sharpness)
        elif callable(initial):
            self.initial = initial
        else:
            from sciml.teng.equations import GridInitialCondition

            self.initial = GridInitialCondition(initial)
        self.device = torch.device(device)
        self.equation = Equation(config.equation, config.diffusion)
        self.net = (PeriodicNet(config.net) if net is None else net).to(self.device)
        self.projector = Projector(self.net, driver=config.lstsq_driver, rcond=config.rcond, chunk=config.chunk,
                                   normal=config.solver == "normal")
        self.generator = torch.Generator().manual_seed(config.seed)
        self.step_index = 0
        self.history: list[dict[str, Any]] = []
        self.init_info: dict[str, Any] = {}
        self.seconds = 0.0
        self.references: dict[int, torch.Tensor] = {}  # {step: the reference on the error grid}
        self._floor: dict[int, torch.Tensor] = {}
        self._eval_x = grid_points(config.eval_points).to(self.device)

    # ---------------------------------------------------------------- reference and floor
    @property
    def method_name(self) -> str:
        return f"teng-{self.config.integrator}"

    def reference_solver(self) -> SpectralSolver:
        return SpectralSolver(self.equation, self.config.eval_points, self.config.reference_step)

    def prepare_reference(self) -> None:
        """The reference and the scheme's floor at every evaluated step, on the evaluation grid."""
        c = self.config
        solver = self.reference_solver()
        n = c.eval_points
        u0_hat = solver.transform(self.initial(grid_points(n).to(self.device)).cpu().reshape(n, n))
        u_hat, t_prev = u0_hat, 0.0
        for step in self.eval_steps():
            u_hat = solver.evolve(u_hat, step * c.dt - t_prev)
            t_prev = step * c.dt
            self.references[step] = solver.values(u_hat).reshape(-1).to(self.device)
        floor = scheme_floor(solver, u0_hat, getattr(self, "scheme", c.integrator), c.dt, c.steps,
                             at=self.eval_steps())
        for step, (_, u) in zip(self.eval_steps(), floor):
            self._floor[step] = solver.values(u).reshape(-1).to(self.device)

    def eval_steps(self) -> list[int]:
        c = self.config
        steps = list(range(0, c.steps + 1, c.eval_every))
        if steps[-1] != c.steps:
            steps.append(c.steps)
        return steps

    def error(self, step: int) -> dict[str, float]:
        ref = self.references[step]
        pred = self.projector.u(self._eval_x)
        return {"rel_l2": relative_l2(pred, ref), "floor_rel_l2": relative_l2(self._floor[step], ref)}

    # ---------------------------------------------------------------- the method
    def collocation(self) -> torch.Tensor:
        c = self.config
        shift = (torch.rand(2, generator=self.generator, dtype=torch.float64) * 2 * math.pi if c.resample else None)
        return grid_points(c.points, shift=shift).to(self.device)

    def fit_initial(self) -> dict[str, Any]:
        """Fit ``u0`` on the collocation grid: Adam (``init_adam_steps``), then a homotopy from the network's
        function ``v`` to ``u0`` (targets ``v + s (u0 - v)``, ``s = 1/init_steps ... 1``, ``iterations + 2``
        Levenberg-Marquardt iterations each: every target is a small change, as in a time step), then
        ``init_iterations`` Levenberg-Marquardt iterations (adaptive damping) on ``u0`` itself."""
        c = self.config
        tic = time.perf_counter()
        x = grid_points(c.points).to(self.device)
        target = self.initial(x)
        if not bool(torch.isfinite(target).all()):
            raise ConfigError("the initial condition is NaN or infinite at some collocation points")
        p = self.projector
        adam = p.fit_adam(x, target, c.init_adam_steps, c.init_lr)
        log.info("initial fit of u0 on %d^2 points: Adam %d steps -> relative L2 %.3g; homotopy in %d steps",
                 c.points, c.init_adam_steps, adam, c.init_steps)
        start = p.u(x)
        sizes = [c.init_params] * (c.iterations + 2)
        ranks = []
        for k in range(1, c.init_steps + 1):
            s = k / c.init_steps
            info = p.project(x, start + s * (target - start), sizes, self.generator, damping=c.damping or 1e-10,
                             adaptive=True, where=f" of the initial fit (homotopy step {k})")
            ranks += [i["rank"] for i in info[:-1]]
            if k % max(1, c.init_steps // 10) == 0:
                log.info("initial fit: homotopy step %d of %d, residual %.3g", k, c.init_steps, info[-1]["residual"])
        homotopy = float((p.u(x) - target).norm() / target.norm())
        info = p.project(x, target, [c.init_params] * c.init_iterations, self.generator, damping=c.damping or 1e-10,
                         adaptive=True, where=" of the initial fit")
        ranks += [i["rank"] for i in info[:-1]]
        log.info("initial fit: %d Levenberg-Marquardt iterations -> relative L2 %.3g (%.0f s)", c.init_iterations,
                 info[-1]["residual"], time.perf_counter() - tic)
        self.init_info = {"adam_rel_l2": adam, "homotopy_rel_l2": homotopy, "rel_l2": info[-1]["residual"],
                          "seconds": time.perf_counter() - tic, "min_rank": min(ranks, default=-1)}
        return self.init_info

    def rhs(self, x: torch.Tensor, theta: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        u, grad, lap = self.projector.derivatives(x, theta)
        return u, self.equation.rhs(u, grad, lap)

    def step(self) -> dict[str, Any]:
        """One time step; returns its residuals (relative, per iteration and stage) and the smallest rank."""
        c = self.config
        n = self.step_index + 1
        where = f" at step {n} (t = {n * c.dt:.6g})"
        x = self.collocation()
        first = [c.params_first] + [c.params_rest] * (c.iterations + 1)
        u_old, f_old = self.rhs(x)
        stages = [self.projector.project(x, u_old + c.dt * f_old, first, self.generator, where=where,
                                         damping=c.damping)]
        if c.integrator == "heun":
            _, f_mid = self.rhs(x)
            target = u_old + 0.5 * c.dt * (f_old + f_mid)
            stages.append(self.projector.project(x, target, [c.params_rest] * c.iterations, self.generator,
                                                 where=where, damping=c.damping))
        ranks = [i["rank"] for s in stages for i in s[:-1]]
        self.step_index = n
        return {"residuals": [s[-1]["residual"] for s in stages], "min_rank": min(ranks) if ranks else -1}

    # ---------------------------------------------------------------- the loop
    def _payload(self) -> dict[str, Any]:
        from sciml.config import to_dict

        return {"format": "sciml-teng-checkpoint", "method": self.method_name, "config": to_dict(self.config),
                "step": self.step_index,
                "theta": self.projector.theta.cpu(), "generator": self.generator.get_state(),
                "history": self.history, "init": self.init_info, "seconds": self.seconds}

    def _restore(self, path: Path) -> None:
        from sciml.config import to_dict
        from sciml.io import load_checkpoint

        payload = load_checkpoint(path)
        if payload.get("format") != "sciml-teng-checkpoint":
            raise DataError(f"{path} is not a TENG checkpoint")
        if payload.get("method", self.method_name) != self.method_name:
            raise ConfigError(f"{path} holds a {payload['method']} run, not {self.method_name}; choose another "
                              f"checkpoint path")
        # a setting added after the checkpoint was written counts with its default (which keeps the old behaviour)
        saved, mine = {**to_dict(TengConfig()), **payload["config"]}, to_dict(self.config)
        if saved != mine:
            changed = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
            raise ConfigError(f"{path} holds a TENG run with other settings ({', '.join(changed)}); "
                              f"choose another checkpoint path or remove it")
        self.projector.theta = payload["theta"].to(self.device)
        self.generator.set_state(payload["generator"])
        self.step_index, self.history = int(payload["step"]), list(payload["history"])
        self.init_info, self.seconds = dict(payload["init"]), float(payload["seconds"])

    def run(self, checkpoint: str | Path | None = None, *, progress: bool = False,
            on_step: Callable[[dict[str, Any]], None] | None = None,
            initial: tuple[torch.Tensor, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Fit ``u0`` and step to ``t_final`` (resuming from ``checkpoint`` when it holds this run).
        ``initial``: ``(theta, info)`` of an initial fit made before (shared by the runs of one experiment)."""
        from sciml.io import save_checkpoint
        from sciml.runtime import progress as bar

        c = self.config
        path = Path(checkpoint) if checkpoint is not None else None
        if path is not None and path.exists():
            self._restore(path)
            log.info("resuming %s %s at step %d of %d", c.equation, c.integrator, self.step_index, c.steps)
        self.prepare_reference()
        if self.step_index == 0 and not self.history:
            if initial is None:
                tic = time.perf_counter()
                self.fit_initial()
                self.seconds += time.perf_counter() - tic
            else:
                self.projector.theta = initial[0].to(self.device)
                self.projector._load(None)
                self.init_info = dict(initial[1])
            self.history.append({"step": 0, "t": 0.0, **self.error(0), "seconds": self.seconds,
                                 "residuals": [self.init_info["rel_l2"]], "min_rank": self.init_info["min_rank"]})
            if path is not None:
                save_checkpoint(path, self._payload())
        evals = set(self.eval_steps())
        steps = range(self.step_index, c.steps)
        for _ in (bar(steps, desc=f"TENG-{c.integrator} {c.equation}", total=len(steps)) if progress else steps):
            tic = time.perf_counter()
            info = self.step()
            self.seconds += time.perf_counter() - tic
            if self.step_index in evals:
                row = {"step": self.step_index, "t": self.step_index * c.dt, **self.error(self.step_index),
                       "seconds": self.seconds, **info}
                self.history.append(row)
                if on_step is not None:
                    on_step(row)
            if path is not None:
                save_checkpoint(path, self._payload())
        for row in self.history:  # floors from this run's reference (rows resumed from a checkpoint included)
            if row["step"] in self._floor:
                row["floor_rel_l2"] = relative_l2(self._floor[row["step"]], self.references[row["step"]])
        return self.history
