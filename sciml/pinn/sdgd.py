"""SDGD: stochastic dimension gradient descent for PINNs in high dimension (Hu, Shukla, Karniadakis,
Kawaguchi, arXiv 2307.12306).

The residual of ``Lap u + n(u) = f`` splits over dimensions, ``Lap u = sum_j d^2 u / dx_j^2``. SDGD
back-propagates through a random subset ``I`` of ``|I| << d`` of those terms per step, rescaled by
``d / |I|``, so time and memory per step grow with ``|I|``, not ``d``. Estimators (``estimator``):

* ``full-detached``: the residual value from all ``d`` terms (computed without a graph, in chunks),
  the gradient through the sampled ones: unbiased;
* ``independent``: the residual value from one subset ``J``, the gradient through an independent
  subset ``I``: unbiased and cheaper;
* ``same``: one subset for both (the loss is the squared sampled residual): biased, cheapest;
* ``full``: the plain PINN, all ``d`` terms with a graph (the baseline).

The test problems of the paper, on the unit ball in R^d with ``u = 0`` on the sphere: Poisson
``Lap u = f``, Allen-Cahn ``Lap u + u - u^3 = f``, Sine-Gordon ``Lap u + sin u = f``, with the exact
solution ``u = (1 - |x|^2) sum_{i=1}^{d-1} c_i sin(x_i + cos x_{i+1} + x_{i+1} cos x_i)``, ``c_i ~ N(0, 1)``
(drawn from ``coefficient_seed`` by ``coefficient_rng``; ``numpy`` gives the authors' instance), ``f`` from its Laplacian in closed form; the ansatz
``u = (1 - |x|^2) MLP(x)`` meets the boundary condition exactly.

Second derivatives only for the sampled dimensions, never a Hessian and never a ``(|I|, N, d)``
tangent: the MLP's first layer is linear, ``h0 = W x + b``, so ``d/dx_j`` of the network is the
derivative of the remaining layers along ``W[:, j]``; :func:`sciml.pinn.derivatives.along` takes those
``(|I|, width)`` tangents (forward over forward), and the ansatz follows by the product rule
``d^2/dx_j^2 [(1 - |x|^2) N] = -2 N - 4 x_j N_j + (1 - |x|^2) N_jj``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from sciml._errors import ConfigError, DataError
from sciml.pinn.derivatives import along, mlp_jet
from sciml.pinn.pinn import activation

__all__ = ["SdgdConfig", "SdgdNet", "SdgdMethod", "ExactSolution", "SPEC", "ESTIMATORS", "PDES",
           "sample_ball", "write_reference_points", "relative_l2"]

ESTIMATORS = ("full-detached", "independent", "same", "full")
PDES = ("poisson", "allen-cahn", "sine-gordon")
COEFFICIENT_RNGS = ("torch", "numpy")


@dataclass(frozen=True)
class SdgdConfig:
    """An SDGD PINN.

    Attributes
    ----------
    problem : ``poisson``, ``allen-cahn`` or ``sine-gordon`` (on the unit ball)
    dim : the dimension ``d``
    coefficient_seed : seed of the exact solution's ``c_i``
    coefficient_rng : how the ``c_i`` are drawn from that seed: ``torch`` (``torch.randn`` with a generator
        seeded so) or ``numpy`` (``numpy.random.RandomState(seed).randn(1, d - 1)``, as the authors' scripts
        draw them after ``np.random.seed(SEED)``: seed 0 is the instance behind the paper's table). The
        error a run reaches depends on the draw (docs/sdgd.md)
    width, depth, activation : the MLP of the ansatz: ``depth`` hidden layers of ``width`` (the authors' code:
        3 hidden tanh layers of 128, 4 linear layers)
    estimator : :data:`ESTIMATORS`
    dim_batch : ``|I|``, dimensions back-propagated per step (at most ``dim``; 0: ``min(dim, 100)``)
    residual_dim_batch : ``|J|`` of the ``independent`` estimator's residual value (0: ``|I|``)
    points : collocation points per step, fresh each step (the paper: 100)
    radial : how points fill the ball: ``uniform-radius`` (a uniform direction at a radius uniform in
        ``[0, 1)``, as the authors' code draws training and test points) or ``uniform-volume`` (radius
        ``U^(1/d)``: in high ``d`` nearly every point lies within ``O(1/d)`` of the sphere)
    chunk : dimensions per chunk where all ``d`` terms are evaluated without a graph
    dtype : ``float32`` or ``float64``
    """

    problem: Literal["poisson", "allen-cahn", "sine-gordon"] = "poisson"
    dim: int = 100
    coefficient_seed: int = 0
    coefficient_rng: Literal["torch", "numpy"] = "torch"
    width: int = 128
    depth: int = 3
    activation: str = "tanh"
    estimator: Literal["full-detached", "independent", "same", "full"] = "independent"
    dim_batch: int = 0
    residual_dim_batch: int = 0
    points: int = 100
    radial: Literal["uniform-radius", "uniform-volume"] = "uniform-radius"
    chunk: int = 2048
    dtype: Literal["float32", "float64"] = "float32"

    def __post_init__(self):
        if self.dim < 2:
            raise ValueError(f"dim must be at least 2 (the exact solution couples x_i and x_(i+1)), got {self.dim}")
        if not 0 <= self.dim_batch <= self.dim:
            raise ValueError(f"dim_batch (|I|) must be between 1 and dim = {self.dim} (0: min(dim, 100)), got "
                             f"{self.dim_batch}")
        if not 0 <= self.residual_dim_batch <= self.dim:
            raise ValueError(f"residual_dim_batch must be between 0 and dim = {self.dim}, got {self.residual_dim_batch}")
        for name in ("points", "chunk", "width", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def channels(self) -> int:
        return 1

    @property
    def sampled_dims(self) -> int:
        """``|I|``."""
        return self.dim_batch or min(self.dim, 100)

    @property
    def residual_dims(self) -> int:
        """``|J|`` of the independent estimator."""
        return self.residual_dim_batch or self.sampled_dims


def _dtype(name: str) -> torch.dtype:
    return torch.float64 if name == "float64" else torch.float32


class ExactSolution:
    """``u = (1 - |x|^2) g``, ``g = sum_{i<d-1} c_i sin(theta_i)``, ``theta_i = x_i + cos x_{i+1} + x_{i+1} cos x_i``
    (0-based), its Laplacian in closed form, and the right-hand side ``f`` of each PDE.

    Shapes: ``x (N, d)`` -> ``(N,)``.
    """

    def __init__(self, dim: int, seed: int, rng: str = "torch"):
        self.dim = dim
        if rng == "torch":
            self.coefficients = torch.randn(dim - 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        elif rng == "numpy":
            self.coefficients = torch.from_numpy(np.random.RandomState(seed).randn(1, dim - 1)[0])
        else:
            raise ConfigError(f"unknown coefficient_rng {rng!r}; choose one of {', '.join(COEFFICIENT_RNGS)}")

    @classmethod
    def of(cls, config: "SdgdConfig") -> "ExactSolution":
        """The exact solution of a model's configuration."""
        return cls(config.dim, config.coefficient_seed, config.coefficient_rng)

    def _parts(self, x: torch.Tensor):
        c = self.coefficients.to(x.device, x.dtype)
        a, b = x[:, :-1], x[:, 1:]  # x_i, x_(i+1)
        theta = a + torch.cos(b) + b * torch.cos(a)
        da, db = 1.0 - b * torch.sin(a), -torch.sin(b) + torch.cos(a)  # d theta / d x_i, d x_(i+1)
        dda, ddb = -b * torch.cos(a), -torch.cos(b)
        return c, a, b, theta, da, db, dda, ddb

    def u(self, x: torch.Tensor) -> torch.Tensor:
        c, _, _, theta, *_ = self._parts(x)
        return (1.0 - (x * x).sum(1)) * (torch.sin(theta) @ c)

    def laplacian(self, x: torch.Tensor) -> torch.Tensor:
        """``Lap u = -2 d g - 4 x . grad g + (1 - |x|^2) Lap g``."""
        c, a, b, theta, da, db, dda, ddb = self._parts(x)
        s, co = torch.sin(theta), torch.cos(theta)
        g = s @ c
        x_grad_g = (co * (a * da + b * db)) @ c
        lap_g = (-s * (da ** 2 + db ** 2) + co * (dda + ddb)) @ c
        return -2.0 * self.dim * g - 4.0 * x_grad_g + (1.0 - (x * x).sum(1)) * lap_g

    def rhs(self, x: torch.Tensor, problem: str) -> torch.Tensor:
        lap = self.laplacian(x)
        if problem == "poisson":
            return lap
        u = self.u(x)
        return lap + u - u ** 3 if problem == "allen-cahn" else lap + torch.sin(u)


def nonlinearity(problem: str, u: torch.Tensor) -> torch.Tensor:
    """``n(u)`` of ``Lap u + n(u) = f``."""
    if problem == "poisson":
        return torch.zeros_like(u)
    if problem == "allen-cahn":
        return u - u ** 3
    return torch.sin(u)


RADIAL = ("uniform-radius", "uniform-volume")


def sample_ball(n: int, dim: int, generator: torch.Generator, dtype: torch.dtype = torch.float32,
                radial: str = "uniform-radius") -> torch.Tensor:
    """``n`` points in the unit ball of R^dim, ``(n, dim)``: a Gaussian direction times a radius ``U``
    (``uniform-radius``) or ``U^(1/dim)`` (``uniform-volume``, uniform in the ball)."""
    if radial not in RADIAL:
        raise ConfigError(f"unknown radial distribution {radial!r}; choose one of {', '.join(RADIAL)}")
    direction = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    direction /= direction.norm(dim=1, keepdim=True)
    radius = torch.rand(n, 1, generator=generator, dtype=torch.float64)
    if radial == "uniform-volume":
        radius = radius ** (1.0 / dim)
    return (direction * radius).to(dtype)


class SdgdNet(nn.Module):
    """``u(x) = (1 - |x|^2) MLP(x)``, pointwise. Shapes: ``(N, d)`` or ``(B, P, d)`` -> ``(N, 1)`` or ``(B, P, 1)``."""

    def __init__(self, config: SdgdConfig):
        super().__init__()
        self.config = config
        self.first = nn.Linear(config.dim, config.width)
        layers: list[nn.Module] = [activation(config.activation)]
        for _ in range(config.depth - 1):
            layers += [nn.Linear(config.width, config.width), activation(config.activation)]
        layers.append(nn.Linear(config.width, 1))
        self.rest = nn.Sequential(*layers)
        for module in [self.first, *self.rest]:
            if isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight)
                nn.init.zeros_(module.bias)
        self.to(_dtype(config.dtype))

    @property
    def dim(self) -> int:
        return self.config.dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.dim:
            raise DataError(f"points have {x.shape[-1]} coordinates, the SDGD model takes {self.dim}")
        flat = x.reshape(-1, self.dim)
        out = (1.0 - (flat * flat).sum(1, keepdim=True)) * self.rest(self.first(flat))
        return out.reshape(*x.shape[:-1], 1)

    def second_derivatives(self, x: torch.Tensor, dims: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``u (N,)`` and ``d^2 u / dx_j^2`` for ``j`` in ``dims``, ``(len(dims), N)``, without any ``d``-sized tangent."""
        h0 = self.first(x)
        tangents = self.first.weight[:, dims].T  # (k, width): d h0 / d x_j
        n, dn, ddn = along(self.rest, h0, tangents)
        n, dn, ddn = n[:, 0], dn[..., 0], ddn[..., 0]
        r2 = 1.0 - (x * x).sum(1)
        xj = x[:, dims].T  # (k, N)
        return r2 * n, -2.0 * n[None] - 4.0 * xj * dn + r2[None] * ddn


    def sampled_laplacian(self, x: torch.Tensor, dims: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``u (N,)`` and ``sum_{j in dims} d^2 u / dx_j^2`` ``(N,)``: the sum travels through the layers
        (:func:`sciml.pinn.derivatives.mlp_jet`), never one second derivative per dimension."""
        h0 = self.first(x)
        n, dn, ddn = mlp_jet(self.rest, h0, self.first.weight[:, dims].T, summed=True)
        n, dn, ddn = n[:, 0], dn[..., 0], ddn[:, 0]
        r2 = 1.0 - (x * x).sum(1)
        return r2 * n, -2.0 * len(dims) * n - 4.0 * (x[:, dims].T * dn).sum(0) + r2 * ddn


class SdgdMethod:
    """Training of an :class:`SdgdNet` with one of :data:`ESTIMATORS` (fresh points each step)."""

    def __init__(self, model: SdgdNet):
        self.model = model
        self.net = model
        self.config = model.config
        self.exact = ExactSolution.of(model.config)
        self.dtype = _dtype(model.config.dtype)

    def sample(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        c = self.config
        x = sample_ball(c.points, c.dim, generator, self.dtype, c.radial)
        batch = {"x": x, "f": self.exact.rhs(x.double(), c.problem).to(self.dtype)}
        if c.estimator != "full":
            batch["I"] = torch.randperm(c.dim, generator=generator)[:c.sampled_dims]
        if c.estimator == "independent":
            batch["J"] = torch.randperm(c.dim, generator=generator)[:c.residual_dims]
        return batch

    def _sampled_residual(self, x, f, dims, *, grad: bool) -> torch.Tensor:
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            u, lap = self.net.sampled_laplacian(x, dims)
            return (self.config.dim / len(dims)) * lap + nonlinearity(self.config.problem, u) - f

    def full_residual(self, x: torch.Tensor, f: torch.Tensor, *, grad: bool) -> torch.Tensor:
        """The residual with all ``d`` terms: with a graph (``grad``) in one piece, else in chunks."""
        d = self.config.dim
        if grad:
            u, lap = self.net.sampled_laplacian(x, torch.arange(d))
            return lap + nonlinearity(self.config.problem, u) - f
        with torch.no_grad():
            lap = torch.zeros_like(f)
            u = None
            for start in range(0, d, self.config.chunk):
                u, part = self.net.sampled_laplacian(x, torch.arange(start, min(d, start + self.config.chunk)))
                lap += part
            return lap + nonlinearity(self.config.problem, u) - f

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, f, estimator = batch["x"], batch["f"], self.config.estimator
        if estimator == "full":
            residual = self.full_residual(x, f, grad=True)
            loss = residual.pow(2).mean()
            return {"loss": loss, "residual": loss.detach()}
        sampled = self._sampled_residual(x, f, batch["I"], grad=True)
        if estimator == "same":
            loss = sampled.pow(2).mean()
            return {"loss": loss, "residual": loss.detach()}
        if estimator == "full-detached":
            value = self.full_residual(x, f, grad=False)
        else:
            value = self._sampled_residual(x, f, batch["J"], grad=False).detach()
        # gradient 2 mean(R dR_I), the reported value the residual's mean square
        surrogate = 2.0 * (value * sampled).mean()
        estimate = value.pow(2).mean()
        return {"loss": surrogate - surrogate.detach() + estimate, "residual": estimate}


def relative_l2(model: SdgdNet, n: int = 10000, seed: int = 12345, batch: int = 2000,
                radial: str | None = None) -> float:
    """Relative L2 error of ``model`` against the exact solution on ``n`` fresh points in the ball, drawn
    like the training points (``radial``: the model's own unless given)."""
    generator = torch.Generator().manual_seed(seed)
    exact = ExactSolution.of(model.config)
    dtype = next(model.parameters()).dtype
    err = ref = 0.0
    with torch.no_grad():
        for start in range(0, n, batch):
            x = sample_ball(min(batch, n - start), model.config.dim, generator, torch.float64,
                            radial or model.config.radial)
            u = exact.u(x)
            p = model(x.to(dtype)).double()[:, 0]
            err += float(((p - u) ** 2).sum())
            ref += float((u ** 2).sum())
    return math.sqrt(err / ref)


def write_reference_points(out: str | os.PathLike, *, dim: int, n: int, n_points: int, seed: int = 0,
                           problem: str = "poisson", coefficient_seed: int = 0, radial: str = "uniform-radius",
                           coefficient_rng: str = "torch", force: bool = False):
    """A point-set store of ``n`` samples of ``n_points`` points in the unit ball of R^dim (``radial`` as in
    :func:`sample_ball`) with the exact solution as ``target`` (for ``sciml eval`` / ``sciml predict``)."""
    from sciml.data.points import write_point_set
    from sciml.pinn.problems import _space_names

    if problem not in PDES:
        raise ConfigError(f"unknown SDGD problem {problem!r}; choose one of {', '.join(PDES)}")
    exact = ExactSolution(dim, coefficient_seed, coefficient_rng)

    def blocks():
        for i in range(n):
            x = sample_ball(n_points, dim, torch.Generator().manual_seed(seed * 1_000_003 + i), torch.float64, radial)
            yield {"points": x.numpy()[None], "target": exact.u(x).numpy()[None, :, None]}

    return write_point_set(out, blocks(), n=n, n_points=n_points, dim=dim, channels=1,
                           coordinate_names=list(_space_names(dim)), pde=f"sdgd-{problem}",
                           params={"dim": dim, "coefficient_seed": coefficient_seed,
                                   "coefficient_rng": coefficient_rng, "problem": problem, "radial": radial},
                           generator="sciml.pinn.sdgd 1", seed=seed, force=force)


def _identity(model: SdgdNet) -> dict[str, Any]:
    from sciml.pinn.problems import _space_names

    d = model.config.dim
    return {"problem": f"sdgd-{model.config.problem}", "pde": f"{model.config.problem} on the unit ball of R^{d}",
            "params": {"dim": d, "coefficient_seed": model.config.coefficient_seed,
                       "coefficient_rng": model.config.coefficient_rng},
            "domain": {"lower": [-1.0] * d, "upper": [1.0] * d, "coordinate_names": list(_space_names(d))}}


def _require_in_ball(model, points, counts, where: str) -> None:
    outside = sum(int((np.linalg.norm(p[:int(k)], axis=1) > 1 + 1e-9).sum()) for p, k in zip(points, counts))
    if outside:
        raise DataError(f"{outside} points of {where} lie outside the unit ball, the domain of the SDGD problems")


def _spec():
    from sciml.data.points import read_point_set
    from sciml.pinn.pinn import _point_inference
    from sciml.train.spec import ModelSpec

    return ModelSpec(
        name="sdgd", config_cls=SdgdConfig, build=SdgdNet, method=SdgdMethod, dataset=read_point_set,
        complete_config=lambda config, data: config, prepare=lambda model, data: None,
        paper="Hu, Shukla, Karniadakis, Kawaguchi, Tackling the curse of dimensionality with physics-informed "
              "neural networks, arXiv:2307.12306",
        summary="PINN on the unit ball in R^d back-propagating through |I| sampled dimensions of the Laplacian per step",
        inference=_point_inference(_require_in_ball), needs_data=False, identity=_identity,
        train_defaults={"steps_per_epoch": 100, "epochs": 100, "lr": 1e-3, "weight_decay": 0.0, "scheduler": "linear"},
        example={"points": {"writer": "sciml.pinn.sdgd:write_reference_points",
                            "kwargs": {"dim": 12, "n": 2, "n_points": 32, "seed": 1}},
                 "overrides": {"dim": 12, "dim_batch": 4, "width": 8, "depth": 2, "points": 16, "epochs": 2,
                               "steps_per_epoch": 3}})


SPEC = _spec()


def time_steps(config: SdgdConfig, steps: int = 5, *, device: str = "cpu", seed: int = 0) -> dict[str, float]:
    """Seconds per training step (AdamW, after one warm-up step) of ``config`` and the peak memory: CUDA's
    peak allocation on a GPU, the process's peak resident set on a CPU (meaningful in a fresh process:
    :func:`measure_in_subprocess`)."""
    import time

    dev = torch.device(device)
    torch.manual_seed(seed)
    model = SdgdNet(config).to(dev)
    method = SdgdMethod(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)

    def one():
        batch = {k: v.to(dev) for k, v in method.sample(generator).items()}
        loss = method.step(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    one()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    tic = time.perf_counter()
    for _ in range(steps):
        one()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = (time.perf_counter() - tic) / steps
    if dev.type == "cuda":
        peak = float(torch.cuda.max_memory_allocated(dev))
    else:
        from sciml.runtime import peak_rss

        peak = peak_rss()
    return {"seconds_per_step": seconds, "it_per_s": 1.0 / seconds, "peak_bytes": peak,
            "memory": "cuda max_memory_allocated" if dev.type == "cuda" else "process peak RSS"}


def measure_in_subprocess(config: SdgdConfig, steps: int = 5, *, device: str = "cpu", threads: int = 1,
                          timeout: float = 600.0) -> dict[str, Any]:
    """:func:`time_steps` in a fresh Python process (its peak resident set is this configuration's alone);
    ``{"error": ...}`` when it fails, runs out of memory or passes ``timeout`` seconds."""
    from sciml.runtime import measure_in_subprocess as measure

    return measure("sciml.pinn.sdgd:SdgdConfig:time_steps", config, steps, device=device, threads=threads, timeout=timeout)
