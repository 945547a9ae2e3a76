"""Walk-on-spheres: distances against independent truth, the estimator against harmonic and manufactured
solutions (unbiased within its standard error; bias O(eps); error ~ N^-1/2), and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sciml._errors import ConfigError, DataError
from sciml.geometry import Ball, Box, Disk, Polygon
from sciml.wos import (SegmentBoundary, TriangleBoundary, as_boundary, boundary_from_mesh, naive_walk_on_spheres,
                       star_vertices, walk_on_spheres)


def _cube_surface(lo=-1.0, hi=1.0):
    p = np.array([[x, y, z] for x in (lo, hi) for y in (lo, hi) for z in (lo, hi)], dtype=np.float64)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tri = [t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))]
    return p, np.array(tri)


def _z2(estimate, exact):
    """Mean squared z-score of the estimates: about 1 for an unbiased estimator with honest standard errors."""
    return float(((estimate.mean - exact) / estimate.stderr).pow(2).mean())


# ---------------------------------------------------------------------------------------------- boundaries

def test_segment_distances_match_the_polygon_scan():
    v = star_vertices(0.2, 0.1, 240)  # (Polygon's own simplicity check is quadratic in the vertices)
    b, poly = SegmentBoundary(v), Polygon(v)
    x = poly.sample_interior(4000, seed=1)
    exact = -poly.signed_distance(x)
    lower = b.distance(x)
    assert bool((lower <= exact + 1e-12).all())  # a lower bound everywhere ...
    near = exact < b.rho
    assert near.sum() > 10 and float((lower - exact)[near].abs().max()) < 1e-12  # ... exact near the boundary
    d, p = b.distance_and_closest(x)
    q, _ = poly.closest_boundary_point(x)
    assert float((d - exact).abs().max()) < 1e-12 and float((p - q).norm(dim=1).max()) < 1e-12
    assert bool(b.contains(x).all()) and not bool(b.contains(torch.tensor([[2.0, 0.0], [0.0, -1.6]])).any())


def test_segment_boundary_with_a_hole_uses_the_even_odd_rule():
    outer = np.array([[-2, -2], [2, -2], [2, 2], [-2, 2]], dtype=float)
    t = 2 * np.pi * np.arange(64) / 64
    hole = np.stack([np.cos(t), np.sin(t)], 1)
    b = SegmentBoundary([outer, hole])
    inside = b.contains(torch.tensor([[1.5, 0.0], [0.0, 0.0], [0.0, 1.7], [3.0, 0.0]], dtype=torch.float64))
    assert inside.tolist() == [True, False, True, False]
    d, _ = b.distance_and_closest(torch.tensor([[1.5, 0.0]], dtype=torch.float64))
    assert abs(float(d[0]) - 0.5) < 1e-12


def test_triangle_surface_distances_match_the_box():
    p, tri = _cube_surface()
    b, box = TriangleBoundary(p, tri), as_boundary(Box([-1, -1, -1], [1, 1, 1]))
    x = Box([-1, -1, -1], [1, 1, 1]).sample_interior(3000, seed=2)
    d, q = b.distance_and_closest(x)
    assert float((d - box.distance(x)).abs().max()) < 1e-12
    assert float((q - box.closest(x)).norm(dim=1).max()) < 1e-9
    assert bool((b.distance(x) <= d + 1e-12).all())
    assert bool(b.contains(x).all()) and not bool(b.contains(torch.tensor([[0.0, 0.0, 1.5]], dtype=torch.float64)).any())


def test_meshes_from_files(tmp_path):
    meshio = pytest.importorskip("meshio")
    p, tri = _cube_surface()
    meshio.write(tmp_path / "cube.vtu", meshio.Mesh(p, [("triangle", tri)]))
    b = boundary_from_mesh(tmp_path / "cube.vtu")
    assert isinstance(b, TriangleBoundary) and len(b.triangles) == 12
    v = star_vertices(0.1, 0.05, 200)
    lines = np.stack([np.arange(200), (np.arange(200) + 1) % 200], 1)
    meshio.write(tmp_path / "star.vtu", meshio.Mesh(np.column_stack([v, np.zeros(200)]), [("line", lines)]))
    s = boundary_from_mesh(tmp_path / "star.vtu")
    assert isinstance(s, SegmentBoundary) and len(s.primitives) == 200
    meshio.write(tmp_path / "open.vtu", meshio.Mesh(p, [("triangle", tri[:-1])]))
    with pytest.raises(ConfigError, match="open or non-manifold"):
        boundary_from_mesh(tmp_path / "open.vtu")
    meshio.write(tmp_path / "openline.vtu", meshio.Mesh(np.column_stack([v, np.zeros(200)]), [("line", lines[:-1])]))
    with pytest.raises(DataError, match="open or branches"):
        boundary_from_mesh(tmp_path / "openline.vtu")
    (tmp_path / "junk.vtu").write_text("not a mesh")
    with pytest.raises(DataError, match="not a mesh"):
        boundary_from_mesh(tmp_path / "junk.vtu")


@pytest.mark.parametrize("loops, match", [
    (np.array([[0, 0], [1, 1], [1, 0], [0, 1.0]]), "self-intersecting"),
    (np.array([[0, 0], [1, 0.0]]), "at least 3 vertices"),
    (np.array([[0, 0], [1, 0], [np.nan, 1.0]]), "non-finite"),
    (np.array([[0, 0], [1, 0], [1, 0], [0, 1.0]]), "zero-length edge"),
])
def test_bad_boundaries_are_refused(loops, match):
    with pytest.raises(ConfigError, match=match):
        SegmentBoundary(loops)


def test_star_and_domain_specs():
    with pytest.raises(ConfigError, match="r <= 0"):
        star_vertices(0.9, -0.5)
    with pytest.raises(ConfigError, match="takes c1, c2"):
        as_boundary({"type": "star", "c1": 0.1, "c2": 0.1, "k": 3})
    with pytest.raises(ConfigError, match="unknown domain type"):
        as_boundary({"type": "blob"})
    assert isinstance(as_boundary(Polygon([[0, 0], [1, 0], [0, 1]])), SegmentBoundary)


# ---------------------------------------------------------------------------------------------- estimator

def _harmonic2(x):
    return torch.exp(x[:, 0]) * torch.cos(x[:, 1])


def _harmonic3(x):
    return x[:, 0] ** 2 - x[:, 1] ** 2 + x[:, 2] * x[:, 0]


@pytest.mark.parametrize("case", ["laplace-disk", "poisson-disk", "laplace-ball", "poisson-ball", "laplace-star"])
def test_estimates_are_unbiased_within_their_standard_errors(case):
    if case.endswith("disk"):
        domain, pts = Disk(), Disk().sample_interior(150, seed=3) * 0.95
    elif case.endswith("ball"):
        domain, pts = Ball(), Ball().sample_interior(150, seed=4) * 0.95
    else:  # points well inside the star: polar, below 0.9 r(t)
        domain = SegmentBoundary(star_vertices(0.2, 0.1, 800))
        t, s = torch.rand(150, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64).T
        r = 0.9 * (1 + 0.2 * torch.cos(4 * t * 2 * np.pi) + 0.1 * torch.cos(8 * t * 2 * np.pi)) * s.sqrt()
        pts = torch.stack([r * torch.cos(2 * np.pi * t), r * torch.sin(2 * np.pi * t)], 1)
    if case == "poisson-disk":  # u = sin x sin y, Lap u = -2 u: a non-constant source checks the Green's sampling
        u = lambda x: torch.sin(x[:, 0]) * torch.sin(x[:, 1])  # noqa: E731
        f = lambda x: -2 * u(x)  # noqa: E731
    elif case == "poisson-ball":  # Lap(|x|^2 / 6 + x y) = 1
        u = lambda x: (x * x).sum(1) / 6 + x[:, 0] * x[:, 1]  # noqa: E731
        f = lambda x: torch.ones(len(x), dtype=x.dtype)  # noqa: E731
    else:
        u, f = (_harmonic2 if pts.shape[1] == 2 else _harmonic3), None
    e = walk_on_spheres(domain, pts, u, f, walks=1500, eps=1e-4, seed=11)
    assert int(e.unfinished.sum()) == 0
    assert 0.7 < _z2(e, u(pts)) < 1.4


@pytest.mark.parametrize("domain, x0", [(Disk(), [0.5, 0.0]), (Ball(), [0.5, 0.0, 0.0])])
def test_bias_is_first_order_in_eps_and_error_falls_as_one_over_sqrt_n(domain, x0):
    u = lambda x: x[:, 0]  # noqa: E731  harmonic; from x0 the exits lean toward +x, so the shell bias has one sign
    x0 = torch.tensor([x0], dtype=torch.float64)
    eps = np.array([0.2, 0.1, 0.05])
    bias = [float(walk_on_spheres(domain, x0, u, walks=400_000, eps=e, seed=1).mean[0] - 0.5) for e in eps]
    slope = np.polyfit(np.log(eps), np.log(bias), 1)[0]
    assert 0.8 < slope < 1.2, (bias, slope)
    pts = domain.sample_interior(100, seed=2) * 0.8
    walks = np.array([64, 256, 1024, 2048])
    rms = [float((walk_on_spheres(domain, pts, u, walks=int(n), eps=1e-4, seed=3).mean - u(pts)).pow(2).mean().sqrt())
           for n in walks]
    slope = np.polyfit(np.log(walks), np.log(rms), 1)[0]
    assert -0.62 < slope < -0.38, (rms, slope)


def test_standard_error_and_counts():
    pts = torch.tensor([[0.2, 0.1], [-0.3, 0.4]], dtype=torch.float64)
    e = walk_on_spheres(Disk(), pts, _harmonic2, walks=500, seed=0)
    assert torch.allclose(e.stderr, (e.variance / 500).sqrt())
    s = e.summary()
    assert s["points"] == 2 and s["walks"] == 500 and s["unfinished"] == 0 and s["steps_mean"] > 1
    again = walk_on_spheres(Disk(), pts, _harmonic2, walks=500, seed=0)
    assert torch.equal(again.mean, e.mean)  # the seed fixes the walks


def test_the_walk_cap_closes_and_counts_unfinished_walks(caplog):
    import logging

    pts = torch.tensor([[0.5, 0.0]], dtype=torch.float64)
    logger = logging.getLogger("sciml.wos")
    logger.addHandler(caplog.handler)
    try:
        e = walk_on_spheres(Disk(), pts, _harmonic2, walks=1000, eps=1e-6, max_steps=3)
    finally:
        logger.removeHandler(caplog.handler)
    assert int(e.unfinished[0]) > 500 and e.steps_max == 3 and bool(torch.isfinite(e.mean).all())
    assert "reached max_steps=3" in caplog.text


def test_batches_and_the_naive_loop_agree():
    pts = Disk().sample_interior(40, seed=7) * 0.9
    one = walk_on_spheres(Disk(), pts, _harmonic2, walks=400, seed=2)
    split = walk_on_spheres(Disk(), pts, _harmonic2, walks=400, seed=2, batch=4000)  # 10 points per batch
    naive = naive_walk_on_spheres(Disk(), pts, _harmonic2, walks=400, seed=2)
    exact = _harmonic2(pts)
    for est in (one.mean, split.mean, naive):
        assert float(((est - exact) / one.stderr).pow(2).mean()) < 1.6


def test_float32_walks():
    pts = Disk().sample_interior(50, seed=1) * 0.9
    e = walk_on_spheres(Disk(), pts, _harmonic2, walks=1000, dtype=torch.float32)
    assert e.mean.dtype == torch.float32 and 0.6 < _z2(e, _harmonic2(pts.float())) < 1.5


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(eps=0.0), ConfigError, "eps must be a positive"),
    (dict(eps=-1e-3), ConfigError, "eps must be a positive"),
    (dict(walks=0), ConfigError, "walks must be at least 1"),
    (dict(points=[[1.5, 0.0]]), DataError, "outside the domain"),
    (dict(points=[[0.1, 0.2, 0.3]]), DataError, r"shape \(n, 2\)"),
    (dict(points=[[np.nan, 0.0]]), DataError, "non-finite"),
    (dict(g=lambda x: torch.log(x[:, 0])), DataError, "boundary data g is not finite"),
    (dict(g=lambda x: x), DataError, "one value per point"),
    (dict(f=lambda x: torch.full((len(x),), float("inf"), dtype=x.dtype)), DataError, "source f is not finite"),
])
def test_bad_input_is_refused(kwargs, error, match):
    args = dict(points=[[0.1, 0.2]], g=_harmonic2, f=None, walks=10)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        walk_on_spheres(Disk(), args.pop("points"), args.pop("g"), args.pop("f"), **args)


def test_poisson_in_a_meshed_star_matches_finite_elements():
    """Independent truth for a polygon boundary with a source: scikit-fem P2 on a gmsh star mesh, the mesh's
    boundary edges as the WoS boundary."""
    pytest.importorskip("gmsh")
    pytest.importorskip("skfem")
    from sciml.data.mesh import generate_domain
    from sciml.data.pdes.poisson_mesh import solve

    mesh = generate_domain("star", h=0.03, c1=0.2, c2=0.1, center=(0.0, 0.0), radius=1.0)
    rho = lambda x, y: 10 * np.exp(-((x - 0.3) ** 2 + (y + 0.2) ** 2) / 0.05)  # noqa: E731
    fem = solve(mesh, rho, order=2).double()  # -Lap u = rho, u = 0 on the boundary
    boundary = boundary_from_mesh(mesh)
    assert isinstance(boundary, SegmentBoundary)
    pts = torch.as_tensor(mesh.points[:, :2])
    far = torch.nonzero(boundary.exact_distance(pts) > 0.1)[:, 0][::40][:60]
    e = walk_on_spheres(boundary, pts[far], lambda x: torch.zeros(len(x), dtype=x.dtype),
                        lambda x: -torch.as_tensor(rho(x[:, 0].numpy(), x[:, 1].numpy())), walks=3000, eps=1e-4)
    z2 = _z2(e, fem[far])
    assert 0.6 < z2 < 1.6, z2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("case", ["disk", "star", "cube"])
def test_cuda_walks_are_unbiased(case):
    if case == "disk":
        domain, pts, u = Disk(), Disk().sample_interior(100, seed=3) * 0.9, _harmonic2
    elif case == "star":
        domain, u = SegmentBoundary(star_vertices(0.2, 0.1, 400)), _harmonic2
        pts = Disk().sample_interior(100, seed=3) * 0.6
    else:
        domain, u = TriangleBoundary(*_cube_surface()), _harmonic3
        pts = Box([-1, -1, -1], [1, 1, 1]).sample_interior(100, seed=3) * 0.9
    e = walk_on_spheres(domain, pts, u, walks=2000, eps=1e-4, device="cuda")
    assert e.mean.device.type == "cuda"
    assert 0.6 < _z2(e, u(pts.cuda())) < 1.5


# ---------------------------------------------------------------------------------------------- the command

def test_sciml_wos_command(tmp_path, capsys):
    from sciml.cli import main

    pts = np.array([[0.1, 0.2], [0.5, -0.3], [0.0, 0.0]])
    np.save(tmp_path / "p.npy", pts)
    domain = tmp_path / "disk.json"
    domain.write_text(json.dumps({"type": "disk", "center": [0, 0], "radius": 1}))
    out = tmp_path / "u.npz"
    args = ["wos", "--domain", str(domain), "--boundary", "x*x/4 + y*y/4", "--source", "1", "--points",
            str(tmp_path / "p.npy"), "--out", str(out), "--walks", "4000", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["points"] == 3 and summary["unfinished"] == 0
    d = np.load(out)
    exact = (pts ** 2).sum(1) / 4  # Lap(|x|^2 / 4) = 1 and the data is exact
    assert np.all(np.abs(d["mean"] - exact) < 5 * d["stderr"] + 1e-3)
    assert main(args) == 2  # no overwrite without --force
    assert "already exists" in capsys.readouterr().err
    csv = tmp_path / "u.csv"
    (tmp_path / "p.csv").write_text("0.1,0.2\n0.3,0.3\n")
    assert main(["wos", "--domain", '{"type": "star", "c1": 0.2, "c2": 0.1, "n": 400}', "--boundary", "x",
                 "--points", str(tmp_path / "p.csv"), "--out", str(csv), "--walks", "200"]) == 0
    assert csv.read_text().splitlines()[0] == "x,y,mean,stderr,variance,unfinished"
    capsys.readouterr()
    base = {"--domain": str(domain), "--boundary": "x", "--points": str(tmp_path / "p.npy"),
            "--out": str(tmp_path / "v.npz")}
    for bad, match in (({"--domain": '{"type": "disk", "center": [0, 0], "radius": 0.2}'}, "outside the domain"),
                       ({"--eps": "0"}, "eps must be a positive"),
                       ({"--boundary": "log(x) + q"}, "unknown name 'q'"),
                       ({"--domain": str(tmp_path / "missing.msh")}, "no such domain file")):
        argv = ["wos"] + [t for k, v in {**base, **bad}.items() for t in (k, v)]
        assert main(argv) == 2
        assert match in capsys.readouterr().err
        assert not (tmp_path / "v.npz").exists()
