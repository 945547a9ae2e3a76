"""Deep Conjugate Direction Method: the solver, the network, the training data and loss, the experiment."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sciml import ConfigError, DataError, SciMLError
from sciml.data.pdes import diffusion_systems
from sciml.data.store import StoreWriter
from sciml.gallery.matrices import diffusion2d_grf, indefinite, poisson2d, poisson3d
from sciml.learned.dcdm import (
    DCDMConfig,
    DCDMNet,
    DCDMSolver,
    SpectralRHSDataset,
    dcdm_loss,
    dcdm_solve,
    load,
    ritz_vectors,
    spectral_rhs,
)
from sciml.linalg import SolveError, SolveStatus, pcg, preconditioner
from sciml.runs import evaluate_run, train_model


def write_systems(path, n, res, seed, params=None):
    """What ``sciml data generate diffusion-systems`` does, without the registry."""
    merged = diffusion_systems.check_params(res, dict(params or {}))
    with StoreWriter(path, n_samples=n, fields=diffusion_systems.fields(res, merged), pde="diffusion-systems",
                     params=merged, generator=diffusion_systems.GENERATOR, seed=seed,
                     coords=diffusion_systems.coords(res, merged)) as writer:
        for block in diffusion_systems.generate(n, res, seed=seed, params=merged, start=writer.n_written):
            writer.write(block)
    return path


def random_net(n_dims=2, seed=0, **config):
    torch.manual_seed(seed)
    return DCDMNet(DCDMConfig(n_dims=n_dims, **{"width": 4, "levels": 1, **config})).double().eval()


def rhs(n, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(n))


def identity(r):
    return r


def relative_true_residual(A, x, b):
    b = np.asarray(b)
    return np.linalg.norm(b - A @ np.asarray(x)) / np.linalg.norm(b)


# -- the solver ----------------------------------------------------------------------------------------
def test_identity_network_is_conjugate_gradients():
    """With f = identity the projection on d_{k-2} vanishes and DCDM is CG, step for step."""
    A, b = poisson2d(12), rhs(144)
    ours = dcdm_solve(identity, A, b, (12, 12), rtol=1e-8)
    cg = pcg(A, b, None, rtol=1e-8)
    assert ours.status is SolveStatus.CONVERGED and ours.converged
    assert abs(ours.iterations - cg.iterations) <= 1
    k = min(ours.iterations, cg.iterations) - 5
    torch.testing.assert_close(ours.residual_norms[:k], cg.residual_norms[:k], rtol=1e-6, atol=0.0)
    assert relative_true_residual(A, ours.x, b) <= 1e-8
    assert len(ours.residual_norms) == ours.iterations + 1


def test_linear_spd_direction_map_is_preconditioned_cg():
    """A symmetric linear map (Jacobi, D^-1 r) as the network gives Jacobi-PCG on a variable-coefficient matrix."""
    A = diffusion2d_grf(10, contrast=100.0, seed=3)
    b = rhs(100, seed=1)
    inverse_diagonal = torch.from_numpy(1.0 / A.diagonal()).reshape(1, 1, 10, 10)
    ours = dcdm_solve(lambda r: r * inverse_diagonal, A, b, (10, 10), rtol=1e-10)
    reference = pcg(A, b, preconditioner("jacobi", A), rtol=1e-10)
    assert ours.converged and abs(ours.iterations - reference.iterations) <= 2
    assert relative_true_residual(A, ours.x, b) <= 1e-10
    np.testing.assert_allclose(ours.x.numpy(), reference.x.numpy(), rtol=0, atol=1e-9 * reference.x.abs().max().item())


def test_directions_are_A_orthogonal_to_the_previous_two():
    A, b = poisson2d(8), rhs(64, seed=2)
    directions = []
    result = dcdm_solve(random_net(), A, b, rtol=1e-12, maxiter=20,
                        callback=lambda k, x, r, d: directions.append(d.clone().numpy()))
    assert result.iterations == len(directions) == 20
    energy = [d @ (A @ d) for d in directions]
    for k in range(2, len(directions)):
        for back in (1, 2):
            cosine = abs(directions[k] @ (A @ directions[k - back])) / np.sqrt(energy[k] * energy[k - back])
            assert cosine < 1e-10, (k, back, cosine)
    # a nonlinear network: the directions are not CG's, so d_k and d_{k-3} are not A-orthogonal in general
    far = [abs(directions[k] @ (A @ directions[k - 3])) / np.sqrt(energy[k] * energy[k - 3]) for k in range(3, 20)]
    assert max(far) > 1e-6


def test_network_is_positively_homogeneous_and_takes_any_grid():
    net = random_net(width=6, levels=2)
    x = torch.randn(2, 1, 7, 9, dtype=torch.float64)
    torch.testing.assert_close(net(3.5 * x), 3.5 * net(x), rtol=1e-12, atol=1e-12)
    assert net(torch.randn(1, 1, 16, 16, dtype=torch.float64)).shape == (1, 1, 16, 16)
    net3 = random_net(n_dims=3, levels=2)
    assert net3(torch.randn(1, 1, 5, 6, 7, dtype=torch.float64)).shape == (1, 1, 5, 6, 7)
    result = dcdm_solve(net3, poisson3d(5), rhs(125), rtol=1e-8, maxiter=125)  # grid inferred: 5^3
    assert result.status in (SolveStatus.CONVERGED, SolveStatus.STAGNATION, SolveStatus.MAX_ITERATIONS)
    with pytest.raises(DataError, match=r"DCDMNet \(2D\) takes \(batch, 1, n0, n1\), got shape \(1, 7, 9\)"):
        net(torch.randn(1, 7, 9, dtype=torch.float64))


def test_shared_levels_grow_with_the_grid_and_reuse_one_block_pair():
    net = random_net(width=4, shared_levels=True, coarsest=4)
    plain = random_net(width=4, levels=3)
    # 8 -> 4: one halving; 32 -> 16 -> 8 -> 4: three; 33 -> 17 -> 9 -> 5 -> 3: four (ceil on odd axes)
    assert [net.levels_for(g) for g in ((4, 4), (8, 8), (32, 32), (33, 40), (128, 128))] == [0, 1, 3, 4, 5]
    assert plain.levels_for((128, 128)) == 3
    assert len(net.down) == len(net.up) == 1 and len(plain.down) == 3
    # the parameters do not depend on the grid, and a deeper net on a larger grid is still homogeneous
    x = torch.randn(2, 1, 64, 48, dtype=torch.float64)
    torch.testing.assert_close(net(2.5 * x), 2.5 * net(x), rtol=1e-12, atol=1e-12)
    # the reach grows with the depth: a point source near one corner of the 64^2 grid moves the output
    # at the far corner through 4 shared halvings, not through the plain net's 3 (reach 54 cells)
    source = torch.zeros(1, 1, 64, 64, dtype=torch.float64)
    source[0, 0, 2, 2] = 1.0
    assert net(source)[0, 0, -3:, -3:].abs().max() > 0
    assert plain(source)[0, 0, -3:, -3:].abs().max() == 0
    with pytest.raises(ValueError, match="coarsest must be at least 1"):
        DCDMConfig(n_dims=2, shared_levels=True, coarsest=0)


def test_bad_systems_are_refused_clearly():
    A, b = poisson2d(6), rhs(36)
    net = random_net()
    with pytest.raises(DataError, match=r"A has shape \(36, 36\) but grid_shape \(5, 5\) holds 25 unknowns"):
        dcdm_solve(net, A, b, (5, 5))
    with pytest.raises(DataError, match=r"the model is 2D but grid_shape \(6, 6, 1\) has 3 axes"):
        dcdm_solve(net, A, b, (6, 6, 1))
    with pytest.raises(DataError, match="A has 35 rows, which is not a square"):
        dcdm_solve(net, poisson2d(7)[:35, :35], rhs(35))
    with pytest.raises(DataError, match=r"A has shape \(49, 49\) but b has shape \(36,\)"):
        dcdm_solve(net, poisson2d(7), b)
    with pytest.raises(DataError, match="grid_shape is needed"):
        dcdm_solve(identity, A, b)
    with pytest.raises(DataError, match="A is not symmetric"):
        dcdm_solve(net, A + sp.triu(A, 1), b)
    with pytest.raises(DataError, match=r"A is not positive definite: A\[0, 1\]\^2 = 2.4e\+03 is not below"):
        dcdm_solve(net, indefinite(6), b)  # the gallery's indefinite matrix: diagonal about 1e-14
    with pytest.raises(DataError, match=r"non-positive diagonal entry \(A\[0, 0\] = -196\)"):
        dcdm_solve(net, -A, b)
    with pytest.raises(DataError, match="b contains NaN"):
        dcdm_solve(net, A, torch.full((36,), float("nan")))


def test_indefinite_matrix_with_positive_diagonal_breaks_down():
    A = (poisson2d(8) - 0.3 * 4 * 81 * sp.identity(64)).tocsr()  # diagonal 0.7 * 4 (m+1)^2 > 0, many negative eigenvalues
    assert A.diagonal().min() > 0 and np.linalg.eigvalsh(A.toarray()).min() < 0
    result = dcdm_solve(identity, A, rhs(64), (8, 8), rtol=1e-8)
    assert result.status is SolveStatus.BREAKDOWN and not result.converged
    assert "not symmetric positive definite" in result.status.message
    with pytest.raises(SolveError, match="breakdown"):
        dcdm_solve(identity, A, rhs(64), (8, 8), rtol=1e-8, raise_on_failure=True)


def test_nan_from_the_network_is_reported_never_returned_as_a_solution():
    A, b = poisson2d(6), rhs(36)
    calls = []

    def breaks_at_third_call(r):
        calls.append(1)
        return r if len(calls) < 3 else torch.full_like(r, float("nan"))

    result = dcdm_solve(breaks_at_third_call, A, b, (6, 6), rtol=1e-10)
    assert result.status is SolveStatus.NON_FINITE and not result.converged
    assert result.iterations == 2 and bool(torch.isfinite(result.x).all())
    with pytest.raises(SolveError, match="non_finite"):
        dcdm_solve(lambda r: r * float("nan"), A, b, (6, 6), raise_on_failure=True)
    net = random_net()
    with torch.no_grad():
        net.lift.weight[0, 0, 0, 0] = float("inf")
    with pytest.raises(SciMLError, match="non-finite parameters"):
        DCDMSolver(net)
    with pytest.raises(ConfigError, match="model must be a DCDMNet"):
        DCDMSolver(identity)


# -- training data and loss ------------------------------------------------------------------------------
def test_ritz_vectors_approximate_the_spectrum_ends_and_rhs_favour_the_low_end():
    m = 12
    A = poisson2d(m)
    values, vectors = ritz_vectors(A, 60, seed=0)
    k = np.arange(1, m + 1)
    one_d = 4 * (m + 1) ** 2 * np.sin(k * np.pi / (2 * (m + 1))) ** 2
    exact = np.sort((one_d[:, None] + one_d[None, :]).ravel())
    assert values[0] == pytest.approx(exact[0], rel=1e-8) and values[-1] == pytest.approx(exact[-1], rel=1e-8)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(len(values)), atol=1e-10)
    assert np.linalg.norm(A @ vectors[:, 0] - values[0] * vectors[:, 0]) <= 1e-6 * values[0]
    b = spectral_rhs(vectors, 200, low_fraction=0.55, low_weight=9.0, seed=1)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0)
    energy = (b @ vectors) ** 2  # coefficients in the Ritz basis
    assert energy[:, :30].sum() > 20 * energy[:, 33:].sum()


def test_loss_vanishes_on_the_exact_inverse_and_ignores_scale():
    A = poisson2d(6)
    b = rhs(36, seed=4).unsqueeze(0)
    A_t = torch.from_numpy(A.toarray())
    exact = torch.linalg.solve(A_t, b[0]).unsqueeze(0)
    assert float(dcdm_loss(3.0 * exact, b, 3.0 * exact @ A_t.T)) < 1e-24
    q = b.clone()  # steepest descent: one exact step along r
    loss = dcdm_loss(q, b, q @ A_t.T)
    assert 0 < float(loss) < 1 and float(dcdm_loss(-7.0 * q, b, -7.0 * q @ A_t.T)) == pytest.approx(float(loss))


# -- training through sciml's trainer, loading, evaluation ------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("dcdm")
    store = write_systems(root / "poisson8.h5", 2, 8, seed=0, params={"contrast": 1.0})
    run = root / "run"
    summary = train_model("dcdm", store, run, overrides={"width": 8, "levels": 1, "ritz_vectors": 32,
                                                          "rhs_per_system": 64, "epochs": 8, "batch_size": 16,
                                                          "lr": 3e-3}, show_progress=False)
    return {"store": store, "run": run, "summary": summary, "root": root}


def test_training_reduces_the_loss_and_the_trained_solver_converges(trained):
    losses = [json.loads(line)["train_loss"] for line in (trained["run"] / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 8 and losses[-1] < 0.5 * losses[0]
    solver = DCDMSolver.from_run(trained["run"])
    assert solver.n_dims == 2
    for m in (8, 12):  # the training grid and a larger one
        A, b = poisson2d(m), rhs(m * m, seed=m)
        result = solver.solve(A, b, rtol=1e-8, maxiter=500)
        assert result.converged, result.summary()
        assert relative_true_residual(A, result.x, b) <= 1e-8


def test_untrained_network_has_a_larger_loss_than_the_trained_one(trained):
    from sciml.learned.dcdm import SPEC, DCDMMethod

    data = SPEC.dataset(trained["store"])
    trained_net = load(trained["run"])
    config = trained_net.config
    data.configure(config)
    batch = {k: torch.stack([data[i][k] for i in range(32)]) for k in ("rhs", "values", "crow", "col")}
    torch.manual_seed(0)
    fresh = DCDMNet(config)
    assert float(DCDMMethod(trained_net).evaluate(batch)["loss"]) < 0.5 * float(DCDMMethod(fresh).evaluate(batch)["loss"])


def test_eval_table_has_dcdm_next_to_the_classical_preconditioners(trained):
    result = evaluate_run(trained["run"], trained["store"])
    names = [row["precond"] for row in result["table"]]
    assert names == ["none", "jacobi", "ic0", "amg-rs", "dcdm"]
    assert set(result["table"][0]) == {"precond", "mean_iterations", "mean_setup_s", "mean_solve_s", "mean_total_s",
                                       "all_converged"}
    assert all(row["all_converged"] for row in result["table"]) and result["rtol"] == 1e-6
    assert len(result["per_system"]["dcdm"]) == 2


def test_runs_that_are_not_dcdm_are_refused(trained, tmp_path):
    with pytest.raises(DataError, match="holds no trained model"):
        load(tmp_path)
    other = tmp_path / "npcg"
    train_model("neural-pcg", trained["store"], other, overrides={"epochs": 1, "hidden": 4, "layers": 1,
                                                                  "batch_size": 2}, show_progress=False)
    with pytest.raises(DataError, match="holds a 'neural-pcg' model, not 'dcdm'"):
        DCDMSolver.from_run(other)


def test_training_data_refuses_mismatched_grids_and_configs(trained):
    from sciml.learned.dcdm import spec_complete_config

    with pytest.raises(DataError, match=r"grid_shape \(5, 5\) holds 25 unknowns"):
        SpectralRHSDataset([poisson2d(6)], (5, 5))
    with pytest.raises(DataError, match="different sparsity pattern"):
        SpectralRHSDataset([poisson2d(6), sp.identity(36, format="csr") * 4.0], (6, 6))
    data = SpectralRHSDataset([poisson3d(4)], (4, 4, 4))
    with pytest.raises(DataError, match=r"n_dims=2 but the training matrices is on a 3D grid"):
        spec_complete_config(DCDMConfig(n_dims=2), data)
    with pytest.raises(ConfigError, match="unknown --set key 'widht'"):
        train_model("dcdm", trained["store"], trained["root"] / "typo", overrides={"widht": 3})


# -- the experiment ------------------------------------------------------------------------------------
def test_smoke_experiment_writes_a_report_and_a_loadable_run(tmp_path):
    from sciml.experiments import run_experiment

    out = tmp_path / "exp"
    results = run_experiment("dcdm-poisson", out, scale="smoke")
    assert [s["m"] for s in results["per_size"]] == [8, 16]
    for size in results["per_size"]:
        assert set(size["methods"]) == {"none", "jacobi", "ic0", "amg-rs", "dcdm"}
        for name, row in size["methods"].items():
            if row["all_converged"]:
                assert row["max_true_relative_residual"] <= 1e-6 * 1.0001, name
    assert results["per_size"][0]["methods"]["dcdm"]["all_converged"]
    report = (out / "report.md").read_text()
    assert "| 16x16 | 256 | DCDM |" in report and "slope p" in report
    assert (out / "iterations.png").exists() and (out / "residuals.png").exists()
    assert DCDMSolver.from_run(out).n_dims == 2


def test_learned_load_and_sciml_solve_dispatch_a_dcdm_run(trained, tmp_path, capsys):
    import scipy.io

    import sciml.learned
    from sciml import ConfigError
    from sciml.cli import main

    solver = sciml.learned.load(trained["run"])
    assert isinstance(solver, DCDMSolver)
    with pytest.raises(ConfigError, match="a solver, not a preconditioner"):
        sciml.learned.load(trained["run"], poisson2d(8))
    scipy.io.mmwrite(tmp_path / "a.mtx", poisson2d(12))
    assert main(["solve", str(tmp_path / "a.mtx"), "--precond", str(trained["run"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "dcdm" and report["converged"] and report["relative_residual"] <= 1e-8
    assert main(["solve", str(tmp_path / "a.mtx"), "--precond", str(trained["run"]), "--norm", "max"]) == 2
    assert "stops on the L2 norm" in capsys.readouterr().err
