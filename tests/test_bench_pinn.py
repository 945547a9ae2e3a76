"""The pinn benchmark suite: structure and consistency of its JSON, never timings."""

import json

from sciml.bench import run_suite


def test_quick_pinn_bench_compares_the_laplacians_and_scales_sdgd(tmp_path, one_thread):
    out = tmp_path / "pinn.json"
    result = run_suite("pinn", out, quick=True)
    assert json.loads(out.read_text())["suite"] == "pinn" and result["device"] in ("cpu", "cuda")
    for row in result["laplacian"]:
        methods = row["methods"]
        assert set(methods) == {"sciml", "sciml_torch_func", "autograd_loop", "hessian_trace"}
        for name, m in methods.items():
            assert m["value_seconds"] > 0 and m["train_step_seconds"] > 0
            assert m["max_rel_difference_to_sciml"] < 1e-4, name  # three ways to one Laplacian (float32)
        assert set(row["speedup"]) == {"sciml_torch_func", "autograd_loop", "hessian_trace"}
        speed = row["speedup"]["autograd_loop"]
        ratio = methods["autograd_loop"]["train_step_seconds"] / methods["sciml"]["train_step_seconds"]
        assert abs(speed["train_step"] - ratio) < 1e-12
    rows = result["sdgd"]["rows"]
    assert [r["dim"] for r in rows] == [12, 48]
    for r in rows:
        for estimator in ("independent", "full"):
            assert r["estimators"][estimator]["seconds_per_step"] > 0, r["estimators"][estimator]
            assert r["estimators"][estimator]["peak_bytes"] > 0
        assert r["full_over_independent_time"] > 0
    assert set(result["sdgd"]["growth_in_d"]) == {"independent", "full"}
