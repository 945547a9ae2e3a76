"""Convergent graph solvers (sciml.graph.cgs): the fixed point, its implicit gradient, contraction checks, the
model, the pore-network data and the experiment at smoke scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml._errors import DataError
from sciml.graph.builders import knn_graph
from sciml.graph.cgs import CGS, CGSConfig, fixed_point, unrolled_fixed_point


def _operator(n=25, m=3, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    edges = knn_graph(torch.rand(n, dtype=torch.float64, generator=g), k)
    raw = torch.rand(edges.shape[1], m, dtype=torch.float64, generator=g)
    degree = torch.zeros(n, dtype=torch.float64).index_add_(0, edges[1], torch.ones(edges.shape[1], dtype=torch.float64))
    values = raw / degree[edges[1], None]
    b = torch.randn(n, m, dtype=torch.float64, generator=g)
    return values, b, edges


def _dense(values, edges, n, head):
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edges[1], edges[0]] = values[:, head]
    return a


@pytest.mark.parametrize("solver", ["iterative", "direct"])
def test_the_fixed_point_solves_the_linear_system(solver):
    values, b, edges = _operator()
    stats = {}
    h = fixed_point(values, b, edges, 0.5, solver=solver, tol=1e-14, stats=stats)
    for head in range(3):
        expected = torch.linalg.solve(torch.eye(25, dtype=torch.float64) - 0.5 * _dense(values, edges, 25, head),
                                      b[:, head])
        torch.testing.assert_close(h[:, head], expected, rtol=1e-12, atol=1e-12)
    if solver == "iterative":
        assert stats["converged"] and stats["iterations"] <= 60  # error shrinks by gamma = 0.5 per step


@pytest.mark.parametrize("solver", ["iterative", "direct"])
def test_the_implicit_gradient_equals_autograd_through_200_unrolled_iterations(solver):
    values, b, edges = _operator(seed=1)
    weights = torch.randn(25, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    grads = []
    for implicit in (True, False):
        v, c = values.clone().requires_grad_(), b.clone().requires_grad_()
        h = (fixed_point(v, c, edges, 0.5, solver=solver, tol=1e-14) if implicit
             else unrolled_fixed_point(v, c, edges, 0.5, 200))
        loss = (weights * h).sum() + (h ** 2).sum()
        grads.append(torch.autograd.grad(loss, [v, c]))
    for implicit, unrolled in zip(*grads):
        assert float((implicit - unrolled).abs().max()) <= 1e-6 * max(1.0, float(unrolled.abs().max()))


def test_backward_keeps_the_same_tensors_whatever_the_iteration_count():
    values, b, edges = _operator(n=40)
    kept = {}
    for iterations in (10, 1000):
        saved = []

        def pack(t):
            saved.append(t.numel())
            return t

        v, c = values.clone().requires_grad_(), b.clone().requires_grad_()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            h = fixed_point(v, c, edges, 0.5, tol=1e-300, max_iter=iterations)  # runs every iteration
            (h ** 2).sum().backward()
        kept[iterations] = sum(saved)
    assert kept[10] == kept[1000] > 0


def test_maps_that_do_not_contract_are_refused():
    values, b, edges = _operator()
    with pytest.raises(DataError, match="negative"):
        fixed_point(-values, b, edges, 0.5)
    with pytest.raises(DataError, match="does not contract"):
        fixed_point(values * 4.0, b, edges, 0.5)
    with pytest.raises(DataError, match="NaN"):
        fixed_point(values * float("nan"), b, edges, 0.5)
    with pytest.raises(ValueError, match="gamma must lie in"):
        CGSConfig(node_features=2, gamma=1.0)


def _graph(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    edges = knn_graph(torch.rand(n, dtype=torch.float64, generator=g), 3)
    x = torch.randn(n, 4, dtype=torch.float64, generator=g)
    e = torch.randn(edges.shape[1], 2, dtype=torch.float64, generator=g)
    return x, edges, e


def test_the_model_gradient_passes_gradcheck():
    torch.manual_seed(0)
    model = CGS(CGSConfig(node_features=4, edge_features=2, hidden=6, heads=2, encoder_layers=1, tol=1e-13)).double()
    x, edges, e = _graph()
    assert torch.autograd.gradcheck(lambda x, e: model(x, edges, e), (x.requires_grad_(), e.requires_grad_()),
                                    eps=1e-6, atol=1e-5)
    out = model(x.detach(), edges, e.detach())
    assert out.shape == (12, 1) and model.stats["converged"]


def test_the_model_refuses_inputs_of_the_wrong_size_and_bad_graphs():
    model = CGS(CGSConfig(node_features=4, edge_features=2, hidden=6, heads=2))
    x, edges, e = _graph()
    x, e = x.float(), e.float()
    with pytest.raises(DataError, match=r"node features must be \(N, 4\)"):
        model(x[:, :3], edges, e)
    with pytest.raises(DataError, match="edge features must be"):
        model(x, edges, e[:, :1])
    loops = torch.cat([edges, torch.tensor([[0], [0]])], dim=1)
    with pytest.raises(DataError, match="self loop"):
        model(x, loops, torch.cat([e, e[:1]]))
    with pytest.raises(DataError, match="isolated"):
        model(torch.cat([x, x[:1]]), edges, e)


def test_pore_network_pressures_balance_mass_and_obey_the_maximum_principle():
    from sciml.graph.porous import pore_network, solve_pressure

    rng = np.random.default_rng(3)
    net = pore_network(120, rng)
    p = solve_pressure(net, dp=1e5)
    assert p[net.inlet].min() == 1e5 and p[net.outlet].max() == 0.0
    assert p.min() >= -1e-6 and p.max() <= 1e5 * (1 + 1e-12)
    flux = np.zeros(len(p))
    i, j, g = net.edges[:, 0], net.edges[:, 1], net.conductance
    np.add.at(flux, i, g * (p[i] - p[j]))
    np.add.at(flux, j, g * (p[j] - p[i]))
    free = ~(net.inlet | net.outlet)
    scale = np.abs(g).max() * 1e5
    assert np.abs(flux[free]).max() <= 1e-9 * scale
    # what leaves the inlet arrives at the outlet
    assert flux[net.inlet].sum() == pytest.approx(-flux[net.outlet].sum(), rel=1e-8)


def test_cgs_porous_flow_runs_at_smoke_scale(tmp_path):
    from sciml.experiments import run_experiment

    results = run_experiment("cgs-porous-flow", tmp_path / "cgs", scale="smoke")
    rows = results["rows"]
    assert set(rows) == {"CGS", "GNN without fixed point", "linear in x"}
    for row in rows.values():
        assert np.isfinite(row["in_size"]["mse"]) and np.isfinite(row["twice_as_large"]["mse"])
    assert rows["CGS"]["picard_iterations_mean"]["forward"] >= 1
    assert "| CGS |" in (tmp_path / "cgs" / "report.md").read_text()


def test_random_mdp_values_satisfy_bellman_and_policy_evaluation():
    from sciml.graph.mdp import graph_sample, random_mdp, value_iteration

    rng = np.random.default_rng(0)
    mdp = random_mdp(25, 6, rng)
    np.testing.assert_allclose(mdp.P.sum(axis=2), 1.0, atol=1e-12)
    v, policy = value_iteration(mdp)
    np.testing.assert_allclose((mdp.r + 0.9 * mdp.P @ v).max(axis=1), v, atol=1e-10)
    # the optimal values are the values of the optimal policy: (I - 0.9 P_pi) v = r_pi
    states = np.arange(25)
    p_pi, r_pi = mdp.P[states, policy], mdp.r[states, policy]
    np.testing.assert_allclose(np.linalg.solve(np.eye(25) - 0.9 * p_pi, r_pi), v, atol=1e-9)
    graph = graph_sample(mdp)
    assert bool((graph.edge_index[0] != graph.edge_index[1]).all())
    # the self transitions the graph cannot hold as loops are node features
    stay = np.array([[mdp.P[s, a, s] for a in range(6)] for s in range(25)])
    np.testing.assert_allclose(graph.x[:, 4].numpy(), stay.mean(axis=1), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(graph.x[:, 5].numpy(), stay.max(axis=1), rtol=1e-6, atol=1e-7)
    pairs = graph.edge_index[0] * 25 + graph.edge_index[1]
    assert pairs.unique().numel() == pairs.numel()  # no parallel edges


def test_cgs_mdp_value_runs_at_smoke_scale(tmp_path):
    from sciml.experiments import run_experiment

    results = run_experiment("cgs-mdp-value", tmp_path / "mdp", scale="smoke")
    row = results["rows"]["CGS"]
    for name in ("in_size", "twice_as_large"):
        assert 0 <= row[name]["policy_accuracy"] <= 1 and np.isfinite(row[name]["mape"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fixed_point_and_gradients_match_the_cpu():
    values, b, edges = _operator(n=60, seed=4)
    out = {}
    for device in ("cpu", "cuda"):
        v, c = values.clone().to(device).requires_grad_(), b.clone().to(device).requires_grad_()
        h = fixed_point(v, c, edges.to(device), 0.5, tol=1e-14)
        (h ** 2).sum().backward()
        out[device] = (h.detach().cpu(), v.grad.cpu(), c.grad.cpu())
    for a, g in zip(out["cpu"], out["cuda"]):
        torch.testing.assert_close(a, g, rtol=1e-10, atol=1e-12)
