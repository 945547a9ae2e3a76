"""The precond-ood benchmark suite (quick mode): consistent numbers, never timings."""

from __future__ import annotations

import json

import pytest

from sciml.bench import SUITES, run_suite
from sciml.bench import precond_ood as bench
from sciml.experiments import experiment_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("ood") / "precond-ood.json"
    try:
        run_suite("precond-ood", out, quick=True)
    finally:
        torch.set_num_threads(before)
    assert sorted(p.name for p in out.parent.iterdir()) == ["precond-ood.json"]  # data and runs were temporary
    return json.loads(out.read_text())


def test_the_wide_family_is_the_experiments_small_scale():
    assert "precond-ood" in SUITES
    assert experiment_config("neural-pcg-diffusion2d", "small")["params"] == bench.WIDE
    assert experiment_config("neural-pcg-diffusion2d", "small")["train"] == bench.SETTINGS["full"]["train"]


def test_every_solve_converged_and_the_guard_used_what_it_chose(result):
    assert result["suite"] == "precond-ood" and result["threads"]["torch"] == 1
    assert set(result["results"]) == {"narrow", "wide"}
    for model, by_set in result["results"].items():
        assert set(by_set) == set(bench.TEST_SETS)
        for name, r in by_set.items():
            rows = {row["method"]: row for row in r["table"]}
            assert set(rows) == set(bench.METHODS)
            for row in rows.values():
                assert row["all_converged"] and row["max_true_relative_residual"] <= 1e-7
            family = bench.TEST_SETS[name]["family"]
            assert r["in_family"] == (family == model or (model == "wide" and family == "narrow"))
            g = r["guard"]
            assert g["fallbacks"] + g["kept"] == g["systems"] == result["settings"]["n_test"]
            for s in g["per_system"]:
                # the guarded solve is the learned solve or the IC(0) solve, as decided
                assert s["iterations"] == (s["ic0_iterations"] if s["decision"] == "fallback"
                                           else s["learned_iterations"])
                assert s["total_s"] >= s["check_s"] > 0
                assert (s["decision"] == "fallback") == (s["learned_predicted"] > s["ic0_predicted"])


def test_the_step_study_and_the_tables(result):
    study = result["step_study"]
    assert list(study["by_steps"]) == list(bench.PROBES)
    rows = study["per_system"]
    assert len(rows) == len(bench.TEST_SETS) * result["settings"]["n_test"] + sum(
        c["systems"] for c in result["cost"])
    for k, (steps, fraction) in bench.PROBES.items():
        s = study["by_steps"][k]
        assert 0 <= s["right"] <= s["clear_pairs"] and s["right_vs_ic0"] <= s["clear_pairs_vs_ic0"] <= s["clear_pairs"]
        assert s["chosen_over_best_iterations"] >= 1.0
        for row in rows:
            taken = row["probe_steps"]["learned"][k]
            assert taken <= max(steps, 200)
            if fraction == 0:
                assert taken <= steps
    text = bench.markdown(result)
    for model, by_set in result["results"].items():
        for name, r in by_set.items():
            learned = next(row for row in r["table"] if row["method"] == "learned")
            assert f"| {model} | {name} |" in text and f"{learned['mean_iterations']:.1f} / " in text
    assert text.count("\n| ") == len(bench.TEST_SETS) * 2 + 2 * len(bench.PROBES) + len(result["cost"]) + 4
