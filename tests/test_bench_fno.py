"""The fno benchmark suite: sciml's Trainer against neuraloperator's (structure and consistency, never timings)."""

import json
import math

import pytest

from sciml.bench import fno as bench
from sciml.bench import run_suite



def test_quick_fno_bench_trains_all_three_and_reports_ratios(tmp_path, one_thread):
    result = run_suite("fno", tmp_path / "fno.json", quick=True)
    assert json.loads((tmp_path / "fno.json").read_text())["summary"] == result["summary"]
    setup, runs, summary = result["setup"], result["runs"], result["summary"]
    sizes = bench.SIZES[True]
    assert (setup["torch_threads"], setup["res"], setup["model"]["modes"], setup["model"]["width"],
            setup["model"]["n_layers"]) == (1, sizes["res"], sizes["modes"], 32, 4)
    assert set(runs) == {"sciml", "neuralop, same network", "neuralop, native model"}
    for name, entry in runs.items():
        losses = entry["train_loss_per_epoch"]
        assert len(losses) == len(entry["per_epoch_samples_per_s"]) == sizes["epochs"], name
        assert losses[-1] < losses[0] and entry["loss_reduced"], f"{name} did not reduce its loss: {losses}"
        assert entry["median_samples_per_s"] > 0 and math.isfinite(entry["test_rel_l2"]), name
        assert 0 < entry["test_rel_l2"] < 1.5, name
    # each trainer's own test metric agrees with the common one on its final model: sciml's validation
    # of the last epoch, and neuraloperator's LpLoss(d=2) evaluation summed and divided by the count
    assert runs["sciml"]["trainer_test_rel_l2_per_epoch"][-1] == pytest.approx(runs["sciml"]["test_rel_l2"], rel=1e-5)
    for name in ("neuralop, same network", "neuralop, native model"):
        assert runs[name]["trainer_test_rel_l2_last"] == pytest.approx(runs[name]["test_rel_l2"], rel=1e-4)
    # same network, same initial weights, same schedule: the two trainers' first-epoch losses agree
    # up to the shuffling order, far closer than to the native model's (normalised-output) loss
    first = [runs[n]["train_loss_per_epoch"][0] for n in ("sciml", "neuralop, same network")]
    assert first[0] == pytest.approx(first[1], rel=0.05)
    assert summary["throughput_ratio_sciml_over_neuralop"] == pytest.approx(
        runs["sciml"]["median_samples_per_s"] / runs["neuralop, same network"]["median_samples_per_s"])
    assert summary["error_ratio_sciml_over_neuralop"] == pytest.approx(
        runs["sciml"]["test_rel_l2"] / runs["neuralop, same network"]["test_rel_l2"])
    # one round in the quick suite: the paired per-round ratio is the summary's ratio
    assert summary["rounds"] == sizes["rounds"] == len(summary["throughput_ratio_per_round"]) == 1
    assert summary["throughput_ratio_per_round"][0] == pytest.approx(summary["throughput_ratio_sciml_over_neuralop"])
    assert result["round_orders"] == [["sciml", "neuralop, same network", "neuralop, native model"]]
    assert "weights_only" in result["neuralop_pitfalls"][0]
    assert not list(tmp_path.glob("tmp*")), "the suite's temporary data must be removed"
