"""Evaluation of grid field models (``(batch, C_in, *spatial) -> (batch, C_out, *spatial)``) on pair
stores of any resolution: relative L2, nRMSE, RMSE and Fourier-band errors, and the checks that a
test file suits the model. Generic: it knows models only through their ``config`` attributes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sciml._errors import DataError
from sciml.train.losses import FOURIER_BANDS, error_spectrum, fourier_band_rmse, nrmse, relative_lp, rmse

__all__ = ["grid_too_coarse", "check_field_data", "field_metrics", "data_identity", "training_identity",
           "resolution_table"]


def grid_too_coarse(where: str, spatial: tuple[int, ...], modes: int, model: str) -> str | None:
    """The sentence refusing ``spatial`` for a model that keeps ``modes`` Fourier modes per direction,
    or ``None`` when the grid resolves them (at least ``2 * modes`` points on every axis)."""
    if min(spatial) >= 2 * modes:
        return None
    return (f"{where} has grid {tuple(spatial)}, too coarse for {model}: it keeps {modes} Fourier modes per "
            f"direction and needs at least {2 * modes} points per axis")


def data_identity(data: Any) -> dict[str, Any]:
    """The PDE and grid of a training set, kept in ``config.yaml`` to check evaluation data against."""
    attrs = getattr(data, "attrs", None) or {}
    spatial = getattr(data, "spatial", None)
    return {"pde": attrs.get("pde"), "train_resolution": list(spatial) if spatial is not None else None}


def training_identity(run: str | os.PathLike, dataset: Any) -> dict[str, Any]:
    """PDE and grid of the run's training data: from ``config.yaml``, or from the training file itself
    (read with ``dataset(path)``)."""
    config_file = Path(run) / "config.yaml" if Path(run).is_dir() else None
    if config_file is None or not config_file.exists():
        return {"pde": None, "train_resolution": None}
    import yaml

    data = yaml.safe_load(config_file.read_text()).get("data") or {}
    known = {"pde": data.get("pde"), "train_resolution": data.get("train_resolution")}
    train_file = data.get("train")
    if (known["pde"] is None or known["train_resolution"] is None) and train_file and Path(train_file).exists():
        try:
            found = data_identity(dataset(train_file))
        except DataError:
            found = {}
        known = {k: known[k] if known[k] is not None else found.get(k) for k in known}
    return known


def check_field_data(model: Any, data: Any, data_path: Any, run: Any, known: dict[str, Any]) -> None:
    """Refuse data a field model cannot be evaluated on, with what was expected and what arrived."""
    config = model.config
    if data.in_channels != config.in_channels or data.out_channels != config.out_channels:
        raise DataError(f"{data_path} has {data.in_channels} input and {data.out_channels} output channels, "
                        f"the model in {run} takes {config.in_channels} and gives {config.out_channels}")
    if len(data.spatial) != config.n_dims:
        raise DataError(f"{data_path} is {len(data.spatial)}-dimensional, the model in {run} is "
                        f"{config.n_dims}-dimensional")
    modes = getattr(config, "modes", None)
    if modes:
        refusal = grid_too_coarse(str(data_path), tuple(data.spatial), modes, f"the model in {run}")
        if refusal:
            raise DataError(refusal)
    pde = (getattr(data, "attrs", None) or {}).get("pde")
    if known.get("pde") and pde and pde != known["pde"]:
        raise DataError(f"{data_path} holds {pde!r} data but the model in {run} was trained on {known['pde']!r} data")


def field_metrics(model: Any, data: Any, dev: Any, *, batch_size: int = 32) -> dict[str, Any]:
    """Relative L2, nRMSE, RMSE (means over samples) and Fourier-band RMSE of ``model`` over a pair dataset."""
    model.to(dev)
    sums = {"rel_l2": 0.0, "nrmse": 0.0, "rmse": 0.0}
    spectrum = None
    for start in range(0, len(data), batch_size):
        x, y = data._read(list(range(start, min(len(data), start + batch_size))))
        pred = model(x.to(dev))
        y = y.to(dev)
        sums["rel_l2"] += float(relative_lp(pred, y, reduction="sum"))
        sums["nrmse"] += float(nrmse(pred, y, reduction="sum"))
        sums["rmse"] += float(rmse(pred, y, reduction="sum"))
        batch_spectrum = error_spectrum(pred, y).sum(0)
        spectrum = batch_spectrum if spectrum is None else spectrum + batch_spectrum
    bands = fourier_band_rmse(spectrum / len(data))
    return {**{k: v / len(data) for k, v in sums.items()}, **{f"fourier_{k}": v for k, v in bands.items()},
            "fourier_bands": list(FOURIER_BANDS), "n_samples": len(data), "resolution": list(data.spatial)}


def resolution_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of evaluation rows at several resolutions (``train_resolution``, ``resolution`` ...)."""
    def grid(res: list[int] | None) -> str:
        return "x".join(str(n) for n in res) if res else "unknown"

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"

    lines = ["| train resolution | test resolution | samples | relative L2 | nRMSE | Fourier low | Fourier mid "
             "| Fourier high |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {grid(r.get('train_resolution'))} | {grid(r['resolution'])} | {r['n_samples']} | "
                     f"{r['rel_l2']:.4f} | {r['nrmse']:.4f} | {number(r['fourier_low'])} | "
                     f"{number(r['fourier_mid'])} | {number(r['fourier_high'])} |")
    return "\n".join(lines)
