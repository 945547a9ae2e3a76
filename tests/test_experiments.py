import json

import pytest

from sciml import ConfigError, SciMLError
from sciml.cli import main
from sciml.experiments import run_experiment


def test_relax_sor_sequence_runs_at_smoke_scale_and_writes_its_report(tmp_path):
    out = tmp_path / "relax"
    results = run_experiment("relax-sor-sequence", out, scale="smoke")
    saved = json.loads((out / "results.json").read_text())
    table = saved["results"]["bandit_uniform_shift"]
    # the baselines bracket every learner: instance-optimal <= best fixed <= worst fixed
    for entry in saved["results"].values():
        assert entry["instance_optimal"] <= entry["best_fixed"] <= entry["worst_fixed"]
        assert entry["instance_optimal"] <= entry["learner"] <= entry["worst_fixed"]
    report = (out / "report.md").read_text()
    for sequence in ("uniform_shift", "log_uniform_shift", "paper_sequence"):
        unimodal = saved["results"][f"unimodal_{sequence}"]
        assert len(unimodal["learner_per_seed"]) == 20 and str(unimodal["learner"]) in report
    assert "- unimodal Thompson sampling: " in report and "- Tsallis-INF: " in report  # the goal, per learner
    assert str(table["learner"]) in report and (out / "regret.png").read_bytes()[:4] == b"\x89PNG"
    assert results["scale"] == "smoke" and "2310.02246" in saved["paper"]
    with pytest.raises(SciMLError, match="already holds results"):
        run_experiment("relax-sor-sequence", out, scale="smoke")


def test_unknown_experiment_or_scale_is_refused(tmp_path, capsys):
    with pytest.raises(ConfigError, match="unknown experiment 'fno-darcyy'; choose one of fno-burgers, fno-darcy, fno-ns-2d, fno-ns-3d, neural-pcg-diffusion2d, neural-pcg-heat-mesh, dcdm-poisson, relax-sor-sequence"):
        run_experiment("fno-darcyy", tmp_path / "x")
    assert main(["reproduce", "relax-sor-sequence", "--scale", "huge", "--out", str(tmp_path / "y")]) == 2
    assert "unknown scale 'huge'" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
