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
from sciml.train.losses import nrmse, relative_lp, rmse
from sciml.train.models import load_model, resolve_model
from sciml.train.trainer import TrainConfig, Trainer

__all__ = ["train_model", "evaluate_run"]


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
                                             "val": str(Path(val_path).resolve()) if val_path else None}},
                      show_progress=show_progress)
    return trainer.fit()


@torch.no_grad()
def evaluate_run(run: str | os.PathLike, data_path: str | os.PathLike, *, which: str = "best",
                 batch_size: int = 32, device: str = "cpu", out: str | os.PathLike | None = None) -> dict[str, Any]:
    """Evaluate a trained run on a dataset of any resolution; writes and returns the metrics.

    Returns
    -------
    For field models (fno): ``rel_l2``, ``nrmse``, ``rmse`` (means over samples), ``n_samples``,
    ``resolution`` (the test grid), ``train_resolution``; for learned preconditioners (neural-pcg):
    per-system iterations and times of the learned preconditioner next to none, Jacobi, IC(0) and
    AMG (``table``). Written to ``out`` (default ``RUN/eval/<data file stem>.json``).
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


def _field_metrics(model, data, dev, run, spec, which, payload, data_path, batch_size) -> dict[str, Any]:
    """Relative L2, nRMSE and RMSE of a field-to-field model over a dataset of any resolution."""
    config = model.config
    if data.in_channels != config.in_channels or data.out_channels != config.out_channels:
        raise DataError(f"{data_path} has {data.in_channels} input and {data.out_channels} output channels, "
                        f"the model in {run} takes {config.in_channels} and gives {config.out_channels}")
    if len(data.spatial) != config.n_dims:
        raise DataError(f"{data_path} is {len(data.spatial)}-dimensional, the model in {run} is {config.n_dims}-dimensional")
    model.to(dev)
    sums = {"rel_l2": 0.0, "nrmse": 0.0, "rmse": 0.0}
    for start in range(0, len(data), batch_size):
        x, y = data._read(list(range(start, min(len(data), start + batch_size))))
        pred = model(x.to(dev))
        y = y.to(dev)
        sums["rel_l2"] += float(relative_lp(pred, y, reduction="sum"))
        sums["nrmse"] += float(nrmse(pred, y, reduction="sum"))
        sums["rmse"] += float(rmse(pred, y, reduction="sum"))
    train_res = None
    config_file = Path(run) / "config.yaml" if Path(run).is_dir() else None
    if config_file is not None and config_file.exists():
        import yaml

        train_file = (yaml.safe_load(config_file.read_text()).get("data") or {}).get("train")
        if train_file and Path(train_file).exists():
            try:
                train_res = list(spec.dataset(train_file).spatial)
            except DataError:
                train_res = None
    return {**{k: v / len(data) for k, v in sums.items()}, "n_samples": len(data),
            "resolution": list(data.spatial), "train_resolution": train_res, "data": str(data_path),
            "run": str(run), "model_file": which, "model_epoch": payload.get("epoch")}
