"""Distances to a boundary, the one query walk-on-spheres makes at every step.

A boundary answers, for points ``x (n, dim)`` inside the domain:

* ``distance(x) -> (n,)``: a lower bound of the distance to the boundary that is exact within ``band`` of it
  (any lower bound is a ball inside the domain, so the walk stays correct; exactness near the boundary keeps
  the epsilon-shell test honest);
* ``closest(x) -> (n, dim)``: the nearest boundary point (where a walk ends);
* ``contains(x) -> (n,) bool``, ``dim``, ``bounding_box()``.

Kinds:

* :class:`DomainBoundary`: a :mod:`sciml.geometry` domain with an analytic signed distance (disk, ball, box,
  or any other domain's ``signed_distance``);
* :class:`SegmentBoundary`: closed polylines in 2-D (a polygon, or several loops: holes);
* :class:`TriangleBoundary`: a closed triangle surface in 3-D (from meshio).

Segments and triangles are found through a uniform grid, never by a scan of every primitive per query: for
each cell centre ``c`` the exact distance ``D_c`` is computed once; a point ``x`` in the cell has its nearest
primitive among those within ``D_c + 2 rho`` of ``c`` (``rho`` the cell's half-diagonal, since
``|x - c| <= rho``), and a cell far from the boundary (``D_c > far * rho``) answers ``D_c - |x - c|``,
a lower bound, with no primitive at all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sciml._errors import ConfigError, DataError

__all__ = ["Boundary", "DomainBoundary", "SegmentBoundary", "TriangleBoundary", "as_boundary", "boundary_from_mesh",
           "star_vertices", "point_segment", "point_triangle", "describe"]


class Boundary:
    """The interface (see the module's docstring)."""

    dim: int

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def closest(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def exact_distance(self, x: torch.Tensor) -> torch.Tensor:
        return self.distance_and_closest(x)[0]

    def distance_and_closest(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact distance and the closest boundary point."""
        p = self.closest(x)
        return (x - p).norm(dim=1), p

    def contains(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def to(self, device=None, dtype=None) -> "Boundary":
        return self


class DomainBoundary(Boundary):
    """The boundary of a :mod:`sciml.geometry` domain; disks, balls and boxes take a fused analytic path."""

    def __init__(self, domain):
        from sciml.geometry import Ball, Box

        self.domain = domain
        self.dim = domain.dim
        self._kind = "ball" if isinstance(domain, Ball) else "box" if isinstance(domain, Box) else "generic"
        self._device, self._dtype = torch.device("cpu"), torch.float64
        self._tensors()

    def _tensors(self):
        if self._kind == "ball":
            self._c = torch.as_tensor(self.domain.center, dtype=self._dtype, device=self._device)
            self._r = float(self.domain.radius)
        elif self._kind == "box":
            self._lo = torch.as_tensor(self.domain.lower, dtype=self._dtype, device=self._device)
            self._hi = torch.as_tensor(self.domain.upper, dtype=self._dtype, device=self._device)

    def to(self, device=None, dtype=None):
        self._device = torch.device(device) if device is not None else self._device
        self._dtype = dtype or self._dtype
        self._tensors()
        return self

    def distance(self, x):
        if self._kind == "ball":
            return self._r - (x - self._c).norm(dim=1)
        if self._kind == "box":
            return torch.minimum(x - self._lo, self._hi - x).min(dim=1).values
        return -self.domain.signed_distance(x)

    def exact_distance(self, x):
        return self.distance(x)

    def closest(self, x):
        if self._kind == "ball":
            d = x - self._c
            n = d.norm(dim=1, keepdim=True)
            unit = torch.where(n > 0, d / n.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(d))
            unit[:, 0] = torch.where(n[:, 0] > 0, unit[:, 0], torch.ones_like(unit[:, 0]))
            return self._c + self._r * unit
        if self._kind == "box":
            low, high = x - self._lo, self._hi - x
            gap = torch.cat([low, high], dim=1)
            k = gap.argmin(dim=1)
            axis, upper = k % self.dim, k >= self.dim
            p = x.clone()
            rows = torch.arange(len(x), device=x.device)
            p[rows, axis] = torch.where(upper, self._hi[axis], self._lo[axis])
            return p
        return self.domain.closest_boundary_point(x)[0].to(x.dtype)

    def contains(self, x):
        return self.domain.contains(x.double().cpu(), tol=0.0).to(x.device)

    def bounding_box(self):
        return self.domain.bounding_box()

    def __repr__(self):
        return f"DomainBoundary({self.domain!r})"


# ---------------------------------------------------------------------------------------------- primitives

def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum(a * b, -1)`` over a last axis of 2 or 3, written out: torch's reduction over so short an axis is
    several times slower than the arithmetic."""
    out = a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1]
    return out + a[..., 2] * b[..., 2] if a.shape[-1] == 3 else out


def point_segment(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance and closest point from ``x (..., d)`` to the segments ``a b`` (broadcast): ``(...)``, ``(..., d)``."""
    e = b - a
    t = (_dot(x - a, e) / _dot(e, e).clamp_min(torch.finfo(x.dtype).tiny)).clamp(0, 1)
    p = a + t[..., None] * e
    r = x - p
    return _dot(r, r).sqrt(), p


def point_triangle(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance and closest point from ``x (..., 3)`` to the triangles ``a b c`` (broadcast).

    If the projection of ``x`` onto the triangle's plane falls inside the triangle it is the closest point;
    otherwise the closest point lies on one of the three edges.
    """
    tiny = torch.finfo(x.dtype).tiny
    ab, ac = b - a, c - a
    n = torch.cross(ab, ac, dim=-1)
    ax = x - a
    q = x - (_dot(ax, n) / _dot(n, n).clamp_min(tiny))[..., None] * n  # the projection
    aq = q - a
    # barycentric coordinates of q
    d00, d01, d11 = _dot(ab, ab), _dot(ab, ac), _dot(ac, ac)
    d20, d21 = _dot(aq, ab), _dot(aq, ac)
    den = (d00 * d11 - d01 * d01).clamp_min(tiny)
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    inside = (v >= 0) & (w >= 0) & (v + w <= 1)
    best_d, best_p = point_segment(x, a, b)
    for p0, p1 in ((b, c), (c, a)):
        d, p = point_segment(x, p0, p1)
        closer = d < best_d
        best_d = torch.where(closer, d, best_d)
        best_p = torch.where(closer[..., None], p, best_p)
    r = x - q
    d_plane = _dot(r, r).sqrt()
    return torch.where(inside, d_plane, best_d), torch.where(inside[..., None], q, best_p)


# ---------------------------------------------------------------------------------------------- grid index

class _GridBoundary(Boundary):
    """Primitives ``(M, k, dim)`` (k = 2 segment ends, 3 triangle corners) behind a uniform grid index."""

    far = 3.0  # a cell with D_c > far * rho answers the lower bound D_c - |x - c|
    exact_pairs = 2e8  # centre-primitive distances computed exactly when the index is built

    def __init__(self, primitives: np.ndarray, *, cells: int | None, chunk: int = 1 << 22):
        self.primitives = np.ascontiguousarray(primitives, dtype=np.float64)
        m, _, dim = self.primitives.shape
        self.dim = dim
        flat = self.primitives.reshape(-1, dim)
        lo, hi = flat.min(0), flat.max(0)
        span = hi - lo
        if not np.all(span > 0):
            raise ConfigError(f"the boundary is flat: its bounding box has zero extent along axis "
                              f"{int(np.argmin(span))}")
        if cells is None:  # cells about one primitive wide
            size = float(np.median(np.linalg.norm(self.primitives[:, 1] - self.primitives[:, 0], axis=1)))
            cells = int(np.clip(np.ceil(span.max() / max(size, 1e-12 * span.max())), 32 if dim == 2 else 16,
                                2048 if dim == 2 else 160))
        if int(cells) < 1:
            raise ConfigError(f"the grid index needs at least 1 cell per axis, got {cells}")
        h = float(span.max()) / int(cells)
        self.h = h
        self.lo = lo - 0.5 * h
        self.shape = tuple(int(np.ceil(s / h)) + 1 for s in span)
        self.rho = 0.5 * h * math.sqrt(dim)
        self._build(chunk)
        self._device, self._dtype = torch.device("cpu"), torch.float64
        self._tensors()

    def _distance_to(self, x: torch.Tensor, prims: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError  # x (..., d) against prims (..., k, d): distances (...), points (..., d)

    def _build(self, chunk: int) -> None:
        """Per cell a lower bound ``D_c`` of the distance from its centre; near cells: exact, with candidates.

        Cells a primitive's bounding box touches are marked; a Euclidean distance transform over the marks
        gives every cell a lower bound (a boundary point lies within ``rho`` of a marked centre). Only the
        cells whose bound is within ``far * rho`` get exact distances, against every primitive.
        """
        from scipy.ndimage import distance_transform_edt

        dim, shape, h = self.dim, self.shape, self.h
        prims = self.primitives
        marked = np.zeros(shape, dtype=bool)
        lo_ij = np.floor((prims.min(1) - self.lo) / h).astype(int).clip(0, np.array(shape) - 1)
        hi_ij = np.floor((prims.max(1) - self.lo) / h).astype(int).clip(0, np.array(shape) - 1)
        for a, b in zip(lo_ij, hi_ij):
            marked[tuple(slice(a[i], b[i] + 1) for i in range(dim))] = True
        bound = (distance_transform_edt(~marked) * h - self.rho).reshape(-1)  # cells from the marks, as a length
        # exact centre distances: every cell within far * rho of the marks, then the nearest others while the
        # budget of centre-primitive pairs lasts (a tight bound far away keeps the walks' steps long)
        by_bound = np.argsort(bound, kind="stable")
        must = int(np.searchsorted(bound[by_bound], self.far * self.rho, side="right"))
        exact = np.sort(by_bound[:max(must, min(len(bound), int(self.exact_pairs // len(prims))))])
        axes = [self.lo[i] + h * (np.arange(shape[i]) + 0.5) for i in range(dim)]
        centres = torch.from_numpy(np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, dim)[exact])
        prims_t = torch.from_numpy(prims)
        m = len(prims_t)
        rows = max(1, chunk // m)
        dc = torch.from_numpy(np.maximum(bound, 0.0))
        cell_of, prim_of = [], []
        for s in range(0, len(exact), rows):
            d = self._centre_distances(centres[s:s + rows], prims_t)  # (rows, m)
            dmin = d.min(dim=1).values
            ids = torch.from_numpy(exact[s:s + rows])
            dc[ids] = dmin
            keep = (d <= (dmin + 2 * self.rho)[:, None]) & (dmin <= self.far * self.rho)[:, None]
            r, j = torch.nonzero(keep, as_tuple=True)
            cell_of.append(ids[r])
            prim_of.append(j)
        nc = int(np.prod(shape))
        cell_of = torch.cat(cell_of) if cell_of else torch.zeros(0, dtype=torch.long)
        prim_of = torch.cat(prim_of) if prim_of else torch.zeros(0, dtype=torch.long)
        order = torch.argsort(cell_of, stable=True)
        cell_of, prim_of = cell_of[order], prim_of[order]
        counts = torch.bincount(cell_of, minlength=nc)
        rows_of = torch.nonzero(counts > 0, as_tuple=True)[0]  # the near cells, in order
        row = torch.full((nc,), -1, dtype=torch.long)
        row[rows_of] = torch.arange(len(rows_of))
        width = max(1, int(counts.max())) if len(cell_of) else 1
        first = torch.cumsum(counts, 0) - counts
        slot = torch.arange(len(cell_of)) - first[cell_of]
        table = torch.zeros((len(rows_of), width), dtype=torch.long)
        table[row[cell_of], slot] = prim_of
        # pad each row with its first candidate: the minimum over the row is unchanged
        pad = torch.arange(width)[None, :] >= counts[rows_of][:, None]
        table = torch.where(pad, table[:, :1], table)
        self._dc, self._table, self._row = dc, table, row
        self.near_cells = len(rows_of)
        self.candidates_max = width
        self.candidates_mean = float(counts[rows_of].double().mean()) if self.near_cells else 0.0

    def _centre_distances(self, c: torch.Tensor, prims: torch.Tensor) -> torch.Tensor:
        """Distances ``(rows, m)`` from centres ``c (rows, dim)`` to every primitive."""
        return self._distance_to(c[:, None, :], prims[None])[0]

    def _tensors(self):
        dev, dt = self._device, self._dtype
        self._prims_t = torch.as_tensor(self.primitives, dtype=dt, device=dev)
        self._lo_t = torch.as_tensor(self.lo, dtype=dt, device=dev)
        self._shape_t = torch.as_tensor(self.shape, device=dev)
        strides = np.cumprod((1,) + self.shape[::-1][:-1])[::-1].copy()
        self._strides_t = torch.as_tensor(strides, device=dev)
        self._dc_t = self._dc.to(dev, dt)
        self._table_t = self._table.to(dev)
        self._row_t = self._row.to(dev)

    def to(self, device=None, dtype=None):
        self._device = torch.device(device) if device is not None else self._device
        self._dtype = dtype or self._dtype
        self._tensors()
        return self

    def _cells(self, x):
        """Each point's cell (flat index) and its distance from the cell's centre, axis by axis (column
        arithmetic: reductions over a length-2 or -3 axis are slow in torch)."""
        cell, off2 = None, None
        for i in range(self.dim):
            u = (x[:, i] - self.lo[i]) * (1.0 / self.h)
            k = u.long().clamp_(0, self.shape[i] - 1)  # points lie inside the grid: truncation is the floor
            o = u - k - 0.5
            cell = k if cell is None else cell * self.shape[i] + k
            off2 = o * o if off2 is None else off2.addcmul_(o, o)
        return cell, off2.sqrt_().mul_(self.h)

    def _nearest(self, x, prims):
        """The nearest of ``prims (n, K, k, dim)`` to each ``x (n, dim)``: distances ``(n,)``, points ``(n, dim)``."""
        d, p = self._distance_to(x[:, None, :], prims)
        k = d.argmin(dim=1, keepdim=True)
        return d.gather(1, k)[:, 0], p.gather(1, k[..., None].expand(-1, 1, self.dim))[:, 0]

    def _near_cells(self, x, cell):
        """Exact distance and closest point for points ``x`` in near cells ``cell``, from the candidate table."""
        return self._nearest(x, self._prims_t[self._table_t[self._row_t[cell]]])

    def _near_distance(self, x, cell):
        """Exact distance alone for points ``x`` in near cells ``cell`` (what a walk's step needs)."""
        return self._near_cells(x, cell)[0]

    def _scan(self, x, chunk: int = 1 << 22):
        """Exact distance and closest point by a scan of every primitive (only for far points that need one)."""
        rows = max(1, chunk // len(self.primitives))
        parts = [self._nearest(x[s:s + rows], self._prims_t[None].expand(len(x[s:s + rows]), -1, -1, -1))
                 for s in range(0, len(x), rows)]
        return torch.cat([d for d, _ in parts]), torch.cat([p for _, p in parts])

    def distance(self, x):
        """Exact in near cells (from the candidate table); ``D_c - |x - c|``, a lower bound, in far cells."""
        cell, off = self._cells(x)
        dist = self._dc_t[cell] - off
        idx = torch.nonzero(self._row_t[cell] >= 0, as_tuple=True)[0]
        if len(idx):
            dist[idx] = self._near_distance(x[idx], cell[idx])
        return dist

    def distance_and_closest(self, x):
        cell, _ = self._cells(x)
        near = self._row_t[cell] >= 0
        dist = torch.empty(len(x), dtype=x.dtype, device=x.device)
        point = torch.empty_like(x)
        idx = torch.nonzero(near, as_tuple=True)[0]
        if len(idx):
            dist[idx], point[idx] = self._near_cells(x[idx], cell[idx])
        if len(idx) < len(x):  # far from the boundary (a walk closed at the cap): scan every primitive
            far = torch.nonzero(~near, as_tuple=True)[0]
            dist[far], point[far] = self._scan(x[far])
        return dist, point

    def closest(self, x):
        return self.distance_and_closest(x)[1]

    def bounding_box(self):
        flat = self.primitives.reshape(-1, self.dim)
        return flat.min(0), flat.max(0)


class SegmentBoundary(_GridBoundary):
    """Closed polylines of R^2: ``loops`` a list of ``(n_i, 2)`` vertex arrays (each closes on itself; several
    loops bound a domain with holes). Inside: the even-odd rule over all loops.

    Refused: a loop with fewer than 3 vertices, non-finite vertices, a zero-length edge, edges that cross.
    """

    def __init__(self, loops, *, cells: int | None = None, check: bool = True):
        if isinstance(loops, np.ndarray) and loops.ndim == 2:
            loops = [loops]
        segs = []
        for i, v in enumerate(loops):
            v = np.asarray(v, dtype=np.float64)
            if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
                raise ConfigError(f"boundary loop {i} needs at least 3 vertices of 2 coordinates, got shape {v.shape}")
            if not np.all(np.isfinite(v)):
                raise ConfigError(f"boundary loop {i} has non-finite vertices")
            if np.allclose(v[0], v[-1]):
                v = v[:-1]  # a loop given closed
            segs.append(np.stack([v, np.roll(v, -1, axis=0)], axis=1))
        prims = np.concatenate(segs)
        lengths = np.linalg.norm(prims[:, 1] - prims[:, 0], axis=1)
        scale = float(np.abs(prims).max()) or 1.0
        if np.any(lengths <= 1e-12 * scale):
            raise ConfigError(f"the boundary has a zero-length edge (segment {int(np.argmin(lengths))})")
        self.loops = [s[:, 0] for s in segs]
        super().__init__(prims, cells=cells)
        if check:
            self._check_simple()

    def _check_simple(self) -> None:
        """Edges may meet only at the vertex neighbours share: every pair whose bounding boxes overlap is tested."""
        p = self.primitives
        m = len(p)
        # a neighbour shares an endpoint within its own loop
        starts = np.cumsum([0] + [len(v) for v in self.loops])
        loop_of = np.searchsorted(starts, np.arange(m), side="right") - 1
        nxt = np.arange(m) + 1
        nxt[starts[1:] - 1] = starts[:-1]
        a, b = torch.from_numpy(p[:, 0]), torch.from_numpy(p[:, 1])
        # candidate pairs: segments whose x-ranges overlap (a sweep over x, vectorised)
        xmin_all = np.minimum(p[:, 0, 0], p[:, 1, 0])
        order = np.argsort(xmin_all, kind="stable")
        xmin = xmin_all[order]
        xmax = np.maximum(p[:, 0, 0], p[:, 1, 0])[order]
        reach = np.searchsorted(xmin, xmax, side="right")
        count = np.maximum(reach - np.arange(m) - 1, 0)
        if count.sum() == 0:
            return
        first = np.repeat(np.arange(m), count)
        offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        pairs_i, pairs_j = order[first], order[first + 1 + offset]
        # y-ranges must overlap too
        ylo = np.minimum(p[:, 0, 1], p[:, 1, 1])
        yhi = np.maximum(p[:, 0, 1], p[:, 1, 1])
        both = (ylo[pairs_i] <= yhi[pairs_j]) & (ylo[pairs_j] <= yhi[pairs_i])
        pairs_i, pairs_j = pairs_i[both], pairs_j[both]
        if len(pairs_i) == 0:
            return
        pairs = (pairs_i, pairs_j)
        i, j = (torch.as_tensor(v) for v in pairs)
        adjacent = torch.as_tensor((nxt[i.numpy()] == j.numpy()) | (nxt[j.numpy()] == i.numpy()))
        cross = _segments_intersect(a[i], b[i], a[j], b[j]) & ~adjacent
        if bool(cross.any()):
            k = int(torch.nonzero(cross)[0, 0])
            raise ConfigError(f"the boundary is self-intersecting: segment {int(i[k])} (loop {loop_of[int(i[k])]}) "
                              f"crosses segment {int(j[k])} (loop {loop_of[int(j[k])]})")

    def _distance_to(self, x, prims):
        return point_segment(x, prims[..., 0, :], prims[..., 1, :])

    exact_pairs = 5e7

    def _centre_distances(self, c, prims):
        a, e = prims[:, 0], prims[:, 1] - prims[:, 0]
        inv = 1.0 / (e * e).sum(1)
        rx, ry = c[:, :1] - a[:, 0], c[:, 1:] - a[:, 1]
        t = ((rx * e[:, 0] + ry * e[:, 1]) * inv).clamp_(0, 1)
        dx, dy = rx - t * e[:, 0], ry - t * e[:, 1]
        return (dx * dx + dy * dy).sqrt_()

    def _tensors(self):
        super()._tensors()
        # per cell and candidate, the segment as scalars (start, edge, 1/|edge|^2), one contiguous table each:
        # a query gathers rows and does scalar arithmetic (reductions over a length-2 axis are slow in torch)
        a, e = self._prims_t[:, 0], self._prims_t[:, 1] - self._prims_t[:, 0]
        inv = 1.0 / (e * e).sum(1)
        self._seg = torch.stack([v[self._table_t] for v in (a[:, 0], a[:, 1], e[:, 0], e[:, 1], inv)])  # (5, rows, K)

    def _near_cells(self, x, cell):
        row = self._row_t[cell]
        ax, ay, ex, ey, inv = self._seg[:, row]  # (n, K) each
        rx, ry = x[:, :1] - ax, x[:, 1:] - ay
        t = ((rx * ex + ry * ey) * inv).clamp_(0, 1)
        dx, dy = rx - t * ex, ry - t * ey
        d2 = dx * dx + dy * dy
        d2min, k = d2.min(dim=1, keepdim=True)
        tk = t.gather(1, k)
        p = torch.cat([ax.gather(1, k) + tk * ex.gather(1, k), ay.gather(1, k) + tk * ey.gather(1, k)], 1)
        return d2min[:, 0].sqrt(), p

    def _near_distance(self, x, cell):
        # the arithmetic of _near_cells in place, and no closest point (no argmin, no gathers)
        ax, ay, ex, ey, inv = self._seg[:, self._row_t[cell]]
        dx, dy = x[:, :1] - ax, x[:, 1:] - ay
        t = (dx * ex).addcmul_(dy, ey).mul_(inv).clamp_(0, 1)
        dx.addcmul_(t, ex, value=-1)
        dy.addcmul_(t, ey, value=-1)
        return dx.mul_(dx).addcmul_(dy, dy).amin(dim=1).sqrt_()

    def contains(self, x):
        x = x.to(self._prims_t.dtype).to(self._prims_t.device)
        a, b = self._prims_t[:, 0], self._prims_t[:, 1]
        inside = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for s in range(0, len(x), 4096):
            px, py = x[s:s + 4096, :1], x[s:s + 4096, 1:]
            ya, yb = a[:, 1][None], b[:, 1][None]
            straddles = (ya > py) != (yb > py)
            cross_x = a[:, 0][None] + (py - ya) * (b[:, 0] - a[:, 0])[None] / torch.where(yb != ya, yb - ya,
                                                                                             torch.ones_like(yb))
            inside[s:s + 4096] = ((straddles & (px < cross_x)).sum(1) % 2) == 1
        return inside

    def __repr__(self):
        return f"SegmentBoundary({len(self.primitives)} segments in {len(self.loops)} loop(s))"


def _segments_intersect(a, b, c, d) -> torch.Tensor:
    def orient(p, q, r):
        return (q[:, 0] - p[:, 0]) * (r[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (r[:, 0] - p[:, 0])

    o1, o2, o3, o4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
    proper = (o1 * o2 < 0) & (o3 * o4 < 0)
    # touching or collinear overlap: an endpoint on the other segment
    d_touch = torch.minimum(torch.minimum(point_segment(c, a, b)[0], point_segment(d, a, b)[0]),
                            torch.minimum(point_segment(a, c, d)[0], point_segment(b, c, d)[0]))
    scale = torch.maximum((b - a).norm(dim=1), (d - c).norm(dim=1))
    return proper | (d_touch <= 1e-12 * scale)


class TriangleBoundary(_GridBoundary):
    """A closed triangle surface of R^3: ``points (P, 3)`` and ``triangles (T, 3)`` vertex indices.

    Refused: non-finite points, indices out of range, degenerate (zero-area) triangles, and an open surface
    (an edge not shared by exactly two triangles). Inside: the parity of ray crossings along +z.
    """

    def __init__(self, points, triangles, *, cells: int | None = None):
        pts = np.asarray(points, dtype=np.float64)
        tri = np.asarray(triangles)
        if pts.ndim != 2 or pts.shape[1] != 3 or not np.all(np.isfinite(pts)):
            raise ConfigError(f"a triangle surface needs finite points of shape (P, 3), got {pts.shape}")
        if tri.ndim != 2 or tri.shape[1] != 3 or len(tri) < 4:
            raise ConfigError(f"a closed triangle surface needs at least 4 triangles (T, 3), got {tri.shape}")
        if tri.min() < 0 or tri.max() >= len(pts):
            raise ConfigError(f"triangle indices must lie in [0, {len(pts)}), got {int(tri.min())}..{int(tri.max())}")
        prims = pts[tri]
        area = 0.5 * np.linalg.norm(np.cross(prims[:, 1] - prims[:, 0], prims[:, 2] - prims[:, 0]), axis=1)
        scale = float(np.abs(pts).max()) or 1.0
        if np.any(area <= 1e-14 * scale ** 2):
            raise ConfigError(f"the surface has a degenerate (zero-area) triangle: triangle {int(np.argmin(area))}")
        edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
        _, counts = np.unique(edges, axis=0, return_counts=True)
        if np.any(counts != 2):
            raise ConfigError(f"the surface is open or non-manifold: {int((counts != 2).sum())} edges are not shared "
                              f"by exactly two triangles")
        self.points, self.triangles = pts, tri
        super().__init__(prims, cells=cells)

    def _distance_to(self, x, prims):
        return point_triangle(x, prims[..., 0, :], prims[..., 1, :], prims[..., 2, :])

    def contains(self, x):
        """Parity of crossings of the ray ``x + t e_z``, ``t > 0`` (a slightly tilted ray avoids edges)."""
        x = x.to(self._prims_t.dtype).to(self._prims_t.device)
        direction = torch.tensor([1e-3, 2e-3, 1.0], dtype=x.dtype, device=x.device)
        direction = direction / direction.norm()
        a, b, c = self._prims_t[:, 0], self._prims_t[:, 1], self._prims_t[:, 2]
        e1, e2 = b - a, c - a
        out = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for s in range(0, len(x), 1024):
            o = x[s:s + 1024, None, :]
            pvec = torch.cross(direction.expand_as(e2), e2, dim=-1)
            det = (e1 * pvec).sum(-1)
            inv = 1.0 / torch.where(det.abs() > 1e-300, det, torch.ones_like(det))
            tvec = o - a
            u = (tvec * pvec).sum(-1) * inv
            qvec = torch.cross(tvec, e1.expand_as(tvec), dim=-1)
            v = (direction * qvec).sum(-1) * inv
            t = (e2 * qvec).sum(-1) * inv
            hit = (det.abs() > 1e-300) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
            out[s:s + 1024] = (hit.sum(1) % 2) == 1
        return out

    def __repr__(self):
        return f"TriangleBoundary({len(self.triangles)} triangles)"


def boundary_from_mesh(path) -> Boundary:
    """A boundary from a mesh file meshio reads (or a :class:`meshio.Mesh`): 2-D ``line`` cells (closed loops) or 3-D ``triangle`` cells
    (a closed surface). A 2-D mesh of triangles gives its outer and hole loops (edges used once)."""
    from sciml.data.mesh import read_mesh

    if hasattr(path, "points") and hasattr(path, "cells"):  # a meshio.Mesh already in memory
        mesh, path = path, "the mesh"
    else:
        try:
            mesh = read_mesh(path)  # meshio's readers, without meshio.read's exit on failure
        except DataError as exc:
            raise DataError(f"{path}: not a mesh meshio can read ({exc})") from exc
    pts = np.asarray(mesh.points, dtype=np.float64)
    kinds = {c.type: c.data for c in mesh.cells}
    flat2d = pts.shape[1] == 2 or (pts.shape[1] == 3 and np.allclose(pts[:, 2], 0))
    if flat2d:
        if "line" in kinds:
            edges = np.asarray(kinds["line"])
        elif "triangle" in kinds:
            tri = np.asarray(kinds["triangle"])
            all_edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
            uniq, counts = np.unique(all_edges, axis=0, return_counts=True)
            edges = uniq[counts == 1]
        else:
            raise DataError(f"{path}: a 2-D boundary needs line or triangle cells, found {', '.join(kinds) or 'none'}")
        return SegmentBoundary(_loops(edges, pts[:, :2], path))
    if "triangle" not in kinds:
        raise DataError(f"{path}: a 3-D boundary needs triangle cells, found {', '.join(kinds) or 'none'}")
    return TriangleBoundary(pts, np.asarray(kinds["triangle"]))


def _loops(edges: np.ndarray, pts: np.ndarray, path) -> list[np.ndarray]:
    """Chain undirected edges into closed loops; refuse a vertex that is not on exactly two edges."""
    from collections import defaultdict

    adj: dict[int, list[int]] = defaultdict(list)
    for a, b in edges:
        adj[int(a)].append(int(b))
        adj[int(b)].append(int(a))
    bad = [v for v, n in adj.items() if len(n) != 2]
    if bad:
        raise DataError(f"{path}: the boundary is open or branches: {len(bad)} vertices are not on exactly two "
                        f"edges (vertex {bad[0]})")
    seen: set[int] = set()
    loops = []
    for start in adj:
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            a, b = adj[cur]
            nxt = b if a == prev else a
            if nxt == start:
                break
            loop.append(nxt)
            seen.add(nxt)
            prev, cur = cur, nxt
        loops.append(pts[loop])
    return loops


def describe(boundary: Boundary) -> dict[str, Any]:
    """A short description for reports."""
    out: dict[str, Any] = {"kind": type(boundary).__name__, "dim": boundary.dim}
    if isinstance(boundary, _GridBoundary):
        out.update(primitives=len(boundary.primitives), grid=list(boundary.shape),
                   candidates_max=boundary.candidates_max, candidates_mean=boundary.candidates_mean)
    return out


def star_vertices(c1: float, c2: float, n: int = 1000) -> np.ndarray:
    """``n`` vertices of the star ``r(t) = 1 + c1 cos 4t + c2 cos 8t`` (the WoS-NO domains), counter-clockwise."""
    if n < 8:
        raise ConfigError(f"a star polygon needs at least 8 vertices, got {n}")
    t = 2 * np.pi * np.arange(n) / n
    r = 1 + c1 * np.cos(4 * t) + c2 * np.cos(8 * t)
    if np.any(r <= 0):
        raise ConfigError(f"the star r(t) = 1 + {c1:g} cos 4t + {c2:g} cos 8t reaches r <= 0 (|c1| + |c2| must stay "
                          f"below 1)")
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def as_boundary(domain, *, cells: int | None = None) -> Boundary:
    """A :class:`Boundary` for a boundary, a :mod:`sciml.geometry` domain (a polygon gets the grid index), or a
    domain dict (``{"type": "disk", ...}``, ``{"type": "star", "c1": .., "c2": .., "n": ..}``)."""
    from sciml.geometry import Domain, Polygon, domain_from_dict

    if isinstance(domain, Boundary):
        return domain
    if isinstance(domain, dict):
        if domain.get("type") == "star":
            extra = sorted(set(domain) - {"type", "c1", "c2", "n"})
            if extra or "c1" not in domain or "c2" not in domain:
                raise ConfigError(f"a star domain takes c1, c2 and optionally n, got {sorted(domain)}")
            return SegmentBoundary(star_vertices(float(domain["c1"]), float(domain["c2"]), int(domain.get("n", 1000))),
                                   cells=cells)
        domain = domain_from_dict(domain)
    if isinstance(domain, Polygon):
        return SegmentBoundary(domain.vertices, cells=cells)
    if isinstance(domain, Domain):
        if type(domain).__name__ in ("SpaceTime", "Sphere"):
            raise ConfigError(f"walk-on-spheres needs a spatial domain with an interior, got {domain!r}")
        return DomainBoundary(domain)
    raise ConfigError(f"not a boundary or domain: {domain!r}")
