"""Learned CG preconditioners (Neural PCG / NeuralIF) and their training data, the diffusion-systems store."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from torch.utils.data import DataLoader

from sciml import ConfigError, DataError, SciMLError
from sciml.config import from_dict
from sciml.data.pdes import diffusion_systems, resolve_pde
from sciml.data.store import StoreWriter, open_store
from sciml.linalg import IC0, SSOR, Jacobi, pcg
from sciml.linalg.assemble import diffusion_2d
from sciml.learned.neural_pcg import (
    LearnedPreconditioner,
    NeuralPCG,
    NeuralPCGConfig,
    NeuralPCGMethod,
    SparsityPattern,
    frobenius_loss,
    probe_solution_loss,
    condition_loss,
    load,
    preconditioner_from_run,
    solution_loss,
    spec_build,
    spec_complete_config,
    spec_dataset,
    spec_method,
    spec_prepare,
)
from sciml.train import TrainConfig, Trainer


def write_systems(path, n, res, seed, params=None):
    """What ``sciml data generate diffusion-systems`` does, without the registry."""
    merged = diffusion_systems.check_params(res, dict(params or {}))
    with StoreWriter(path, n_samples=n, fields=diffusion_systems.fields(res, merged), pde="diffusion-systems",
                     params=merged, generator=diffusion_systems.GENERATOR, seed=seed,
                     coords=diffusion_systems.coords(res, merged)) as writer:
        for block in diffusion_systems.generate(n, res, seed=seed, params=merged, start=writer.n_written):
            writer.write(block)
    return path


@pytest.fixture(scope="module")
def systems(tmp_path_factory):
    """32 training and 8 held-out systems on the 10 x 10 grid (n = 100), contrast 1e3."""
    root = tmp_path_factory.mktemp("systems")
    return {"train": write_systems(root / "train.h5", 32, 10, seed=0),
            "test": write_systems(root / "test.h5", 8, 10, seed=1)}


def perturbed_model(seed=0, scale=0.3, **config):
    """A network whose heads are not zero, so that L is not just symmetric Gauss-Seidel."""
    torch.manual_seed(seed)
    model = NeuralPCG(NeuralPCGConfig(**config)).double()
    with torch.no_grad():
        for head in (model.diagonal_head, model.lower_head):
            head[-1].weight.normal_(0.0, scale)
    return model


def batch_of(data, indices):
    return {k: torch.stack([data[i][k] for i in indices]) for k in ("values", "rhs", "solution", "crow", "col")}


def pcg_iterations(data, make_preconditioner):
    counts = []
    for i in range(len(data)):
        A = data.matrix(i)
        result = pcg(A, data[i]["rhs"], None if make_preconditioner is None else make_preconditioner(A), rtol=1e-8)
        assert result.converged, result.summary()
        counts.append(result.iterations)
    return float(np.mean(counts))


# -- the data ----------------------------------------------------------------------------------------
def test_generator_is_deterministic_per_sample_and_solves_its_systems(tmp_path):
    params = diffusion_systems.check_params(6, {"contrast": 100.0})
    whole = list(diffusion_systems.generate(5, 6, seed=3, params=params, block=2))
    resumed = list(diffusion_systems.generate(5, 6, seed=3, params=params, start=3))
    for name in ("values", "rhs", "solution"):
        stacked = np.concatenate([b[name] for b in whole])
        np.testing.assert_array_equal(stacked[3:], resumed[0][name])
        assert stacked.dtype == np.float64 and stacked.shape[1] == diffusion_systems.fields(6, params)[name][0][0]
    other = next(diffusion_systems.generate(1, 6, seed=4, params=params))
    assert not np.array_equal(other["values"][0], whole[0]["values"][0])

    path = write_systems(tmp_path / "s.h5", 5, 6, seed=3, params={"contrast": 100.0})
    with open_store(path) as store:
        assert store.read("crow").dtype == np.int32 and store.read("col").dtype == np.int32
        assert store.read("col").shape == (5 * 36 - 4 * 6,) and store.attrs["pde"] == "diffusion-systems"
    data = diffusion_systems.load_systems(path)
    assert (data.n, data.nnz, len(data)) == (36, 156, 5)
    for i in range(5):
        # the stored matrix is the 5-point operator of the sample's coefficient, whose range is the contrast
        a = diffusion_systems.sample_coefficient(3, i, 6, params)
        assert a.max() / a.min() == pytest.approx(100.0)
        A = data.matrix(i)
        assert abs(A - diffusion_2d(a, 1 / 7)).max() == 0.0
        item = data[i]
        np.testing.assert_allclose(A @ item["solution"].numpy(), item["rhs"].numpy(), atol=1e-10)
    batch = next(iter(DataLoader(data, batch_size=4)))
    assert batch["values"].shape == (4, 156) and batch["crow"].shape == (4, 37) and list(batch)[0] == "values"


def test_bad_parameters_and_bad_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown diffusion-systems parameter contrst; valid: dim, contrast"):
        diffusion_systems.check_params(8, {"contrst": 10})
    with pytest.raises(ConfigError, match="unknown rhs 'random'; choose one of normal, ones"):
        diffusion_systems.check_params(8, {"rhs": "random"})
    with pytest.raises(ConfigError, match="contrast .* at least 1, got 0.5"):
        diffusion_systems.check_params(8, {"contrast": 0.5})
    params = diffusion_systems.check_params(4, {})
    block = next(diffusion_systems.generate(2, 4, seed=0, params=params))
    coords = diffusion_systems.coords(4, params)

    def write(name, arrays, coordinates):
        path = tmp_path / name
        with StoreWriter(path, n_samples=2, fields=diffusion_systems.fields(4, params), pde="diffusion-systems",
                         params=params, generator="test", seed=0, coords=coordinates) as writer:
            writer.write(arrays)
        return path

    swapped = write("swapped.h5", {**block, "solution": block["rhs"], "rhs": block["solution"]}, coords)
    with pytest.raises(DataError, match="sample 0's solution does not solve its system"):
        diffusion_systems.load_systems(swapped)
    no_pattern = write("nopattern.h5", block, {"crow": coords["crow"]})
    with pytest.raises(DataError, match="no coordinate dataset 'col'"):
        diffusion_systems.load_systems(no_pattern)
    unsorted = write("unsorted.h5", block, {"crow": coords["crow"], "col": coords["col"][::-1].copy()})
    with pytest.raises(DataError, match="must be sorted and without repeats"):
        diffusion_systems.load_systems(unsorted)


# -- the network and its factor ------------------------------------------------------------------------
def test_factor_has_the_pattern_of_tril_a_and_a_positive_diagonal(systems):
    data = diffusion_systems.load_systems(systems["test"])
    model = perturbed_model(scale=1.0)
    values = data[0]["values"]
    L = model.factor(data.crow, data.col, values)
    assert L.layout == torch.sparse_csr and L.crow_indices().dtype == torch.int32
    lower_a = sp.tril(data.matrix(0)).tocsr()
    np.testing.assert_array_equal(L.crow_indices().numpy(), lower_a.indptr)
    np.testing.assert_array_equal(L.col_indices().numpy(), lower_a.indices)
    diagonal = sp.csr_matrix((L.values().numpy(), L.col_indices().numpy(), L.crow_indices().numpy())).diagonal()
    assert diagonal.min() >= model.config.diag_eps * np.sqrt(data.matrix(0).diagonal()).min()
    # batched (one disjoint union of graphs) equals one system at a time
    batched = model(data.crow, data.col, torch.stack([data[i]["values"] for i in range(4)]))
    looped = torch.stack([model(data.crow, data.col, data[i]["values"]) for i in range(4)])
    torch.testing.assert_close(batched, looped, rtol=1e-12, atol=1e-12)
    # scaling A by c scales L by sqrt(c): the features see D^-1/2 A D^-1/2 only
    torch.testing.assert_close(model(data.crow, data.col, 9.0 * values), 3.0 * batched[0], rtol=1e-10, atol=0)


def test_graph_layer_equals_its_direct_formula_with_and_without_the_csr_sum():
    """The layer projects node features before gathering and sums messages by a CSR product: the same
    function and gradients as concatenating on the edges and scatter-adding."""
    from sciml.learned.neural_pcg import MatrixGraphLayer, edge_sum_matrix

    torch.manual_seed(0)
    A = sp.random(40, 40, density=0.15, random_state=0, format="csr")
    A = (A + A.T).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    coo = A.tocoo()
    edge_index = torch.from_numpy(np.stack([coo.col, coo.row]).astype(np.int64))  # CSR order: sorted by target
    for in_channels, out_channels in ((6, 6), (5, 7)):
        layer = MatrixGraphLayer(in_channels, out_channels, 4).double()
        x = torch.randn(40, in_channels, dtype=torch.float64, requires_grad=True)
        e = torch.randn(edge_index.shape[1], 4, dtype=torch.float64, requires_grad=True)
        edge_sum = edge_sum_matrix(edge_index[1], 40, torch.float64)
        assert edge_sum is not None
        expected = layer.reference_forward(x, edge_index, e)
        grads = torch.autograd.grad(sum(t.square().sum() for t in expected), (x, e))
        shuffled = torch.randperm(edge_index.shape[1])
        assert edge_sum_matrix(edge_index[1, shuffled], 40, torch.float64) is None  # unsorted: scatter-add instead
        for got in (layer(x, edge_index, e, edge_sum), layer(x, edge_index, e)):
            for g, r in zip(got, expected):
                torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12)
            for g, r in zip(torch.autograd.grad(sum(t.square().sum() for t in got), (x, e)), grads):
                torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12)


def test_network_equals_the_direct_layer_formula_on_batches_and_block_diagonal_batches(systems, monkeypatch):
    """The whole network, its outputs and its parameter gradients, with the fast layer and with the
    layer's direct formula: a batch of systems on one pattern and a block-diagonal batch of two sizes.
    The model still deep-copies after a forward pass (its cached graph holds no sparse tensor)."""
    import copy

    from sciml.learned.neural_pcg import MatrixGraphLayer

    data = diffusion_systems.load_systems(systems["train"])
    small, large = diffusion_2d(np.exp(np.random.default_rng(0).normal(size=(8, 8))), 1 / 7), data.matrix(0)
    joined = sp.block_diag([small, large], format="csr")
    cases = [(data.crow, data.col, torch.stack([data[i]["values"] for i in range(3)]), None),
             (torch.from_numpy(joined.indptr.astype(np.int32)), torch.from_numpy(joined.indices.astype(np.int32)),
              torch.from_numpy(joined.data)[None], torch.tensor([small.shape[0], large.shape[0]]))]
    model = perturbed_model(seed=2, scale=1.0, layers=2)
    for crow, col, values, blocks in cases:
        def outputs():
            model.zero_grad()
            lower = model(crow, col, values, blocks)
            lower.square().sum().backward()
            return lower.detach(), [p.grad.clone() for p in model.parameters()]
        fast_lower, fast_grads = outputs()
        copy.deepcopy(model)
        with monkeypatch.context() as patch:
            patch.setattr(MatrixGraphLayer, "forward", lambda self, x, edges, e, edge_sum=None:
                          MatrixGraphLayer.reference_forward(self, x, edges, e))
            direct_lower, direct_grads = outputs()
        torch.testing.assert_close(fast_lower, direct_lower, rtol=1e-12, atol=1e-14)
        for fast, direct in zip(fast_grads, direct_grads):
            torch.testing.assert_close(fast, direct, rtol=1e-10, atol=1e-12)
    single = model(data.crow, data.col, data[0]["values"]).detach()
    torch.testing.assert_close(model.float()(data.crow, data.col, data[0]["values"]), single, rtol=1e-4, atol=1e-5)


def test_untrained_network_is_symmetric_gauss_seidel(systems):
    data = diffusion_systems.load_systems(systems["test"])
    A = data.matrix(2)
    model = NeuralPCG(NeuralPCGConfig()).double()
    L = model.factor(data.crow, data.col, data[2]["values"]).to_dense().numpy()
    D = sp.diags(A.diagonal())
    ssor = ((D + sp.tril(A, k=-1)) @ sp.diags(1 / A.diagonal()) @ (D + sp.triu(A, k=1))).toarray()
    np.testing.assert_allclose(L @ L.T, ssor, rtol=1e-12, atol=1e-12 * abs(ssor).max())


def test_losses_equal_dense_reference_computations():
    params = diffusion_systems.check_params(3, {})
    block = next(diffusion_systems.generate(2, 3, seed=5, params=params))
    coords = diffusion_systems.coords(3, params)
    crow, col = torch.from_numpy(coords["crow"]), torch.from_numpy(coords["col"])
    values, rhs, solution = (torch.from_numpy(block[k]) for k in ("values", "rhs", "solution"))
    model = perturbed_model(seed=1, scale=1.0)
    lower = model(crow, col, values).detach()
    pattern = SparsityPattern(crow, col)
    probes = torch.randn(2, 3, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected_solution, expected_frobenius, exact_frobenius = [], [], []
    for s in range(2):
        L = sp.csr_matrix((lower[s].detach().numpy(), pattern.lower_col.numpy(), pattern.lower_crow.numpy()),
                          shape=(9, 9)).toarray()
        A = sp.csr_matrix((block["values"][s], coords["col"], coords["crow"]), shape=(9, 9)).toarray()
        P = L @ L.T
        b, x, z = block["rhs"][s], block["solution"][s], probes[s].numpy()
        expected_solution.append(np.sum((P @ x - b) ** 2) / np.sum(b ** 2))
        expected_frobenius.append(np.mean(np.sum(((P - A) @ z.T) ** 2, axis=0)) / np.sum(A ** 2))
        exact_frobenius.append(np.sum((P - A) ** 2) / np.sum(A ** 2))
    torch.testing.assert_close(solution_loss(pattern, lower, solution, rhs, reduction="none"),
                               torch.tensor(expected_solution), rtol=1e-12, atol=0)
    torch.testing.assert_close(frobenius_loss(pattern, lower, values, probes=probes, reduction="none"),
                               torch.tensor(expected_frobenius), rtol=1e-12, atol=0)
    assert float(solution_loss(pattern, lower, solution, rhs)) == pytest.approx(np.mean(expected_solution), rel=1e-12)
    # the stochastic estimate is unbiased: many probes approach the relative Frobenius error
    estimate = frobenius_loss(pattern, lower, values, probes=20000,
                              generator=torch.Generator().manual_seed(1), reduction="none")
    np.testing.assert_allclose(estimate.numpy(), exact_frobenius, rtol=0.05)
    # probe-solution: the solution loss on the probes, solved directly; expectation ||P A^-1 - I||_F^2 / n
    expected_probe, exact_probe = [], []
    for s in range(2):
        L = sp.csr_matrix((lower[s].numpy(), pattern.lower_col.numpy(), pattern.lower_crow.numpy()),
                          shape=(9, 9)).toarray()
        A = sp.csr_matrix((block["values"][s], coords["col"], coords["crow"]), shape=(9, 9)).toarray()
        E = L @ L.T @ np.linalg.inv(A) - np.eye(9)
        z = probes[s].numpy()
        expected_probe.append(np.mean(np.sum((E @ z.T) ** 2, axis=0) / np.sum(z.T ** 2, axis=0)))
        exact_probe.append(np.sum(E ** 2) / 9)
    torch.testing.assert_close(probe_solution_loss(pattern, lower, values, probes=probes, reduction="none"),
                               torch.tensor(expected_probe), rtol=1e-10, atol=0)
    estimate = probe_solution_loss(pattern, lower, values, probes=4000,
                                   generator=torch.Generator().manual_seed(2), reduction="none")
    np.testing.assert_allclose(estimate.numpy(), exact_probe, rtol=0.1)
    # condition: log(lambda_max / lambda_min) of L^-1 A L^-T, against numpy's generalised eigenvalues
    expected_condition = []
    for s in range(2):
        L = sp.csr_matrix((lower[s].numpy(), pattern.lower_col.numpy(), pattern.lower_crow.numpy()),
                          shape=(9, 9)).toarray()
        A = sp.csr_matrix((block["values"][s], coords["col"], coords["crow"]), shape=(9, 9)).toarray()
        eigenvalues = np.linalg.eigvals(np.linalg.solve(L @ L.T, A)).real
        expected_condition.append(np.log(eigenvalues.max() / eigenvalues.min()))
    torch.testing.assert_close(condition_loss(pattern, lower, values, reduction="none"),
                               torch.tensor(expected_condition), rtol=1e-9, atol=0)
    # the loss is differentiable in L
    trainable = lower.clone().requires_grad_(True)
    condition_loss(pattern, trainable, values).backward()
    assert torch.isfinite(trainable.grad).all() and trainable.grad.abs().max() > 0


def test_probe_solution_loss_vanishes_for_the_exact_factor():
    # a tridiagonal SPD matrix: its Cholesky factor has exactly the pattern of tril(A)
    n = 7
    A = sp.diags([-np.ones(n - 1), 2.5 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).tocsr()
    pattern = SparsityPattern(torch.from_numpy(A.indptr), torch.from_numpy(A.indices))
    L = sp.csr_matrix(np.linalg.cholesky(A.toarray()))
    lower = torch.from_numpy(sp.tril(L).tocsr().data)[None]
    assert lower.shape[1] == pattern.lower_nnz
    values = torch.from_numpy(A.data)[None]
    assert float(probe_solution_loss(pattern, lower, values, probes=3, generator=torch.Generator().manual_seed(0))) < 1e-24
    assert float(condition_loss(pattern, lower, values)) == pytest.approx(0.0, abs=1e-10)  # L L^T = A
    with pytest.raises(ValueError, match="loss must be one of 'solution', 'frobenius', 'probe-solution', 'condition', "
                                         "got 'inverse'"):
        NeuralPCGConfig(loss="inverse")


# -- training and the preconditioner ------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_run(systems, tmp_path_factory):
    """100 Adam steps (25 epochs of 4 batches of 8 systems) through the Trainer and the spec functions."""
    run = tmp_path_factory.mktemp("run") / "neural-pcg"
    train, test = spec_dataset(systems["train"]), spec_dataset(systems["test"])
    config = spec_complete_config(from_dict(NeuralPCGConfig, {"loss": "solution"}), train)
    torch.manual_seed(0)
    model = spec_build(config)
    spec_prepare(model, train)
    method = spec_method(model)
    before = {k: float(v) / len(test) for k, v in method.evaluate(batch_of(test, range(len(test)))).items()}
    summary = Trainer(method, train, config=TrainConfig(epochs=25, batch_size=8, lr=1e-2, weight_decay=0.0,
                                                        scheduler="none", checkpoint_every=25, device="cpu"),
                      run_dir=run, model_name="neural-pcg", model_config=config, val_data=test,
                      show_progress=False).fit()
    return {"run": run, "summary": summary, "before": before, "test": test}


def test_training_lowers_the_loss_and_the_learned_factor_beats_jacobi(trained_run):
    run, test = trained_run["run"], trained_run["test"]
    assert trained_run["summary"]["best"]["metric"] == "val_loss"
    assert trained_run["summary"]["best"]["value"] < 0.3 * trained_run["before"]["loss"]
    state = torch.load(run / "best.pt", weights_only=True)
    assert state["model_name"] == "neural-pcg" and state["model_config"]["hidden"] == 16
    model = load(run)
    assert not model.training and model.config == NeuralPCGConfig()
    plain = pcg_iterations(test, None)
    jacobi = pcg_iterations(test, Jacobi)
    ssor = pcg_iterations(test, SSOR)  # what the untrained network gives
    learned = pcg_iterations(test, lambda A: preconditioner_from_run(run, A))
    # measured: none 121, Jacobi 37.5, SSOR 15.4, IC(0) 13.9, learned about 14 (n = 100, contrast 1e3)
    assert learned < 0.5 * jacobi < plain
    assert learned <= ssor
    assert pcg_iterations(test, IC0) < jacobi


def test_learned_preconditioner_serves_pcg_and_scipy_cg_and_equals_the_dense_inverse(systems):
    data = diffusion_systems.load_systems(systems["test"])
    A = data.matrix(5)
    precond = LearnedPreconditioner(perturbed_model(seed=2), A, method="levels")
    assert precond.setup_seconds > 0 and precond.L.shape == (100, 100)
    P = (precond.L @ precond.L.T).toarray()
    R = torch.randn(3, 100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Z = precond.apply(R)
    # the defining property P z = r, to round-off in the backward sense (cond(P) blurs a forward check) ...
    backward_error = np.linalg.norm(Z.numpy() @ P - R.numpy()) / (np.linalg.norm(P, 2) * np.linalg.norm(Z.numpy()))
    assert backward_error < 1e-13
    # ... and the dense inverse through two dense triangular solves
    dense_lower = precond.L.toarray()
    reference = scipy.linalg.solve_triangular(dense_lower.T, scipy.linalg.solve_triangular(
        dense_lower, R.numpy().T, lower=True), lower=False).T
    np.testing.assert_allclose(Z.numpy(), reference, rtol=1e-10, atol=1e-10 * abs(reference).max())
    operator = precond.as_linear_operator()
    np.testing.assert_allclose(operator.matvec(R[0].numpy()), Z[0].numpy(), rtol=1e-12, atol=0)
    torch.testing.assert_close(precond.apply(R[1]), Z[1], rtol=1e-12, atol=0)
    # scipy's CG takes it as M and reaches the tolerance
    b = data[5]["rhs"].numpy()
    x, info = spla.cg(A, b, M=operator, rtol=1e-10, maxiter=500)
    assert info == 0 and np.linalg.norm(A @ x - b) <= 1e-9 * np.linalg.norm(b)
    result = pcg(A, torch.from_numpy(b), precond, rtol=1e-10)
    assert result.converged and np.linalg.norm(A @ result.x.numpy() - b) <= 1e-9 * np.linalg.norm(b)
    single = LearnedPreconditioner(perturbed_model(seed=2), A, dtype=torch.float32)
    torch.testing.assert_close(single.apply(R.float()), Z.float(), rtol=1e-4, atol=1e-6)


def test_non_finite_networks_and_unsuitable_matrices_are_refused(systems):
    data = diffusion_systems.load_systems(systems["test"])
    A = data.matrix(0)
    broken = perturbed_model()
    with torch.no_grad():
        broken.layers[1].node_mlp[0].weight[0, 0] = float("nan")
    with pytest.raises(SciMLError, match=r"non-finite parameters \(layers.1.node_mlp.0.weight\)"):
        LearnedPreconditioner(broken, A)
    overflowing = perturbed_model()
    with torch.no_grad():
        overflowing.lower_head[-1].weight.fill_(1e308)
    with pytest.raises(SciMLError, match="predicted .* non-finite entries of L"):
        LearnedPreconditioner(overflowing, A)
    model = perturbed_model()
    with pytest.raises(DataError, match="A is not symmetric"):
        LearnedPreconditioner(model, A + sp.csr_matrix(([1.0], ([0], [5])), shape=A.shape))
    coo = A.tocoo()  # with a stored zero at (0, 5): symmetric values, one-sided pattern
    lopsided = sp.csr_matrix((np.append(coo.data, 0.0), (np.append(coo.row, 0), np.append(coo.col, 5))),
                             shape=A.shape)
    assert lopsided.nnz == A.nnz + 1
    with pytest.raises(DataError, match=r"not symmetric \(entry \(0, 5\) is stored but \(5, 0\) is not\)"):
        LearnedPreconditioner(model, lopsided)
    hole = A.tolil()
    hole[3, 3] = 0.0
    hole = hole.tocsr()
    hole.eliminate_zeros()
    with pytest.raises(DataError, match="row 3 has no stored diagonal entry"):
        LearnedPreconditioner(model, hole)
    negative = A.copy()
    negative[3, 3] = -1.0
    with pytest.raises(DataError, match="non-positive diagonal"):
        LearnedPreconditioner(model, negative)
    with pytest.raises(ConfigError, match="loss must be one of 'solution', 'frobenius', 'probe-solution', 'condition', got 'l2'"):
        from_dict(NeuralPCGConfig, {"loss": "l2"}, where="model")
    with pytest.raises(ValueError, match=r"diag_eps must lie in \(0, 1\)"):
        NeuralPCGConfig(diag_eps=0.0)


def test_both_losses_decrease_under_training(systems):
    train, test = (diffusion_systems.load_systems(systems[k]) for k in ("train", "test"))
    held_out = batch_of(test, range(len(test)))
    for loss in ("frobenius", "solution"):
        torch.manual_seed(0)
        method = NeuralPCGMethod(NeuralPCG(NeuralPCGConfig(loss=loss)))
        optimizer = torch.optim.Adam(method.model.parameters(), lr=1e-2)
        before = method.evaluate(held_out)
        for epoch in range(5):
            for batch in DataLoader(train, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(epoch)):
                optimizer.zero_grad()
                method.step(batch)["loss"].backward()
                optimizer.step()
        after = method.evaluate(held_out)
        assert float(after[f"{loss}_loss"]) < 0.7 * float(before[f"{loss}_loss"]), (loss, before, after)
        assert float(after["loss"]) == float(after[f"{loss}_loss"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(systems):
    data = diffusion_systems.load_systems(systems["test"])
    A = data.matrix(1)
    model = perturbed_model(seed=3)
    cpu = LearnedPreconditioner(model, A)
    cuda_model = perturbed_model(seed=3).cuda()
    cuda = LearnedPreconditioner(cuda_model, A, device="cuda")
    np.testing.assert_allclose(cuda.L.toarray(), cpu.L.toarray(), rtol=1e-12, atol=1e-12 * abs(cpu.L).max())
    R = torch.randn(2, 100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = cpu.apply(R)
    torch.testing.assert_close(cuda.apply(R.cuda()).cpu(), expected, rtol=0, atol=1e-8 * float(expected.abs().max()))
    batch = batch_of(data, range(4))
    on_cuda = {k: v.cuda() for k, v in batch.items()}
    losses = NeuralPCGMethod(cuda_model).evaluate(on_cuda)
    torch.testing.assert_close(losses["solution_loss"].cpu(), NeuralPCGMethod(model).evaluate(batch)["solution_loss"],
                               rtol=1e-10, atol=0)


def test_eval_of_a_neural_pcg_run_compares_with_classical_preconditioners(tmp_path):
    from sciml.data import generate_dataset
    from sciml.runs import evaluate_run, train_model

    generate_dataset("diffusion-systems", tmp_path / "train.h5", n=8, res=8, seed=0)
    generate_dataset("diffusion-systems", tmp_path / "test.h5", n=2, res=8, seed=1)
    run = tmp_path / "run"
    train_model("neural-pcg", tmp_path / "train.h5", run, overrides={"epochs": 2, "batch_size": 4},
                show_progress=False)
    result = evaluate_run(run, tmp_path / "test.h5")
    rows = {row["precond"]: row for row in result["table"]}
    assert set(rows) == {"none", "jacobi", "ic0", "amg-rs", "learned"}
    assert all(row["all_converged"] for row in rows.values())
    assert rows["learned"]["mean_iterations"] < rows["jacobi"]["mean_iterations"] < rows["none"]["mean_iterations"]
    assert len(result["per_system"]["learned"]) == 2 and (run / "eval" / "test.json").exists()


# -- systems of different sizes and patterns (the mesh families) ----------------------------------------
@pytest.fixture(scope="module")
def mesh_systems_data(tmp_path_factory):
    """Poisson systems on gmsh meshes of four shapes (sizes and patterns vary per sample)."""
    from sciml.data import generate_dataset

    root = tmp_path_factory.mktemp("mesh-systems")
    params = {"shapes": ["disk", "L", "square-with-hole", "star"], "contrast": 10.0}
    return {"train": generate_dataset("poisson-mesh-systems", root / "train.h5", n=12, res=8, seed=0, params=params),
            "test": generate_dataset("poisson-mesh-systems", root / "test.h5", n=3, res=8, seed=1, params=params)}


def test_a_block_diagonal_batch_of_different_systems_equals_one_system_at_a_time(mesh_systems_data):
    from sciml.learned.neural_pcg import systems_batch

    data = diffusion_systems.load_systems(mesh_systems_data["train"])
    batch = next(iter(DataLoader(data, batch_size=4)))
    assert batch["values"].shape == (4, data.nnz) and batch["num_rows"].shape == (4,)
    joined = systems_batch(batch)
    sizes = [data.matrix(i).shape[0] for i in range(4)]
    assert len(set(sizes)) > 1 and joined.blocks.tolist() == sizes
    big = sp.csr_matrix((joined.values[0].numpy(), joined.col.numpy(), joined.crow.numpy()))
    assert abs(big - sp.block_diag([data.matrix(i) for i in range(4)], format="csr")).max() == 0.0
    model = perturbed_model(seed=4, scale=1.0)
    lower = model(joined.crow, joined.col, joined.values, joined.blocks)
    pattern = model.pattern(joined.crow, joined.col, joined.blocks)
    assert pattern.num_systems == 4
    probes = torch.randn(1, 3, sum(sizes), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected_lower, expected_solution, expected_frobenius, expected_condition = [], [], [], []
    offset = 0
    for i, n in enumerate(sizes):
        crow, col = data.pattern(i)
        values = torch.from_numpy(data.matrix(i).data)[None]
        single = model(crow, col, values)
        one = model.pattern(crow, col)
        expected_lower.append(single[0])
        expected_solution.append(solution_loss(one, single, torch.from_numpy(data.solution(i))[None],
                                               torch.from_numpy(data.rhs(i))[None], reduction="none"))
        expected_frobenius.append(frobenius_loss(one, single, values, probes=probes[:, :, offset:offset + n],
                                                 reduction="none"))
        expected_condition.append(condition_loss(one, single, values, reduction="none"))
        offset += n
    # L of the block-diagonal matrix is block diagonal with each system's L (the features are per system)
    lower_big = sp.csr_matrix((lower[0].detach().numpy(), pattern.lower_col.numpy(), pattern.lower_crow.numpy()))
    np.testing.assert_allclose(lower_big.data, torch.cat(expected_lower).detach().numpy(), rtol=1e-12, atol=0)
    torch.testing.assert_close(solution_loss(pattern, lower, joined.solution, joined.rhs, reduction="none"),
                               torch.cat(expected_solution), rtol=1e-12, atol=0)
    torch.testing.assert_close(frobenius_loss(pattern, lower, joined.values, probes=probes, reduction="none"),
                               torch.cat(expected_frobenius), rtol=1e-12, atol=0)
    torch.testing.assert_close(condition_loss(pattern, lower, joined.values, reduction="none"),
                               torch.cat(expected_condition), rtol=1e-9, atol=0)
    # a pattern whose nonzeros couple two blocks is refused
    coupled = sp.csr_matrix(np.array([[2.0, -1.0], [-1.0, 2.0]]))
    with pytest.raises(DataError, match=r"entry \(0, 1\) couples blocks 0 and 1; a batch of systems must be block"):
        SparsityPattern(torch.from_numpy(coupled.indptr.astype(np.int32)),
                        torch.from_numpy(coupled.indices.astype(np.int32)), blocks=torch.tensor([1, 1]))


def test_training_on_meshes_of_varied_shapes_gives_a_preconditioner_for_any_size(mesh_systems_data, tmp_path):
    from sciml.runs import evaluate_run, train_model

    run = tmp_path / "run"
    summary = train_model("neural-pcg", mesh_systems_data["train"], run, val_path=mesh_systems_data["test"],
                          overrides={"epochs": 6, "batch_size": 4, "lr": 1e-2}, show_progress=False)
    assert summary["best"]["metric"] == "val_loss"
    result = evaluate_run(run, mesh_systems_data["test"])
    rows = {row["precond"]: row for row in result["table"]}
    assert all(row["all_converged"] for row in rows.values())
    assert rows["learned"]["mean_iterations"] < rows["none"]["mean_iterations"]
    assert result["n_range"][0] <= result["n_range"][1] == result["n"]
    # a matrix of another size and pattern than any training system (a finer mesh of a new shape)
    family = resolve_pde("poisson-mesh-systems")
    system = family.sample_system(5, 0, 16, family.check_params(16, {"shapes": ["U"]}))
    precond = preconditioner_from_run(run, system.matrix)
    assert precond.L.shape == system.matrix.shape
    solved = pcg(system.matrix, torch.from_numpy(system.rhs), precond, rtol=1e-8)
    assert solved.converged
    assert np.linalg.norm(system.matrix @ solved.x.numpy() - system.rhs) <= 1e-7 * np.linalg.norm(system.rhs)
