"""The point-set layout (sciml.data.points, `sciml data points`) and the contract of pointwise model kinds,
exercised by a small point-regression kind defined here (the PINN kinds will be the registered ones)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import sciml
from sciml import ConfigError, DataError
from sciml.cli import main
from sciml.data import StoreWriter, generate_dataset, open_store
from sciml.data.points import compile_expression, points_from_expression, points_from_store, read_point_set
from sciml.train.inference import PointSetInference
from sciml.train.spec import ModelSpec


def test_expression_points_hold_the_expression_at_their_points(tmp_path):
    path = points_from_expression(tmp_path / "p.h5", "sin(pi*x)*cos(y) + t**2", box="0:1,-1:2", time="0:0.5",
                                  n=3, n_points=50, seed=4)
    data = read_point_set(path)
    assert (data.n_samples, data.n_points, data.dim, data.coordinate_names) == (3, 50, 3, ["x", "y", "t"])
    points, target, counts = data.read([0, 1, 2])
    x, y, t = points[..., 0], points[..., 1], points[..., 2]
    np.testing.assert_allclose(target[..., 0], np.sin(np.pi * x) * np.cos(y) + t ** 2, rtol=1e-14)
    lower, upper = data.bounds()
    assert np.all(lower >= [0, -1, 0]) and np.all(upper <= [1, 2, 0.5]) and list(counts) == [50, 50, 50]
    again = points_from_expression(tmp_path / "q.h5", "sin(pi*x)*cos(y) + t**2", box="0:1,-1:2", time="0:0.5",
                                   n=3, n_points=50, seed=4)
    assert np.array_equal(read_point_set(again).read([2])[0], points[2:3])  # one stream per sample and seed


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('true')", "calls something that is not one of"),
    ("x.real", "uses Attribute"),
    ("(lambda: 1)()", "calls something that is not one of"),
    ("[x for x in (1, 2)]", "uses ListComp"),
    ("foo(x)", "calls something that is not one of"),
    ("x + foo", "unknown name 'foo'"),
    ("x +", "is not valid"),
    ("'a' * 3", "non-numeric constant"),
    ("0 < x < 1", "chains comparisons"),
    ("x if x > 0 else 0", "uses IfExp"),
])
def test_expressions_are_data_not_code(text, message):
    with pytest.raises(ConfigError, match=message):
        compile_expression(text, ("x",))


def test_comparisons_and_where_work_elementwise_and_a_non_finite_target_leaves_no_file(tmp_path):
    step = compile_expression("where(x < 0.5, 1.0, 2.0) + (x > 0.75)", ("x",))
    np.testing.assert_array_equal(step(x=np.array([0.1, 0.6, 0.9])), [1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="is not finite at some points"):
        points_from_expression(tmp_path / "log.h5", "log(x - 0.5)", box="0:1", n=2, n_points=64)
    assert list(tmp_path.iterdir()) == []


def test_grid_and_trajectory_stores_become_point_sets(tmp_path):
    darcy = generate_dataset("darcy", tmp_path / "d.h5", n=2, res=9, params={"refine": 2})
    pairs = read_point_set(points_from_store(darcy, tmp_path / "dp.h5"))
    points, target, _ = pairs.read([1])
    with open_store(darcy) as store:
        u, x_axis = store.read("output", 1), store.read("x-coordinate")
    assert pairs.coordinate_names == ["x", "y"] and pairs.n_points == 81
    # node (i, j) of the grid is point i * 9 + j, at (x_i, y_j)
    np.testing.assert_allclose(points[0, 3 * 9 + 5], [x_axis[3], x_axis[5]])
    np.testing.assert_allclose(target[0, 3 * 9 + 5, 0], u[0, 3, 5], rtol=1e-6)
    heat = generate_dataset("heat", tmp_path / "h.h5", n=2, res=16, params={"nt": 5, "fine": 64})
    space_time = read_point_set(points_from_store(heat, tmp_path / "hp.h5"))
    points, target, _ = space_time.read([0])
    with open_store(heat) as store:
        tensor, times = store.read("tensor", 0), store.read("t-coordinate")
    assert space_time.coordinate_names == ["x", "t"] and space_time.n_points == 5 * 16
    np.testing.assert_allclose(points[0, 2 * 16 + 7, 1], times[2])
    np.testing.assert_allclose(target[0, 2 * 16 + 7, 0], tensor[2, 7], rtol=1e-6)


def test_mesh_stores_become_padded_point_sets(tmp_path):
    mesh = generate_dataset("poisson-mesh", tmp_path / "m.h5", n=2, res=8, params={"order": 1})
    data = read_point_set(points_from_store(mesh, tmp_path / "mp.h5"))
    points, target, counts = data.read([0, 1])
    with open_store(mesh) as store:
        nodes, u, xy = store.read("num_nodes"), store.read("u"), store.read("points")
    assert list(counts) == list(nodes) and data.padded
    np.testing.assert_allclose(points[1, :nodes[1]], xy[1, :nodes[1]])
    np.testing.assert_allclose(target[1, :nodes[1], 0], u[1, :nodes[1]], rtol=1e-6)


def test_the_command_line_writes_and_describes_point_sets(tmp_path, capsys):
    out = tmp_path / "p.h5"
    assert main(["data", "points", "--expr", "x*y", "--box", "0:1,0:2", "--n", "2", "--points", "10",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["data", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "layout: points" in text and "coordinates: x, y; box" in text
    assert main(["data", "points", "--expr", "x", "--box", "0:1", "--n", "2", "--points", "10", "--out",
                 str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["data", "points", "--expr", "x", "--box", "1:0", "--n", "1", "--points", "3", "--out",
                 str(tmp_path / "b.h5")]) == 2
    assert "each axis needs lo < hi" in capsys.readouterr().err and not (tmp_path / "b.h5").exists()
    assert main(["data", "points", "--out", str(tmp_path / "c.h5")]) == 2
    assert "needs --from FILE or --expr EXPRESSION" in capsys.readouterr().err


def test_a_broken_point_store_is_refused(tmp_path):
    path = tmp_path / "bad.h5"
    with StoreWriter(path, n_samples=1, fields={"points": ((4, 2), "float64")}, pde="x", params={}, generator="t",
                     seed=0, attrs={"layout": "points", "coordinate_names": json.dumps(["x", "y", "t"])}) as writer:
        writer.write({"points": np.zeros((1, 4, 2))})
    with pytest.raises(DataError, match="'coordinate_names' must list 2 names"):
        read_point_set(path)


# -- a pointwise model kind for the contract: u(points) by an MLP fitted to targets -------------------
@dataclass(frozen=True)
class PointRegressionConfig:
    dim: int = 0
    channels: int = 0
    hidden: int = 16


class PointRegression(nn.Module):
    def __init__(self, config: PointRegressionConfig):
        super().__init__()
        self.config = config
        self.net = nn.Sequential(nn.Linear(config.dim, config.hidden), nn.Tanh(), nn.Linear(config.hidden,
                                                                                            config.channels))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.net(points)


class _Points(Dataset):
    def __init__(self, path):
        self.set = read_point_set(path)
        self.path, self.attrs, self.coordinate_names = self.set.path, self.set.attrs, self.set.coordinate_names
        self.bounds = self.set.bounds

    def __len__(self):
        return len(self.set)

    def __getitem__(self, i):
        points, target, _ = self.set.read([int(i)])
        return torch.from_numpy(points[0]).float(), torch.from_numpy(target[0]).float()


class _Fit:
    def __init__(self, model):
        self.model = model

    def step(self, batch):
        points, target = batch
        return {"loss": ((self.model(points) - target) ** 2).mean()}


POINT_SPEC = ModelSpec(
    name="point-regression", config_cls=PointRegressionConfig, build=PointRegression, method=_Fit, dataset=_Points,
    complete_config=lambda c, d: PointRegressionConfig(dim=d.set.dim, channels=d.set.channels, hidden=c.hidden),
    prepare=lambda m, d: None, paper="a test kind, arXiv 0000.00000", summary="MLP on points",
    inference=PointSetInference())


@pytest.fixture
def point_kind(monkeypatch):
    from sciml import registry

    monkeypatch.setitem(registry.MODELS, "point-regression", "test_points:POINT_SPEC")


def test_a_pointwise_kind_meets_the_contract_and_reports_points_outside_its_domain(point_kind, tmp_path, capsys,
                                                                                    caplog):
    train = points_from_expression(tmp_path / "train.h5", "x + 2*y", box="0:1,0:1", n=16, n_points=32)
    run = tmp_path / "run"
    assert main(["--quiet", "train", "point-regression", "--data", str(train), "--out", str(run), "--set",
                 "epochs=2", "--set", "batch_size=4"]) == 0
    model = sciml.load(run)
    assert model.metadata["data"]["domain"]["coordinate_names"] == ["x", "y"]
    assert model.predict(np.zeros((5, 2))).shape == (5, 1) and model.predict(torch.zeros(3, 5, 2)).shape == (3, 5, 1)
    with pytest.raises(DataError, match="points have 3 coordinates, the model takes 2"):
        model.predict(np.zeros((5, 3)))
    inside = points_from_expression(tmp_path / "in.h5", "x + 2*y", box="0.2:0.8,0.2:0.8", n=2, n_points=10, seed=9)
    wide = points_from_expression(tmp_path / "wide.h5", "x + 2*y", box="0:2,0:1", n=2, n_points=40, seed=3)
    capsys.readouterr()
    assert main(["--quiet", "eval", str(run), "--data", str(inside), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["points_outside_domain"] == 0
    assert main(["--quiet", "eval", str(run), "--data", str(wide), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    points, _, _ = read_point_set(wide).read([0, 1])
    domain = model.metadata["data"]["domain"]  # the box of the training points, inside [0, 1]^2
    lower, upper = np.array(domain["lower"]), np.array(domain["upper"])
    assert np.all(lower >= 0) and np.all(upper <= 1) and np.all(upper - lower > 0.9)
    expected = int(np.any((points < lower - 1e-9) | (points > upper + 1e-9), axis=-1).sum())
    assert result["points_outside_domain"] == expected > 0 and len(result["per_sample"]["max_error"]) == 2
    out = tmp_path / "pred.h5"
    assert main(["predict", str(run), "--data", str(wide), "--out", str(out), "--vtk", str(tmp_path / "vtk")]) == 0
    assert f"{expected} points of {wide} lie outside the domain the model was trained on" in caplog.text
    with open_store(out) as store:
        assert store.fields["prediction"][0] == (2, 40, 1) and store.attrs["layout"] == "points"
    assert len(list((tmp_path / "vtk").iterdir())) == 2
    space_time = points_from_expression(tmp_path / "st.h5", "x", box="0:1", time="0:1", n=1, n_points=4)
    with pytest.raises(DataError, match="has coordinates x, t, the model was trained on x, y"):
        model.open(space_time)
