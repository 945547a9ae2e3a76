"""The FNO experiments at smoke scale: data, training, super-resolution table, speed, report."""

import json

import numpy as np
import pytest
import torch

from sciml.data.pdes import burgers
from sciml.data.store import open_store
from sciml.experiments import run_experiment


def _check_common(out, saved, paper_key):
    model = saved["models"][0]
    rows = {tuple(r["resolution"]): r for r in model["evaluation"]["rows"]}
    sr = saved["super_resolution"]
    # the ratio is computed from the table's own rows
    assert sr["ratio"] == pytest.approx(rows[tuple(model["evaluation"]["rows"][-1]["resolution"])]["rel_l2"]
                                        / model["own_resolution_row"]["rel_l2"])
    assert all(set(r) >= {"rel_l2", "nrmse", "fourier_low", "fourier_mid", "fourier_high", "train_resolution"}
               for r in rows.values())
    assert 0 < model["own_resolution_row"]["rel_l2"] < 1.5 and len(model["epochs"]) == saved["sizes"]["train"]["epochs"]
    speed = saved["speed"]
    assert speed["solver_s"] > 0 and speed["speedup_batched"] == pytest.approx(speed["solver_s"] / speed["model_batched_s"])
    report = (out / "report.md").read_text()
    assert f"{model['own_resolution_row']['rel_l2']:.4f}" in report and f"**{sr['ratio']:.2f}**" in report
    assert model["evaluation"]["table"] in report and paper_key in json.dumps(saved["reference"])
    for name in ("training_curve.png", "predictions.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_fno_darcy_smoke(tmp_path):
    out = tmp_path / "darcy"
    run_experiment("fno-darcy", out, scale="smoke")
    saved = json.loads((out / "results.json").read_text())
    _check_common(out, saved, "0.0108")
    # the test sets at 17 and 33 hold the same problems: the coarse one is the fine one subsampled
    with open_store(saved["data"]["test"]["17"]) as coarse, open_store(saved["data"]["test"]["33"]) as fine:
        np.testing.assert_array_equal(coarse.read("input"), fine.read("input")[:, :, ::2, ::2])
        np.testing.assert_array_equal(coarse.read("output"), fine.read("output")[:, :, ::2, ::2])


def test_fno_burgers_smoke_pairs_are_u0_and_u1_of_the_reference_solver(tmp_path):
    out = tmp_path / "burgers"
    run_experiment("fno-burgers", out, scale="smoke")
    saved = json.loads((out / "results.json").read_text())
    _check_common(out, saved, "0.016")
    with open_store(saved["data"]["test"]["64"]) as pairs:
        params = pairs.attrs["params"]
        x, y = pairs.read("input", [0, 1]), pairs.read("output", [0, 1])
        assert pairs.attrs["pde"] == "burgers" and x.shape == (2, 1, 64)
    # independent solve of the same initial conditions (test seed 1) on the fine grid, subsampled
    u0 = torch.stack([burgers.initial_condition(1, i, params) for i in range(2)])
    u = burgers.solve(u0, params["nu"], [0.0, params["T"]], dt=params["dt"])[:, :, ::params["fine"] // 64]
    np.testing.assert_allclose(x[:, 0], u[:, 0].numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(y[:, 0], u[:, 1].numpy(), rtol=0, atol=1e-5)
    assert float(np.abs(y - x).max()) > 0.1  # the map is not the identity
