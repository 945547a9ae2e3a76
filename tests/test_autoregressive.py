"""Autoregressive training and rollout (sciml.operators.autoregressive, sciml.data.trajectories).

The heat equation on the periodic interval has an exact one-step map (each Fourier mode times
exp(-nu (2 pi k)^2 dt)), so a model that *is* that map must roll out with round-off error only, and
a model that is the map scaled by (1 + eps) must have rollout error (1 + eps)^k - 1 at step k and
teacher-forced error eps at every step.
"""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from sciml import DataError
from sciml.cli import main
from sciml.data import generate_dataset
from sciml.data.store import StoreWriter
from sciml.data.trajectories import TrajectoryDataset
from sciml.runs import evaluate_run, load_model, train_model
from sciml.operators.autoregressive import (AutoregressiveMethod, RecurrentFNO, RolloutConfig, SpaceTimeConfig,
                                        SpaceTimeFNO, rollout, rollout_metrics, teacher_forced)

NU, T, NT, RES = 0.02, 0.5, 11, 32


@pytest.fixture(scope="module")
def heat(tmp_path_factory):
    """1D heat trajectories at 32 points, exact in time (fine grid = stored grid): train and test files."""
    root = tmp_path_factory.mktemp("heat")
    params = {"nu": NU, "T": T, "nt": NT, "fine": RES}
    files = {"train": root / "train.h5", "test": root / "test.h5"}
    generate_dataset("heat", files["train"], n=8, res=RES, seed=0, params=params)
    generate_dataset("heat", files["test"], n=4, res=RES, seed=1, params=params)
    return files


def _store(path, pde, fields, arrays, coords):
    with StoreWriter(path, n_samples=len(next(iter(arrays.values()))), fields=fields, pde=pde, params={},
                     generator="test 1", seed=0, coords=coords) as writer:
        writer.write(arrays)
    return path


class ExactHeatStep(nn.Module):
    """The exact heat propagator over ``k`` frame intervals for the k-th output frame, times ``scale``."""

    def __init__(self, horizon, *, in_steps=1, out_steps=1, scale=1.0):
        super().__init__()
        self.config = RolloutConfig(in_steps=in_steps, out_steps=out_steps, horizon=horizon, pde="heat",
                                    channels=1, n_dims=1)
        self.in_steps, self.out_steps = in_steps, out_steps
        self.scale = nn.Parameter(torch.tensor(float(scale), dtype=torch.float64))
        k = torch.fft.rfftfreq(RES, d=1.0 / RES, dtype=torch.float64)
        self.register_buffer("decay", torch.exp(-NU * (2 * math.pi * k) ** 2 * (T / (NT - 1))))

    def forward(self, window):
        last = torch.fft.rfft(window[:, -1, 0].double())
        frames = [torch.fft.irfft(last * self.decay ** (j + 1), n=RES) for j in range(self.out_steps)]
        return (self.scale * torch.stack(frames, 1)[:, :, None]).to(window.dtype)


def test_trajectory_dataset_reads_trajectories_in_any_order(heat):
    data = TrajectoryDataset(heat["test"], dtype=torch.float64)
    assert (data.n_samples, data.n_times, data.channels, data.spatial, data.pde) == (4, NT, 1, (RES,), "heat")
    np.testing.assert_allclose(data.times, np.linspace(0, T, NT))
    batch = data.read([2, 0, 2, -1])
    assert batch.shape == (4, NT, 1, RES)
    torch.testing.assert_close(batch[0], batch[2])
    torch.testing.assert_close(batch[3], data[3])
    torch.testing.assert_close(batch[1], data[0])


def test_exact_step_rolls_out_with_round_off_error_only(heat):
    data = TrajectoryDataset(heat["test"], dtype=torch.float64)
    metrics = rollout_metrics(ExactHeatStep(NT - 1), data, batch_size=3)
    assert metrics["rel_l2"] < 1e-6 and max(metrics["per_step_rel_l2"]) < 1e-6  # float32 storage
    assert metrics["horizon"] == NT - 1 and len(metrics["per_step_rel_l2"]) == NT - 1
    assert metrics["times"] == pytest.approx(list(np.linspace(0, T, NT)[1:]))
    # a block predictor of 3 exact frames gives the same rollout, its last block cut to the horizon
    traj = data.read([0, 1])
    one = rollout(ExactHeatStep(7), traj[:, :1], 7)
    three = rollout(ExactHeatStep(7, out_steps=3), traj[:, :1], 7)
    assert three.shape == (2, 7, 1, RES)
    torch.testing.assert_close(one, three, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(one, traj[:, 1:8], rtol=0, atol=1e-6)


def test_rollout_error_accumulates_and_teacher_forcing_does_not(heat):
    eps = 0.01
    data = TrajectoryDataset(heat["test"], dtype=torch.float64)
    metrics = rollout_metrics(ExactHeatStep(NT - 1, scale=1 + eps), data)
    expected = [(1 + eps) ** k - 1 for k in range(1, NT)]
    np.testing.assert_allclose(metrics["per_step_rel_l2"], expected, rtol=1e-4)
    assert metrics["teacher_forced_rel_l2"] == pytest.approx(eps, rel=1e-4)
    # whole-trajectory error: the frames' norms weight the per-step errors, so it lies between them
    assert expected[0] < metrics["rel_l2"] < expected[-1]


@pytest.mark.parametrize("mode", ["teacher_forcing", "rollout"])
def test_training_losses_and_gradients_of_both_modes(heat, mode):
    eps, horizon = 0.01, 6
    model = ExactHeatStep(horizon, scale=1 + eps)
    model.config = RolloutConfig(in_steps=1, horizon=horizon, train_mode=mode, channels=1, n_dims=1)
    method = AutoregressiveMethod(model)
    batch = TrajectoryDataset(heat["train"], dtype=torch.float64).read(list(range(8)))
    loss = method.step(batch)["loss"]
    loss.backward()
    s = 1 + eps
    if mode == "teacher_forcing":  # every step from true frames: error eps, d/ds = 1
        assert float(loss.detach()) == pytest.approx(eps, rel=1e-4)
        assert float(model.scale.grad) == pytest.approx(1.0, rel=1e-4)
    else:  # unrolled: mean_k (s^k - 1), gradient through every step: mean_k k s^(k-1)
        ks = range(1, horizon + 1)
        assert float(loss.detach()) == pytest.approx(np.mean([s**k - 1 for k in ks]), rel=1e-4)
        assert float(model.scale.grad) == pytest.approx(np.mean([k * s ** (k - 1) for k in ks]), rel=1e-4)


def test_teacher_forced_uses_true_windows(heat):
    traj = TrajectoryDataset(heat["test"], dtype=torch.float64).read([0])
    model = ExactHeatStep(5, in_steps=2, scale=2.0)
    forced = teacher_forced(model, traj, 5)
    torch.testing.assert_close(forced, 2.0 * traj[:, 2:7], rtol=0, atol=1e-6)


def test_models_map_windows_to_blocks_at_any_resolution():
    rec = RecurrentFNO(RolloutConfig(in_steps=3, out_steps=2, horizon=4, channels=2, n_dims=2, modes=3, width=6,
                                     n_layers=2))
    assert rec(torch.randn(2, 3, 2, 12, 12)).shape == (2, 2, 2, 12, 12)
    assert rec(torch.randn(1, 3, 2, 20, 16)).shape == (1, 2, 2, 20, 16)
    st = SpaceTimeFNO(SpaceTimeConfig(in_steps=3, out_steps=5, horizon=5, channels=1, n_dims=1, modes=3, width=6,
                                      n_layers=2))
    assert st(torch.randn(2, 3, 1, 16)).shape == (2, 5, 1, 16)
    assert rollout(st, torch.randn(2, 3, 1, 16), 7).shape == (2, 7, 1, 16)  # two blocks, the last one cut
    with pytest.raises(Exception, match=r"expects a window \(batch, 3, 2, s, s\)"):
        rec(torch.randn(2, 4, 2, 12, 12))
    with pytest.raises(Exception, match="space-time FNO takes 1 or 2 spatial dimensions"):
        SpaceTimeConfig(n_dims=3)
    with pytest.raises(ValueError, match="train_mode"):
        RolloutConfig(train_mode="curriculum")


def _lines(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_train_evaluate_and_resume_through_the_trainer(heat, tmp_path):
    common = {"batch_size": 4, "modes": 4, "width": 8, "n_layers": 2, "in_steps": 2, "horizon": 4, "lr": 3e-3,
              "scheduler": "none"}  # a cosine schedule depends on the total epoch count
    full, two = tmp_path / "full", tmp_path / "two"
    train_model("fno-rollout", heat["train"], full, val_path=heat["test"], overrides={**common, "epochs": 3},
                show_progress=False)
    # a run stopped after 2 epochs and resumed to 3 ends where the unbroken run ends
    train_model("fno-rollout", heat["train"], two, val_path=heat["test"], overrides={**common, "epochs": 2},
                show_progress=False)
    train_model("fno-rollout", heat["train"], two, val_path=heat["test"], overrides={"epochs": 3}, resume=True,
                show_progress=False)
    a, _ = load_model(full, which="model")
    b, _ = load_model(two, which="model")
    for (name, p), q in zip(a.weights().items(), b.weights().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)
    assert [r["epoch"] for r in _lines(two)] == [1, 2, 3]
    assert _lines(two)[-1]["val_rel_l2"] == pytest.approx(_lines(full)[-1]["val_rel_l2"], rel=1e-6)
    # the model completed its configuration from the data and evaluates through `sciml eval`
    assert (a.config.pde, a.config.channels, a.config.n_dims, a.config.horizon) == ("heat", 1, 1, 4)
    result = evaluate_run(full, heat["test"], which="model")
    assert result["rel_l2"] == pytest.approx(_lines(full)[-1]["val_rel_l2"], rel=1e-5)
    assert len(result["per_step_rel_l2"]) == 4 and result["resolution"] == [RES]


def test_space_time_model_trains_on_one_block(heat, tmp_path):
    run = tmp_path / "st"
    train_model("fno-space-time", heat["train"], run, overrides={"epochs": 1, "batch_size": 4, "modes": 3, "width": 6,
                                                                 "n_layers": 2, "in_steps": 3}, show_progress=False)
    model, meta = load_model(run)
    assert meta["model_name"] == "fno-space-time"
    assert model.config.horizon == NT - 3 and model.config.out_steps == NT - 3  # the whole horizon in one block


def test_bad_data_is_refused_with_one_clear_sentence(heat, tmp_path, capsys):
    x = np.linspace(0, 1, RES, endpoint=False)
    pairs = _store(tmp_path / "pairs.h5", "darcy", {"input": ((1, 8, 8), "float32"), "output": ((1, 8, 8), "float32")},
                   {"input": np.zeros((2, 1, 8, 8), np.float32), "output": np.zeros((2, 1, 8, 8), np.float32)}, {})
    with pytest.raises(DataError, match="has no time-dependent field 'tensor'.*it has input, output"):
        TrajectoryDataset(pairs)
    no_time = _store(tmp_path / "notime.h5", "heat", {"tensor": ((RES,), "float32")},
                     {"tensor": np.ones((2, RES), np.float32)}, {"x-coordinate": x})
    with pytest.raises(DataError, match="it has no time axis"):
        TrajectoryDataset(no_time)
    with pytest.raises(DataError, match=r"has 11 frames per trajectory, fewer than first_frame \+ in_steps \+ 1 = 12"):
        train_model("fno-rollout", heat["train"], tmp_path / "r0", overrides={"in_steps": 11, "epochs": 1},
                    show_progress=False)
    with pytest.raises(DataError, match=r"fewer than first_frame \+ in_steps \+ horizon = 2 \+ 2 \+ 8 = 12"):
        train_model("fno-rollout", heat["train"], tmp_path / "r1",
                    overrides={"in_steps": 2, "first_frame": 2, "horizon": 8, "epochs": 1}, show_progress=False)

    run = tmp_path / "run"
    train_model("fno-rollout", heat["train"], run, overrides={"epochs": 1, "batch_size": 8, "modes": 3, "width": 6,
                                                              "n_layers": 2, "in_steps": 2}, show_progress=False)
    wave = _store(tmp_path / "wave.h5", "wave", {"tensor": ((NT, RES), "float32")},
                  {"tensor": np.ones((2, NT, RES), np.float32)}, {"x-coordinate": x})
    with pytest.raises(DataError, match="trained on 'heat' data but is evaluated on .*wave.h5, which holds 'wave' data"):
        evaluate_run(run, wave)
    two_fields = _store(tmp_path / "two.h5", "heat", {"tensor": ((NT, 2, RES), "float32")},
                        {"tensor": np.ones((2, NT, 2, RES), np.float32)}, {"x-coordinate": x})
    with pytest.raises(DataError, match="has 2 field\\(s\\) per frame, the model takes 1"):
        evaluate_run(run, two_fields)
    short = _store(tmp_path / "short.h5", "heat", {"tensor": ((5, RES), "float32")},
                   {"tensor": np.ones((2, 5, RES), np.float32)}, {"x-coordinate": x})
    with pytest.raises(DataError, match="has 5 frames per trajectory, fewer than"):
        evaluate_run(run, short)
    assert main(["eval", str(run), "--data", str(wave)]) == 2
    assert "holds 'wave' data" in capsys.readouterr().err
