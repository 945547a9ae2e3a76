"""The GNN boundary-value operator (sciml.graph.bvp): features, exact scaling augmentation, field errors, the
model's checks, and the experiment at smoke scale."""

from __future__ import annotations

import math

import meshio
import numpy as np
import pytest
import torch

from sciml._errors import DataError
from sciml.cli import main
from sciml.graph.bvp import BVPConfig, ChebBVP, field_error, node_inputs, scaled


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from sciml.data.pdes.poisson_mesh import load_sample

    path = tmp_path_factory.mktemp("bvp") / "pm.h5"
    assert main(["--quiet", "data", "generate", "poisson-mesh", "--out", str(path), "--n", "2", "--res", "10",
                 "--set", "order=1", "--set", "shapes=[L]"]) == 0
    data = load_sample(path, 0)
    data.features = node_inputs(data)
    return data


def test_node_inputs_hold_the_distance_to_the_boundary(sample):
    f = sample.features
    assert f.shape == (sample.num_nodes, 4)
    assert bool((f[sample.boundary, 3] == 0).all()) and bool((f[~sample.boundary, 3] > 0).all())
    # the L-shape lives in the unit square: no node is further than 0.5 from the boundary
    assert float(f[:, 3].max()) <= 0.5 + 1e-6


def test_scaled_samples_are_exact_solutions_of_the_scaled_problem(sample):
    from sciml.data.pdes.poisson_mesh import solve

    s = 1.7
    big = scaled(sample, s)
    cells = sample.face.T.numpy()
    mesh = meshio.Mesh(big.pos.double().numpy(), [("triangle", cells)])
    u = solve(mesh, sample.x[:, 0].double().numpy(), sample.cell_eps.double().numpy(), order=1)
    np.testing.assert_allclose(big.y[:, 0].double().numpy(), u.numpy(), rtol=0, atol=1e-5 * float(u.abs().max()))
    assert float(big.features[:, 3].max()) == pytest.approx(s * float(sample.features[:, 3].max()), rel=1e-5)


def test_field_error_is_zero_for_the_truth_and_grows_with_a_perturbation(sample):
    assert field_error(sample, sample.y[:, 0]) == 0.0
    noisy = sample.y[:, 0] * 1.1
    assert field_error(sample, noisy) == pytest.approx(0.1, rel=1e-5)


def test_the_operator_is_invariant_to_rotating_the_mesh(sample):
    torch.manual_seed(0)
    model = ChebBVP(BVPConfig(hidden=8, layers=2, K=3)).eval()
    out = model(sample.features, sample.edge_index, sample.edge_attr[:, -1])
    angle = 0.7
    rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=torch.float64)
    from sciml.data.mesh import to_graph

    points = (sample.pos.double() @ rot.T + torch.tensor([3.0, -2.0], dtype=torch.float64)).numpy()
    turned = to_graph(meshio.Mesh(points, [("triangle", sample.face.T.numpy())]),
                      fields={"rho": sample.x[:, 0].double().numpy(), "eps": sample.x[:, 1].double().numpy()})
    assert not torch.allclose(turned.edge_attr[:, :2], sample.edge_attr[:, :2])  # the mesh did move
    turned.features = node_inputs(turned)
    again = model(turned.features, turned.edge_index, turned.edge_attr[:, -1])
    torch.testing.assert_close(out, again, rtol=1e-4, atol=1e-5)


def test_the_operator_refuses_wrong_features_and_degenerate_edges(sample):
    model = ChebBVP(BVPConfig(hidden=8, layers=1, K=2))
    with pytest.raises(DataError, match=r"node features must be \(N, 4\)"):
        model(sample.features[:, :3], sample.edge_index, sample.edge_attr[:, -1])
    lengths = sample.edge_attr[:, -1].clone()
    lengths[0] = 0.0
    with pytest.raises(DataError, match="degenerate mesh"):
        model(sample.features, sample.edge_index, lengths)


def test_gnn_bvp_shapes_runs_at_smoke_scale(tmp_path):
    from sciml.experiments import run_experiment

    results = run_experiment("gnn-bvp-shapes", tmp_path / "bvp", scale="smoke")
    rows = results["rows"]
    assert set(rows) == {"no augmentation", "mesh augmentation"}
    for row in rows.values():
        for name in ("seen", "unseen_U", "superposed"):
            assert np.isfinite(row[name]["potential_rel_l2"]) and np.isfinite(row[name]["field_rel_l2"])
    assert results["train_samples"]["mesh augmentation"] > results["train_samples"]["no augmentation"]


def test_a_mesh_store_with_a_degenerate_cell_is_refused_from_the_command_line(tmp_path, capsys):
    import shutil

    import h5py

    good = tmp_path / "pm.h5"
    assert main(["--quiet", "data", "generate", "poisson-mesh", "--out", str(good), "--n", "3", "--res", "6",
                 "--set", "order=1", "--set", "shapes=[square]"]) == 0
    run = tmp_path / "run"
    assert main(["--quiet", "train", "gnn-bvp", "--data", str(good), "--out", str(run), "--set", "epochs=1",
                 "--set", "batch_size=3", "--set", "hidden=8", "--set", "layers=1", "--set", "K=2"]) == 0
    bad = tmp_path / "bad.h5"
    shutil.copy(good, bad)
    with h5py.File(bad, "r+") as f:
        name = next(k for k in f if k == "cells" or (isinstance(f[k], h5py.Dataset) and k.endswith("cells")))
        cells = f[name][...]
        cells[1, 0] = [cells[1, 0, 0], cells[1, 0, 0], cells[1, 0, 2]]  # a triangle with a repeated vertex
        f[name][...] = cells
    capsys.readouterr()
    assert main(["--quiet", "eval", str(run), "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "sample 1" in err and err.count("\n") <= 2
