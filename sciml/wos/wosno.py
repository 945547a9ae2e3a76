"""WoS-NO: a neural operator trained against walk-on-spheres estimates (arXiv 2603.01193).

The family (the paper's 2-D Poisson benchmark, as the authors' data script draws it): ``Lap u = f`` in the
star ``r(t) = 1 + c1 cos 4t + c2 cos 8t`` (``c1, c2 ~ U(-c_max, c_max)``), ``f(x) = sum_i beta_i
exp(-|x - mu_i|^2)`` over two Gaussian bumps (``beta_i, mu_i ~ N(0, 1)``), ``u = g`` on the boundary with
``g(t) = b0 + (b1 cos t + b2 sin t + b3 cos 2t + b4 sin 2t) / 4`` at the polar angle ``t``
(``b ~ U(-1, 1)``). Each instance is meshed by gmsh (:func:`sciml.data.mesh.generate_domain`); its vertices
are the points the operator reads and predicts at; its ground truth is a P2 finite-element solution on that
mesh (scikit-fem), used only to test (and by the ``fem`` baseline to train).

The operator is neuraloperator's GINO (graph kernel in to a latent grid, FNO there, graph kernel out to the
query points), reading per point the boundary value at the closest boundary point, the distance to the
boundary and ``f`` (the authors' three input channels). Three ways to train it, the same number of steps
(one instance per step):

- ``wos``: the target is a walk-on-spheres estimate at the instance's interior vertices (``walks`` fresh walks
  per point each time the instance is visited, merged into a running mean over every visit so far) and
  ``g`` at its boundary vertices; relative L2 loss. No solution data, no derivatives of the network.
- ``pino``: the physics-informed residual ``interior_weight * mean (Lap u - f)^2 + boundary_weight * mean
  (u - g)^2``, the Laplacian by autograd through the operator in the query coordinates (the authors'
  ``pino`` loss: weights 0.01 and 1).
- ``fem``: relative L2 against the finite-element solution (supervised with solution data).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from sciml._errors import ConfigError, DataError

__all__ = ["WosNoConfig", "Instance", "METHODS", "sample_params", "make_instance", "make_instances", "build_gino",
           "WosNoTrainer", "RunningTargets", "method_loss", "relative_l2", "instance_from_arrays", "source_values", "boundary_values", "time_steps", "measure_in_subprocess"]

log = logging.getLogger("sciml.wos")

METHODS = ("wos", "pino", "fem")


@dataclass(frozen=True)
class WosNoConfig:
    """One WoS-NO training run (or one of its baselines).

    Attributes
    ----------
    method : :data:`METHODS`: ``wos`` (walk-on-spheres targets), ``pino`` (PDE residual by autograd) or ``fem``
        (finite-element solutions)
    c_max : the star's ``c1, c2 ~ U(-c_max, c_max)`` (the authors: 0.2); ``c_max < 0.5``
    mesh_h : gmsh element size of each instance's mesh (its vertices are the training and test points)
    walks : walks per interior point each time an instance is visited (the paper: 10)
    eps : walk-on-spheres shell (the paper: 1e-3)
    max_steps : walk cap (walks that reach it are closed at the nearest boundary point and counted)
    latent_res : the GINO latent grid is ``latent_res x latent_res`` over ``[-latent_box, latent_box]^2``
    latent_box : half-width of the latent grid (covers the largest star, radius ``1 + 2 c_max``)
    radius : radius of the input and output graph kernels
    modes, hidden, layers : the FNO on the latent grid (Fourier modes per dimension, channels, layers)
    embed : channels of the positional embedding of the kernels' coordinates
    in_kernel, out_kernel : hidden widths of the input and output kernel MLPs
    lr, weight_decay : Adam (the authors: 1e-3, 1e-6), cosine-annealed to 0 over the run
    interior_weight, boundary_weight : the ``pino`` loss's weights (the authors: 0.01, 1)
    seed : weights and walk seeds
    """

    method: Literal["wos", "pino", "fem"] = "wos"
    c_max: float = 0.2
    mesh_h: float = 0.08
    walks: int = 10
    eps: float = 1e-3
    max_steps: int = 1000
    latent_res: int = 32
    latent_box: float = 1.45
    radius: float = 0.15
    modes: int = 12
    hidden: int = 32
    layers: int = 4
    embed: int = 16
    in_kernel: tuple[int, ...] = (64, 64)
    out_kernel: tuple[int, ...] = (128, 64)
    lr: float = 1e-3
    weight_decay: float = 1e-6
    interior_weight: float = 0.01
    boundary_weight: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"unknown WoS-NO method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not 0 <= self.c_max < 0.5:
            raise ConfigError(f"c_max must lie in [0, 0.5) (the star must stay star-shaped), got {self.c_max}")
        if self.latent_box < 1 + 2 * self.c_max:
            raise ConfigError(f"latent_box {self.latent_box} does not cover the largest star (radius "
                              f"{1 + 2 * self.c_max:g})")
        for name in ("mesh_h", "eps", "radius", "lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("walks", "max_steps", "latent_res", "modes", "hidden", "layers", "embed"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.modes > self.latent_res // 2:
            raise ConfigError(f"modes {self.modes} is more than the latent grid resolves ({self.latent_res // 2})")


# --------------------------------------------------------------------------------------------------- the family

# the family's definition lives with its data generator (``sciml data generate poisson-star``)
from sciml.data.pdes.poisson_star import boundary_values, sample_params, source_values  # noqa: E402


@dataclass
class Instance:
    """One PDE instance on its mesh: ``points (n, 2)`` (the mesh vertices), ``on_boundary (n,)``, the operator's
    ``features (n, 3)`` (g at the closest boundary point, distance to the boundary, f), ``g``/``f`` at the points,
    ``fem (n,)`` the P2 solution at the vertices, ``cells``, ``params``; ``segments`` the boundary polygon."""

    index: int
    params: dict[str, Any]
    points: torch.Tensor
    cells: np.ndarray
    on_boundary: torch.Tensor
    features: torch.Tensor
    g: torch.Tensor
    f: torch.Tensor
    fem: torch.Tensor
    boundary: Any = field(repr=False, default=None)


def make_instance(seed: int, index: int, config: WosNoConfig) -> Instance:
    """Mesh instance ``index``, solve it by finite elements and compute the operator's input features."""
    from sciml.data.pdes.poisson_star import solve_instance

    params = sample_params(seed, index, config.c_max)
    points, cells, fem = solve_instance(params, config.mesh_h, order=2)
    return instance_from_arrays(index, params, points, cells, fem)


def mesh_boundary(points: np.ndarray, cells: np.ndarray):
    """A triangle mesh's boundary (a :class:`~sciml.wos.boundary.SegmentBoundary`), which vertices lie on it,
    and per vertex the distance to it and the closest boundary point (0 and the vertex itself on the boundary):
    ``(boundary, on_boundary (n,) bool, distance (n,), closest (n, 2))``."""
    import meshio

    from sciml.data.pdes.poisson_star import boundary_vertices
    from sciml.wos.boundary import boundary_from_mesh

    boundary = boundary_from_mesh(meshio.Mesh(points, [("triangle", cells)]))
    dist, closest = boundary.distance_and_closest(torch.from_numpy(points))
    on_boundary = boundary_vertices(cells, len(points))
    dist = dist.numpy().copy()
    dist[on_boundary] = 0.0
    closest = closest.numpy().copy()
    closest[on_boundary] = points[on_boundary]
    return boundary, on_boundary, dist, closest


def instance_from_arrays(index: int, params: dict[str, Any], points: np.ndarray, cells: np.ndarray,
                         fem: np.ndarray | None = None) -> Instance:
    """An :class:`Instance` from its mesh (``points (n, 2)``, ``cells (m, 3)``), its parameters (the dict of
    :func:`sample_params`) and its finite-element solution at the vertices (``None``: unknown, NaN)."""
    pts = np.asarray(points, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.int64)
    boundary, on_boundary, dist, closest = mesh_boundary(pts, cells)
    g_closest = boundary_values(params, closest[:, 0], closest[:, 1])
    f = source_values(params, pts[:, 0], pts[:, 1])
    features = np.stack([g_closest, dist, f], axis=1)
    as32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    fem = np.full(len(pts), np.nan) if fem is None else np.asarray(fem, dtype=np.float64)
    return Instance(index=index, params=params, points=as32(pts), cells=cells,
                    on_boundary=torch.from_numpy(on_boundary), features=as32(features),
                    g=as32(boundary_values(params, pts[:, 0], pts[:, 1])), f=as32(f),
                    fem=torch.from_numpy(fem), boundary=boundary)


def make_instances(seed: int, start: int, count: int, config: WosNoConfig, *, progress: bool = False) -> list[Instance]:
    """Instances ``start .. start + count - 1`` of the family drawn from ``seed``."""
    out = []
    tic = time.perf_counter()
    for k in range(start, start + count):
        out.append(make_instance(seed, k, config))
        if progress and (len(out) % 25 == 0 or len(out) == count):
            log.info("instances: %d / %d (%.0f s)", len(out), count, time.perf_counter() - tic)
    return out


# ---------------------------------------------------------------------------------------------------- the model

def build_gino(config: WosNoConfig) -> nn.Module:
    """neuraloperator's GINO for 2-D point clouds with the sizes of ``config`` (no open3d / torch_scatter: the
    neighbour search and the kernel sums in plain torch)."""
    from neuralop.models import GINO

    return GINO(in_channels=3, out_channels=1, gno_coord_dim=2, in_gno_radius=config.radius,
                out_gno_radius=config.radius, gno_use_open3d=False, gno_use_torch_scatter=False,
                fno_n_modes=(config.modes, config.modes), fno_hidden_channels=config.hidden,
                fno_n_layers=config.layers, gno_embed_channels=config.embed,
                gno_embed_max_positions=600, in_gno_channel_mlp_hidden_layers=list(config.in_kernel),
                out_gno_channel_mlp_hidden_layers=list(config.out_kernel), fno_lifting_channel_ratio=2,
                projection_channel_ratio=2)


def latent_grid(config: WosNoConfig, device=None) -> torch.Tensor:
    line = torch.linspace(-config.latent_box, config.latent_box, config.latent_res, device=device)
    return torch.stack(torch.meshgrid(line, line, indexing="ij"), dim=-1)


def relative_l2(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (prediction - target).norm() / target.norm().clamp_min(1e-12)


class RunningTargets:
    """The ``wos`` method's targets: per instance, the running mean of every walk so far at its interior
    points (``walks`` fresh walks per point per visit, seeded by the seed, the instance and the visit)."""

    def __init__(self, config: WosNoConfig):
        self.config = config
        self.targets: dict[int, torch.Tensor] = {}    # running means (interior points)
        self.walk_counts: dict[int, int] = {}
        self.unfinished = 0
        self.walk_seconds = 0.0

    def update(self, inst: Instance) -> torch.Tensor:
        """One more visit of ``inst``: its target, the running mean at the interior points and ``g`` on the
        boundary."""
        from sciml.wos.estimator import walk_on_spheres

        c = self.config
        interior = ~inst.on_boundary
        params = inst.params

        def g(x):
            v = x.detach().cpu().numpy()
            return torch.as_tensor(boundary_values(params, v[:, 0], v[:, 1]), dtype=x.dtype, device=x.device)

        def f(x):
            v = x.detach().cpu().numpy()
            return torch.as_tensor(source_values(params, v[:, 0], v[:, 1]), dtype=x.dtype, device=x.device)

        tic = time.perf_counter()
        k = self.walk_counts.get(inst.index, 0)
        seed = c.seed * 1_000_003 + inst.index * 1009 + k
        est = walk_on_spheres(inst.boundary, inst.points[interior].double(), g, f, walks=c.walks, eps=c.eps,
                              max_steps=c.max_steps, seed=seed)
        self.walk_seconds += time.perf_counter() - tic
        self.unfinished += int(est.unfinished.sum())
        new = est.mean.float()
        mean = new if k == 0 else (self.targets[inst.index] * k + new * c.walks) / (k + c.walks)
        self.targets[inst.index], self.walk_counts[inst.index] = mean, k + c.walks
        target = inst.g.clone()
        target[interior] = mean
        return target

    def state_dict(self) -> dict[str, Any]:
        return {"targets": {str(k): v.clone() for k, v in self.targets.items()},
                "walk_counts": {str(k): int(v) for k, v in self.walk_counts.items()},
                "unfinished": int(self.unfinished), "walk_seconds": float(self.walk_seconds)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.targets = {int(k): v.float().cpu() for k, v in state["targets"].items()}
        self.walk_counts = {int(k): int(v) for k, v in state["walk_counts"].items()}
        self.unfinished = int(state.get("unfinished", 0))
        self.walk_seconds = float(state.get("walk_seconds", 0.0))


def method_loss(config: WosNoConfig, inst: Instance, forward, running: RunningTargets | None,
                device: torch.device) -> torch.Tensor:
    """The training loss of ``config.method`` on one instance; ``forward(inst, queries=None) -> (n,)``."""
    if config.method == "wos":
        if running is None:
            raise ConfigError("the wos method needs its running walk-on-spheres targets")
        return relative_l2(forward(inst), running.update(inst).to(device))
    if config.method == "fem":
        if not bool(torch.isfinite(inst.fem).all()):
            raise DataError(f"instance {inst.index} has no finite-element solution to train the fem method on")
        return relative_l2(forward(inst), inst.fem.float().to(device))
    q = inst.points.to(device).clone().requires_grad_(True)
    u = forward(inst, q)
    (grad,) = torch.autograd.grad(u.sum(), q, create_graph=True)
    lap = sum(torch.autograd.grad(grad[:, k].sum(), q, create_graph=True)[0][:, k] for k in range(2))
    interior = ~inst.on_boundary.to(device)
    residual = lap[interior] - inst.f.to(device)[interior]
    boundary = u[~interior] - inst.g.to(device)[~interior]
    return config.interior_weight * residual.pow(2).mean() + config.boundary_weight * boundary.pow(2).mean()


class WosNoTrainer:
    """Trains a GINO on a list of instances with one of :data:`METHODS`, one instance per step, ``epochs``
    passes in a seeded random order; keeps the running-mean walk-on-spheres targets (``wos``)."""

    def __init__(self, config: WosNoConfig, instances: list[Instance], *, epochs: int, device: str = "cpu"):
        if not instances:
            raise DataError("no training instances")
        if int(epochs) < 1:
            raise ConfigError(f"epochs must be at least 1, got {epochs!r}")
        self.config, self.instances, self.epochs = config, instances, int(epochs)
        self.device = torch.device(device)
        torch.manual_seed(config.seed)
        self.model = build_gino(config).to(self.device)
        self.latent = latent_grid(config, self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.total = self.epochs * len(instances)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.total)
        self.running = RunningTargets(config)
        self.step_count = 0

    def forward(self, inst: Instance, queries: torch.Tensor | None = None) -> torch.Tensor:
        pts = inst.points.to(self.device)
        out = self.model(input_geom=pts, latent_queries=self.latent,
                         output_queries=pts if queries is None else queries, x=inst.features.to(self.device)[None])
        return out.reshape(-1)

    @property
    def targets(self) -> dict[int, torch.Tensor]:
        return self.running.targets

    @property
    def walk_counts(self) -> dict[int, int]:
        return self.running.walk_counts

    @property
    def unfinished(self) -> int:
        return self.running.unfinished

    @property
    def walk_seconds(self) -> float:
        return self.running.walk_seconds

    def wos_target(self, inst: Instance) -> torch.Tensor:
        """The running mean of every walk so far at the interior points, ``g`` at the boundary points."""
        return self.running.update(inst)

    def loss(self, inst: Instance) -> torch.Tensor:
        return method_loss(self.config, inst, self.forward, self.running, self.device)

    def step(self, inst: Instance) -> float:
        self.model.train()
        loss = self.loss(inst)
        if not torch.isfinite(loss):
            raise DataError(f"the {self.config.method} loss became {float(loss)} at step {self.step_count} "
                            f"(instance {inst.index})")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.step_count += 1
        return loss.detach().item()

    @torch.no_grad()
    def evaluate(self, instances: list[Instance]) -> dict[str, float]:
        """Mean and median relative L2 against the finite-element solutions (all vertices of each instance)."""
        self.model.eval()
        errors = [float(relative_l2(self.forward(inst).double().cpu(), inst.fem)) for inst in instances]
        return {"rel_l2": float(np.mean(errors)), "rel_l2_median": float(np.median(errors)),
                "rel_l2_max": float(np.max(errors))}

    def target_error(self) -> float | None:
        """Mean relative L2 of the running-mean walk-on-spheres targets against FEM (interior points)."""
        if not self.targets:
            return None
        errors = []
        for inst in self.instances:
            if inst.index in self.targets:
                interior = ~inst.on_boundary
                errors.append(float(relative_l2(self.targets[inst.index].double(), inst.fem[interior])))
        return float(np.mean(errors))

    def train(self, test: list[Instance], *, evaluate_every: int = 1, progress: bool = False) -> dict[str, Any]:
        """All epochs; returns the loss and test-error history, seconds (total, per step, in walks)."""
        history = []
        order_rng = np.random.default_rng(self.config.seed)
        tic = time.perf_counter()
        for epoch in range(self.epochs):
            losses = [self.step(self.instances[i]) for i in order_rng.permutation(len(self.instances))]
            entry = {"epoch": epoch + 1, "step": self.step_count, "loss": float(np.mean(losses)),
                     "seconds": time.perf_counter() - tic}
            if (epoch + 1) % evaluate_every == 0 or epoch + 1 == self.epochs:
                entry.update(self.evaluate(test))
                if self.config.method == "wos":
                    entry["target_rel_l2"] = self.target_error()
            history.append(entry)
            if progress:
                log.info("%s epoch %d/%d: loss %.4g%s (%.0f s)", self.config.method, epoch + 1, self.epochs,
                         entry["loss"], f", test rel. L2 {entry['rel_l2']:.4g}" if "rel_l2" in entry else "",
                         entry["seconds"])
        seconds = time.perf_counter() - tic
        return {"history": history, "seconds": seconds, "steps": self.step_count,
                "seconds_per_step": seconds / max(self.step_count, 1), "walk_seconds": self.walk_seconds,
                "unfinished_walks": self.unfinished, **history[-1]}


# ----------------------------------------------------------------------------------------------- speed, memory

def time_steps(config: WosNoConfig, steps: int = 5, *, device: str = "cpu", seed: int = 0) -> dict[str, Any]:
    """Seconds per training step (after one warm-up) on one instance and the peak memory: CUDA's peak allocation
    on a GPU, the process's peak resident set on a CPU (meaningful in a fresh process)."""
    from sciml.runtime import peak_rss

    inst = make_instance(seed, 0, config)
    trainer = WosNoTrainer(config, [inst], epochs=steps + 1, device=device)
    dev = trainer.device
    base = peak_rss() if dev.type != "cuda" else 0.0
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    trainer.step(inst)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    tic = time.perf_counter()
    for _ in range(steps):
        trainer.step(inst)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = (time.perf_counter() - tic) / steps
    peak = float(torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda" else peak_rss()
    return {"seconds_per_step": seconds, "peak_bytes": peak, "points": len(inst.points),
            "before_first_step_bytes": base,
            "memory": "cuda max_memory_allocated" if dev.type == "cuda" else "process peak RSS"}


def measure_in_subprocess(config: WosNoConfig, steps: int = 5, *, device: str = "cpu", threads: int = 1,
                          timeout: float = 600.0) -> dict[str, Any]:
    """:func:`time_steps` in a fresh Python process (its peak resident set is this configuration's alone);
    ``{"error": ...}`` when it fails, runs out of memory or passes ``timeout`` seconds."""
    from sciml.runtime import measure_in_subprocess as measure

    return measure("sciml.wos.wosno:WosNoConfig:time_steps", config, steps, device=device, threads=threads, timeout=timeout)
