"""MP-PDE (sciml.graph): graph builders, the solver, pushforward training, the accumulated error, data checks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sciml._errors import DataError
from sciml.cli import main
from sciml.graph import builders
from sciml.graph.mppde import (MPPDE, MPPDEConfig, MPPDEDataset, MPPDEMethod, accumulated_error, complete_config,
                               rollout)


def _grid(n, L=16.0):
    return (torch.arange(n, dtype=torch.float64) + 0.5) * (L / n)


# -- graphs ------------------------------------------------------------------------------------------
def test_periodic_radius_graph_joins_each_node_to_its_neighbours_across_the_seam():
    x = _grid(10)
    edges = builders.radius_graph_1d(x, 2 * 1.6 * (1 + 1e-9), period=16.0)
    assert edges.shape == (2, 10 * 4)
    sources_of_0 = sorted(edges[0][edges[1] == 0].tolist())
    assert sources_of_0 == [1, 2, 8, 9]  # wraps around
    d = builders.edge_displacement(x, edges, period=16.0)
    assert float(d.abs().max()) == pytest.approx(3.2)
    # x_i - x_j for the edge 9 -> 0 is +1.6 across the seam, not -14.4
    k = int(((edges[0] == 9) & (edges[1] == 0)).nonzero())
    assert float(d[k]) == pytest.approx(1.6)
    open_edges = builders.radius_graph_1d(x, 3.2 * (1 + 1e-9))
    assert open_edges.shape[1] < edges.shape[1] and sorted(open_edges[0][open_edges[1] == 0].tolist()) == [1, 2]


def test_knn_graph_and_batching():
    x = torch.tensor([-1.0, -0.9, -0.5, 0.0, 0.6, 1.0], dtype=torch.float64)
    edges = builders.knn_graph(x, 2)
    assert edges.shape == (2, 12)
    assert sorted(edges[0][edges[1] == 0].tolist()) == [1, 2]
    batched = builders.batch_edges(edges, 6, 3)
    assert batched.shape == (2, 36) and int(batched.max()) == 17
    torch.testing.assert_close(batched[:, 12:24] - 6, edges)


@pytest.mark.parametrize("edges, message", [
    (torch.tensor([[0, 1, 2], [1, 2, 2]]), "self loop"),
    (torch.tensor([[0, 1], [1, 0]]), "isolated node"),
    (torch.tensor([[0, 5], [1, 0]]), "refers to node 5"),
    (torch.zeros(2, 0, dtype=torch.int64), "no edges"),
    (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), "integers"),
])
def test_graphs_the_solver_cannot_use_are_refused(edges, message):
    with pytest.raises(DataError, match=message):
        builders.check_graph(edges, 3)


def test_a_radius_too_small_for_the_grid_is_refused():
    with pytest.raises(DataError, match="isolated node.*node 3"):
        builders.radius_graph_1d(torch.tensor([0.0, 0.1, 0.2, 5.0]), 0.15)
    with pytest.raises(DataError, match="no edges"):
        builders.radius_graph_1d(_grid(8), 0.5)
    with pytest.raises(DataError, match="duplicate"):
        builders.radius_graph_1d(torch.tensor([0.0, 1.0, 1.0]), 2.0)


# -- the solver --------------------------------------------------------------------------------------
def _config(**kw):
    base = dict(time_window=4, hidden=16, layers=2, neighbors=2, length=16.0, dt=0.1, t_max=2.0, periodic=True,
                n_times=20, variables=("beta",), variable_scales=(0.2,))
    return MPPDEConfig(**{**base, **kw})


def test_a_batch_gives_what_each_sample_gives_alone():
    torch.manual_seed(0)
    model = MPPDE(_config()).double()
    u = torch.randn(3, 4, 12, dtype=torch.float64)
    t = torch.tensor([0.4, 0.8, 1.2], dtype=torch.float64)
    v = torch.tensor([[0.05], [0.1], [0.15]], dtype=torch.float64)
    together = model(u, _grid(12), t, v)
    alone = torch.cat([model(u[k:k + 1], _grid(12), t[k:k + 1], v[k:k + 1]) for k in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-12, atol=1e-12)
    assert together.shape == (3, 4, 12)


def test_the_decoder_steps_from_the_last_frame_with_growing_time_offsets():
    torch.manual_seed(1)
    model = MPPDE(_config(variables=(), variable_scales=())).double()
    for p in model.decoder[-1].parameters():
        torch.nn.init.zeros_(p)
    with torch.no_grad():
        model.decoder[-1].bias.fill_(2.0)  # every slope d_l = 2
    u = torch.randn(2, 4, 12, dtype=torch.float64)
    out = model(u, _grid(12), 0.5)
    expected = u[:, -1:] + 2.0 * 0.1 * torch.arange(1, 5, dtype=torch.float64)[None, :, None]
    torch.testing.assert_close(out, expected)


def test_the_model_uses_its_parameters_and_time():
    torch.manual_seed(2)
    model = MPPDE(_config()).double()
    u = torch.randn(1, 4, 12, dtype=torch.float64)
    a = model(u, _grid(12), 0.4, torch.tensor([[0.05]], dtype=torch.float64))
    b = model(u, _grid(12), 0.4, torch.tensor([[0.15]], dtype=torch.float64))
    c = model(u, _grid(12), 1.4, torch.tensor([[0.05]], dtype=torch.float64))
    assert float((a - b).abs().max().detach()) > 1e-6 and float((a - c).abs().max().detach()) > 1e-6
    with pytest.raises(Exception, match="variables must be"):
        model(u, _grid(12), 0.4)


def test_rollout_continues_time_block_by_block():
    seen = []

    class Spy(MPPDE):
        def forward(self, window, x, t, variables=None):
            seen.append(float(t[0]))
            return super().forward(window, x, t, variables)

    model = Spy(_config(variables=(), variable_scales=())).double()
    out = rollout(model, torch.zeros(1, 4, 12, dtype=torch.float64), _grid(12), 0.8, 10)
    assert out.shape == (1, 10, 12)
    assert seen == pytest.approx([0.8, 1.2, 1.6])


def test_accumulated_error_is_the_grid_mean_summed_over_frames():
    pred = torch.zeros(2, 3, 4)
    target = torch.ones(2, 3, 4)
    target[1, 0] = 3.0
    assert accumulated_error(pred, target).tolist() == [3.0, 9.0 + 2.0]


def test_pushforward_unrolls_without_gradient_only_after_the_first_epoch():
    calls = []

    class Spy(MPPDE):
        def forward(self, *args, **kwargs):
            calls.append(torch.is_grad_enabled())
            return super().forward(*args, **kwargs)

    torch.manual_seed(3)
    model = Spy(_config(variables=(), variable_scales=(), unrolling=1))
    method = MPPDEMethod(model)
    batch = {"u": torch.randn(2, 20, 12), "x": _grid(12)[None].expand(2, -1), "t": torch.linspace(0, 2, 20)[None],
             "params": {}}
    method.set_epoch(0)
    for _ in range(5):
        method.step(batch)
    assert calls == [True] * 5
    calls.clear()
    method.set_epoch(3)
    for _ in range(40):
        method.step(batch)
    assert False in calls and calls.count(True) == 40  # some steps unrolled once without gradient
    # with unroll_period = 5 the pushforward waits for epoch 5 (the authors count epochs of nt passes)
    later = MPPDEMethod(Spy(_config(variables=(), variable_scales=(), unrolling=1, unroll_period=5)))
    calls.clear()
    later.set_epoch(4)
    for _ in range(20):
        later.step(batch)
    assert calls == [True] * 20
    later.set_epoch(5)
    for _ in range(40):
        later.step(batch)
    assert False in calls


# -- data --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("mppde")
    out = {}
    for family in ("E1", "E3"):
        path = root / f"{family}.h5"
        assert main(["--quiet", "data", "generate", "combined", "--out", str(path), "--n", "3", "--res", "20",
                     "--set", "nt=16", "--set", "fine=40", "--set", f"family={family}", "--set", "T=0.3"]) == 0
        out[family] = path
    out["wave"] = root / "wave.h5"
    assert main(["--quiet", "data", "generate", "wave", "--out", str(out["wave"]), "--n", "2", "--res", "16",
                 "--set", "nt=16"]) == 0
    return out


def test_complete_config_takes_the_varying_parameters_and_the_domain(stores):
    e1 = complete_config(MPPDEConfig(time_window=4, hidden=16), MPPDEDataset(stores["E1"]))
    assert e1.variables == () and e1.periodic and e1.length == 16.0 and e1.pde == "combined"
    assert e1.dt == pytest.approx(0.3 / 15) and e1.t_max == pytest.approx(0.3) and e1.n_times == 16
    e3 = complete_config(MPPDEConfig(time_window=4, hidden=16), MPPDEDataset(stores["E3"]))
    assert e3.variables == ("alpha", "beta", "gamma") and all(s > 0 for s in e3.variable_scales)
    wave = complete_config(MPPDEConfig(time_window=4, hidden=16), MPPDEDataset(stores["wave"]))
    assert not wave.periodic and wave.length == pytest.approx(2.0)
    edges, _ = MPPDE(wave).graph(torch.from_numpy(MPPDEDataset(stores["wave"]).x))
    assert edges.shape[1] == 16 * 6  # kNN on the Chebyshev grid


def test_too_short_trajectories_are_refused(stores):
    with pytest.raises(DataError, match=r"\(2 \+ unrolling\) \* time_window = 18"):
        complete_config(MPPDEConfig(time_window=6, hidden=16), MPPDEDataset(stores["E1"]))


def test_train_eval_predict_and_the_bad_inputs_from_the_command_line(stores, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["--quiet", "train", "mp-pde", "--data", str(stores["E3"]), "--out", str(run), "--set", "epochs=2",
                 "--set", "batch_size=3", "--set", "time_window=4", "--set", "hidden=12", "--set", "layers=1"]) == 0
    capsys.readouterr()
    assert main(["--quiet", "eval", str(run), "--data", str(stores["E3"]), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["start"] == 8 and result["n_frames"] == 8 and len(result["mse_per_frame"]) == 8
    assert math.isclose(result["accumulated_error"], sum(result["mse_per_frame"]), rel_tol=1e-5)
    assert len(result["accumulated_error_per_sample"]) == 3 and result["seconds_per_rollout"] > 0
    # the frames given to the model are copied, the rest predicted
    out = tmp_path / "pred.h5"
    assert main(["--quiet", "predict", str(run), "--data", str(stores["E3"]), "--out", str(out)]) == 0
    from sciml.data import open_store

    with open_store(out) as store:
        pred, truth = store.read("prediction"), store.read("tensor")
    np.testing.assert_allclose(pred[:, :8], truth[:, :8], rtol=0, atol=1e-6)
    assert np.abs(pred[:, 8:] - truth[:, 8:]).max() > 0
    # another PDE, a window longer than the trajectories: one sentence, exit 2
    capsys.readouterr()
    assert main(["--quiet", "eval", str(run), "--data", str(stores["wave"])]) == 2
    assert "trained on 'combined' data" in capsys.readouterr().err
    assert main(["--quiet", "train", "mp-pde", "--data", str(stores["E1"]), "--out", str(tmp_path / "long"),
                 "--set", "time_window=8", "--set", "hidden=12"]) == 2
    assert "needs (2 + unrolling) * time_window = 24" in capsys.readouterr().err
    assert not (tmp_path / "long" / "checkpoint.pt").exists()


def test_a_store_of_another_shape_is_refused(tmp_path):
    path = tmp_path / "darcy.h5"
    assert main(["--quiet", "data", "generate", "darcy", "--out", str(path), "--n", "2", "--res", "8"]) == 0
    with pytest.raises(DataError, match="not a time-dependent store"):
        MPPDEDataset(path)


def test_fno_pushforward_mode_trains_on_random_windows(stores, tmp_path):
    run = tmp_path / "fno"
    assert main(["--quiet", "train", "fno-rollout", "--data", str(stores["E1"]), "--out", str(run),
                 "--set", "epochs=2", "--set", "batch_size=3", "--set", "in_steps=4", "--set", "out_steps=4",
                 "--set", "first_frame=4", "--set", "horizon=8", "--set", "train_mode=pushforward",
                 "--set", "modes=4", "--set", "width=8", "--set", "n_layers=1"]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(np.isfinite(r["train_loss"]) for r in rows)


@pytest.mark.parametrize("name", ["mppde-e1", "mppde-e2", "mppde-e3"])
def test_experiments_run_at_smoke_scale(tmp_path, name):
    from sciml.experiments import run_experiment

    results = run_experiment(name, tmp_path / name, scale="smoke")
    rows = results["rows"]
    assert [row["nx"] for row in rows] == [20, 10]
    for row in rows:
        for method in ("WENO5", "FNO-PF", "MP-PDE"):
            assert np.isfinite(row[method]["accumulated_error"]) and row[method]["seconds_per_rollout"] > 0
        assert math.isclose(row["MP-PDE"]["accumulated_error"], np.mean(row["MP-PDE"]["per_sample"]), rel_tol=1e-9)
    # WENO5 on fewer cells is further from the truth
    assert rows[1]["WENO5"]["accumulated_error"] > rows[0]["WENO5"]["accumulated_error"] > 0
    assert all(row["WENO5"]["accumulated_error_vs_released_projection"] > 0 for row in rows)
    report = (tmp_path / name / "report.md").read_text()
    assert "| 20 |" in report and (tmp_path / name / "accumulated_error.png").exists()
    # a rerun into the same directory resumes the finished trainings instead of training again
    before = (tmp_path / name / "mppde_nx20" / "metrics.jsonl").read_text()
    again = run_experiment(name, tmp_path / name, scale="smoke", force=True)
    assert (tmp_path / name / "mppde_nx20" / "metrics.jsonl").read_text() == before
    assert again["rows"][0]["MP-PDE"]["accumulated_error"] == pytest.approx(rows[0]["MP-PDE"]["accumulated_error"])


def test_a_test_file_shorter_than_the_rollout_start_is_refused(stores, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["--quiet", "train", "mp-pde", "--data", str(stores["E3"]), "--out", str(run), "--set", "epochs=1",
                 "--set", "batch_size=3", "--set", "time_window=4", "--set", "hidden=12", "--set", "layers=1"]) == 0
    short = tmp_path / "short.h5"
    assert main(["--quiet", "data", "generate", "combined", "--out", str(short), "--n", "2", "--res", "20",
                 "--set", "nt=6", "--set", "fine=40", "--set", "family=E3", "--set", "T=0.1"]) == 0
    capsys.readouterr()
    for command in (["eval", str(run), "--data", str(short)],
                    ["predict", str(run), "--data", str(short), "--out", str(tmp_path / "p.h5")]):
        assert main(["--quiet", *command]) == 2
        err = capsys.readouterr().err
        assert "has 6 frames per trajectory; the rollout starts at frame 8" in err
    assert not (tmp_path / "p.h5").exists()


def test_mppde_wave_runs_at_smoke_scale_on_the_chebyshev_grid(tmp_path):
    from sciml.experiments import run_experiment

    results = run_experiment("mppde-wave", tmp_path / "wave", scale="smoke")
    assert [row["bc"] for row in results["rows"]] == ["dirichlet", "mixed"]
    for row in results["rows"]:
        assert np.isfinite(row["MP-PDE"]["accumulated_error"]) and row["Chebyshev"]["accumulated_error"] > 0
    import sciml

    model = sciml.load(tmp_path / "wave" / "mppde_mixed")
    assert not model.config.periodic and model.config.pde == "wave"


def test_a_model_trained_with_fixed_parameters_refuses_data_where_they_vary(stores, tmp_path, capsys):
    run = tmp_path / "e1"
    assert main(["--quiet", "train", "mp-pde", "--data", str(stores["E1"]), "--out", str(run), "--set", "epochs=1",
                 "--set", "batch_size=3", "--set", "time_window=4", "--set", "hidden=12", "--set", "layers=1"]) == 0
    capsys.readouterr()
    assert main(["--quiet", "eval", str(run), "--data", str(stores["E3"])]) == 2
    assert "alpha, beta, gamma vary in" in capsys.readouterr().err


def test_fno_pushforward_refuses_trajectories_too_short_before_training(stores, tmp_path, capsys):
    capsys.readouterr()
    assert main(["--quiet", "train", "fno-rollout", "--data", str(stores["E1"]), "--out", str(tmp_path / "f"),
                 "--set", "in_steps=6", "--set", "out_steps=6", "--set", "horizon=6", "--set", "train_mode=pushforward",
                 "--set", "modes=4", "--set", "width=8", "--set", "n_layers=1"]) == 2
    assert "pushforward training needs in_steps + out_steps * (1 + unrolling) = 18" in capsys.readouterr().err
    assert not (tmp_path / "f" / "checkpoint.pt").exists()


def test_the_released_projection_is_a_strided_five_point_mean_of_the_shifted_padding():
    from sciml.experiments.mppde import released_projection

    rng = np.random.default_rng(0)
    fine = rng.standard_normal((3, 7, 200))
    for nx in (100, 50, 40):
        stride = 200 // nx
        got = released_projection(fine, nx)
        # the released code's formula, written with a convolution
        padded = torch.from_numpy(np.concatenate([fine[..., -3:-1], fine, fine[..., 1:3]], axis=-1))[:, None]
        want = torch.nn.functional.conv2d(padded, torch.full((1, 1, 1, 5), 0.2, dtype=torch.float64),
                                          stride=(1, stride))[:, 0].numpy()
        assert got.shape == (3, 7, nx)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_the_per_node_first_layer_equals_the_concatenated_message():
    torch.manual_seed(5)
    model = MPPDE(_config(layers=1)).double()
    layer = model.layers[0]
    n, b = 12, 2
    x = _grid(n)
    edges, dx = model._batched(x, b, torch.device("cpu"))
    h = torch.randn(b * n, 16, dtype=torch.float64)
    u = torch.randn(b * n, 4, dtype=torch.float64)
    v = torch.randn(b * n, 2, dtype=torch.float64)
    batch = torch.arange(b).repeat_interleave(n)
    fast = layer(h, u, v, edges, dx.double(), batch, b)
    s, t = edges
    messages = layer.message_concatenated(h[t], h[s], u[t], u[s], dx.double(), v[t])
    mean = torch.zeros(b * n, 16, dtype=torch.float64).index_add_(0, t, messages)
    mean = mean / torch.bincount(t, minlength=b * n)[:, None]
    slow = layer.norm(h + layer.update_net(torch.cat([h, mean, v], dim=-1)), batch, batch_size=b)
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)
