"""The PINN core: problems, the plain PINN and the Lagrangian PINN, trained through the one Trainer
(fresh points per step, the L-BFGS phase, resume), and their bad-input sentences."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import sciml
from sciml._errors import ConfigError, DataError
from sciml.cli import main
from sciml.pinn.lpinn import LpinnConfig, LpinnMethod, LpinnNet, eulerian_wxx
from sciml.pinn.pinn import PinnConfig, PinnMethod, PinnNet
from sciml.pinn.problems import burgers_reference, grid_points, make_problem
from sciml.runs import train_model
from sciml.train import TrainConfig, Trainer, TrainingError


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


TINY = {"epochs": 2, "steps_per_epoch": 3, "n_interior": 64, "n_boundary": 16, "n_initial": 16, "width": 8, "depth": 2}


def _rel_l2(model, problem, points):
    pred = model.predict(torch.from_numpy(points)).double().numpy()
    ref = problem.exact(torch.from_numpy(points)).numpy()
    return float(np.linalg.norm(pred - ref) / np.linalg.norm(ref))


# -- problems ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, params", [("convection", {"c": 3.0}), ("convection-diffusion", {"c": 2.0, "nu": 0.3}),
                                          ("poisson-box", {"dim": 3}), ("poisson-disk", {}),
                                          ("poisson-ball", {"dim": 5}), ("laplace-l-shape", {})])
def test_exact_solutions_make_every_term_vanish(name, params):
    problem = make_problem(name, **params)
    x = problem.domain.sample_interior(50, seed=1)
    f = problem.exact
    assert float(problem.residual(f, x).abs().max()) < 1e-10
    if problem.boundary is not None:
        xb, nb = problem.domain.sample_boundary(20, seed=2)
        assert float(problem.boundary(f, xb, nb).abs().max()) < 1e-12
    if problem.initial is not None:
        x0 = problem.domain.sample_initial(20, seed=3)
        assert float(problem.initial(f, x0).abs().max()) < 1e-12
    if problem.hard is not None:  # the transform meets its terms whatever the network says
        raw = torch.randn(20, 1, dtype=torch.float64)
        if "boundary" in problem.hard_terms:
            xb, _ = problem.domain.sample_boundary(20, seed=4)
            assert float(problem.hard(xb, raw).abs().max()) < 1e-12
        if "initial" in problem.hard_terms:
            x0 = problem.domain.sample_initial(20, seed=5)
            torch.testing.assert_close(problem.hard(x0, raw), torch.sin(x0[:, :1]))


def test_the_burgers_reference_matches_the_inviscid_solution_before_the_shock():
    """For small nu and t < 1 the viscous solution is close to the implicit inviscid one u = sin(x - u t)."""
    points, values = burgers_reference(1e-4, 0.5, nx=256, nt=6)
    x, t = points[:, 0], points[:, 1]
    u = np.sin(x)
    for _ in range(200):  # fixed point of u = sin(x - u t); a contraction for t < 1
        u = np.sin(x - u * t)
    assert np.abs(values[:, 0] - u).max() < 2e-3
    # the solver conserves the mean (zero) and |u| <= 1
    assert np.abs(values.reshape(6, 256).mean(axis=1)).max() < 1e-10 and np.abs(values).max() <= 1 + 1e-9


def test_unknown_problems_and_parameters_are_refused_naming_the_choices():
    with pytest.raises(ConfigError, match="unknown problem 'heat'; choose one of convection, convection-diffusion"):
        make_problem("heat")
    with pytest.raises(ConfigError, match="problem 'poisson-disk' has no parameter c"):
        make_problem("poisson-disk", c=2.0)
    with pytest.raises(ConfigError, match="burgers needs a positive viscosity nu"):
        make_problem("burgers", nu=0.0)
    with pytest.raises(ConfigError, match="use the convection-diffusion problem"):
        make_problem("convection", nu=0.1)


# -- the plain PINN --------------------------------------------------------------------------------------------

def test_a_pinn_with_hard_boundary_solves_poisson_on_the_disk(tmp_path):
    run = tmp_path / "run"
    train_model("pinn", None, run, overrides={"problem": "poisson-disk", "hard": True, "width": 16, "depth": 2,
                                              "n_interior": 256, "epochs": 8, "steps_per_epoch": 25, "lr": 5e-3,
                                              "lbfgs_epochs": 2, "lbfgs_max_iter": 10, "dtype": "float64"},
                show_progress=False)
    model = sciml.load(run)
    problem = make_problem("poisson-disk")
    points = problem.domain.sample_interior(2000, seed=99).numpy()
    assert _rel_l2(model, problem, points) < 1e-2
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records] == ["adamw"] * 6 + ["lbfgs"] * 2
    assert "train_residual" in records[0] and "train_boundary" not in records[0]  # the transform holds it


def test_a_soft_pinn_solves_laplace_on_the_l_shaped_polygon(tmp_path):
    run = tmp_path / "run"
    train_model("pinn", None, run, overrides={"problem": "laplace-l-shape", "width": 24, "depth": 2, "n_interior": 256,
                                              "n_boundary": 128, "sampling": "sobol", "epochs": 10,
                                              "steps_per_epoch": 40, "lr": 5e-3, "lbfgs_epochs": 3,
                                              "lbfgs_max_iter": 20, "dtype": "float64"}, show_progress=False)
    problem = make_problem("laplace-l-shape")
    points = problem.domain.sample_interior(2000, seed=99).numpy()
    assert _rel_l2(sciml.load(run), problem, points) < 1e-2  # 3e-4 to 9e-4 over seeds 0-2


def test_soft_terms_are_trained_and_logged_and_sobol_points_work(tmp_path):
    run = tmp_path / "run"
    train_model("pinn", None, run, overrides={"problem": "poisson-box", **TINY, "sampling": "sobol"},
                show_progress=False)
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"train_loss", "train_residual", "train_boundary"} <= set(record)
    assert record["train_loss"] == pytest.approx(record["train_residual"] + record["train_boundary"], rel=1e-6)


def test_fresh_points_every_step_and_exact_resume_across_the_lbfgs_switch(tmp_path):
    overrides = {"problem": "convection", **TINY, "epochs": 4, "lbfgs_epochs": 2, "lbfgs_max_iter": 3}
    train_model("pinn", None, tmp_path / "whole", overrides=overrides, show_progress=False)
    for stop in (2, 3):  # killed at the switch, and inside the L-BFGS phase
        part = tmp_path / f"part{stop}"
        train_model("pinn", None, part, overrides={**overrides, "epochs": stop, "lbfgs_epochs": max(0, stop - 2)},
                    show_progress=False)
        train_model("pinn", None, part, overrides={"epochs": 4, "lbfgs_epochs": 2}, resume=True, show_progress=False)
        a = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["model"]
        b = torch.load(part / "model.pt", weights_only=True)["model"]
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    method = PinnMethod(PinnNet(PinnConfig(problem="convection", n_interior=32)))
    first = method.sample(torch.Generator().manual_seed(1))["interior"]
    second = method.sample(torch.Generator().manual_seed(2))["interior"]
    assert not torch.equal(first, second) and torch.equal(first, method.sample(torch.Generator().manual_seed(1))["interior"])


def test_a_nan_loss_stops_naming_the_term_and_the_step_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    model = PinnNet(PinnConfig(problem="poisson-disk", width=8, depth=1, n_interior=16, n_boundary=8))
    method = PinnMethod(model)
    trainer = Trainer(method, None, config=TrainConfig(epochs=3, steps_per_epoch=2, device="cpu"), run_dir=tmp_path / "r",
                      model_name="pinn", model_config=model.config, show_progress=False)
    original = method.step
    calls = {"n": 0}

    def poisoned(batch):
        calls["n"] += 1
        out = original(batch)
        if calls["n"] == 4:  # epoch 2, step 2
            out["boundary"] = out["boundary"] * float("nan")
            out["loss"] = out["residual"] + out["boundary"]
        return out

    monkeypatch.setattr(method, "step", poisoned)
    with pytest.raises(TrainingError, match=r"the loss became nan at epoch 2, step 2 \(term boundary = nan\); .*holds "
                                             r"epoch 1"):
        trainer.fit()
    assert (tmp_path / "r" / "checkpoint.pt").exists()


def test_a_residual_of_the_wrong_shape_is_refused_naming_the_term():
    model = PinnNet(PinnConfig(problem="poisson-disk", n_interior=16, n_boundary=8))
    method = PinnMethod(model)
    problem = model.problem
    broken = type(problem)(**{**problem.__dict__, "residual": lambda f, x: f(x).reshape(-1)[:5]})
    method.problem = broken
    with pytest.raises(DataError, match=r"the residual term of problem 'poisson-disk' returned \(5,\) for 16 points; it "
                                        r"must return \(16,\) or \(16, k\) values"):
        method.step(method.sample(torch.Generator().manual_seed(0)))


# -- the Lagrangian PINN ---------------------------------------------------------------------------------------------

def _exact_branches(net, c, nu=0.0, bend=0.0):
    """Replace the branches by exact characteristics X = x0 + c t + bend t sin x0 and state w."""
    if bend:
        net.characteristic = lambda p: p[:, :1] + c * p[:, 1:] + bend * p[:, 1:] * torch.sin(p[:, :1])
    else:
        net.characteristic = lambda p: p[:, :1] + c * p[:, 1:]
    net.state_on = lambda p: torch.exp(-nu * p[:, 1:]) * torch.sin(p[:, :1])
    return net


def test_the_eulerian_field_interpolates_the_lagrangian_solution():
    net = _exact_branches(LpinnNet(LpinnConfig(problem="convection", c=7.0, dtype="float64")), 7.0)
    problem = make_problem("convection", c=7.0)
    points = grid_points(problem, 64, 9)
    got = net(torch.from_numpy(points))
    torch.testing.assert_close(got, problem.exact(torch.from_numpy(points)), rtol=0, atol=5e-5)
    # scattered points and a batch of samples, the shape (B, P, 2) kept
    scattered = torch.rand(2, 30, 2, dtype=torch.float64) * torch.tensor([2 * math.pi, 1.0], dtype=torch.float64)
    out = net(scattered)
    assert out.shape == (2, 30, 1)
    torch.testing.assert_close(out.reshape(-1, 1), problem.exact(scattered.reshape(-1, 2)), rtol=0, atol=5e-5)


def test_exact_characteristics_make_the_lagrangian_terms_vanish():
    net = _exact_branches(LpinnNet(LpinnConfig(problem="convection-diffusion", c=5.0, nu=0.2, dtype="float64",
                                               grid_nx=16, grid_nt=8)), 5.0, nu=0.2)
    method = LpinnMethod(net)
    out = method.step(method.sample(torch.Generator().manual_seed(0)))
    for term in ("characteristic", "state", "initial"):
        assert float(out[term]) < 1e-20, term


def test_the_chain_rule_gives_w_xx_along_bent_characteristics():
    """w(x0, t) = g(X(x0, t)) for g = sin: then w_xx = -sin(X) whatever X."""
    from sciml.pinn.derivatives import partials

    x0t = torch.rand(40, 2, dtype=torch.float64) * torch.tensor([2 * math.pi, 1.0], dtype=torch.float64)
    X = lambda p: p[:, :1] + 0.3 * p[:, 1:] * torch.sin(p[:, :1])  # noqa: E731 (X_x0 >= 0.7)
    w = lambda p: torch.sin(X(p))  # noqa: E731
    Xv, dX, d2X = partials(X, x0t, [0])
    _, dw, d2w = partials(w, x0t, [0])
    torch.testing.assert_close(eulerian_wxx(dw[0], d2w[0], dX[0], d2X[0]), -torch.sin(Xv), rtol=1e-12, atol=1e-12)


def test_an_lpinn_learns_convection_where_the_state_is_simple(tmp_path):
    run = tmp_path / "run"
    train_model("lpinn", None, run, overrides={"problem": "convection", "c": 20.0, "grid_nx": 32, "grid_nt": 16,
                                               "width": 16, "state_depth": 2, "epochs": 8, "steps_per_epoch": 25,
                                               "lbfgs_epochs": 2, "lbfgs_max_iter": 20, "eval_x0": 128},
                show_progress=False)
    model = sciml.load(run)
    problem = make_problem("convection", c=20.0)
    assert _rel_l2(model, problem, grid_points(problem, 64, 10)) < 0.1


# -- the command line -----------------------------------------------------------------------------------------------

def test_the_command_line_trains_without_data_and_evaluates_on_a_point_file(tmp_path, capsys):
    run, points = tmp_path / "run", tmp_path / "points.h5"
    args = ["--quiet", "train", "pinn", "--problem", "poisson-box", "--out", str(run)]
    for key, value in TINY.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    assert main(["--quiet", "data", "points", "--out", str(points), "--expr", "sin(pi*x)*sin(pi*y)", "--box", "0:1,0:1",
                 "--n", "2", "--points", "50"]) == 0
    capsys.readouterr()
    assert main(["--quiet", "eval", str(run), "--data", str(points), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["per_sample"]["rel_l2"]) == 2


def test_the_command_line_refuses_data_for_a_pinn_and_points_outside_its_domain(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "pinn", "--problem", "poisson-box", "--data", str(tmp_path / "x.h5"), "--out", str(run)]) == 2
    assert "pinn draws its own training points and takes no --data" in capsys.readouterr().err
    assert main(["train", "pinn", "--problem", "poisson-box", "--set", "problem=poisson-disk", "--out", str(run)]) == 2
    assert "--problem poisson-box and --set problem=poisson-disk disagree" in capsys.readouterr().err
    assert main(["train", "pinn", "--problem", "wave", "--out", str(run)]) == 2
    assert "unknown problem 'wave'; choose one of" in capsys.readouterr().err
    args = ["--quiet", "train", "pinn", "--problem", "poisson-disk", "--out", str(run)]
    for key, value in TINY.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    outside = tmp_path / "outside.h5"
    assert main(["--quiet", "data", "points", "--out", str(outside), "--expr", "x", "--box", "0:1,0:1", "--n", "1",
                 "--points", "40", "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(outside)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "of the 40 points of" in err[0] and "lie outside the domain of problem 'poisson-disk'" in err[0]


@pytest.mark.parametrize("name", ["lpinn-convection", "lpinn-burgers"])
def test_the_lpinn_experiments_run_at_smoke_scale_and_report_both_kinds(name, tmp_path):
    out = tmp_path / name
    assert main(["--quiet", "reproduce", name, "--scale", "smoke", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    rows = results["rows"]
    for row in rows:
        for kind in ("pinn", "lpinn"):
            assert np.isfinite(row[kind]["rel_l2"]) and (out / row[kind]["run"] / "model.pt").exists()
    report = (out / "report.md").read_text()
    assert "| PINN rel. L2 | LPINN rel. L2 |" in report and (out / "fields.png").stat().st_size > 0
    assert f"{rows[0]['lpinn']['rel_l2']:.3g}" in report


def test_the_lpinn_refuses_a_torchrun_job(monkeypatch):
    from sciml.pinn.lpinn import LpinnConfig, LpinnMethod, LpinnNet

    model = LpinnNet(LpinnConfig(width=8, state_depth=1, char_depth=1))
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="the LPINN trains in one process.*torchrun job of 2"):
        LpinnMethod(model)
    monkeypatch.setenv("WORLD_SIZE", "1")
    LpinnMethod(model)
