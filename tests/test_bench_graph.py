"""``sciml bench graph --quick``: the suite runs, compares the same model both ways, and writes its JSON."""

from __future__ import annotations

import json

import torch

from sciml.cli import main


def test_bench_graph_quick_writes_both_structures_and_the_rollout_times(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "graph.json"
    assert main(["--quiet", "bench", "graph", "--quick", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    step = r["training_step"]
    assert step["ours_s"] > 0 and step["naive_s"] > 0
    # the naive per-sample graphs give the model the same inputs as the cached batched graph
    assert step["same_output_max_abs_difference"] < 1e-5
    # implicit backward memory does not grow with the iterations; unrolling does
    mem = {row["iterations"]: row for row in r["cgs_backward"]["rows"]}
    assert mem[100]["unrolled"]["peak_bytes_above_setup"] > mem[100]["implicit"]["peak_bytes_above_setup"]
    assert set(r["rollout"]["weno5_s_per_trajectory"]) == {"20", "40"} and r["rollout"]["mppde_s_per_trajectory"] > 0
    assert r["machine"]["torch_threads"] == r["torch_threads"]
    rows = r["cgs_backward"]["rows"]
    assert [row["iterations"] for row in rows] == [10, 100]
    for row in rows:
        for method in ("implicit", "unrolled"):
            assert "error" not in row[method], row[method]
        assert row["unrolled"]["iterations_run"] == row["iterations"] and row["implicit"]["iterations_run"] >= 1
