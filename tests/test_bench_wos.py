"""The wos benchmark suite: structure and consistency of its JSON, never timings."""

import json

from sciml.bench import run_suite


def test_quick_wos_bench_times_both_loops_on_every_case(tmp_path, one_thread):
    out = tmp_path / "wos.json"
    result = run_suite("wos", out, quick=True)
    assert json.loads(out.read_text())["suite"] == "wos"
    cases = [r["case"] for r in result["rows"]]
    assert cases == ["disk-laplace", "disk-poisson", "disk-200gon-laplace", "star-200-laplace", "ball-laplace"]
    for r in result["rows"]:
        ours, naive = r["sciml"], r["naive"]
        assert ours["walks_per_second"] > 0 and naive["walks_per_second"] > 0
        assert abs(r["speedup"] - naive["seconds"] / ours["seconds"]) < 1e-12
        # both loops estimate the same function: errors at the Monte Carlo level (100 walks: stderr ~ 0.05)
        assert ours["rms_error"] < 4 * ours["stderr_mean"] + 1e-3, r
        assert naive["rms_error"] < 4 * ours["stderr_mean"] + 1e-3, r
    assert set(result["polygon_over_analytic"]) == {"float64"}
