"""WoS-NO (sciml.wos.wosno): the family, its FEM truth, the walk-on-spheres targets, the three losses."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("gmsh")
pytest.importorskip("skfem")
pytest.importorskip("neuralop")

from sciml import ConfigError, DataError  # noqa: E402
from sciml.wos.wosno import (WosNoConfig, WosNoTrainer, boundary_values, make_instance, sample_params,  # noqa: E402
                             source_values)

SMALL = dict(mesh_h=0.15, latent_res=16, modes=4, hidden=8, layers=2, embed=8, in_kernel=(16,), out_kernel=(16,),
             radius=0.25)


@pytest.fixture(scope="module")
def instance():
    return make_instance(7, 3, WosNoConfig(**SMALL))


def test_instances_are_drawn_per_index_and_seed():
    a, b = sample_params(0, 5), sample_params(0, 5)
    assert a == b and sample_params(0, 6) != a and sample_params(1, 5) != a
    assert all(abs(sample_params(0, k, 0.1)[c]) <= 0.1 for k in range(20) for c in ("c1", "c2"))
    assert all(-1 <= v <= 1 for v in a["b"]) and len(a["mu"]) == 2 and len(a["beta"]) == 2


def test_fem_solution_and_features(instance):
    pts = instance.points.double().numpy()
    on = instance.on_boundary.numpy()
    assert 20 < on.sum() < len(pts) / 2
    # boundary vertices carry g exactly; they lie on the star r(t)
    assert np.allclose(instance.fem.numpy()[on], boundary_values(instance.params, pts[on, 0], pts[on, 1]), atol=1e-6)
    t = np.arctan2(pts[on, 1], pts[on, 0])
    r = 1 + instance.params["c1"] * np.cos(4 * t) + instance.params["c2"] * np.cos(8 * t)
    assert np.allclose(np.hypot(pts[on, 0], pts[on, 1]), r, atol=1e-6)
    feats = instance.features.numpy()
    assert feats.shape == (len(pts), 3) and np.all(feats[on, 1] == 0) and np.all(feats[~on, 1] > 0)
    assert np.allclose(feats[:, 2], source_values(instance.params, pts[:, 0], pts[:, 1]), atol=1e-5)
    assert np.allclose(feats[on, 0], instance.g.numpy()[on], atol=1e-6)


def test_fem_with_dirichlet_data_is_exact_for_quadratics_and_converges_for_cubics():
    from sciml.data.mesh import generate_domain
    from sciml.data.pdes.poisson_mesh import solve

    errors = []
    for h in (0.2, 0.1):
        mesh = generate_domain("disk", h=h)
        x, y = mesh.points[:, 0], mesh.points[:, 1]
        u = solve(mesh, -4.0, order=2, dirichlet=lambda x, y: x ** 2 + y ** 2 + x * y).numpy()
        assert np.abs(u - (x ** 2 + y ** 2 + x * y)).max() < 1e-10  # P2 holds the quadratic exactly
        exact = x ** 3 - 3 * x * y ** 2
        errors.append(np.abs(solve(mesh, 0.0, order=1, dirichlet=lambda x, y: x ** 3 - 3 * x * y ** 2).numpy()
                             - exact).max())
    assert errors[1] < errors[0] / 2.5  # P1: about second order at the vertices
    mesh = generate_domain("disk", h=0.3)
    with pytest.raises(DataError, match="non-finite"):
        solve(mesh, 0.0, dirichlet=lambda x, y: x / 0.0)
    with pytest.raises(DataError, match="returned shape"):
        solve(mesh, 0.0, dirichlet=lambda x, y: np.ones(3))


def test_walk_on_spheres_is_unbiased_for_the_fem_solution(instance):
    from sciml.wos.estimator import walk_on_spheres

    p = instance.params
    interior = torch.nonzero(~instance.on_boundary)[:, 0][::3]
    g = lambda x: torch.as_tensor(boundary_values(p, x[:, 0].numpy(), x[:, 1].numpy()))  # noqa: E731
    f = lambda x: torch.as_tensor(source_values(p, x[:, 0].numpy(), x[:, 1].numpy()))  # noqa: E731
    e = walk_on_spheres(instance.boundary, instance.points[interior].double(), g, f, walks=1500, eps=1e-4, seed=2)
    z2 = float((((e.mean - instance.fem[interior]) / e.stderr) ** 2).mean())
    assert 0.6 < z2 < 1.5, z2


def test_running_mean_targets_average_every_visit(instance):
    trainer = WosNoTrainer(WosNoConfig(**SMALL, walks=4), [instance], epochs=1)
    interior = ~instance.on_boundary
    first = trainer.wos_target(instance)
    err1 = float((first[interior].double() - instance.fem[interior]).norm())
    for _ in range(15):
        target = trainer.wos_target(instance)
    assert trainer.walk_counts[instance.index] == 64
    assert torch.equal(target[~interior], instance.g[~interior])  # boundary points: g itself
    err16 = float((target[interior].double() - instance.fem[interior]).norm())
    assert err16 < 0.5 * err1  # 16x the walks: the error falls like 1/4 (within noise)


def test_pino_loss_takes_the_laplacian_in_the_query_coordinates(instance):
    trainer = WosNoTrainer(WosNoConfig(**SMALL, method="pino", interior_weight=0.5, boundary_weight=2.0), [instance],
                           epochs=1)
    trainer.forward = lambda inst, q=None: (q[:, 0] ** 3 + q[:, 0] * q[:, 1] ** 2)  # Lap = 6x + 2x = 8x
    x = instance.points.double()
    on = instance.on_boundary
    u = x[:, 0] ** 3 + x[:, 0] * x[:, 1] ** 2
    expected = 0.5 * ((8 * x[~on, 0] - instance.f[~on].double()) ** 2).mean() \
        + 2.0 * ((u[on] - instance.g[on].double()) ** 2).mean()
    assert abs(trainer.loss(instance).item() - float(expected)) < 1e-4 * float(expected)


@pytest.mark.parametrize("method", ["wos", "fem"])
def test_training_lowers_the_loss(method, instance):
    trainer = WosNoTrainer(WosNoConfig(**SMALL, method=method, lr=3e-3), [instance], epochs=40)
    before = float(trainer.loss(instance))
    result = trainer.train([instance], evaluate_every=40)
    assert result["steps"] == 40 and result["history"][-1]["loss"] < 0.7 * before
    assert result["rel_l2"] < 0.7
    if method == "wos":
        assert result["target_rel_l2"] is not None and result["walk_seconds"] > 0


@pytest.mark.parametrize("change, message", [
    (dict(method="ritz"), "unknown WoS-NO method 'ritz'"),
    (dict(c_max=0.6), r"c_max must lie in \[0, 0.5\)"),
    (dict(modes=9, latent_res=16), "modes 9 is more than the latent grid resolves"),
    (dict(eps=0.0), "eps must be positive"),
    (dict(latent_box=1.2), "latent_box 1.2 does not cover the largest star"),
])
def test_bad_settings_are_refused(change, message):
    with pytest.raises(ConfigError, match=message):
        WosNoConfig(**{**SMALL, **change})


def test_the_experiment_runs_at_smoke_scale_and_resumes_per_method(tmp_path):
    from sciml.experiments import run_experiment

    out = tmp_path / "wosno"
    run_experiment("wos-no-poisson2d", out, scale="smoke")
    saved = json.loads((out / "results.json").read_text())
    rows = {r["method"]: r for r in saved["rows"]}
    assert set(rows) == {"wos", "pino", "fem"}
    assert all(r["steps"] == 6 and np.isfinite(r["rel_l2"]) for r in rows.values())
    assert all("seconds_per_step" in r["timing"] for r in rows.values()), [r["timing"] for r in rows.values()]
    report = (out / "report.md").read_text()
    assert "8.75" in report and f"{rows['pino']['rel_l2']:.4g}" in report
    assert (out / "wosno-error.png").read_bytes()[:4] == b"\x89PNG"
    # interrupted after wos and fem: rerunning trains only the method whose results are missing
    (out / "results.json").unlink()
    (out / "pino.json").unlink()
    stamps = {m: (out / f"{m}.pt").stat().st_mtime_ns for m in ("wos", "pino", "fem")}
    run_experiment("wos-no-poisson2d", out, scale="smoke")
    again = {m: (out / f"{m}.pt").stat().st_mtime_ns for m in ("wos", "pino", "fem")}
    assert again["wos"] == stamps["wos"] and again["fem"] == stamps["fem"] and again["pino"] != stamps["pino"]
    saved2 = json.loads((out / "results.json").read_text())
    assert {r["method"]: r["rel_l2"] for r in saved2["rows"]}["wos"] == rows["wos"]["rel_l2"]
