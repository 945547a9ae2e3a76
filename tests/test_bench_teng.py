"""The teng benchmark suite: structure and consistency of its JSON, never timings."""

import json

from sciml.bench import run_suite


def test_quick_teng_bench_times_both_integrators_and_the_parts(tmp_path, one_thread):
    out = tmp_path / "teng.json"
    result = run_suite("teng", out, quick=True)
    assert json.loads(out.read_text())["suite"] == "teng"
    assert [(r["integrator"], r["solver"]) for r in result["rows"]] == [("heun", "qr"), ("heun", "normal"),
                                                                      ("euler", "qr"), ("euler", "normal")]
    for r in result["rows"]:
        assert r["seconds_per_step"] > 0 and r["seconds_per_step"] == min(r["seconds_per_step_all"])
    parts = result["parts"]
    assert abs(parts["func_over_factors"] - parts["jacobian_func_s_at_func_points"]
               / parts["jacobian_factors_s_at_func_points"]) < 1e-12
    assert result["heun_meets_goal"] == (min(r["seconds_per_step"] for r in result["rows"][:2]) <= 10.0)
