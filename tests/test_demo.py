import json

from sciml.demo import run_demo


def test_demo_writes_report_results_and_figures(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(out, epochs=2, n_train=8, n_test=3)
    assert [e["resolution"] for e in result["evaluations"]] == [[32, 32], [63, 63]]
    saved = json.loads((out / "results.json").read_text())
    assert saved["evaluations"][1]["rel_l2"] == result["evaluations"][1]["rel_l2"]
    report = (out / "report.md").read_text()
    for ev in result["evaluations"]:
        assert f"{ev['rel_l2']:.4f}" in report
    for png in ("prediction.png", "training_curve.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # running again reuses the data and the finished run
    again = run_demo(out, epochs=2, n_train=8, n_test=3)
    assert again["evaluations"][0]["rel_l2"] == result["evaluations"][0]["rel_l2"]
    assert all(d["generation_seconds"] == 0.0 for d in again["data"].values())
