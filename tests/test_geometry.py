"""sciml.geometry: sampling, containment, normals and distances checked against independent computations."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from sciml._errors import ConfigError, DataError
from sciml.geometry import (SAMPLING_METHODS, Ball, Box, Disk, Interval, Polygon, SpaceTime, Sphere,
                            domain_from_dict)

L_SHAPE = [(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)]  # area 3, one reflex corner
STAR = [(math.cos(a) * r, math.sin(a) * r)
        for a, r in zip(np.linspace(0, 2 * math.pi, 10, endpoint=False), [1.0, 0.4] * 5)]


def domains():
    return [Interval(-1.0, 2.0), Box([0, -1, 2], [1, 1, 2.5]), Ball([0.5, -0.5, 0.0, 1.0], 0.7), Ball([0.0], 2.0),
            Disk((1.0, 2.0), 0.5), Polygon(L_SHAPE), Polygon(STAR), Polygon(L_SHAPE[::-1]),
            SpaceTime(Polygon(L_SHAPE), 0.0, 2.0), SpaceTime(Ball([0, 0, 0], 1.0), -1.0, 1.0)]


def _brute_distance(domain, x, n=200_000):
    """Distance to a dense boundary sample (an upper bound converging to the true distance)."""
    if isinstance(domain, SpaceTime):
        pytest.skip("space-time distance checked separately")
    pts, _ = domain.sample_boundary(n, seed=99)
    return torch.cdist(x, pts).min(dim=1).values


@pytest.mark.parametrize("domain", domains(), ids=repr)
@pytest.mark.parametrize("method", SAMPLING_METHODS)
def test_samples_lie_where_they_should(domain, method):
    x = domain.sample_interior(512, method=method, seed=3)
    assert x.shape == (512, domain.dim) and x.dtype == torch.float64
    assert bool(domain.contains(x).all())
    assert bool((domain.signed_distance(x) <= 1e-12).all())
    b, normals = domain.sample_boundary(256, method=method, seed=4)
    assert b.shape == normals.shape == (256, domain.dim)
    assert torch.allclose(normals.norm(dim=1), torch.ones(256, dtype=torch.float64))
    assert domain.signed_distance(b).abs().max() < 1e-9
    # outward: a small step along the normal leaves the domain, a step against it enters (away from corners)
    h = 1e-6
    out = domain.contains(b + h * normals, tol=0.0)
    inn = domain.contains(b - h * normals, tol=0.0)
    assert float(out.float().mean()) < 0.02 and float(inn.float().mean()) > 0.98


@pytest.mark.parametrize("domain", domains(), ids=repr)
def test_volume_matches_monte_carlo(domain):
    lo, hi = domain.bounding_box()
    n = 200_000
    u = torch.rand(n, domain.dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.from_numpy(lo) + u * torch.from_numpy(hi - lo)
    frac = float(domain.contains(x).double().mean())
    estimate = frac * float(np.prod(hi - lo))
    se = math.sqrt(frac * (1 - frac) / n) * float(np.prod(hi - lo))
    assert abs(estimate - domain.volume()) < 5 * se + 1e-12
    assert math.isclose(math.log(domain.volume()), domain.log_volume(), rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("domain", [d for d in domains() if not isinstance(d, SpaceTime)], ids=repr)
def test_signed_distance_and_closest_point(domain):
    lo, hi = domain.bounding_box()
    span = hi - lo
    u = torch.rand(300, domain.dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = torch.from_numpy(lo - 0.3 * span) + u * torch.from_numpy(1.6 * span)
    sd = domain.signed_distance(x)
    brute = _brute_distance(domain, x)
    # a dense boundary sample only over-estimates the distance, by its spacing at most
    tol = (5e-3 if domain.dim <= 2 else 0.03) * float(span.max())
    assert torch.all(brute >= sd.abs() - 1e-9) and torch.all(brute - sd.abs() < tol)
    inside = domain.contains(x, tol=0.0)
    assert torch.equal(sd < 0, inside & (sd != 0)) or torch.equal(sd <= 0, inside)
    p, normal = domain.closest_boundary_point(x)
    assert domain.signed_distance(p).abs().max() < 1e-9
    assert torch.allclose((x - p).norm(dim=1), sd.abs(), atol=1e-9)
    assert torch.allclose(normal.norm(dim=1), torch.ones(len(x), dtype=torch.float64))
    # the normal points from the boundary point towards an outside point and away from an inside one
    direction = ((x - p) * normal).sum(1)
    far = sd.abs() > 1e-6
    assert torch.all(torch.where(inside, direction <= 1e-12, direction >= -1e-12)[far])


def test_box_distance_is_exact():
    box = Box([0, 0], [2, 1])
    x = torch.tensor([[1.0, 0.5], [0.2, 0.5], [3.0, 0.5], [3.0, 2.0], [-1.0, -1.0]], dtype=torch.float64)
    assert torch.allclose(box.signed_distance(x), torch.tensor([-0.5, -0.2, 1.0, math.sqrt(2), math.sqrt(2)],
                                                                dtype=torch.float64))


def test_spacetime_distance():
    st = SpaceTime(Interval(0.0, 1.0), 0.0, 2.0)
    x = torch.tensor([[0.5, 1.0], [0.1, 1.0], [0.5, 0.05], [2.0, 3.0], [0.5, -1.0]], dtype=torch.float64)
    assert torch.allclose(st.signed_distance(x), torch.tensor([-0.5, -0.1, -0.05, math.sqrt(2), 1.0],
                                                               dtype=torch.float64))
    assert torch.allclose(st.spatial_signed_distance(x), torch.tensor([-0.5, -0.1, -0.5, 1.0, -0.5],
                                                                       dtype=torch.float64))
    p, n = st.closest_boundary_point(x[:3])
    assert torch.equal(p[:, 1], x[:3, 1]) and torch.equal(n[:, 1], torch.zeros(3, dtype=torch.float64))
    init = st.sample_initial(10)
    assert torch.equal(init[:, 1], torch.zeros(10, dtype=torch.float64)) and bool(st.contains(init).all())


@pytest.mark.parametrize("dim", [2, 5, 50, 1000])
def test_ball_is_uniform_in_volume(dim):
    ball = Ball.unit(dim)
    x = ball.sample_interior(4000, seed=dim)
    r = x.norm(dim=1).numpy()
    # P(|x| <= r) = r^d for the uniform distribution in the ball
    assert stats.kstest(r ** dim, "uniform").pvalue > 1e-3
    direction = x / x.norm(dim=1, keepdim=True)
    assert abs(float(direction.mean(0).norm())) < 5 / math.sqrt(4000)


@pytest.mark.parametrize("dim", [2, 3, 10])
def test_sphere(dim):
    s = Sphere(np.full(dim, 0.5), 2.0)
    x = s.sample_interior(3000, method="sobol", seed=1)
    assert bool(s.contains(x).all())
    assert torch.allclose(s.normals(x), (x - 0.5) / 2.0)
    assert float(((x - 0.5) / 2.0).mean(0).norm()) < 0.1
    if dim == 2:
        assert math.isclose(s.volume(), 2 * math.pi * 2.0)
    if dim == 3:
        assert math.isclose(s.volume(), 4 * math.pi * 4.0)
    with pytest.raises(ConfigError, match="no boundary"):
        s.sample_boundary(4)


def test_ball_volume_in_high_dimension():
    assert math.isclose(Ball.unit(3).volume(), 4 * math.pi / 3)
    assert Ball.unit(10_000).log_volume() < -20_000  # the volume itself underflows
    assert Ball.unit(10_000).describe()["radius"] == 1.0


def test_polygon_orientation_and_triangulation():
    a, b = Polygon(L_SHAPE), Polygon(L_SHAPE[::-1])
    assert a.volume() == b.volume() == 3.0
    assert np.allclose(a.vertices, b.vertices[[0, *range(len(L_SHAPE) - 1, 0, -1)]]) or a.volume() == b.volume()
    star = Polygon(STAR)
    assert len(star.triangles) == len(STAR) - 2
    # the reflex corner's notch is empty
    x = a.sample_interior(20_000, seed=5)
    assert not bool(((x[:, 0] > 1) & (x[:, 1] > 1)).any())
    # each unit square of the L holds a third of the points
    counts = [int(((x[:, 0] < 1) & (x[:, 1] < 1)).sum()), int((x[:, 0] > 1).sum()), int((x[:, 1] > 1).sum())]
    assert max(abs(c / 20_000 - 1 / 3) for c in counts) < 0.02


@pytest.mark.parametrize("make, message", [
    (lambda: Box([0, 0], [1, 0]), "zero volume"),
    (lambda: Interval(1.0, 1.0), "zero volume"),
    (lambda: Ball([0, 0, 0], 0.0), "zero volume"),
    (lambda: Disk((0, 0, 0), 1.0), "2 coordinates"),
    (lambda: Sphere([0, 0], -1.0), "zero volume"),
    (lambda: Polygon([(0, 0), (1, 1), (2, 2)]), "zero area"),
    (lambda: Polygon([(0, 0), (1, 0)]), "at least 3"),
    (lambda: Polygon([(0, 0), (1, 0), (1, 0), (0, 1)]), "zero-length edge"),
    (lambda: Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), "not simple"),
    (lambda: SpaceTime(Interval(0, 1), 1.0, 1.0), "zero volume"),
    (lambda: domain_from_dict({"type": "torus"}), "unknown domain type"),
    (lambda: domain_from_dict({"type": "ball", "center": [0]}), "missing radius"),
    (lambda: domain_from_dict({"type": "box", "lower": [0], "upper": [1], "size": 2}), "unknown size"),
    (lambda: Box([0], [1]).sample_interior(0), "at least 1"),
    (lambda: Box([0], [1]).sample_interior(4, method="halton"), "unknown sampling method"),
])
def test_bad_domains_are_refused(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_bad_points_are_refused():
    box = Box([0, 0], [1, 1])
    with pytest.raises(DataError, match=r"shape \(N, 2\)"):
        box.contains(torch.zeros(3, 3))
    with pytest.raises(DataError, match="NaN"):
        box.signed_distance(torch.tensor([[0.5, float("nan")]]))
    with pytest.raises(DataError, match="2 of 3 points of the test points lie outside"):
        box.require_inside(torch.tensor([[0.5, 0.5], [2.0, 0.5], [0.5, -1.0]]), "the test points")
    box.require_inside(torch.tensor([[0.5, 0.5], [1.0, 0.0]]))


@pytest.mark.parametrize("domain", domains(), ids=repr)
def test_describe_round_trip(domain):
    again = domain_from_dict(domain.describe())
    assert type(again) is type(domain) and again.describe() == domain.describe()
    x = domain.sample_interior(64, seed=2)
    assert torch.equal(again.sample_interior(64, seed=2), x)


def test_samples_follow_seed_dtype_and_device():
    d = Polygon(STAR)
    a, b = d.sample_interior(10, seed=1), d.sample_interior(10, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, d.sample_interior(10, seed=2))
    assert d.sample_interior(10, dtype=torch.float32).dtype == torch.float32
    p, n = d.sample_boundary(10, dtype=torch.float32, device="cpu")
    assert p.dtype == n.dtype == torch.float32
