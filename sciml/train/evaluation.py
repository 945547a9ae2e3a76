"""Evaluation of grid field models (``(batch, C_in, *spatial) -> (batch, C_out, *spatial)``) on pair
stores of any resolution (relative L2, nRMSE, RMSE and Fourier-band errors), the sentence refusing a
grid too coarse for a model's Fourier modes, and the identity of a run's training data. Generic: it
knows models only through their ``config`` attributes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sciml._errors import DataError
from sciml.train.losses import FOURIER_BANDS, error_spectrum, fourier_band_rmse, nrmse, relative_lp, rmse

__all__ = ["grid_too_coarse", "field_metrics", "data_identity", "training_identity", "resolution_table"]


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
    identity = {"pde": attrs.get("pde"), "train_resolution": list(spatial) if spatial is not None else None}
    if callable(getattr(data, "bounds", None)):  # point sets: the box of the training points
        lower, upper = data.bounds()
        identity["domain"] = {"lower": [float(v) for v in lower], "upper": [float(v) for v in upper],
                              "coordinate_names": list(getattr(data, "coordinate_names", []))}
    return identity


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
    # older runs lack the keys (null means "none", for data without a grid): read the training file then
    if ("pde" not in data or "train_resolution" not in data) and train_file and Path(train_file).exists():
        try:
            found = data_identity(dataset(train_file))
        except DataError:
            found = {}
        known = {k: known[k] if known[k] is not None else found.get(k) for k in known}
    return known


def field_metrics(model: Any, data: Any, dev: Any, *, batch_size: int = 32) -> dict[str, Any]:
    """Relative L2, nRMSE, RMSE (means over samples) and Fourier-band RMSE of ``model`` over a pair dataset."""
    model.to(dev)
    sums = {"rel_l2": 0.0, "nrmse": 0.0, "rmse": 0.0}
    spectrum = None
    for start in range(0, len(data), batch_size):
        x, y = data.read(list(range(start, min(len(data), start + batch_size))))
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
