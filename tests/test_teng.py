"""TENG (arXiv 2404.10771): network Jacobian, reference solvers and their orders, the projection, the time
steps' orders, checkpoint/resume, bad input, and the experiments at smoke scale."""

from __future__ import annotations

import math

import pytest
import torch

from sciml._errors import ConfigError
from sciml.teng import (Equation, PeriodicNet, PeriodicNetConfig, Projector, SpectralSolver, TengConfig, TengRun,
                        initial_condition, scheme_floor)
from sciml.teng.equations import grid_points

TINY = dict(width=8, depth=3, points=12, params_first=60, params_rest=40, iterations=2, init_adam_steps=20,
            init_steps=3, init_iterations=3, init_params=60, eval_points=16, eval_every=2, t_final=0.02)


@pytest.mark.parametrize("time_input", [False, True])
def test_written_out_jacobian_equals_torch_func(time_input):
    net = PeriodicNet(PeriodicNetConfig(width=12, depth=4, time_input=time_input, seed=3))
    p = Projector(net)
    x = grid_points(7, shift=torch.tensor([0.3, 0.1]))
    if time_input:
        x = torch.cat([torch.rand(len(x), 1, dtype=torch.float64), x], dim=1)
    subset = torch.randperm(p.flat.total, generator=torch.Generator().manual_seed(0))[:97]
    a = p.jacobian(x, subset)
    b = p.jacobian(x, subset, method="func")
    assert a.shape == (len(x), 97)
    assert torch.allclose(a, b, rtol=0, atol=1e-13 * float(b.abs().max()))
    # and against central finite differences of the network itself
    k = int(subset[5])
    e = torch.zeros(p.flat.total, dtype=torch.float64)
    e[k] = 1e-6
    fd = (p.u(x, p.theta + e) - p.u(x, p.theta - e)) / 2e-6
    assert torch.allclose(fd, a[:, 5], atol=1e-8)


def test_network_is_periodic_and_derivatives_are_exact():
    net = PeriodicNet(PeriodicNetConfig(width=10, depth=3, seed=1))
    p = Projector(net)
    x = torch.rand(50, 2, dtype=torch.float64) * 6
    shifted = x + torch.tensor([2 * math.pi, -4 * math.pi], dtype=torch.float64)
    assert torch.allclose(p.u(x), p.u(shifted), atol=1e-12)
    u, grad, lap = p.derivatives(x)
    h = 1e-4
    fd_lap = sum((p.u(x + h * e) - 2 * u + p.u(x - h * e)) / h ** 2 for e in torch.eye(2, dtype=torch.float64))
    fd_gx = (p.u(x + h * torch.tensor([1.0, 0.0], dtype=torch.float64)) - p.u(x - h * torch.tensor([1.0, 0.0], dtype=torch.float64))) / (2 * h)
    assert torch.allclose(lap, fd_lap, atol=1e-5)
    assert torch.allclose(grad[:, 0], fd_gx, atol=1e-7)


def test_heat_reference_is_exact_and_nonlinear_references_converge_at_fourth_order():
    n = 32
    x = grid_points(n)
    heat = SpectralSolver(Equation("heat", 0.1), n)
    # an eigenfunction: exp(-0.1 * 5 t) sin(x + 2y)
    u0 = torch.sin(x[:, 0] + 2 * x[:, 1]).reshape(n, n)
    out = heat.values(heat.evolve(heat.transform(u0), 0.7))
    assert torch.allclose(out, math.exp(-0.1 * 5 * 0.7) * u0, atol=1e-13)
    for name in ("allen-cahn", "burgers"):
        eq = Equation(name, 0.05)
        u0_hat = SpectralSolver(eq, n).transform(initial_condition(x).reshape(n, n))
        finest = SpectralSolver(eq, n, max_step=0.2 / 64).values(SpectralSolver(eq, n, 0.2 / 64).evolve(u0_hat, 0.2))
        errs = [float((SpectralSolver(eq, n, max_step=0.2 / m).values(SpectralSolver(eq, n, 0.2 / m).evolve(u0_hat, 0.2))
                       - finest).abs().max()) for m in (2, 4)]
        order = math.log2(errs[0] / errs[1])
        assert 3.5 < order < 4.6, (name, errs)


def test_spectral_right_hand_side_equals_the_pointwise_formula_and_allen_cahn_keeps_its_uniform_solution():
    n = 32
    x = grid_points(n)
    u = (0.3 * torch.sin(x[:, 0]) * torch.cos(2 * x[:, 1]) + 0.2).reshape(n, n)
    ux = (0.3 * torch.cos(x[:, 0]) * torch.cos(2 * x[:, 1])).reshape(n, n)
    uy = (-0.6 * torch.sin(x[:, 0]) * torch.sin(2 * x[:, 1])).reshape(n, n)
    lap = (-5 * 0.3 * torch.sin(x[:, 0]) * torch.cos(2 * x[:, 1])).reshape(n, n)
    for name in ("heat", "allen-cahn", "burgers"):
        eq = Equation(name, 0.07)
        solver = SpectralSolver(eq, n)
        spectral = solver.values(solver.rhs(solver.transform(u)))
        pointwise = eq.rhs(u.reshape(-1), torch.stack([ux, uy], -1).reshape(-1, 2), lap.reshape(-1)).reshape(n, n)
        assert torch.allclose(spectral, pointwise, atol=1e-12), name
    # u' = u - u^3 for a uniform field: u(t) = u0 e^t / sqrt(1 + u0^2 (e^{2t} - 1))
    solver = SpectralSolver(Equation("allen-cahn", 0.005), 16, max_step=0.01)
    u0 = 0.3
    out = solver.values(solver.evolve(solver.transform(torch.full((16, 16), u0, dtype=torch.float64)), 1.5))
    exact = u0 * math.exp(1.5) / math.sqrt(1 + u0 ** 2 * (math.exp(3.0) - 1))
    assert torch.allclose(out, torch.full_like(out, exact), atol=1e-9)


def test_scheme_floors_have_the_orders_of_their_integrators():
    n = 16
    eq = Equation("heat", 0.1)
    solver = SpectralSolver(eq, n)
    u0_hat = solver.transform(initial_condition(grid_points(n)).reshape(n, n))
    exact = solver.values(solver.evolve(u0_hat, 0.4))
    for scheme, order in (("euler", 1), ("heun", 2), ("rk4", 4)):
        errs = []
        for steps in (20, 40):
            t, u_hat = scheme_floor(solver, u0_hat, scheme, 0.4 / steps, steps, every=steps)[-1]
            assert t == pytest.approx(0.4)
            errs.append(float((solver.values(u_hat) - exact).norm() / exact.norm()))
        assert math.log2(errs[0] / errs[1]) == pytest.approx(order, abs=0.25), (scheme, errs)


def test_projection_reaches_a_function_the_network_can_represent():
    """Least squares onto the network's own function at other parameters: a near-machine-precision target."""
    cfg = PeriodicNetConfig(width=8, depth=3, seed=5)
    target_net = PeriodicNet(cfg)
    x = grid_points(16)
    target = Projector(target_net).u(x)
    p = Projector(PeriodicNet(cfg))
    p.theta = Projector(target_net).theta + 1e-3 * torch.randn(p.flat.total, dtype=torch.float64,
                                                               generator=torch.Generator().manual_seed(1))
    info = p.project(x, target, [p.flat.total] * 6, torch.Generator().manual_seed(0), damping=None)
    assert info[0]["residual"] > 1e-4
    assert info[-1]["residual"] < 1e-11


class FourierModel(torch.nn.Module):
    """u = sum_k c_k phi_k: heat keeps it in its span, so every projection is exact and TENG's error is its
    integrator's alone."""

    def __init__(self):
        super().__init__()
        self.modes = [(1, 0), (0, 1), (1, 1), (2, 1), (1, 3)]
        self.c = torch.nn.Parameter(torch.tensor([0.5, -0.3, 0.2, 0.4, 0.1], dtype=torch.float64))

    def forward(self, x):
        basis = torch.stack([torch.sin(kx * x[:, 0] + ky * x[:, 1] + 0.3) for kx, ky in self.modes], dim=1)
        return basis @ self.c


def test_normal_equations_and_qr_give_the_same_ridge_step():
    x = grid_points(20)
    target = initial_condition(x)
    steps = []
    for normal in (False, True):
        p = Projector(PeriodicNet(PeriodicNetConfig(width=12, depth=4, seed=2)), normal=normal)
        p.project(x, target, [150], torch.Generator().manual_seed(4), damping=1e-8)
        steps.append(p.theta)
    assert torch.allclose(steps[0], steps[1], rtol=0, atol=1e-6 * float(steps[0].abs().max()))


def test_teng_euler_and_heun_follow_the_orders_of_their_integrators():
    """With exact projections TENG-Euler is first and TENG-Heun second order in dt, and both equal the scheme
    floor computed on the spectral semi-discretisation."""
    errors = {}
    for integrator in ("euler", "heun"):
        for dt in (0.04, 0.02):
            cfg = TengConfig(points=16, integrator=integrator, dt=dt, t_final=0.4, params_first=5, params_rest=5,
                             iterations=1, damping=None, coefficient=0.3, width=8, depth=3)
            model = FourierModel()
            run = TengRun(cfg, net=model)
            x = grid_points(16)
            solver = SpectralSolver(run.equation, 16)
            u0_hat = solver.transform(run.projector.u(x).reshape(16, 16))
            for _ in range(cfg.steps):
                run.step()
            exact = solver.values(solver.evolve(u0_hat, cfg.t_final)).reshape(-1)
            got = run.projector.u(x)
            errors[integrator, dt] = float((got - exact).norm() / exact.norm())
            floor = solver.values(scheme_floor(solver, u0_hat, integrator, dt, cfg.steps, every=cfg.steps)[-1][1])
            assert torch.allclose(got, floor.reshape(-1), atol=1e-12)
    assert math.log2(errors["euler", 0.04] / errors["euler", 0.02]) == pytest.approx(1.0, abs=0.1), errors
    assert math.log2(errors["heun", 0.04] / errors["heun", 0.02]) == pytest.approx(2.0, abs=0.1), errors


def test_run_checkpoints_every_step_and_resumes_to_the_same_result(tmp_path):
    cfg = TengConfig(**TINY)
    full = TengRun(cfg).run(tmp_path / "a.ckpt")
    fresh = TengRun(cfg).run(tmp_path / "b.ckpt")  # runs are reproducible (up to LAPACK's summation order)
    assert [h["rel_l2"] for h in fresh] == pytest.approx([h["rel_l2"] for h in full], rel=1e-6)
    # a finished run's checkpoint resumes to the same history without stepping again
    assert TengRun(cfg).run(tmp_path / "a.ckpt") == full
    # the checkpoint of a run with other settings is refused, not overwritten
    short = TengConfig(**{**TINY, "t_final": 0.01})
    TengRun(short).run(tmp_path / "c.ckpt")
    with pytest.raises(ConfigError, match="other settings"):
        TengRun(cfg).run(tmp_path / "c.ckpt")
    # a TDVP checkpoint is not resumed as a TENG run
    from sciml.teng.baselines import TdvpRun

    TdvpRun(cfg).run(tmp_path / "d.ckpt")
    with pytest.raises(ConfigError, match="holds a tdvp run"):
        TengRun(cfg).run(tmp_path / "d.ckpt")


def test_resume_after_an_interruption_continues_from_the_last_step(tmp_path):
    cfg = TengConfig(**TINY)
    reference = TengRun(cfg).run()

    class Stop(Exception):
        pass

    calls = {"n": 0}
    run = TengRun(cfg)
    original = run.step

    def interrupted():
        calls["n"] += 1
        if calls["n"] == 3:
            raise Stop
        return original()

    run.step = interrupted
    with pytest.raises(Stop):
        run.run(tmp_path / "run.ckpt")
    resumed = TengRun(cfg)
    counted = {"steps": 0}
    step = resumed.step

    def counting():
        counted["steps"] += 1
        return step()

    resumed.step = counting
    resumed.fit_initial = lambda: pytest.fail("a resumed run fitted u0 again")
    history = resumed.run(tmp_path / "run.ckpt")
    assert counted["steps"] == cfg.steps - 2  # two steps were done before the interruption
    assert resumed.step_index == cfg.steps
    assert history[-1]["rel_l2"] == pytest.approx(reference[-1]["rel_l2"], rel=1e-9)


@pytest.mark.parametrize("changes, message", [
    ({"dt": 0.0}, "dt must be a positive"),
    ({"dt": -0.1}, "dt must be a positive"),
    ({"t_final": 0.001}, "shorter than one step"),
    ({"equation": "kdv"}, "unknown TENG equation"),
    ({"coefficient": float("nan")}, "positive number"),
    ({"width": 7}, "multiple of dim"),
    ({"damping": -1.0}, "damping"),
    ({"integrator": "rk4"}, "integrator must be one of"),
    ({"solver": "Normal"}, "solver must be one of"),
    ({"lstsq_driver": "gelss"}, "lstsq_driver must be one of"),
    ({"iterations": 0}, "TENG-Heun needs iterations"),
    ({"points": 12.5}, "whole number"),
    ({"eval_points": 15}, "eval_points"),
    ({"t_final": 0.0125}, "whole number of steps"),
    ({"coefficient": True}, "coefficient must be a number"),
    ({"sharpness": -0.5}, "sharpness must be a finite number"),
])
def test_bad_settings_get_one_clear_error(changes, message):
    with pytest.raises(ConfigError, match=message):
        TengConfig(**{**TINY, **changes})


def test_a_non_finite_step_is_reported_with_its_step_and_the_last_good_step_kept(tmp_path):
    from sciml.teng import TengFailure

    cfg = TengConfig(**TINY)
    run = TengRun(cfg)
    calls = {"n": 0}
    original = run.projector.solve

    def poisoned(jac, residual):
        calls["n"] += 1
        delta, rank = original(jac, residual)
        if run.step_index == 2:
            delta = delta * float("nan")
        return delta, rank

    run.projector.solve = poisoned
    with pytest.raises(TengFailure, match="at step 3"):
        run.run(tmp_path / "run.ckpt")
    resumed = TengRun(cfg)
    resumed._restore(tmp_path / "run.ckpt")
    assert resumed.step_index == 2
    assert torch.isfinite(resumed.projector.theta).all()


@pytest.mark.parametrize("name", ["teng-heat", "teng-allen-cahn", "teng-burgers"])
def test_experiments_run_at_smoke_scale(tmp_path, name):
    import json

    from sciml.experiments import run_experiment

    results = run_experiment(name, tmp_path / name, scale="smoke")
    methods = [r["method"] for r in results["rows"]]
    assert methods == ["teng-euler", "teng-heun", "tdvp", "pinn"]
    for r in results["rows"]:
        assert all(math.isfinite(h["rel_l2"]) for h in r["history"])
    assert (tmp_path / name / "report.md").read_text().count("| teng-heun |") == 1
    saved = json.loads((tmp_path / name / "results.json").read_text())
    assert saved["rows"][1]["history"][-1]["t"] == pytest.approx(0.02)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_matches_the_cpu_run():
    cfg = TengConfig(**TINY)
    cpu = TengRun(cfg).run()
    gpu = TengRun(cfg, device="cuda").run()
    assert gpu[-1]["rel_l2"] == pytest.approx(cpu[-1]["rel_l2"], rel=1e-3, abs=1e-8)


def test_grid_initial_condition_interpolates_periodic_data_and_refuses_the_rest():
    from sciml.teng import GridInitialCondition

    n = 48
    axis = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    good = GridInitialCondition(initial_condition(torch.stack([gx, gy], -1).reshape(-1, 2)).reshape(n, n))
    x = torch.rand(40, 2, dtype=torch.float64) * 2 * math.pi
    assert torch.allclose(good(x), initial_condition(x), atol=1e-10)
    # the endpoint included (a grid on [0, 2 pi]): the field jumps across the boundary
    closed = torch.linspace(0, 2 * math.pi, n, dtype=torch.float64)
    cx, cy = torch.meshgrid(closed, closed, indexing="ij")
    with pytest.raises(ConfigError, match="not periodic"):
        GridInitialCondition(cx / (2 * math.pi) + torch.sin(cy))
    bad = torch.zeros(n, n, dtype=torch.float64)
    bad[3, 4] = float("nan")
    with pytest.raises(ConfigError, match="NaN"):
        GridInitialCondition(bad)
    with pytest.raises(ConfigError, match="square"):
        GridInitialCondition(torch.zeros(8, 9))
    # a run from grid data reproduces the run from the function
    cfg = TengConfig(**TINY)
    a = TengRun(cfg).run()
    b = TengRun(cfg, initial=initial_condition(torch.stack([gx, gy], -1).reshape(-1, 2)).reshape(n, n)).run()
    assert b[-1]["rel_l2"] == pytest.approx(a[-1]["rel_l2"], rel=1e-4)


def test_a_solve_that_loses_rank_is_reported_with_its_step(caplog):
    import logging

    from sciml.teng import TengFailure

    cfg = TengConfig(**{**TINY, "damping": None})
    run = TengRun(cfg)
    original = run.projector.solve

    def deficient(jac, residual):
        jac = jac.clone()
        jac[:, 1] = jac[:, 0]  # two equal columns: rank one short
        return original(jac, residual)

    run.projector.solve = deficient
    with caplog.at_level(logging.WARNING, logger="sciml.teng"):
        run.step()
    assert any("at step 1" in r.getMessage() and "lost rank" in r.getMessage() for r in caplog.records)
    run.projector.solve = lambda jac, residual: original(torch.zeros_like(jac), residual)
    with pytest.raises(TengFailure, match="rank 0"):
        run.step()


def test_the_euler_floor_on_a_fine_grid_equals_its_modal_formula():
    """On a 128^2 grid explicit Euler at dt = 0.005 is unstable on the highest modes of heat (D = 0.1); the floor
    drops them (no content in u0) and equals the exact modal error sum."""
    n, dt, steps = 128, 0.005, 100
    solver = SpectralSolver(Equation("heat", 0.1), n)
    u0_hat = solver.transform(initial_condition(grid_points(n)).reshape(n, n))
    _, euler = scheme_floor(solver, u0_hat, "euler", dt, steps, every=steps)[-1]
    exact = solver.evolve(u0_hat, steps * dt)
    z = solver.linear * dt
    stable = (1 + z).abs() <= 1
    modal = torch.where(stable, u0_hat * (1 + z) ** steps, torch.zeros_like(u0_hat))
    got = float((solver.values(euler) - solver.values(exact)).norm() / solver.values(exact).norm())
    want = float((solver.values(modal) - solver.values(exact)).norm() / solver.values(exact).norm())
    assert got == pytest.approx(want, rel=1e-6)
    assert 1e-5 < got < 1e-3  # first order: about 3e-4 per unit time at this dt (the paper's heat figure)


def test_the_initial_condition_has_the_modified_bessel_spectrum_its_sharpness_sets():
    # exp(-a (1 + cos 2x)) = e^{-a} sum_n (-1)^n I_n(a) e^{2inx}: mode 2n of the x-profile is I_n(a) / I_0(a) of mode 0
    from scipy.special import iv

    from sciml.teng.equations import initial_condition

    n = 64
    x = grid_points(n).reshape(n, n, 2)
    for a in (1.0, 0.5):
        u = initial_condition(x, 0.5, a)
        profile = torch.fft.fft(u[:, n // 4]).abs() / n  # at y = pi / 2, sin y = 1
        for k in (1, 2, 3, 4, 6):
            assert abs(float(profile[2 * k] / profile[0]) - iv(k, a) / iv(0, a)) < 1e-12, (a, k)
        assert float(profile[1::2].max()) < 1e-15 * float(profile[0])


def test_a_methods_saved_results_are_reused_whichever_methods_ran_beside_it():
    from sciml.experiments.teng import _same_settings

    config = {"methods": ["teng-euler", "teng-heun", "tdvp", "pinn"], "dt": 0.005, "sharpness": 0.5}
    assert _same_settings({"methods": ["teng-heun"], "dt": 0.005, "sharpness": 0.5}, config)
    assert not _same_settings({"methods": ["teng-heun"], "dt": 0.005, "sharpness": 1.0}, config)
    assert not _same_settings({"dt": 0.005}, config) and not _same_settings(None, config)
