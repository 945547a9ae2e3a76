"""Domains shared by PINNs and walk-on-spheres (interim: interval, box, disk, space-time)."""

from __future__ import annotations

import math

import numpy as np
import torch

from sciml._errors import ConfigError, DataError

__all__ = ["Domain", "Interval", "Box", "Disk", "SpaceTime", "SAMPLING_METHODS"]

SAMPLING_METHODS = ("uniform", "sobol", "lhs")


def _unit(n: int, dim: int, method: str, seed: int) -> torch.Tensor:
    if n < 1:
        raise ConfigError(f"the number of points must be at least 1, got {n}")
    if method == "uniform":
        return torch.rand(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if method not in SAMPLING_METHODS:
        raise ConfigError(f"unknown sampling method {method!r}; choose one of {', '.join(SAMPLING_METHODS)}")
    import warnings

    from scipy.stats import qmc

    engine = qmc.Sobol(dim, scramble=True, seed=seed) if method == "sobol" else qmc.LatinHypercube(dim, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(engine.random(n))


class Domain:
    dim: int

    def volume(self) -> float:
        raise NotImplementedError

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _x(self, x) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64) if not isinstance(x, torch.Tensor) else x
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise DataError(f"points must have shape (N, {self.dim}), got {tuple(x.shape)}")
        return x


class Box(Domain):
    def __init__(self, lower, upper):
        self.lower = np.asarray(lower, dtype=np.float64).reshape(-1)
        self.upper = np.asarray(upper, dtype=np.float64).reshape(-1)
        if self.lower.shape != self.upper.shape or not self.lower.size:
            raise ConfigError("Box needs lower and upper of the same length")
        if not np.all(np.isfinite(self.lower)) or not np.all(np.isfinite(self.upper)):
            raise ConfigError("Box bounds must be finite")
        bad = np.nonzero(self.upper <= self.lower)[0]
        if bad.size:
            i = int(bad[0])
            raise ConfigError(f"Box has zero volume: lower[{i}] = {self.lower[i]:g} >= upper[{i}] = {self.upper[i]:g}")
        self.dim = len(self.lower)

    def volume(self) -> float:
        return float(np.prod(self.upper - self.lower))

    def bounding_box(self):
        return self.lower.copy(), self.upper.copy()

    def contains(self, x, *, tol: float = 1e-12) -> torch.Tensor:
        x = self._x(x)
        lo, hi = torch.as_tensor(self.lower, dtype=x.dtype), torch.as_tensor(self.upper, dtype=x.dtype)
        return ((x >= lo - tol) & (x <= hi + tol)).all(dim=1)

    def sample_interior(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        u = _unit(n, self.dim, method, seed)
        return (torch.from_numpy(self.lower) + u * torch.from_numpy(self.upper - self.lower)).to(dtype=dtype, device=device)

    def sample_boundary(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        # faces chosen in proportion to their area
        span = self.upper - self.lower
        areas = np.array([np.prod(np.delete(span, i)) for i in range(self.dim)] * 2) if self.dim > 1 else np.ones(2)
        gen = torch.Generator().manual_seed(seed + 7919)
        face = torch.multinomial(torch.from_numpy(areas / areas.sum()), n, replacement=True, generator=gen)
        points = self.sample_interior(n, method=method, seed=seed)
        normals = torch.zeros(n, self.dim, dtype=torch.float64)
        axis, high = face % self.dim, face >= self.dim
        rows = torch.arange(n)
        points[rows, axis] = torch.where(high, torch.from_numpy(self.upper)[axis], torch.from_numpy(self.lower)[axis])
        normals[rows, axis] = torch.where(high, 1.0, -1.0).to(torch.float64)
        return points.to(dtype=dtype, device=device), normals.to(dtype=dtype, device=device)

    def __repr__(self):
        return f"Box({self.lower.tolist()}, {self.upper.tolist()})"


class Interval(Box):
    def __init__(self, a: float, b: float):
        super().__init__([a], [b])

    def __repr__(self):
        return f"Interval({self.lower[0]:g}, {self.upper[0]:g})"


class Disk(Domain):
    def __init__(self, center=(0.0, 0.0), radius: float = 1.0):
        self.center = np.asarray(center, dtype=np.float64)
        self.radius = float(radius)
        if not self.radius > 0:
            raise ConfigError(f"Disk has zero area: radius = {radius}")
        self.dim = 2

    def volume(self):
        return math.pi * self.radius ** 2

    def bounding_box(self):
        return self.center - self.radius, self.center + self.radius

    def contains(self, x, *, tol=1e-12):
        x = self._x(x)
        return ((x - torch.as_tensor(self.center, dtype=x.dtype)).norm(dim=1) <= self.radius + tol)

    def sample_interior(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        u = _unit(n, 2, method, seed)
        r, phi = self.radius * torch.sqrt(u[:, 0]), 2 * math.pi * u[:, 1]
        x = torch.from_numpy(self.center) + torch.stack([r * torch.cos(phi), r * torch.sin(phi)], 1)
        return x.to(dtype=dtype, device=device)

    def sample_boundary(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        phi = 2 * math.pi * _unit(n, 1, method, seed)[:, 0]
        normals = torch.stack([torch.cos(phi), torch.sin(phi)], 1)
        x = torch.from_numpy(self.center) + self.radius * normals
        return x.to(dtype=dtype, device=device), normals.to(dtype=dtype, device=device)

    def __repr__(self):
        return f"Disk({self.center.tolist()}, {self.radius:g})"


class SpaceTime(Domain):
    def __init__(self, space: Domain, t0: float, t1: float):
        if not t1 > t0:
            raise ConfigError(f"SpaceTime has zero volume: t1 = {t1:g} <= t0 = {t0:g}")
        self.space, self.t0, self.t1 = space, float(t0), float(t1)
        self.dim = space.dim + 1

    def volume(self):
        return self.space.volume() * (self.t1 - self.t0)

    def bounding_box(self):
        lo, hi = self.space.bounding_box()
        return np.append(lo, self.t0), np.append(hi, self.t1)

    def contains(self, x, *, tol=1e-12):
        x = self._x(x)
        return self.space.contains(x[:, :-1], tol=tol) & (x[:, -1] >= self.t0 - tol) & (x[:, -1] <= self.t1 + tol)

    def _times(self, n, method, seed):
        return self.t0 + (self.t1 - self.t0) * _unit(n, 1, method, seed + 104729)

    def sample_interior(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        x = self.space.sample_interior(n, method=method, seed=seed)
        return torch.cat([x, self._times(n, method, seed)], 1).to(dtype=dtype, device=device)

    def sample_boundary(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        x, normals = self.space.sample_boundary(n, method=method, seed=seed)
        points = torch.cat([x, self._times(n, method, seed)], 1)
        normals = torch.cat([normals, torch.zeros(n, 1, dtype=normals.dtype)], 1)
        return points.to(dtype=dtype, device=device), normals.to(dtype=dtype, device=device)

    def sample_initial(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        x = self.space.sample_interior(n, method=method, seed=seed)
        return torch.cat([x, torch.full((n, 1), self.t0, dtype=torch.float64)], 1).to(dtype=dtype, device=device)

    def __repr__(self):
        return f"SpaceTime({self.space!r}, {self.t0:g}, {self.t1:g})"
