"""`sciml train cgs` on graph stores: the pore-network generator, the graph layout, the dataset's checks, and a
trained model's predictions through every path (the model contract itself is tests/test_model_contract.py)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

import sciml  # noqa: E402
from sciml._errors import ConfigError, DataError  # noqa: E402
from sciml.cli import main  # noqa: E402
from sciml.data import StoreWriter, open_store  # noqa: E402
from sciml.data.layouts import detect_layout  # noqa: E402
from sciml.data.pdes import pore_network as pn  # noqa: E402
from sciml.graph.cgs import CGSConfig, GraphStoreDataset, complete_config  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("pores") / "pores.h5"
    assert main(["--quiet", "data", "generate", "pore-network", "--out", str(path), "--n", "6", "--res", "24",
                 "--seed", "3"]) == 0
    return path


def test_sample_i_of_seed_s_is_the_network_drawn_from_s_and_i_alone(store):
    params = pn.check_params(24, {})
    assert params["min_pores"] == 8 and params["max_edges"] == 480
    with open_store(store) as s:
        assert detect_layout(s) == "graphs"
        for index in (0, 4):
            rng = np.random.default_rng([3, index])
            net = pn.pore_network(int(rng.integers(8, 25)), rng)
            g = pn.graph_arrays(net)
            n, e = int(s.read("num_nodes", index)), int(s.read("num_edges", index))
            assert n == len(net.points) and e == g["edge_index"].shape[1]
            np.testing.assert_array_equal(s.read("edge_index", index)[:e].T, g["edge_index"])
            np.testing.assert_allclose(s.read("y", index)[:n, 0], g["y"], rtol=1e-6, atol=1e-7)
            assert np.all(s.read("edge_index", index)[e:] == -1)


def test_the_stored_pressure_is_the_mass_balance_solution(store):
    """Independent check of the target: at every pore that is not an inlet or outlet, the conductance-weighted
    sum of pressure differences vanishes (float32 storage), and the values lie between the outlet's 0 and the
    inlet's 1 (the discrete maximum principle)."""
    rng = np.random.default_rng([3, 2])
    net = pn.pore_network(int(rng.integers(8, 25)), rng)
    p = pn.solve_pressure(net, 1.0)
    free = ~(net.inlet | net.outlet)
    balance = np.zeros(len(p))
    i, j = net.edges[:, 0], net.edges[:, 1]
    np.add.at(balance, i, net.conductance * (p[i] - p[j]))
    np.add.at(balance, j, net.conductance * (p[j] - p[i]))
    assert np.abs(balance[free]).max() <= 1e-10 * net.conductance.sum()
    assert p[net.inlet].min() == 1.0 and p[net.outlet].max() == 0.0 and 0 <= p.min() and p.max() <= 1
    with open_store(store) as s:
        np.testing.assert_allclose(s.read("y", 2)[:len(p), 0], p, atol=1e-6)


def test_bad_generator_parameters_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="unknown pore-network parameter"):
        pn.check_params(24, {"pores": 10})
    with pytest.raises(ConfigError, match="min_pores must be an integer from 8 to res = 24"):
        pn.check_params(24, {"min_pores": 30})
    with pytest.raises(ConfigError, match="res .the most pores per network. must be"):
        pn.check_params(4, {})
    with pytest.raises(DataError, match="sample 0 has .* directed edges, more than max_edges=10"):
        next(pn.generate(2, 24, seed=0, params={"max_edges": 10}))


def _write_graphs(path, edges_per_sample, n=4):
    m = max(len(e) for e in edges_per_sample)
    with StoreWriter(path, n_samples=len(edges_per_sample),
                     fields={"x": ((n, 2), "float32"), "edge_index": ((m, 2), "int32"), "y": ((n, 1), "float32"),
                             "num_nodes": ((), "int32"), "num_edges": ((), "int32")},
                     pde="test", params={}, generator="test", seed=0) as w:
        index = np.full((len(edges_per_sample), m, 2), -1, dtype=np.int32)
        for k, e in enumerate(edges_per_sample):
            index[k, :len(e)] = e
        w.write({"x": np.ones((len(edges_per_sample), n, 2), np.float32), "edge_index": index,
                 "y": np.ones((len(edges_per_sample), n, 1), np.float32),
                 "num_nodes": np.full(len(edges_per_sample), n, np.int32),
                 "num_edges": np.array([len(e) for e in edges_per_sample], np.int32)})


def test_defective_graphs_are_refused_with_the_file_and_sample_named(tmp_path):
    ring = [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 0), (0, 3)]
    path = tmp_path / "bad.h5"
    _write_graphs(path, [ring, ring[:6] + [(3, 3), (0, 3)], ring[:4] + [(0, 2), (2, 0)], ring[:7] + [(0, 9)]])
    data = GraphStoreDataset(path)
    assert data.graph(0).num_nodes == 4 and data.edge_features == 0 and data.node_features == 2
    with pytest.raises(DataError, match=r"bad.h5: sample 1 is not a usable graph: .*self loop"):
        data.graph(1)
    with pytest.raises(DataError, match=r"sample 2 is not a usable graph: .*1 isolated node"):
        data.graph(2)
    with pytest.raises(DataError, match=r"sample 3 .*refers to node 9 .*4 nodes"):
        data.graph(3)


def test_a_model_of_other_feature_sizes_or_a_mesh_store_is_refused(store, tmp_path):
    data = GraphStoreDataset(store)
    done = complete_config(CGSConfig(), data)
    assert (done.node_features, done.edge_features, done.out_features) == (6, 3, 1)
    with pytest.raises(ConfigError, match="node_features = 5 .the store has 6."):
        complete_config(CGSConfig(node_features=5), data)
    with pytest.raises(ConfigError, match="readout must be node"):
        complete_config(CGSConfig(readout="mean"), data)
    mesh = tmp_path / "mesh.h5"
    assert main(["--quiet", "data", "generate", "poisson-mesh", "--out", str(mesh), "--n", "1", "--res", "4"]) == 0
    with pytest.raises(DataError, match="is not a graph store: it lacks x, edge_index"):
        GraphStoreDataset(mesh)


def test_a_trained_model_predicts_the_same_from_python_and_from_the_store(store, tmp_path, one_thread):
    run = tmp_path / "run"
    assert main(["--quiet", "train", "cgs", "--data", str(store), "--out", str(run), "--set", "epochs=3",
                 "--set", "batch_size=3", "--set", "hidden=8", "--set", "heads=2", "--set", "encoder_layers=1"]) == 0
    model = sciml.load(run)
    assert model.config.node_features == 6 and model.config.edge_features == 3
    out = tmp_path / "pred.h5"
    assert main(["--quiet", "predict", str(run), "--data", str(store), "--out", str(out)]) == 0
    data = GraphStoreDataset(store)
    with open_store(out) as s:
        for index in (0, 5):
            g = data.graph(index)
            natural = model.predict(g.x.numpy(), g.edge_index.numpy(), edge_attr=g.edge_attr.numpy())
            assert natural.shape == (g.num_nodes, 1)
            torch.testing.assert_close(torch.from_numpy(s.read("prediction", index)[:g.num_nodes]), natural.float())
            assert model.module.stats["iterations"] >= 1
    with pytest.raises(DataError, match=r"edge_index must be a \(2, E\) integer array"):
        model.predict(g.x.numpy(), g.edge_index.numpy().T.astype(np.float64))
    with pytest.raises(DataError, match=r"node features must be \(N, 6\)"):
        model.predict(g.x.numpy()[:, :5], g.edge_index.numpy(), edge_attr=g.edge_attr.numpy())


def test_mdp_value_stores_hold_each_mdp_its_optimal_values_and_policy(tmp_path):
    from sciml.data.pdes import mdp_value

    path = tmp_path / "mdp.h5"
    assert main(["--quiet", "data", "generate", "mdp-value", "--out", str(path), "--n", "3", "--res", "30",
                 "--seed", "4"]) == 0
    assert mdp_value.check_params(49, {})["min_states"] == 20
    with open_store(path) as s:
        assert detect_layout(s) == "graphs"
        for index in range(3):
            rng = np.random.default_rng([4, index])
            states, actions = int(rng.integers(12, 31)), int(rng.integers(5, 10))
            mdp = mdp_value.random_mdp(states, actions, rng)
            assert int(s.read("num_nodes", index)) == states and int(s.read("num_actions", index)) == actions
            back = mdp_value.mdp_of(s.read("reward", index), s.read("transitions", index), states, actions, 0.9)
            np.testing.assert_array_equal(back.P, mdp.P)
            np.testing.assert_array_equal(back.r, mdp.r)
            v = s.read("y", index)[:states, 0].astype(np.float64)
            # Bellman's equation and the greedy policy, independently of value iteration (float32 storage)
            np.testing.assert_allclose((mdp.r + 0.9 * mdp.P @ v).max(axis=1), v, atol=1e-5)
            assert np.array_equal(s.read("policy", index)[:states], mdp_value.greedy_policy(mdp, v))
    data = GraphStoreDataset(path)
    assert (data.node_features, data.edge_features, data.out_features) == (6, 4, 1) and not data.has_pos
    run = tmp_path / "run"
    assert main(["--quiet", "train", "cgs", "--data", str(path), "--out", str(run), "--set", "epochs=1",
                 "--set", "batch_size=3", "--set", "hidden=8", "--set", "heads=2", "--set", "encoder_layers=1"]) == 0
    out, vtk = tmp_path / "p.h5", tmp_path / "vtk"
    assert main(["predict", str(run), "--data", str(path), "--out", str(out), "--vtk", str(vtk)]) == 2
    assert not out.exists() and not vtk.exists()  # refused before anything is written
    assert main(["--quiet", "predict", str(run), "--data", str(path), "--out", str(out)]) == 0
    g = data.graph(1)
    assert g.edge_attr.shape == (g.edge_index.shape[1], 4)
    with pytest.raises(ConfigError, match="unknown mdp-value parameter"):
        mdp_value.check_params(30, {"states": 3})
    with pytest.raises(ConfigError, match="branching must be an integer from 1 to 12"):
        mdp_value.check_params(30, {"branching": 20})


def test_a_store_of_wrong_shapes_counts_or_values_is_refused_in_one_sentence(tmp_path):
    ring = [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 0), (0, 3)]
    flat = tmp_path / "flat.h5"
    with StoreWriter(flat, n_samples=1, fields={"x": ((4, 2), "float32"), "edge_index": ((8, 2), "int32"),
                                                "y": ((4,), "float32"), "num_nodes": ((), "int32"),
                                                "num_edges": ((), "int32")}, pde="t", params={}, generator="t",
                     seed=0) as w:
        w.write({"x": np.ones((1, 4, 2), np.float32), "edge_index": np.array([ring], np.int32),
                 "y": np.ones((1, 4), np.float32), "num_nodes": np.array([4], np.int32),
                 "num_edges": np.array([8], np.int32)})
    with pytest.raises(DataError, match=r"not a valid graph store: .*it has y \(4,\)"):
        GraphStoreDataset(flat)
    counts = tmp_path / "counts.h5"
    _write_graphs(counts, [ring, ring, ring])  # the store's own check reads the first and last samples
    with h5py.File(counts, "r+") as f:
        f["num_nodes"][1] = 9
    with pytest.raises(DataError, match=r"sample 1 says 9 nodes and 8 edges, outside the store's padding of 4 nodes"):
        GraphStoreDataset(counts).graph(1)
    with h5py.File(counts, "r+") as f:
        f["num_nodes"][1] = 4
        y = f["y"][1]
        y[2] = np.inf
        f["y"][1] = y
    with pytest.raises(DataError, match=r"sample 1 is not a usable graph: its y holds NaN or Inf"):
        GraphStoreDataset(counts).graph(1)


def test_a_validation_store_must_fit_the_model_the_training_store_made(store, tmp_path):
    mdp = tmp_path / "mdp.h5"
    assert main(["--quiet", "data", "generate", "mdp-value", "--out", str(mdp), "--n", "2", "--res", "12"]) == 0
    done = complete_config(CGSConfig(), GraphStoreDataset(store))
    assert complete_config(done, GraphStoreDataset(store)) == done  # the same store again: unchanged
    with pytest.raises(ConfigError, match=r"mdp.h5 does not fit the model: edge_features = 3 .the store has 4."):
        complete_config(done, GraphStoreDataset(mdp))
    assert main(["train", "cgs", "--data", str(store), "--val", str(mdp), "--out", str(tmp_path / "run"),
                 "--set", "epochs=1"]) == 2
    assert not (tmp_path / "run" / "best.pt").exists()


def test_eval_counts_the_graphs_whose_fixed_point_stopped_at_max_iter(store, caplog):
    from dataclasses import replace

    from sciml.graph.cgs import CGS, metrics

    data = GraphStoreDataset(store)
    done = complete_config(CGSConfig(hidden=8, heads=2, encoder_layers=1), data)
    torch.manual_seed(0)
    assert metrics(CGS(done), data)["picard_unconverged"] == 0
    with caplog.at_level("WARNING", logger="sciml.graph.cgs"):
        out = metrics(CGS(replace(done, max_iter=1)), data)
    assert out["picard_unconverged"] == len(data) and "stopped at max_iter = 1" in caplog.text
