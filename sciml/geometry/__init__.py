"""Domains shared by physics-informed networks and walk-on-spheres.

Every domain answers the same questions, in float64 unless asked otherwise:

* ``dim``, ``volume()`` (``log_volume()`` where the volume under- or overflows), ``bounding_box()``;
* ``contains(x, tol)``: a boolean per point of ``x (N, dim)``;
* ``sample_interior(n, method, seed, dtype, device)``: ``(n, dim)`` points inside, ``method`` one of
  :data:`SAMPLING_METHODS` (``uniform`` pseudo-random, scrambled ``sobol``, ``lhs`` Latin hypercube: the
  unit-cube points are mapped onto the domain, so quasi-random points stay well spread);
* ``sample_boundary(...)``: points on the boundary and their outward unit normals, both ``(n, dim)``;
* ``signed_distance(x)``: the Euclidean distance to the boundary, negative inside, ``(N,)``;
* ``closest_boundary_point(x)``: the nearest boundary point and the outward normal there;
* ``require_inside(x, where)``: one :class:`~sciml._errors.DataError` naming how many points lie outside;
* ``describe()``: a plain dict that :func:`domain_from_dict` turns back into the domain.

Domains: :class:`Interval`, :class:`Box` and :class:`Ball` in any dimension, :class:`Disk` (the ball of
R^2 with polar sampling), :class:`Sphere` (the surface of a ball, a manifold without boundary),
:class:`Polygon` (simple, 2-D), and :class:`SpaceTime` (a spatial domain times an interval; time is the
last coordinate, with ``sample_initial``).

A domain with zero volume (an empty box side, a zero radius, collinear polygon vertices) is refused
when it is made, with a :class:`~sciml._errors.ConfigError` that names the cause.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sciml._errors import ConfigError, DataError

__all__ = ["Domain", "Interval", "Box", "Ball", "Disk", "Sphere", "Polygon", "SpaceTime", "SAMPLING_METHODS",
           "domain_from_dict"]

SAMPLING_METHODS = ("uniform", "sobol", "lhs")


def _unit(n: int, dim: int, method: str, seed: int) -> torch.Tensor:
    """``n`` points of the unit cube ``[0, 1)^dim`` (float64)."""
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
        warnings.simplefilter("ignore", UserWarning)  # Sobol's balance warning for n not a power of two
        return torch.from_numpy(engine.random(n))


def _gaussian(u: torch.Tensor) -> torch.Tensor:
    """Standard normal values from unit-cube values (inverse CDF, clipped away from 0 and 1)."""
    from scipy.special import ndtri

    return torch.from_numpy(ndtri(np.clip(u.numpy(), 1e-12, 1 - 1e-12)))


def _directions(u: torch.Tensor) -> torch.Tensor:
    """Unit vectors, uniform on the sphere, from ``(n, d)`` unit-cube values."""
    g = _gaussian(u)
    norm = g.norm(dim=1, keepdim=True)
    return g / torch.where(norm > 0, norm, torch.ones_like(norm))


def _out(x: torch.Tensor, dtype, device) -> torch.Tensor:
    return x.to(dtype=dtype, device=device)


class Domain:
    """The interface every domain implements (see the module's docstring)."""

    dim: int

    def volume(self) -> float:
        return math.exp(self.log_volume())

    def log_volume(self) -> float:
        return math.log(self.volume())

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def contains(self, x, *, tol: float = 1e-12) -> torch.Tensor:
        return self.signed_distance(x) <= tol

    def signed_distance(self, x) -> torch.Tensor:
        raise NotImplementedError

    def closest_boundary_point(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def sample_interior(self, n: int, *, method: str = "uniform", seed: int = 0, dtype=torch.float64, device=None):
        raise NotImplementedError

    def sample_boundary(self, n: int, *, method: str = "uniform", seed: int = 0, dtype=torch.float64, device=None):
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def require_inside(self, x, where: str = "the points", *, tol: float = 1e-9) -> None:
        """Raise one :class:`DataError` if any point of ``x`` lies outside (by more than ``tol``)."""
        inside = self.contains(x, tol=tol)
        outside = int((~inside).sum())
        if outside:
            raise DataError(f"{outside} of {len(inside)} points of {where} lie outside the domain {self!r}")

    def _x(self, x) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64) if not isinstance(x, torch.Tensor) else x
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise DataError(f"points must have shape (N, {self.dim}) for {self!r}, got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise DataError(f"points for {self!r} contain NaN or infinite coordinates")
        return x


class Box(Domain):
    """The axis-aligned box ``[lower, upper]`` in any dimension."""

    def __init__(self, lower, upper):
        self.lower = np.asarray(lower, dtype=np.float64).reshape(-1)
        self.upper = np.asarray(upper, dtype=np.float64).reshape(-1)
        if self.lower.shape != self.upper.shape or not self.lower.size:
            raise ConfigError("Box needs lower and upper of the same, non-zero length")
        if not np.all(np.isfinite(self.lower)) or not np.all(np.isfinite(self.upper)):
            raise ConfigError("Box bounds must be finite")
        bad = np.nonzero(self.upper <= self.lower)[0]
        if bad.size:
            i = int(bad[0])
            raise ConfigError(f"Box has zero volume: lower[{i}] = {self.lower[i]:g} >= upper[{i}] = {self.upper[i]:g}")
        self.dim = len(self.lower)

    def volume(self) -> float:
        return float(np.prod(self.upper - self.lower))

    def log_volume(self) -> float:
        return float(np.sum(np.log(self.upper - self.lower)))

    def bounding_box(self):
        return self.lower.copy(), self.upper.copy()

    def _bounds(self, x):
        return torch.as_tensor(self.lower, dtype=x.dtype, device=x.device), \
            torch.as_tensor(self.upper, dtype=x.dtype, device=x.device)

    def contains(self, x, *, tol: float = 1e-12) -> torch.Tensor:
        x = self._x(x)
        lo, hi = self._bounds(x)
        return ((x >= lo - tol) & (x <= hi + tol)).all(dim=1)

    def signed_distance(self, x) -> torch.Tensor:
        x = self._x(x)
        lo, hi = self._bounds(x)
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        q = (x - centre).abs() - half  # > 0 along the axes where the point is outside
        outside = q.clamp(min=0).norm(dim=1)
        inside = q.max(dim=1).values.clamp(max=0)
        return outside + inside

    def closest_boundary_point(self, x):
        x = self._x(x)
        lo, hi = self._bounds(x)
        p = torch.maximum(torch.minimum(x, hi), lo)
        inner = self.contains(x, tol=0.0)
        rows = torch.arange(len(x), device=x.device)
        # inside: move along the axis to the nearest face
        gaps = torch.cat([x - lo, hi - x], 1)
        face = gaps.argmin(dim=1)
        axis, high = face % self.dim, face >= self.dim
        pin = x.clone()
        pin[rows, axis] = torch.where(high, hi[axis], lo[axis])
        p = torch.where(inner[:, None], pin, p)
        normals = self._normals_at(p, lo, hi, x, axis, high, inner)
        return p, normals

    def _normals_at(self, p, lo, hi, x, axis, high, inner):
        n = torch.zeros_like(p)
        rows = torch.arange(len(p), device=p.device)
        n[rows, axis] = torch.where(high, 1.0, -1.0).to(p.dtype)
        # outside: the direction from the boundary point to the point (a face, edge or corner normal)
        d = x - p
        norm = d.norm(dim=1, keepdim=True)
        away = torch.where(norm > 0, d / torch.where(norm > 0, norm, torch.ones_like(norm)), n)
        return torch.where(inner[:, None], n, away)

    def sample_interior(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        u = _unit(n, self.dim, method, seed)
        return _out(torch.from_numpy(self.lower) + u * torch.from_numpy(self.upper - self.lower), dtype, device)

    def sample_boundary(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        # a face chosen in proportion to its area (first unit coordinate), then a point on it (the rest)
        span = self.upper - self.lower
        if self.dim == 1:
            areas = np.ones(2)
        else:
            areas = np.array([np.prod(np.delete(span, i)) for i in range(self.dim)] * 2)
        cdf = torch.from_numpy(np.cumsum(areas) / areas.sum())
        u = _unit(n, self.dim + 1, method, seed)
        face = torch.searchsorted(cdf, u[:, 0].contiguous(), right=True).clamp(max=2 * self.dim - 1)
        points = torch.from_numpy(self.lower) + u[:, 1:] * torch.from_numpy(span)
        normals = torch.zeros(n, self.dim, dtype=torch.float64)
        axis, high = face % self.dim, face >= self.dim
        rows = torch.arange(n)
        points[rows, axis] = torch.where(high, torch.from_numpy(self.upper)[axis], torch.from_numpy(self.lower)[axis])
        normals[rows, axis] = torch.where(high, 1.0, -1.0).to(torch.float64)
        return _out(points, dtype, device), _out(normals, dtype, device)

    def describe(self):
        return {"type": "box", "lower": self.lower.tolist(), "upper": self.upper.tolist()}

    def __repr__(self):
        return f"Box({self.lower.tolist()}, {self.upper.tolist()})"


class Interval(Box):
    """``[a, b]``, a one-dimensional box."""

    def __init__(self, a: float, b: float):
        super().__init__([a], [b])

    def describe(self):
        return {"type": "interval", "a": float(self.lower[0]), "b": float(self.upper[0])}

    def __repr__(self):
        return f"Interval({self.lower[0]:g}, {self.upper[0]:g})"


class _Round(Domain):
    """What a ball and a sphere share: centre, radius, bounding box, distance to the centre, description."""

    kind = "round"
    min_dim = 1

    def __init__(self, center, radius):
        name = type(self).__name__
        self.center = np.asarray(center, dtype=np.float64).reshape(-1)
        if self.center.size < self.min_dim or not np.all(np.isfinite(self.center)):
            raise ConfigError(f"{name} needs a finite centre with at least {self.min_dim} coordinate(s)")
        self.radius = float(radius)
        if not (self.radius > 0 and math.isfinite(self.radius)):
            raise ConfigError(f"{name} has zero volume: radius = {self.radius:g} (it must be positive and finite)")
        self.dim = len(self.center)

    def bounding_box(self):
        return self.center - self.radius, self.center + self.radius

    def _c(self, x):
        return torch.as_tensor(self.center, dtype=x.dtype, device=x.device)

    def signed_distance(self, x) -> torch.Tensor:
        x = self._x(x)
        return (x - self._c(x)).norm(dim=1) - self.radius

    def describe(self):
        return {"type": self.kind, "center": self.center.tolist(), "radius": self.radius}

    def __repr__(self):
        name = type(self).__name__
        if self.dim > 4:
            return f"{name}(dim={self.dim}, radius={self.radius:g})"
        return f"{name}({self.center.tolist()}, {self.radius:g})"


class Ball(_Round):
    """The ball ``|x - center| <= radius`` in R^d (any ``d``; ``center`` sets it)."""

    kind = "ball"

    def __init__(self, center=(0.0, 0.0, 0.0), radius: float = 1.0):
        super().__init__(center, radius)

    @classmethod
    def unit(cls, dim: int) -> "Ball":
        """The unit ball of R^dim around the origin."""
        if dim < 1:
            raise ConfigError(f"a ball needs dimension at least 1, got {dim}")
        return cls(np.zeros(dim), 1.0)

    def log_volume(self) -> float:
        d = self.dim
        return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1) + d * math.log(self.radius)

    def closest_boundary_point(self, x):
        x = self._x(x)
        d = x - self._c(x)
        norm = d.norm(dim=1, keepdim=True)
        # the centre is equally far from every boundary point: pick the first axis
        e0 = torch.zeros_like(d)
        e0[:, 0] = 1.0
        normal = torch.where(norm > 0, d / torch.where(norm > 0, norm, torch.ones_like(norm)), e0)
        return self._c(x) + self.radius * normal, normal

    def sample_interior(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        u = _unit(n, self.dim + 1, method, seed)
        r = self.radius * u[:, :1] ** (1.0 / self.dim)
        return _out(torch.from_numpy(self.center) + r * _directions(u[:, 1:]), dtype, device)

    def sample_boundary(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        normals = _directions(_unit(n, self.dim, method, seed)) if self.dim > 1 else \
            torch.where(_unit(n, 1, method, seed) < 0.5, -1.0, 1.0).to(torch.float64)
        return _out(torch.from_numpy(self.center) + self.radius * normals, dtype, device), _out(normals, dtype, device)


class Disk(Ball):
    """The disk of R^2, a :class:`Ball` sampled in polar coordinates (two unit-cube coordinates, not three)."""

    kind = "disk"

    def __init__(self, center=(0.0, 0.0), radius: float = 1.0):
        super().__init__(center, radius)
        if self.dim != 2:
            raise ConfigError(f"Disk needs a centre with 2 coordinates, got {self.dim}; use Ball in other dimensions")

    def sample_interior(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        u = _unit(n, 2, method, seed)
        r, phi = self.radius * torch.sqrt(u[:, 0]), 2 * math.pi * u[:, 1]
        return _out(torch.from_numpy(self.center) + torch.stack([r * torch.cos(phi), r * torch.sin(phi)], 1),
                    dtype, device)

    def sample_boundary(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        phi = 2 * math.pi * _unit(n, 1, method, seed)[:, 0]
        normals = torch.stack([torch.cos(phi), torch.sin(phi)], 1)
        return _out(torch.from_numpy(self.center) + self.radius * normals, dtype, device), _out(normals, dtype, device)



class Sphere(_Round):
    """The sphere ``|x - center| = radius`` in R^d: a ``(d - 1)``-dimensional surface without boundary.

    ``volume()`` is its surface area; ``sample_interior`` draws points on it; ``contains`` accepts points
    within ``tol`` of it; ``signed_distance`` is ``|x - center| - radius`` (the distance to the surface,
    negative towards the centre). It has no boundary, so ``sample_boundary`` raises.
    """

    kind = "sphere"
    min_dim = 2  # a circle or more

    def __init__(self, center=(0.0, 0.0, 0.0), radius: float = 1.0):
        super().__init__(center, radius)

    def log_volume(self) -> float:
        d = self.dim
        return math.log(2.0) + 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d) + (d - 1) * math.log(self.radius)

    def contains(self, x, *, tol: float = 1e-9) -> torch.Tensor:
        return self.signed_distance(x).abs() <= tol

    def closest_boundary_point(self, x):
        raise ConfigError("a sphere has no boundary; project onto the surface with Ball.closest_boundary_point")

    def normals(self, x) -> torch.Tensor:
        """The outward unit normal of the surface at (the projection of) ``x``."""
        x = self._x(x)
        d = x - self._c(x)
        return d / d.norm(dim=1, keepdim=True).clamp(min=torch.finfo(x.dtype).tiny)

    def sample_interior(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        x = torch.from_numpy(self.center) + self.radius * _directions(_unit(n, self.dim, method, seed))
        return _out(x, dtype, device)

    def sample_boundary(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        raise ConfigError("a sphere has no boundary to sample; sample_interior draws points on its surface")


def _segments_cross(p, q, r, s) -> bool:
    """Whether the closed segments ``pq`` and ``rs`` share a point (2-D, exact for floats up to rounding)."""
    def orient(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    def on(a, b, c):
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    d1, d2, d3, d4 = orient(r, s, p), orient(r, s, q), orient(p, q, r), orient(p, q, s)
    if ((d1 > 0) != (d2 > 0)) and d1 != 0 and d2 != 0 and ((d3 > 0) != (d4 > 0)) and d3 != 0 and d4 != 0:
        return True
    return (d1 == 0 and on(r, s, p)) or (d2 == 0 and on(r, s, q)) or (d3 == 0 and on(p, q, r)) or \
        (d4 == 0 and on(p, q, s))


def _ear_clip(v: np.ndarray) -> np.ndarray:
    """Triangles ``(n - 2, 3)`` (vertex indices) of a simple counter-clockwise polygon."""
    def cross(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    def inside(p, a, b, c):
        return cross(a, b, p) >= 0 and cross(b, c, p) >= 0 and cross(c, a, p) >= 0

    idx = list(range(len(v)))
    triangles = []
    guard = 0
    while len(idx) > 3:
        guard += 1
        if guard > 10 * len(v) ** 2:
            raise ConfigError("could not triangulate the polygon (is it simple?)")
        m = len(idx)
        for k in range(m):
            a, b, c = idx[k - 1], idx[k], idx[(k + 1) % m]
            if cross(v[a], v[b], v[c]) <= 0:
                continue  # reflex or flat corner
            if any(inside(v[j], v[a], v[b], v[c]) for j in idx if j not in (a, b, c)):
                continue
            triangles.append((a, b, c))
            idx.pop(k)
            break
        else:
            raise ConfigError("could not triangulate the polygon (is it simple?)")
    triangles.append(tuple(idx))
    return np.asarray(triangles, dtype=np.int64)


class Polygon(Domain):
    """A simple polygon of R^2 given by its vertices in order (either orientation; stored counter-clockwise).

    Refused: fewer than 3 vertices, repeated consecutive vertices, zero area, crossing edges. Interior
    points come from an ear-clipping triangulation (a triangle by area, then a point in it), boundary
    points from an edge by length.
    """

    def __init__(self, vertices):
        v = np.asarray(vertices, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
            raise ConfigError(f"Polygon needs at least 3 vertices of 2 coordinates, got shape {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ConfigError("Polygon vertices must be finite")
        edges = np.roll(v, -1, axis=0) - v
        lengths = np.linalg.norm(edges, axis=1)
        scale = float(np.abs(v).max()) or 1.0
        if np.any(lengths <= 1e-12 * scale):
            i = int(np.argmin(lengths))
            raise ConfigError(f"Polygon has a zero-length edge: vertices {i} and {(i + 1) % len(v)} coincide")
        n = len(v)
        for i in range(n):
            for j in range(i + 1, n):
                if j == i + 1 or (i == 0 and j == n - 1):
                    continue  # neighbours share a vertex
                if _segments_cross(v[i], v[(i + 1) % n], v[j], v[(j + 1) % n]):
                    raise ConfigError(f"Polygon is not simple: edge {i} crosses edge {j}")
        area2 = float(np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1]))
        if abs(area2) <= 1e-12 * scale ** 2:
            raise ConfigError("Polygon has zero area (its vertices are collinear)")
        self.vertices = v if area2 > 0 else v[::-1].copy()
        self.dim = 2
        self._area = abs(area2) / 2
        self.triangles = _ear_clip(self.vertices)

    def volume(self) -> float:
        return self._area

    def bounding_box(self):
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    def _edges(self, x):
        a = torch.as_tensor(self.vertices, dtype=x.dtype, device=x.device)
        return a, torch.roll(a, -1, dims=0)

    def _nearest(self, x):
        """Per point: the nearest point on every edge ``(N, E, 2)`` and the index of the nearest edge."""
        a, b = self._edges(x)
        e = b - a
        t = (((x[:, None, :] - a[None]) * e[None]).sum(-1) / (e * e).sum(-1)[None]).clamp(0, 1)
        p = a[None] + t[..., None] * e[None]
        dist = (x[:, None, :] - p).norm(dim=-1)
        return p, dist

    def _winding_inside(self, x) -> torch.Tensor:
        a, b = self._edges(x)
        xa, ya, xb, yb = a[:, 0][None], a[:, 1][None], b[:, 0][None], b[:, 1][None]
        px, py = x[:, :1], x[:, 1:]
        straddles = (ya > py) != (yb > py)
        cross_x = xa + (py - ya) * (xb - xa) / torch.where(yb != ya, yb - ya, torch.ones_like(yb))
        return ((straddles & (px < cross_x)).sum(1) % 2) == 1

    def signed_distance(self, x) -> torch.Tensor:
        x = self._x(x)
        _, dist = self._nearest(x)
        d = dist.min(dim=1).values
        return torch.where(self._winding_inside(x), -d, d)

    def contains(self, x, *, tol: float = 1e-12) -> torch.Tensor:
        x = self._x(x)
        _, dist = self._nearest(x)
        return self._winding_inside(x) | (dist.min(dim=1).values <= tol)

    def closest_boundary_point(self, x):
        x = self._x(x)
        p, dist = self._nearest(x)
        k = dist.argmin(dim=1)
        rows = torch.arange(len(x), device=x.device)
        q = p[rows, k]
        a, b = self._edges(x)
        e = (b - a)[k]
        edge_normal = torch.stack([e[:, 1], -e[:, 0]], 1) / e.norm(dim=1, keepdim=True)
        # at a vertex the outward direction of an outside point is x - q; inside (or on) the edge's normal
        away = x - q
        norm = away.norm(dim=1, keepdim=True)
        inside = self._winding_inside(x)
        use_away = (~inside) & (norm[:, 0] > 1e-14)
        normal = torch.where(use_away[:, None], away / torch.where(norm > 0, norm, torch.ones_like(norm)), edge_normal)
        return q, normal

    def sample_interior(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        v = torch.from_numpy(self.vertices)
        tri = v[torch.from_numpy(self.triangles)]  # (T, 3, 2)
        e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
        areas = 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).abs()
        cdf = torch.cumsum(areas, 0) / areas.sum()
        u = _unit(n, 3, method, seed)
        k = torch.searchsorted(cdf, u[:, 0].contiguous(), right=True).clamp(max=len(tri) - 1)
        s = torch.sqrt(u[:, 1:2])  # uniform in a triangle: (1 - s) A + s (1 - w) B + s w C
        w = u[:, 2:3]
        x = (1 - s) * tri[k, 0] + s * (1 - w) * tri[k, 1] + s * w * tri[k, 2]
        return _out(x, dtype, device)

    def sample_boundary(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        a = torch.from_numpy(self.vertices)
        e = torch.roll(a, -1, dims=0) - a
        lengths = e.norm(dim=1)
        cdf = torch.cumsum(lengths, 0) / lengths.sum()
        u = _unit(n, 2, method, seed)
        k = torch.searchsorted(cdf, u[:, 0].contiguous(), right=True).clamp(max=len(a) - 1)
        x = a[k] + u[:, 1:2] * e[k]
        normals = torch.stack([e[k, 1], -e[k, 0]], 1) / lengths[k, None]
        return _out(x, dtype, device), _out(normals, dtype, device)

    def describe(self):
        return {"type": "polygon", "vertices": self.vertices.tolist()}

    def __repr__(self):
        return f"Polygon({len(self.vertices)} vertices, area {self._area:g})"


class SpaceTime(Domain):
    """``space x [t0, t1]``; time is the last coordinate."""

    def __init__(self, space: Domain, t0: float, t1: float):
        if not t1 > t0:
            raise ConfigError(f"SpaceTime has zero volume: t1 = {t1:g} <= t0 = {t0:g}")
        if isinstance(space, (SpaceTime, Sphere)):
            raise ConfigError(f"SpaceTime needs a spatial domain with a boundary, got {space!r}")
        self.space, self.t0, self.t1 = space, float(t0), float(t1)
        self.dim = space.dim + 1

    def log_volume(self):
        return self.space.log_volume() + math.log(self.t1 - self.t0)

    def bounding_box(self):
        lo, hi = self.space.bounding_box()
        return np.append(lo, self.t0), np.append(hi, self.t1)

    def contains(self, x, *, tol=1e-12):
        x = self._x(x)
        return self.space.contains(x[:, :-1], tol=tol) & (x[:, -1] >= self.t0 - tol) & (x[:, -1] <= self.t1 + tol)

    def signed_distance(self, x) -> torch.Tensor:
        """Distance to the space-time boundary (the lateral boundary and both time caps)."""
        x = self._x(x)
        ds = self.space.signed_distance(x[:, :-1])
        t = x[:, -1]
        dt = torch.maximum(self.t0 - t, t - self.t1)
        outside = torch.sqrt(ds.clamp(min=0) ** 2 + dt.clamp(min=0) ** 2)
        return torch.where((ds > 0) | (dt > 0), outside, torch.maximum(ds, dt))

    def spatial_signed_distance(self, x) -> torch.Tensor:
        """Distance of each point's spatial part to the spatial boundary (what walk-on-spheres steps by)."""
        x = self._x(x)
        return self.space.signed_distance(x[:, :-1])

    def closest_boundary_point(self, x):
        """The nearest point of the lateral boundary (same time) and its normal (no time component)."""
        x = self._x(x)
        p, normal = self.space.closest_boundary_point(x[:, :-1])
        return torch.cat([p, x[:, -1:]], 1), torch.cat([normal, torch.zeros_like(x[:, -1:])], 1)

    def _times(self, u):
        return self.t0 + (self.t1 - self.t0) * u

    def sample_interior(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        x = self.space.sample_interior(n, method=method, seed=seed)
        return _out(torch.cat([x, self._times(_unit(n, 1, method, seed + 104729))], 1), dtype, device)

    def sample_boundary(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        """Points of the lateral boundary ``partial(space) x [t0, t1]`` and their (spatial) normals."""
        x, normals = self.space.sample_boundary(n, method=method, seed=seed)
        points = torch.cat([x, self._times(_unit(n, 1, method, seed + 104729))], 1)
        normals = torch.cat([normals, torch.zeros(n, 1, dtype=normals.dtype)], 1)
        return _out(points, dtype, device), _out(normals, dtype, device)

    def sample_initial(self, n, *, method="uniform", seed=0, dtype=torch.float64, device=None):
        x = self.space.sample_interior(n, method=method, seed=seed)
        return _out(torch.cat([x, torch.full((n, 1), self.t0, dtype=torch.float64)], 1), dtype, device)

    def describe(self):
        return {"type": "spacetime", "space": self.space.describe(), "t0": self.t0, "t1": self.t1}

    def __repr__(self):
        return f"SpaceTime({self.space!r}, {self.t0:g}, {self.t1:g})"


_TYPES = {"box": (Box, ("lower", "upper")), "interval": (Interval, ("a", "b")), "ball": (Ball, ("center", "radius")),
          "disk": (Disk, ("center", "radius")), "sphere": (Sphere, ("center", "radius")),
          "polygon": (Polygon, ("vertices",))}


def domain_from_dict(spec: dict[str, Any]) -> Domain:
    """The domain :meth:`Domain.describe` wrote, e.g. ``{"type": "ball", "center": [0, 0, 0], "radius": 1}``."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(f"a domain is a mapping with a 'type', got {spec!r}")
    kind = spec["type"]
    if kind == "spacetime":
        missing = [k for k in ("space", "t0", "t1") if k not in spec]
        if missing:
            raise ConfigError(f"spacetime domain misses {', '.join(missing)}")
        return SpaceTime(domain_from_dict(spec["space"]), spec["t0"], spec["t1"])
    if kind not in _TYPES:
        raise ConfigError(f"unknown domain type {kind!r}; choose one of {', '.join([*_TYPES, 'spacetime'])}")
    cls, keys = _TYPES[kind]
    missing = [k for k in keys if k not in spec]
    extra = sorted(set(spec) - set(keys) - {"type"})
    if missing or extra:
        raise ConfigError(f"{kind} domain: " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(extra)}"] if extra else [])))
    return cls(*(spec[k] for k in keys))
