"""Training and evaluation of registered models from dataset files: what ``sciml train`` and
``sciml eval`` call, usable from Python as well. It sits above :mod:`sciml.registry` (it turns model
names into specs), so no package below it needs to know any method."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sciml._errors import ConfigError, DataError
from sciml.config import build_sections, from_dict, load_yaml
from sciml.io import load_checkpoint, write_json
from sciml.registry import resolve_model
from sciml.train.evaluation import data_identity, field_metrics, resolution_table
from sciml.train.losses import FOURIER_BANDS
from sciml.train.trainer import TrainConfig, Trainer

__all__ = ["train_model", "evaluate_run", "evaluate_resolutions", "resolution_table", "load_model"]


def load_model(path: str | os.PathLike, *, which: str = "best", map_location: str | torch.device = "cpu"
               ) -> tuple[nn.Module, dict[str, Any]]:
    """The module of :func:`sciml.load` (eval mode) and its metadata.

    Returns
    -------
    (model in eval mode, ``TrainedModel.metadata`` with ``model_config``: ``model_name``, ``epoch``,
    ``metrics``, ``file``, ``data`` ...)
    """
    from sciml.trained import load

    trained = load(path, which=which, device=map_location)
    return trained.module, {**trained.metadata, "model_config": trained.config}


def train_model(model_name: str, train_path: str | os.PathLike | None, out: str | os.PathLike, *,
                val_path: str | os.PathLike | None = None, config_path: str | os.PathLike | None = None,
                overrides: dict[str, Any] | None = None, resume: bool = False, force: bool = False,
                show_progress: bool | None = None) -> dict[str, Any]:
    """Train ``model_name`` on ``train_path`` into the run directory ``out``; returns the summary.

    Configuration layers, later ones winning: defaults, the kind's ``train_defaults``, ``config_path``
    (YAML, sections ``model`` and ``train`` or flat keys), ``overrides`` (``--set``). On ``resume`` the
    stored configuration is used and only training keys (``epochs``, ``lr`` ...) may be overridden.
    Kinds that draw their own points (``ModelSpec.needs_data`` false: PINNs) take ``train_path=None``.
    """
    spec = resolve_model(model_name)
    if spec.needs_data and train_path is None:
        raise ConfigError(f"sciml train {spec.name} needs --data TRAIN.h5")
    if not spec.needs_data and train_path is not None:
        raise ConfigError(f"{spec.name} draws its own training points and takes no --data; --val FILE gives it a "
                          f"point set with reference values for choosing best.pt")
    sections = {"model": spec.config_cls, "train": TrainConfig}
    layers = []
    if spec.train_defaults and not resume:
        layers.append((f"the {spec.name} defaults", {"train": dict(spec.train_defaults)}))
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
    train_data = spec.dataset(train_path) if train_path is not None else None
    val_data = spec.dataset(val_path) if val_path is not None else None
    model_config = spec.complete_config(configs["model"], train_data)
    if val_data is not None:
        spec.complete_config(model_config, val_data)
    torch.manual_seed(configs["train"].seed)
    model = spec.build(model_config)
    if not resume:
        spec.prepare(model, train_data)
    identity = spec.identity(model) if spec.identity is not None else data_identity(train_data)
    trainer = Trainer(spec.method(model), train_data, config=configs["train"], run_dir=out, model_name=spec.name,
                      model_config=model_config, val_data=val_data, resume=resume, force=force,
                      extra_config={"data": {"train": str(Path(train_path).resolve()) if train_path else None,
                                             "val": str(Path(val_path).resolve()) if val_path else None,
                                             **identity}},
                      show_progress=show_progress)
    return trainer.fit()


@torch.no_grad()
def evaluate_run(run: str | os.PathLike, data_path: str | os.PathLike, *, which: str = "best",
                 batch_size: int = 32, device: str = "cpu", out: str | os.PathLike | None = None) -> dict[str, Any]:
    """Evaluate a trained run on a dataset of any layout its kind reads; writes and returns the metrics.

    Returns
    -------
    For every kind: ``per_sample`` (``rel_l2``, ``nrmse``, ``rmse``, ``max_error`` of each sample,
    :func:`sciml.train.inference.sample_metrics`), ``overall`` (their means, and the largest max
    error), ``max_error``, ``layout``, ``n_samples``. Then the kind's own figures: field models (fno)
    ``rel_l2``, ``nrmse``, ``rmse`` (means over samples), the Fourier-band errors ``fourier_low``,
    ``fourier_mid``, ``fourier_high`` (bands ``fourier_bands``), ``resolution`` (the test grid),
    ``train_resolution`` and ``pde``; rollout models their rollout metrics; learned solvers (neural-pcg,
    dcdm) per-system iterations and times next to none, Jacobi, IC(0) and AMG (``table``). Written to
    ``out`` (default ``RUN/eval/<data file stem>.json``).

    Raises
    ------
    DataError
        for data the model cannot be evaluated on: a layout its kind does not read (the sentence names
        the layouts it reads), another PDE than the training data's (when the run records it), other
        channel counts or dimension, a grid with fewer than ``2 * modes`` points on an axis, or a file
        without the reference field (``sciml predict`` takes such files).
    """
    from sciml.runtime import resolve_device
    from sciml.trained import load

    dev = resolve_device(device)
    trained = load(run, which=which, device=dev)
    data = trained.open(data_path)  # layout and compatibility, before any work
    generic = trained.sample_metrics(data, batch_size=batch_size)
    model, spec = trained.module, trained.spec
    own = spec.evaluate(model, spec.dataset(data_path), dev) if spec.evaluate is not None else {}
    trained_on = trained.metadata.get("data") or {}
    result = {**own, "data": str(data_path), "run": str(run), "model_file": which,
              "model_epoch": trained.metadata.get("epoch")}
    if "resolution" in own:
        result.setdefault("train_resolution", trained_on.get("train_resolution"))
        result.setdefault("pde", (getattr(data, "attrs", None) or {}).get("pde"))
    from sciml.data.layouts import detect_layout
    from sciml.data.store import open_store

    with open_store(data_path) as store:
        layout = detect_layout(store)
    result.update({"layout": layout, "per_sample": generic["per_sample"], "overall": generic["overall"],
                   "max_error": generic["overall"]["max_error"]})
    for key in ("rel_l2", "nrmse", "rmse", "n_samples"):
        result.setdefault(key, generic["overall"].get(key, generic.get(key)))
    if "points_outside_domain" in generic:
        result["points_outside_domain"] = generic["points_outside_domain"]
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

    from sciml.trained import load

    if not data_paths:
        raise ConfigError("evaluate_resolutions needs at least one dataset")
    dev = resolve_device(device)
    trained = load(run, which=which, device=dev)
    if "pairs" not in trained.layouts:
        raise ConfigError(f"a {trained.name!r} run is not a field-to-field model; multi-resolution tables are for "
                          f"models of grid pairs (fno)")
    datasets = [(path, trained.open(path)) for path in data_paths]  # refuse every bad file before evaluating any
    for path, data in datasets:
        if not trained.inference.has_reference(data):
            raise DataError(f"{path} has no reference field 'output' to evaluate against; sciml predict works "
                            f"without it")
    known = trained.metadata.get("data") or {}
    payload = {"epoch": trained.metadata.get("epoch")}
    rows = [_field_row(trained.module, data, dev, run, which, payload, path, batch_size, known)
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


def _field_row(model, data, dev, run, which, payload, data_path, batch_size, known) -> dict[str, Any]:
    return {**field_metrics(model, data, dev, batch_size=batch_size), "train_resolution": known.get("train_resolution"),
            "pde": (getattr(data, "attrs", None) or {}).get("pde"), "data": str(data_path), "run": str(run),
            "model_file": which, "model_epoch": payload.get("epoch")}
