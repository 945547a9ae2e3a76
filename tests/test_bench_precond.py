"""The precond benchmark suite and the comparison code under it (structure and consistency, never timings)."""

import json

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import torch

from sciml import ConfigError, DataError
from sciml.bench import precond as bench
from sciml.gallery import diffusion2d_grf, poisson2d
from sciml.learned import NeuralPCG, NeuralPCGConfig
from sciml.learned.compare import compare_systems, growth, ratios, solve_once, summarize, where_amg_wins

METHODS = {"none", "jacobi", "ic0", "amg-rs", "amg-sa", "learned"}


pytestmark = pytest.mark.usefixtures("one_thread")  # the fixture lives in conftest.py


def test_quick_suite_reports_consistent_numbers(tmp_path):
    result = bench.run(quick=True, workdir=tmp_path, families=["diffusion2d"])
    json.dumps(result)  # JSON-ready
    assert list(tmp_path.iterdir()) == []  # data and the training run lived in a removed temporary folder
    assert result["threads"]["torch"] == 1 and result["rtol"] == 1e-8
    family = result["families"]["diffusion2d"]
    assert family["train"]["res"] == bench.SETTINGS["quick"]["res"]
    sizes = family["sizes"]
    assert [s["factor"] for s in sizes] == [1, 2, 4]
    n = [s["mean_n"] for s in sizes]
    assert n == [s["res"] ** 2 for s in sizes]
    assert 1.7 < n[1] / n[0] < 2.3 and n[2] / n[0] == 4
    for size in sizes:
        rows = {r["method"]: r for r in size["table"]}
        assert set(rows) == METHODS
        for row in rows.values():
            assert row["all_converged"] and row["systems"] == bench.SETTINGS["quick"]["n_test"]
            assert row["max_true_relative_residual"] <= 1e-7
        assert size["ratios"] == ratios(size["table"])
        # preconditioning helps on these systems: every preconditioner beats plain CG in iterations
        assert all(rows[m]["mean_iterations"] < rows["none"]["mean_iterations"] for m in METHODS - {"none"})
    summary = result["summary"]["diffusion2d"]
    assert summary["4x"]["learned_iterations"] == family["growth"]["learned"]["iterations"][2]
    assert summary["where_amg_wins"] == where_amg_wins(sizes)


def test_solve_once_agrees_with_scipy_cg_and_times_its_history():
    A = poisson2d(16)
    b = np.random.default_rng(3).standard_normal(A.shape[0])
    plain = solve_once("none", A, b, rtol=1e-8)
    count = [0]
    spla.cg(A, b, rtol=1e-8, atol=0.0, maxiter=5000, callback=lambda xk: count.__setitem__(0, count[0] + 1))
    assert abs(plain.iterations - count[0]) <= 1
    ic0 = solve_once("ic0", A, b, rtol=1e-8)
    for s in (plain, ic0):
        assert s.converged and s.true_relative_residual <= 1e-7
        assert s.relative_residuals.shape == s.elapsed_s.shape == (s.iterations + 1,)
        assert s.relative_residuals[-1] <= 1e-8 and s.relative_residuals[0] == pytest.approx(1.0)
        assert s.elapsed_s[0] >= s.setup_s and np.all(np.diff(s.elapsed_s) >= 0)
        assert s.elapsed_s[-1] == pytest.approx(s.total_s)
    assert ic0.iterations < plain.iterations


def test_untrained_network_is_ssor_in_the_comparison():
    """An untrained network gives SSOR(omega=1) (see sciml.learned.neural_pcg), so its iterations match SSOR's."""
    torch.manual_seed(0)
    model = NeuralPCG(NeuralPCGConfig(hidden=8, layers=1))
    A = diffusion2d_grf(10, contrast=100.0, seed=1)
    b = np.ones(A.shape[0])
    learned = solve_once("learned", A, b, model=model)
    from sciml.linalg import pcg, preconditioner

    ssor = pcg(A, torch.from_numpy(b), preconditioner("ssor", A), rtol=1e-8)
    assert abs(learned.iterations - int(ssor.iterations)) <= 1
    table = summarize(compare_systems([(A, b)], model=model, methods=("ic0", "learned"), warmup=False))
    assert [r["method"] for r in table] == ["ic0", "learned"]


def test_growth_exponent_and_amg_statement_from_known_tables():
    tables = [[{"method": "cg", "mean_n": n, "mean_iterations": 3.0 * n ** 0.5}] for n in (100, 200, 400)]
    g = growth(tables)["cg"]
    assert g["exponent"] == pytest.approx(0.5) and g["relative_to_first"][-1] == pytest.approx(2.0)

    def row(method, its, total):
        return {"method": method, "mean_iterations": its, "median_total_s": total}

    sizes = [{"factor": 1, "table": [row("ic0", 20, 0.010), row("amg-rs", 5, 0.020), row("amg-sa", 6, 0.030),
                                     row("learned", 15, 0.015)]},
             {"factor": 4, "table": [row("ic0", 40, 0.050), row("amg-rs", 5, 0.020), row("amg-sa", 6, 0.030),
                                     row("learned", 45, 0.060)]}]
    text = where_amg_wins(sizes)
    assert "faster to solution than the learned preconditioner at 4x (AMG-RS 20.0 ms vs 60.0 ms)." in text
    assert "fewer iterations at 1x (5.0 vs 15.0), 4x (5.0 vs 45.0)" in text
    assert "fewer iterations than IC(0) at 1x." in text


def test_bad_input_is_refused():
    A = poisson2d(4)
    b = np.ones(A.shape[0])
    with pytest.raises(ConfigError, match="unknown method 'ic1'; choose one of none, jacobi, ic0"):
        solve_once("ic1", A, b)
    with pytest.raises(ConfigError, match="'learned' needs the trained network"):
        solve_once("learned", A, b)
    with pytest.raises(DataError, match=r"b has shape \(15,\)"):
        solve_once("jacobi", A, b[:-1])
    with pytest.raises(ConfigError, match="unknown system family 'diffusion9d'"):
        bench.run(quick=True, families=["diffusion9d"])
    with pytest.raises(DataError, match="no systems"):
        compare_systems([], methods=("none",))


@pytest.mark.slow
def test_quick_suite_over_every_available_family_through_the_cli(tmp_path):
    from sciml.cli import main

    out = tmp_path / "precond.json"
    assert main(["--threads", "1", "bench", "precond", "--quick", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["suite"] == "precond" and result["families"]
    for family in result["families"].values():
        for size in family["sizes"]:
            assert all(r["all_converged"] and r["max_true_relative_residual"] <= 1e-7 for r in size["table"])
