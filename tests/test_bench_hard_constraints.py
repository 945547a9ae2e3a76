"""The hard-constraints benchmark suite: structure and consistency of its JSON, never timings."""

import json

from sciml.bench import run_suite


def test_quick_hard_constraints_bench_compares_every_expert_count_with_pi_hc(tmp_path, one_thread):
    out = tmp_path / "hc.json"
    result = run_suite("hard-constraints", out, quick=True)
    assert json.loads(out.read_text())["suite"] == "hard-constraints"
    rows = result["rows"]
    assert [r["experts"] for r in rows] == result["settings"]["experts"] and rows[0]["experts"] == 1
    for r in rows:
        assert r["points_per_expert"] * r["experts"] == result["settings"]["points"]
        assert r["seconds_per_step"] > 0 and r["solver_iterations"] >= 1
        assert abs(r["hc_over_this"] - rows[0]["seconds_per_step"] / r["seconds_per_step"]) < 1e-12
