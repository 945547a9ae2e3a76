import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import run_cli
from sciml import ConfigError, DataError, SciMLError
from sciml.train import TrainingError
from sciml.runs import evaluate_run, load_model, train_model


def _lines(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_writes_metrics_checkpoints_and_evaluates_at_two_resolutions(darcy_files, tmp_path):
    run = tmp_path / "run"
    summary = train_model("fno", darcy_files["train"], run, val_path=darcy_files["test"],
                          overrides={"epochs": 3, "batch_size": 8, "modes": 4, "width": 8}, show_progress=False)
    assert [r["epoch"] for r in _lines(run)] == [1, 2, 3]
    assert {"train_loss", "val_rel_l2", "val_nrmse", "samples_per_s", "lr"} <= set(_lines(run)[0])
    assert summary["best"]["metric"] == "val_rel_l2"
    for name in ("checkpoint.pt", "best.pt", "model.pt", "config.yaml", "summary.json"):
        assert (run / name).exists()
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 3 and state["model_config"]["modes"] == 4 and "optimizer" in state and "rng" in state
    model, meta = load_model(run)
    assert model.config.in_channels == 1 and meta["model_name"] == "fno"
    same = evaluate_run(run, darcy_files["test"])
    finer = evaluate_run(run, darcy_files["test_fine"])
    assert same["resolution"] == [16, 16] and finer["resolution"] == [31, 31]
    assert same["train_resolution"] == [16, 16] and same["n_samples"] == 6
    assert same["rel_l2"] == pytest.approx(_lines(run)[summary["best"]["epoch"] - 1]["val_rel_l2"], rel=1e-5)
    assert (run / "eval" / "test31.json").exists()
    # relative L2 and nRMSE coincide for one output channel; the model has learned something
    assert finer["rel_l2"] == pytest.approx(finer["nrmse"], rel=1e-6) and same["rel_l2"] < 1.0


def test_bad_configuration_and_existing_runs_are_refused(darcy_files, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ConfigError, match="unknown --set key 'epoch'"):
        train_model("fno", darcy_files["train"], run, overrides={"epoch": 3})
    with pytest.raises(ConfigError, match="unknown model 'unet'; choose one of fno"):
        train_model("unet", darcy_files["train"], run)
    with pytest.raises(DataError, match="model config in_channels=3 but .* has in_channels=1"):
        train_model("fno", darcy_files["train"], run, overrides={"in_channels": 3})
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model:\n  modez: 3\n")
    with pytest.raises(ConfigError, match="unknown model key 'modez'"):
        train_model("fno", darcy_files["train"], run, config_path=cfg)
    with pytest.raises(ConfigError, match="epochs must be at least 1"):
        train_model("fno", darcy_files["train"], run, overrides={"epochs": 0})
    assert not run.exists()
    train_model("fno", darcy_files["train"], run, overrides={"epochs": 1, "modes": 2, "width": 4}, show_progress=False)
    before = (run / "checkpoint.pt").read_bytes()
    with pytest.raises(SciMLError, match="already holds a run; pass --resume to continue it or --force"):
        train_model("fno", darcy_files["train"], run, overrides={"epochs": 1})
    assert (run / "checkpoint.pt").read_bytes() == before
    with pytest.raises(ConfigError, match="keeps its model configuration"):
        train_model("fno", darcy_files["train"], run, overrides={"width": 8}, resume=True)
    train_model("fno", darcy_files["train"], run, overrides={"epochs": 2, "modes": 2, "width": 4}, force=True,
                show_progress=False)
    assert len(_lines(run)) == 2


def test_non_finite_loss_stops_the_run_with_a_clear_error(darcy_files, tmp_path):
    with pytest.raises(TrainingError, match="the loss became"):
        train_model("fno", darcy_files["train"], tmp_path / "run",
                    overrides={"epochs": 50, "lr": 1e30, "modes": 2, "width": 4}, show_progress=False)


def test_eval_refuses_data_of_another_shape(darcy_files, tmp_path):
    run = tmp_path / "run"
    train_model("fno", darcy_files["train"], run, overrides={"epochs": 1, "modes": 2, "width": 4}, show_progress=False)
    torch.save({"x": torch.zeros(3, 2, 8, 8), "y": torch.zeros(3, 1, 8, 8)}, tmp_path / "two.pt")
    from sciml.data import import_file

    import_file(tmp_path / "two.pt", tmp_path / "two.h5")
    with pytest.raises(DataError, match="two.h5 has 2 input channels, the model takes 1"):
        evaluate_run(run, tmp_path / "two.h5")


def test_sigkilled_run_resumes_to_the_same_result_as_an_unbroken_one(darcy_files, tmp_path):
    args = ["--threads", "1", "train", "fno", "--data", str(darcy_files["train"]), "--set", "epochs=30",
            "--set", "batch_size=4", "--set", "modes=4", "--set", "width=8"]
    full = run_cli(*args, "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    broken = tmp_path / "broken"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "sciml", *args, "--out", str(broken)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        metrics = broken / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(_lines(broken))
    assert done_before < 30
    resumed = run_cli(*args, "--out", str(broken), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert [r["epoch"] for r in _lines(broken)] == list(range(1, 31))
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    b = torch.load(broken / "model.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 30
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=1e-5, atol=1e-6)
    assert [r["train_loss"] for r in _lines(broken)] == pytest.approx([r["train_loss"] for r in _lines(tmp_path / "full")],
                                                                        rel=1e-5)


def test_resume_can_extend_epochs_and_change_lr_but_not_shrink(darcy_files, tmp_path):
    run = tmp_path / "run"
    base = {"modes": 2, "width": 4, "batch_size": 8}
    train_model("fno", darcy_files["train"], run, overrides={**base, "epochs": 2, "lr": 1e-3}, show_progress=False)
    train_model("fno", darcy_files["train"], run, overrides={"epochs": 4, "lr": 1e-2}, resume=True,
                show_progress=False)
    lines = _lines(run)
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4]
    # the cosine schedule of the new settings, in closed form: lr(e) = lr * (1 + cos(pi e / epochs)) / 2
    import math

    assert lines[2]["lr"] == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * 2 / 4)))
    assert lines[3]["lr"] == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * 3 / 4)))
    before = {p: (run / p).read_bytes() for p in ("model.pt", "summary.json")}
    train_model("fno", darcy_files["train"], run, resume=True, show_progress=False)  # complete: nothing to do
    assert {p: (run / p).read_bytes() for p in before} == before
    with pytest.raises(ConfigError, match="already holds 4 epochs"):
        train_model("fno", darcy_files["train"], run, overrides={"epochs": 3}, resume=True)
    assert {p: (run / p).read_bytes() for p in before} == before


class _Cliff(torch.nn.Module):
    """One weight; the loss (w - 3)^2 is finite for |w| < 10 and NaN beyond (a cliff the line search can reach)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))


class _CliffMethod:
    def __init__(self, model):
        self.model = self.net = model

    def sample(self, generator):
        return {"x": torch.zeros(1, dtype=torch.float64)}

    def step(self, batch):
        w = self.model.w[0]
        loss = (w - 3) ** 2 + torch.where(w.abs() < 10, 0.0, float("nan"))
        return {"loss": loss}


def test_a_non_finite_lbfgs_trial_point_undoes_the_step_and_halves_the_rate(tmp_path, caplog):
    from dataclasses import dataclass

    from sciml.train.trainer import TrainConfig, Trainer

    @dataclass(frozen=True)
    class Nothing:
        pass

    model = _Cliff()
    # the first trial step is lr / |g| * g = lr: 30 and 15 fall off the cliff, 7.5 does not
    config = TrainConfig(epochs=4, lbfgs_epochs=4, lbfgs_lr=30.0, lbfgs_max_iter=10, steps_per_epoch=1, device="cpu")
    with caplog.at_level("WARNING", logger="sciml.train"):
        Trainer(_CliffMethod(model), None, config=config, run_dir=tmp_path / "run", model_name="cliff",
                model_config=Nothing(), show_progress=False).fit()
    assert any("non-finite loss; step undone" in r.getMessage() for r in caplog.records)
    assert abs(float(model.w) - 3.0) < 1e-6  # it got there with the smaller rate
