"""Batched walk-on-spheres for ``Lap u = f`` in a domain, ``u = g`` on its boundary, in 2-D and 3-D.

From ``x``: ``R`` = distance to the boundary (a lower bound is enough: the ball stays inside); if ``R < eps``
the walk ends and scores ``g`` at the closest boundary point; else, for Poisson, it adds the source term of
the ball, ``-int_B G_R(x, y) f(y) dy``, estimated with one point ``y`` drawn from the density
``G_R(x, .) / int G_R`` (so the term is ``-(R^2 / 2 dim) f(y)``: ``int_B G_R = R^2/4`` in 2-D with
``G = ln(R/r) / 2 pi`` and ``R^2/6`` in 3-D with ``G = (1/r - 1/R) / 4 pi``), then jumps to a uniform
point of the sphere of radius ``R``. The radius of ``y`` is ``R sqrt(U1 U2)`` in 2-D (density
``r ln(R/r)``) and ``R`` times the median of three uniforms in 3-D (density ``r (1 - r/R)``, Beta(2, 2)).

All walkers of a batch move together; finished walkers leave the arrays (compaction), so a step costs the
number of walkers still alive, not the batch size. A walk that reaches ``max_steps`` is closed at its
nearest boundary point and counted in ``unfinished`` rather than dropped.

Sign convention: ``Lap u = f`` (so ``u = |x|^2 / 4`` has ``f = 1`` in 2-D).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from sciml._errors import ConfigError, DataError
from sciml.wos.boundary import Boundary, as_boundary

__all__ = ["WosEstimate", "walk_on_spheres", "naive_walk_on_spheres", "sphere_directions", "green_offsets"]

log = logging.getLogger("sciml.wos")

Field = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class WosEstimate:
    """Per point: ``mean``, ``variance`` (of one walk's score, unbiased), ``stderr`` = sqrt(variance / walks),
    ``unfinished`` (walks closed at the cap); and for the run: walks per point, steps, seconds."""

    points: torch.Tensor
    mean: torch.Tensor
    variance: torch.Tensor
    stderr: torch.Tensor
    unfinished: torch.Tensor
    walks: int
    eps: float
    max_steps: int
    steps_mean: float
    steps_max: int
    seconds: float
    info: dict = field(default_factory=dict)

    @property
    def walks_per_second(self) -> float:
        return self.walks * len(self.points) / max(self.seconds, 1e-12)

    def summary(self) -> dict:
        return {"points": len(self.points), "walks": self.walks, "eps": self.eps, "max_steps": self.max_steps,
                "steps_mean": self.steps_mean, "steps_max": self.steps_max,
                "unfinished": int(self.unfinished.sum()), "seconds": self.seconds,
                "walks_per_second": self.walks_per_second,
                "stderr_mean": float(self.stderr.mean()) if self.walks > 1 else float("nan"), **self.info}


def sphere_directions(n: int, dim: int, generator: torch.Generator, *, dtype, device) -> torch.Tensor:
    """``n`` unit vectors uniform on the circle (dim 2, by angle) or the sphere (dim 3, by z and angle)."""
    if dim == 2:
        theta = (2 * math.pi) * torch.rand(n, generator=generator, dtype=dtype, device=device)
        return torch.stack([torch.cos(theta), torch.sin(theta)], 1)
    u = torch.rand(n, 2, generator=generator, dtype=dtype, device=device)
    z = 2 * u[:, 0] - 1
    s = torch.sqrt((1 - z * z).clamp_min(0))
    phi = (2 * math.pi) * u[:, 1]
    return torch.stack([s * torch.cos(phi), s * torch.sin(phi), z], 1)


def green_offsets(radius: torch.Tensor, dim: int, generator: torch.Generator) -> torch.Tensor:
    """Offsets ``y - x`` drawn with density proportional to the ball's Green's function ``G_R(x, y)``."""
    n = len(radius)
    if dim == 2:
        u = torch.rand(n, 2, generator=generator, dtype=radius.dtype, device=radius.device)
        r = radius * torch.sqrt(u[:, 0] * u[:, 1])
    else:
        u = torch.rand(n, 3, generator=generator, dtype=radius.dtype, device=radius.device)
        r = radius * u.median(dim=1).values
    return r[:, None] * sphere_directions(n, dim, generator, dtype=radius.dtype, device=radius.device)


def _checked(name: str, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if values.shape != (len(x),):
        raise DataError(f"the {name} returned shape {tuple(values.shape)} for {len(x)} points; it must return one "
                        f"value per point, shape ({len(x)},)")
    bad = ~torch.isfinite(values)
    if bool(bad.any()):
        k = int(torch.nonzero(bad)[0, 0])
        at = ", ".join(f"{float(v):.6g}" for v in x[k])
        raise DataError(f"the {name} is not finite at {int(bad.sum())} of {len(x)} points (first at ({at}))")
    return values


def _prepare(boundary, points, walks, eps, max_steps, device, dtype):
    boundary = as_boundary(boundary)
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ConfigError(f"eps must be a positive number, got {eps!r}")
    if int(walks) < 1:
        raise ConfigError(f"walks must be at least 1, got {walks!r}")
    if int(max_steps) < 1:
        raise ConfigError(f"max_steps must be at least 1, got {max_steps!r}")
    if boundary.dim not in (2, 3):
        raise ConfigError(f"walk-on-spheres here works in 2-D and 3-D, the domain is {boundary.dim}-D")
    x = torch.as_tensor(np.asarray(points) if not isinstance(points, torch.Tensor) else points)
    if x.ndim != 2 or x.shape[1] != boundary.dim:
        raise DataError(f"points must have shape (n, {boundary.dim}) for this {boundary.dim}-D domain, got "
                        f"{tuple(x.shape)}")
    if len(x) == 0:
        raise DataError("no points to estimate at")
    if not bool(torch.isfinite(x).all()):
        raise DataError(f"{int((~torch.isfinite(x).all(1)).sum())} points have non-finite coordinates")
    device = torch.device(device) if device is not None else torch.device("cpu")
    x = x.to(device=device, dtype=dtype)
    boundary = boundary.to(device=device, dtype=dtype)
    outside = ~boundary.contains(x)
    if bool(outside.any()):
        k = int(torch.nonzero(outside)[0, 0])
        at = ", ".join(f"{float(v):.6g}" for v in x[k])
        raise DataError(f"{int(outside.sum())} of {len(x)} points lie outside the domain (first: point {k} at ({at}))")
    return boundary, x, device


def walk_on_spheres(boundary, points, g: Field, f: Field | None = None, *, walks: int = 100, eps: float = 1e-3,
                    max_steps: int = 10_000, seed: int = 0, batch: int = 1 << 20, device=None,
                    dtype=torch.float64, progress: bool = False) -> WosEstimate:
    """Estimate ``u`` at ``points (n, dim)`` from ``walks`` walks each.

    ``boundary``: a :class:`~sciml.wos.boundary.Boundary`, a :mod:`sciml.geometry` domain or a domain dict;
    ``g``, ``f``: functions of a tensor ``(m, dim)`` returning ``(m,)`` (boundary data, source; ``f=None``
    is Laplace); ``batch``: walkers moved together (points are split into batches of whole points).
    The result depends on ``seed`` and on ``batch`` (one generator serves the batches in order).
    """
    boundary, x0, device = _prepare(boundary, points, walks, eps, max_steps, device, dtype)
    walks, max_steps, dim = int(walks), int(max_steps), boundary.dim
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    per_batch = max(1, int(batch) // walks)
    n = len(x0)
    mean = torch.empty(n, dtype=dtype, device=device)
    var = torch.empty(n, dtype=dtype, device=device)
    unfinished = torch.zeros(n, dtype=torch.long, device=device)
    steps_total, steps_max = 0, 0
    scale = 1.0 / (2 * dim)  # int_B G_R = R^2 / (2 dim)
    t0 = time.perf_counter()
    batches = range(0, n, per_batch)
    for b, s in enumerate(batches):
        pts = x0[s:s + per_batch]
        m = len(pts) * walks
        x = pts.repeat_interleave(walks, dim=0)
        owner = torch.arange(m, device=device)
        score = torch.zeros(m, dtype=dtype, device=device)
        for step in range(max_steps):
            radius = boundary.distance(x)
            stop = radius < eps
            if bool(stop.any()):
                where = torch.nonzero(stop, as_tuple=True)[0]
                d, p = boundary.distance_and_closest(x[where])
                ends = d < eps  # a lower bound below eps is checked against the exact distance
                radius[where] = d
                stop[where] = ends
                done = where[ends]
                if len(done):
                    score.index_add_(0, owner[done], _checked("boundary data g", g(p[ends]), p[ends]))
                    steps_total += (step + 1) * len(done)
                    steps_max = max(steps_max, step + 1)
                    keep = ~stop
                    x, owner, radius = x[keep], owner[keep], radius[keep]
            if len(owner) == 0:
                break
            if f is not None:
                y = x + green_offsets(radius, dim, gen)
                score.index_add_(0, owner, -(scale * radius * radius) * _checked("source f", f(y), y))
            x = x + radius[:, None] * sphere_directions(len(x), dim, gen, dtype=dtype, device=device)
        if len(owner):  # the walk cap: close at the nearest boundary point, and say so
            p = boundary.closest(x)
            score.index_add_(0, owner, _checked("boundary data g", g(p), p))
            unfinished[s:s + per_batch] = torch.bincount(owner // walks, minlength=len(pts))
            steps_total += max_steps * len(owner)
            steps_max = max_steps
        scores = score.view(len(pts), walks)
        mean[s:s + per_batch] = scores.mean(dim=1)
        var[s:s + per_batch] = scores.var(dim=1) if walks > 1 else torch.full((len(pts),), float("nan"),
                                                                               dtype=dtype, device=device)
        if progress and len(batches) > 1:
            log.info("walk-on-spheres: batch %d/%d, %d points, %.1f s", b + 1, len(batches), s + len(pts),
                     time.perf_counter() - t0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    stderr = torch.sqrt(var / walks)
    if int(unfinished.sum()):
        log.warning("walk-on-spheres: %d of %d walks reached max_steps=%d and were closed at the nearest boundary "
                    "point", int(unfinished.sum()), n * walks, max_steps)
    return WosEstimate(points=x0, mean=mean, variance=var, stderr=stderr, unfinished=unfinished, walks=walks,
                       eps=float(eps), max_steps=max_steps, steps_mean=steps_total / (n * walks),
                       steps_max=steps_max, seconds=seconds, info={"boundary": type(boundary).__name__})


def naive_walk_on_spheres(boundary: Boundary, points, g: Field, f: Field | None = None, *, walks: int = 100,
                          eps: float = 1e-3, max_steps: int = 10_000, seed: int = 0, device=None,
                          dtype=torch.float64) -> torch.Tensor:
    """The plain batched loop, the benchmark's baseline: every walker of every point in one array, an alive
    mask, each step computed for all walkers until none is alive. Returns the per-point mean."""
    boundary, x0, device = _prepare(boundary, points, walks, eps, max_steps, device, dtype)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    dim = boundary.dim
    x = x0.repeat_interleave(int(walks), dim=0)
    alive = torch.ones(len(x), dtype=torch.bool, device=device)
    score = torch.zeros(len(x), dtype=dtype, device=device)
    for _ in range(int(max_steps)):
        radius = boundary.distance(x)
        ends = alive & (radius < eps)
        if bool(ends.any()):
            where = torch.nonzero(ends, as_tuple=True)[0]
            score[where] += g(boundary.closest(x[where]))
        alive = alive & ~ends
        if not bool(alive.any()):
            break
        step = torch.where(alive, radius, torch.zeros_like(radius))
        if f is not None:
            y = x + green_offsets(step, dim, gen)
            score = score - step * step / (2 * dim) * f(y)
        x = x + step[:, None] * sphere_directions(len(x), dim, gen, dtype=dtype, device=device)
    else:
        score = torch.where(alive, score + g(boundary.closest(x)), score)
    return score.view(len(x0), int(walks)).mean(dim=1)
