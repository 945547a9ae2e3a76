"""The neural-pcg experiments: they run at smoke scale, report consistent numbers, and their run
directory is itself a trained preconditioner."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from sciml import SciMLError
from sciml.cli import main
from sciml.data.pdes import PDES
from sciml.experiments import run_experiment
from sciml.gallery import diffusion2d_grf
from sciml.learned import preconditioner_from_run
from sciml.linalg import pcg


def check_results(saved: dict) -> None:
    """Every method converged on every held-out system, with the true residual below tolerance, and the
    ratios and growth figures are the ones the tables imply."""
    assert [s["factor"] for s in saved["comparison"]] == [1, 2, 4]
    means = [s["mean_n"] for s in saved["comparison"]]
    assert means[0] < means[1] < means[2]
    for size in saved["comparison"]:
        rows = {r["method"]: r for r in size["table"]}
        assert set(rows) == {"none", "jacobi", "ic0", "amg-rs", "amg-sa", "learned"}
        for row in rows.values():
            assert row["all_converged"], row
            assert row["max_true_relative_residual"] <= 10 * saved["rtol"], row
            assert row["median_total_s"] >= row["median_setup_s"] >= 0
        q = size["ratios"]
        assert q["learned_over_ic0_iterations"] == pytest.approx(rows["learned"]["mean_iterations"] /
                                                                 rows["ic0"]["mean_iterations"])
        assert q["learned_over_amg_rs_time"] == pytest.approx(rows["learned"]["median_total_s"] /
                                                              rows["amg-rs"]["median_total_s"])
    for method, g in saved["growth"].items():
        assert g["iterations"] == [next(r["mean_iterations"] for r in s["table"] if r["method"] == method)
                                   for s in saved["comparison"]]
    for histories in saved["histories"].values():
        for h in histories.values():
            relative = np.array(h["relative_residuals"])
            assert len(relative) == h["iterations"] + 1 == len(h["elapsed_s"])
            assert relative[0] == pytest.approx(1.0) and relative[-1] <= saved["rtol"]
            assert np.all(np.diff(h["elapsed_s"]) >= 0) and h["elapsed_s"][0] >= h["setup_s"]


@pytest.fixture(scope="module")
def diffusion_run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("npcg") / "diffusion2d"
    run_experiment("neural-pcg-diffusion2d", out, scale="smoke")
    return out


def test_diffusion2d_smoke_reports_the_comparison(diffusion_run):
    saved = json.loads((diffusion_run / "results.json").read_text())
    check_results(saved)
    assert saved["sizes"]["params"]["contrast"] == 1e3 and "2305.16432" in saved["paper"]
    report = (diffusion_run / "report.md").read_text()
    learned = next(r for r in saved["comparison"][0]["table"] if r["method"] == "learned")
    assert f"| learned L L^T | {learned['mean_iterations']:.1f} |" in report
    assert "## Where AMG wins" in report and saved["where_amg_wins"] in report
    for figure in saved["figures"]:
        assert (diffusion_run / figure).read_bytes()[:4] == b"\x89PNG" and f"]({figure})" in report
    with pytest.raises(SciMLError, match="already holds results"):
        run_experiment("neural-pcg-diffusion2d", diffusion_run, scale="smoke")


def test_the_run_directory_is_a_preconditioner_for_both_cgs_and_the_cli(diffusion_run, tmp_path, capsys):
    A = diffusion2d_grf(12, contrast=1e3, seed=5)  # a size and coefficient the network never saw
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    M = preconditioner_from_run(diffusion_run, A)
    ours = pcg(A, torch.from_numpy(b), M, rtol=1e-10)
    assert ours.converged and np.linalg.norm(b - A @ ours.x.numpy()) <= 1e-9 * np.linalg.norm(b)
    x, info = spla.cg(A, b, rtol=1e-10, atol=0.0, M=M.as_linear_operator(), maxiter=1000)
    assert info == 0 and np.linalg.norm(b - A @ x) <= 1e-9 * np.linalg.norm(b)
    sp.save_npz(tmp_path / "A.npz", A)
    assert main(["solve", str(tmp_path / "A.npz"), "--precond", str(diffusion_run)]) == 0
    assert "converged" in capsys.readouterr().out


def test_an_unfinished_run_directory_is_not_overwritten(tmp_path):
    out = tmp_path / "interrupted"
    out.mkdir()
    (out / "config.yaml").write_text("model: {}\n")
    with pytest.raises(SciMLError, match="holds a training run but no results"):
        run_experiment("neural-pcg-diffusion2d", out, scale="smoke")
    assert not (out / "data").exists()


def test_heat_mesh_smoke_runs_or_names_the_missing_generator(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "heat"
    if "heat-mesh-systems" not in PDES:
        with pytest.raises(SciMLError, match="needs the 'heat-mesh-systems' system generator"):
            run_experiment("neural-pcg-heat-mesh", out, scale="smoke")
        return
    run_experiment("neural-pcg-heat-mesh", out, scale="smoke")
    check_results(json.loads((out / "results.json").read_text()))
    assert (out / "best.pt").exists() and (out / "report.md").exists()
