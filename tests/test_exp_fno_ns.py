"""Smoke runs of the Navier-Stokes FNO experiments (fno-ns-2d, fno-ns-3d) sharing one data directory."""

import json

import pytest

from sciml import SciMLError
from sciml.experiments import experiment_config, run_experiment
from sciml.experiments.fno_ns import PAPER


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ns-data")


@pytest.mark.parametrize("name, kind", [("fno-ns-2d", "fno-2d"), ("fno-ns-3d", "fno-3d")])
def test_navier_stokes_experiment_runs_at_smoke_scale(tmp_path, data_dir, name, kind):
    out = tmp_path / name
    results = run_experiment(name, out, scale="smoke", data_dir=data_dir)
    saved = json.loads((out / "results.json").read_text())
    size = experiment_config(name, "smoke")
    # both experiments use the same two files, so the second one reuses them
    assert sorted(p.name for p in data_dir.glob("*.h5")) == ["ns-nu0.001-T5-res16-test2.h5",
                                                              "ns-nu0.001-T5-res16-train4.h5"]
    assert not (out / "data").exists()
    ev = saved["evaluation"]
    assert ev["horizon"] == size["horizon"] and len(ev["per_step_rel_l2"]) == size["horizon"]
    assert ev["times"] == [3.0, 4.0] and ev["n_samples"] == size["data"]["n_test"]
    metrics = [json.loads(line) for line in (out / "model" / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == size["model"]["epochs"]
    best = min(m["val_rel_l2"] for m in metrics)
    assert saved["rel_l2"] == pytest.approx(best, rel=1e-5)  # evaluation of best.pt = its validation score
    assert saved["paper_rel_l2"] == PAPER["nu=1e-3"][kind] and saved["model_name"] in ("fno-rollout", "fno-space-time")
    speed = saved["speed"]
    assert speed["model_s_per_sample"] > 0 and speed["speedup"] == pytest.approx(
        speed["solver_s_per_sample"] / speed["model_s_per_sample"], rel=1e-9)
    assert speed["solver_vs_stored_rel_l2"] < 1e-5  # the timed solver is the one that made the data
    report = (out / "report.md").read_text()
    assert f"**{saved['rel_l2']:.4f}**" in report and str(PAPER["nu=1e-3"][kind]) in report
    for figure in ("training_curve.png", "error_vs_step.png", "vorticity.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
    assert results["experiment"] == name
    with pytest.raises(SciMLError, match="already holds results"):
        run_experiment(name, out, scale="smoke", data_dir=data_dir)
