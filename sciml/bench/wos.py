"""The wos suite: walk-on-spheres throughput beside a naive batched loop, analytic against polygon distances.

For each case, ``points`` interior points times ``walks`` walks, ``eps = 1e-3``, best of ``repeats`` runs:

* ``sciml``: :func:`sciml.wos.walk_on_spheres` (finished walkers leave the arrays every step);
* ``naive``: :func:`sciml.wos.naive_walk_on_spheres`, the plain loop over all walkers with an alive mask
  until every walk has ended (the usual first batched implementation), in the same run.

Cases: the unit disk with its analytic distance (Laplace with ``u = e^x cos y``; Poisson with
``u = sin x sin y``, ``f = -2u``), the same disk as a regular 1000-gon (grid-indexed segments), the star
``r = 1 + 0.2 cos 4t + 0.1 cos 8t`` as 1000 segments, and the unit ball (Laplace, ``u = x^2 - y^2 + xz``).
Ratios: ``speedup`` = sciml walks/s over naive walks/s; ``polygon_over_analytic`` = analytic-disk walks/s over
1000-gon walks/s (how much the segment index costs). The RMS error against the exact solution and the mean
standard error are kept beside each timing, so a fast wrong estimator shows.

Device: CUDA when available, else the CPU; threads as set by ``sciml --threads`` (recorded).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

__all__ = ["run", "SETTINGS"]

SETTINGS = {
    False: {"points": 1000, "walks": 1000, "eps": 1e-3, "repeats": 3, "segments": 1000,
            "dtypes": ["float64", "float32"]},
    True: {"points": 50, "walks": 100, "eps": 1e-3, "repeats": 1, "segments": 200, "dtypes": ["float64"]},
}


def _cases(segments: int):
    from sciml.geometry import Ball, Disk
    from sciml.wos import SegmentBoundary, star_vertices

    t = 2 * np.pi * np.arange(segments) / segments
    ngon = SegmentBoundary(np.stack([np.cos(t), np.sin(t)], 1))
    star = SegmentBoundary(star_vertices(0.2, 0.1, segments))

    def lap2(x):
        return torch.exp(x[:, 0]) * torch.cos(x[:, 1])

    def sins(x):
        return torch.sin(x[:, 0]) * torch.sin(x[:, 1])

    def lap3(x):
        return x[:, 0] ** 2 - x[:, 1] ** 2 + x[:, 0] * x[:, 2]

    def star_points(n):  # inside the star: below 0.9 r(t) in polar coordinates
        g = torch.Generator().manual_seed(5)
        u, s = torch.rand(n, 2, generator=g, dtype=torch.float64).T
        a = 2 * math.pi * u
        r = 0.9 * (1 + 0.2 * torch.cos(4 * a) + 0.1 * torch.cos(8 * a)) * s.sqrt()
        return torch.stack([r * torch.cos(a), r * torch.sin(a)], 1)

    disk_points = lambda n: Disk().sample_interior(n, seed=3) * 0.9  # noqa: E731
    return [
        ("disk-laplace", Disk(), disk_points, lap2, None),
        ("disk-poisson", Disk(), disk_points, sins, lambda x: -2 * sins(x)),
        (f"disk-{segments}gon-laplace", ngon, disk_points, lap2, None),
        (f"star-{segments}-laplace", star, star_points, lap2, None),
        ("ball-laplace", Ball(), lambda n: Ball().sample_interior(n, seed=4) * 0.9, lap3, None),
    ]


def run(*, quick: bool = False, workdir=None, device: str | None = None) -> dict[str, Any]:
    from sciml.bench import best_time
    from sciml.wos import naive_walk_on_spheres, walk_on_spheres

    s = SETTINGS[quick]
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tic = time.perf_counter()
    rows = []
    for name, boundary, points, u, f in _cases(s["segments"]):
        for dtype_name in s["dtypes"]:
            dtype = getattr(torch, dtype_name)
            pts = points(s["points"]).to(dtype)
            exact = u(pts.double()).to(device)
            n = s["points"] * s["walks"]
            kw = dict(walks=s["walks"], eps=s["eps"], device=device, dtype=dtype)
            walk_on_spheres(boundary, pts[:8], u, f, **kw)  # warm-up
            t_ours, est = best_time(lambda: walk_on_spheres(boundary, pts, u, f, seed=1, **kw), s["repeats"], device)
            t_naive, naive = best_time(lambda: naive_walk_on_spheres(boundary, pts, u, f, seed=1, **kw), s["repeats"], device)
            rows.append({
                "case": name, "dtype": dtype_name, "points": s["points"], "walks": s["walks"],
                "sciml": {"seconds": t_ours, "walks_per_second": n / t_ours, "steps_mean": est.steps_mean,
                          "steps_max": est.steps_max, "unfinished": int(est.unfinished.sum()),
                          "rms_error": float((est.mean.double() - exact).pow(2).mean().sqrt()),
                          "stderr_mean": float(est.stderr.double().mean())},
                "naive": {"seconds": t_naive, "walks_per_second": n / t_naive,
                          "rms_error": float((naive.double() - exact).pow(2).mean().sqrt())},
                "speedup": t_naive / t_ours,
            })
    by = {(r["case"], r["dtype"]): r for r in rows}
    gon = f"disk-{s['segments']}gon-laplace"
    polygon = {dt: by[(gon, dt)]["sciml"]["seconds"] / by[("disk-laplace", dt)]["sciml"]["seconds"]
               for dt in s["dtypes"]}
    return {"device": device, "torch_threads": torch.get_num_threads(), "settings": s, "rows": rows,
            "polygon_over_analytic": polygon, "seconds": time.perf_counter() - tic,
            "notes": "walks/s = points x walks / best wall time; speedup = naive seconds / sciml seconds; "
                     "polygon_over_analytic = 1000-gon seconds / analytic-disk seconds (same points, same disk)"}
