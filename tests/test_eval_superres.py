"""Fourier-band errors and the multi-resolution (zero-shot super-resolution) evaluation table."""

import json
import math

import numpy as np
import pytest
import torch

from sciml import ConfigError, DataError
from sciml.data import generate_dataset
from sciml.data.store import StoreWriter
from sciml.train.losses import error_spectrum, fourier_band_errors, fourier_band_rmse
from sciml.runs import evaluate_resolutions, evaluate_run, train_model


def test_band_errors_of_a_field_with_known_spectrum_1d():
    n = 64
    x = torch.arange(n, dtype=torch.float64) / n
    # amplitudes a at k=2 (low), b at k=8 (mid), c at k=20 (high); a constant offset d at k=0
    a, b, c, d = 2.0, 0.5, 0.1, 0.3
    err = d + a * torch.cos(2 * math.pi * 2 * x) + b * torch.cos(2 * math.pi * 8 * x) + c * torch.sin(2 * math.pi * 20 * x)
    spectrum = error_spectrum(err[None, None], torch.zeros(1, 1, n))
    assert spectrum.shape == (1, 1, n // 2 + 1)
    expected = torch.zeros(n // 2 + 1, dtype=torch.float64)
    expected[0], expected[2], expected[8], expected[20] = d**2, a**2 / 2, b**2 / 2, c**2 / 2
    torch.testing.assert_close(spectrum[0, 0], expected, atol=1e-12, rtol=0)
    bands = fourier_band_errors(err[None, None], torch.zeros(1, 1, n))
    # band error: mean over the band's shells (low 0..3, mid 4..11, high 12..32) of sqrt(E_k)
    assert bands["low"] == pytest.approx((d + a / math.sqrt(2)) / 4, rel=1e-10)
    assert bands["mid"] == pytest.approx(b / math.sqrt(2) / 8, rel=1e-10)
    assert bands["high"] == pytest.approx(c / math.sqrt(2) / 21, rel=1e-10)


def test_band_errors_2d_oblique_wave_and_parseval_in_1d():
    n = 48
    g = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(g, g, indexing="ij")
    wave = torch.cos(2 * math.pi * (3 * X - 4 * Y))  # |k| = 5, including a negative frequency
    spectrum = error_spectrum(wave[None, None], torch.zeros(1, 1, n, n))[0, 0]
    assert float(spectrum[5]) == pytest.approx(0.5, rel=1e-12) and float(spectrum.sum()) == pytest.approx(0.5, rel=1e-12)
    # 1D: every FFT bin lies in a shell, so the shells add up to the mean squared error
    gen = torch.Generator().manual_seed(0)
    pred, target = torch.randn(5, 2, 37, generator=gen, dtype=torch.float64), torch.randn(5, 2, 37, generator=gen,
                                                                                            dtype=torch.float64)
    torch.testing.assert_close(error_spectrum(pred, target).sum(-1), (pred - target).pow(2).mean(-1))
    # a grid too coarse for the high band reports none
    assert fourier_band_rmse(torch.ones(1, 9))["high"] is None
    with pytest.raises(ValueError, match="pred has shape"):
        error_spectrum(torch.zeros(1, 1, 8), torch.zeros(1, 1, 9))


@pytest.fixture(scope="module")
def small_run(darcy_files, tmp_path_factory):
    run = tmp_path_factory.mktemp("superres") / "run"
    train_model("fno", darcy_files["train"], run, val_path=darcy_files["test"],
                overrides={"epochs": 2, "batch_size": 8, "modes": 4, "width": 8}, show_progress=False)
    return run


def test_resolution_table_matches_single_evaluations(small_run, darcy_files):
    result = evaluate_resolutions(small_run, [darcy_files["test_fine"], darcy_files["test"]], which="model")
    rows = result["rows"]
    assert [r["resolution"] for r in rows] == [[16, 16], [31, 31]]  # sorted by resolution
    assert all(r["train_resolution"] == [16, 16] and r["pde"] == "darcy" for r in rows)
    for row, path in zip(rows, (darcy_files["test"], darcy_files["test_fine"])):
        single = evaluate_run(small_run, path, which="model")
        for key in ("rel_l2", "nrmse", "fourier_low", "fourier_mid"):
            assert row[key] == pytest.approx(single[key], rel=1e-6)
    # 16x16 has shells 0..8: no high band; 31x31 has shells up to 15
    assert rows[0]["fourier_high"] is None and rows[1]["fourier_high"] > 0
    assert "| 16x16 | 31x31 | 6 |" in result["table"] and f"{rows[1]['rel_l2']:.4f}" in result["table"]
    saved = json.loads((small_run / "eval" / "resolutions.json").read_text())
    assert saved["rows"][1]["rel_l2"] == pytest.approx(rows[1]["rel_l2"])


def _pair_store(path, *, pde="darcy", in_shape=(1, 16, 16), out_shape=(1, 16, 16), n=3):
    with StoreWriter(path, n_samples=n, fields={"input": (in_shape, "float32"), "output": (out_shape, "float32")},
                     pde=pde, params={}, generator="test", seed=0) as writer:
        writer.write({"input": np.ones((n, *in_shape), np.float32) * 3, "output": np.zeros((n, *out_shape), np.float32)})
    return path


def test_bad_evaluation_data_is_refused_before_any_evaluation(small_run, darcy_files, tmp_path):
    cases = [
        (_pair_store(tmp_path / "heat.h5", pde="heat"), "holds 'heat' data but the model was trained on 'darcy' data"),
        (_pair_store(tmp_path / "two.h5", in_shape=(2, 16, 16)), "two.h5 has 2 input channels, the model takes 1"),
        (_pair_store(tmp_path / "line.h5", in_shape=(1, 32), out_shape=(1, 32)),
         r"line.h5 is 1-dimensional \(grid \(32,\)\), the model is 2-dimensional"),
        (_pair_store(tmp_path / "coarse.h5", in_shape=(1, 7, 7), out_shape=(1, 7, 7)),
         r"coarse.h5 has grid \(7, 7\), too coarse for the model: it keeps 4 Fourier modes per direction and needs at least 8 points per axis"),
    ]
    for path, message in cases:
        with pytest.raises(DataError, match=message):
            evaluate_run(small_run, path)
        # a bad file among good ones: refused before anything is evaluated or written
        with pytest.raises(DataError, match=message):
            evaluate_resolutions(small_run, [darcy_files["test"], path], out=tmp_path / "table.json")
        assert not (tmp_path / "table.json").exists()
    with pytest.raises(ConfigError, match="needs at least one dataset"):
        evaluate_resolutions(small_run, [])


def test_pde_is_checked_even_when_the_training_file_is_gone(tmp_path):
    train = tmp_path / "train.h5"
    generate_dataset("darcy", train, n=4, res=9, seed=0, params={"refine": 1})
    run = tmp_path / "run"
    train_model("fno", train, run, overrides={"epochs": 1, "modes": 2, "width": 4}, show_progress=False)
    train.unlink()
    with pytest.raises(DataError, match="holds 'heat' data"):
        evaluate_run(run, _pair_store(tmp_path / "heat.h5", pde="heat", in_shape=(1, 9, 9), out_shape=(1, 9, 9)))
    assert evaluate_run(run, _pair_store(tmp_path / "ok.h5", in_shape=(1, 9, 9), out_shape=(1, 9, 9)))[
        "train_resolution"] == [9, 9]
