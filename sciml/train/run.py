"""Training and evaluation of registered models from dataset files: what ``sciml train`` and
``sciml eval`` call, usable from Python as well."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sciml._errors import ConfigError, DataError
from sciml.config import build_sections, from_dict, load_yaml
from sciml.io import load_checkpoint, write_json
from sciml.train.losses import FOURIER_BANDS, error_spectrum, fourier_band_rmse, nrmse, relative_lp, rmse
from sciml.train.models import load_model, resolve_model
from sciml.train.trainer import TrainConfig, Trainer

__all__ = ["train_model", "evaluate_run", "evaluate_resolutions", "resolution_table"]


def train_model(model_name: str, train_path: str | os.PathLike, out: str | os.PathLike, *,
                val_path: str | os.PathLike | None = None, config_path: str | os.PathLike | None = None,
                overrides: dict[str, Any] | None = None, resume: bool = False, force: bool = False,
                show_progress: bool | None = None) -> dict[str, Any]:
    """Train ``model_name`` on ``train_path`` into the run directory ``out``; returns the summary.

    Configuration layers, later ones winning: defaults, ``config_path`` (YAML, sections ``model``
    and ``train`` or flat keys), ``overrides`` (``--set``). On ``resume`` the stored configuration
    is used and only training keys (``epochs``, ``lr`` ...) may be overridden.
    """
    spec = resolve_model(model_name)
    sections = {"model": spec.config_cls, "train": TrainConfig}
    layers = []
    if config_path is not None:
        layers.append((f"config file {config_path}", load_yaml(config_path)))
    if overrides:
        layers.append(("--set", overrides))
    if resume:
        state = load_checkpoint(Path(out) / "checkpoint.pt")
        base = {"model": from_dict(spec.config_cls, state["model_config"], where="model"),
                "train": from_dict(TrainConfig, state["train_config"], where="train")}
        configs = build_sections(sections, *layers, base=base)
        if configs["model"] != base["model"]:
            raise ConfigError("a resumed run keeps its model configuration; only training keys "
                              "(epochs, lr, batch_size ...) may change with --resume")
    else:
        configs = build_sections(sections, *layers)
    train_data = spec.dataset(train_path)
    val_data = spec.dataset(val_path) if val_path is not None else None
    model_config = spec.complete_config(configs["model"], train_data)
    if val_data is not None:
        spec.complete_config(model_config, val_data)
    torch.manual_seed(configs["train"].seed)
    model = spec.build(model_config)
    if not resume:
        spec.prepare(model, train_data)
    trainer = Trainer(spec.method(model), train_data, config=configs["train"], run_dir=out, model_name=spec.name,
                      model_config=model_config, val_data=val_data, resume=resume, force=force,
                      extra_config={"data": {"train": str(Path(train_path).resolve()),
                                             "val": str(Path(val_path).resolve()) if val_path else None,
                                             **_data_identity(train_data)}},
                      show_progress=show_progress)
    return trainer.fit()


def _data_identity(data: Any) -> dict[str, Any]:
    """The PDE and grid of a training set, kept in ``config.yaml`` to check evaluation data against."""
    attrs = getattr(data, "attrs", None) or {}
    spatial = getattr(data, "spatial", None)
    return {"pde": attrs.get("pde"), "train_resolution": list(spatial) if spatial is not None else None}


@torch.no_grad()
def evaluate_run(run: str | os.PathLike, data_path: str | os.PathLike, *, which: str = "best",
                 batch_size: int = 32, device: str = "cpu", out: str | os.PathLike | None = None) -> dict[str, Any]:
    """Evaluate a trained run on a dataset of any resolution; writes and returns the metrics.

    Returns
    -------
    For field models (fno): ``rel_l2``, ``nrmse``, ``rmse`` (means over samples), the Fourier-band
    errors ``fourier_low``, ``fourier_mid``, ``fourier_high`` (:func:`sciml.train.losses.fourier_band_rmse`,
    bands ``fourier_bands``), ``n_samples``, ``resolution`` (the test grid), ``train_resolution``
    and ``pde``; for learned preconditioners (neural-pcg): per-system iterations and times of the
    learned preconditioner next to none, Jacobi, IC(0) and AMG (``table``). Written to ``out``
    (default ``RUN/eval/<data file stem>.json``).

    Raises
    ------
    DataError
        for data the model cannot be evaluated on: another PDE than the training data's (when the
        run records it), other channel counts or dimension, or a grid with fewer than ``2 * modes``
        points on an axis (too coarse for the Fourier modes the model keeps).
    """
    from sciml.runtime import resolve_device

    dev = resolve_device(device)
    model, payload = load_model(run, which=which, map_location=dev)
    spec = resolve_model(payload["model_name"])
    data = spec.dataset(data_path)
    if spec.evaluate is not None:
        result = {**spec.evaluate(model, data, dev), "data": str(data_path), "run": str(run), "model_file": which,
                  "model_epoch": payload.get("epoch")}
    else:
        result = _field_metrics(model, data, dev, run, spec, which, payload, data_path, batch_size)
    if out is None and Path(run).is_dir():
        out = Path(run) / "eval" / f"{Path(data_path).stem}.json"
    if out is not None:
        write_json(out, result)
        result["written_to"] = str(out)
    return result


@torch.no_grad()
def evaluate_resolutions(run: str | os.PathLike, data_paths: list[str | os.PathLike], *, which: str = "best",
                         batch_size: int = 32, device: str = "cpu", out: str | os.PathLike | None = None
                         ) -> dict[str, Any]:
    """Zero-shot super-resolution table: one trained run evaluated on test sets of several resolutions.

    Every file is checked as in :func:`evaluate_run` before any is evaluated (same PDE as the
    training data, channels, dimension, enough grid points for the model's Fourier modes).

    Returns
    -------
    ``{"run", "model_file", "rows": [...], "table": markdown}``; each row holds ``train_resolution``,
    ``resolution``, ``rel_l2``, ``nrmse``, ``rmse``, ``fourier_low``, ``fourier_mid``,
    ``fourier_high``, ``n_samples``, ``data``, sorted by resolution. Written to ``out`` (default
    ``RUN/eval/resolutions.json``).
    """
    from sciml.runtime import resolve_device

    if not data_paths:
        raise ConfigError("evaluate_resolutions needs at least one dataset")
    dev = resolve_device(device)
    model, payload = load_model(run, which=which, map_location=dev)
    spec = resolve_model(payload["model_name"])
    if spec.evaluate is not None:
        raise ConfigError(f"a {spec.name!r} run is not a field-to-field model; multi-resolution tables are for "
                          f"fno runs")
    datasets = [(path, spec.dataset(path)) for path in data_paths]
    known = _training_identity(run, spec)
    for path, data in datasets:  # refuse every bad file before evaluating any
        _check_field_data(model, data, path, run, known)
    rows = [_field_metrics(model, data, dev, run, spec, which, payload, path, batch_size, known=known)
            for path, data in datasets]
    rows.sort(key=lambda r: (list(r["resolution"]), str(r["data"])))
    result = {"run": str(run), "model_file": which, "model_epoch": payload.get("epoch"),
              "fourier_bands": list(FOURIER_BANDS), "rows": rows, "table": resolution_table(rows)}
    if out is None and Path(run).is_dir():
        out = Path(run) / "eval" / "resolutions.json"
    if out is not None:
        write_json(out, result)
        result["written_to"] = str(out)
    return result


def resolution_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`evaluate_resolutions` rows (or :func:`evaluate_run` results)."""
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


def _training_identity(run: str | os.PathLike, spec: Any) -> dict[str, Any]:
    """PDE and grid of the run's training data: from ``config.yaml``, or from the training file itself."""
    config_file = Path(run) / "config.yaml" if Path(run).is_dir() else None
    if config_file is None or not config_file.exists():
        return {"pde": None, "train_resolution": None}
    import yaml

    data = yaml.safe_load(config_file.read_text()).get("data") or {}
    known = {"pde": data.get("pde"), "train_resolution": data.get("train_resolution")}
    train_file = data.get("train")
    if (known["pde"] is None or known["train_resolution"] is None) and train_file and Path(train_file).exists():
        try:
            found = _data_identity(spec.dataset(train_file))
        except DataError:
            found = {}
        known = {k: known[k] if known[k] is not None else found.get(k) for k in known}
    return known


def _check_field_data(model, data, data_path, run, known: dict[str, Any]) -> None:
    """Refuse data a field model cannot be evaluated on, with what was expected and what arrived."""
    config = model.config
    if data.in_channels != config.in_channels or data.out_channels != config.out_channels:
        raise DataError(f"{data_path} has {data.in_channels} input and {data.out_channels} output channels, "
                        f"the model in {run} takes {config.in_channels} and gives {config.out_channels}")
    if len(data.spatial) != config.n_dims:
        raise DataError(f"{data_path} is {len(data.spatial)}-dimensional, the model in {run} is {config.n_dims}-dimensional")
    modes = getattr(config, "modes", None)
    if modes is not None and min(data.spatial) < 2 * modes:
        raise DataError(f"{data_path} has grid {tuple(data.spatial)}, too coarse for the model in {run}: it keeps "
                        f"{modes} Fourier modes per direction and needs at least {2 * modes} points per axis")
    pde = (getattr(data, "attrs", None) or {}).get("pde")
    if known.get("pde") and pde and pde != known["pde"]:
        raise DataError(f"{data_path} holds {pde!r} data but the model in {run} was trained on {known['pde']!r} data")


def _field_metrics(model, data, dev, run, spec, which, payload, data_path, batch_size,
                   known: dict[str, Any] | None = None) -> dict[str, Any]:
    """Relative L2, nRMSE, RMSE and Fourier-band errors of a field-to-field model over a dataset of any resolution."""
    if known is None:
        known = _training_identity(run, spec)
        _check_field_data(model, data, data_path, run, known)
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
            "fourier_bands": list(FOURIER_BANDS), "n_samples": len(data), "resolution": list(data.spatial),
            "train_resolution": known.get("train_resolution"), "pde": (getattr(data, "attrs", None) or {}).get("pde"),
            "data": str(data_path), "run": str(run), "model_file": which, "model_epoch": payload.get("epoch")}
