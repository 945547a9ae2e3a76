"""Trained models as objects: ``sciml.load(RUN_DIR)``, ``model.predict(...)``, prediction files and
per-sample metrics on store files of any layout the model kind reads.

:func:`load` rebuilds the model from its file alone (``torch.load(weights_only=True)``) and wraps it
with what a user needs beside the weights: the frozen config, the normalisation it was trained
with, the training metadata and the kind's :class:`~sciml.train.inference.Inference`. It does not
import the training loop. ``sciml predict`` is :func:`predict_file`; ``sciml eval`` adds the per-sample
metrics of :meth:`TrainedModel.sample_metrics` to the kind's own evaluation.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from sciml._errors import ConfigError, DataError

__all__ = ["TrainedModel", "load", "predict_file"]

log = logging.getLogger("sciml.predict")


class TrainedModel:
    """A trained model with its config, normalisation, metadata and the kind's inference.

    Attributes
    ----------
    name : the model kind (``fno``, ``neural-pcg`` ...)
    module : the ``nn.Module``, in eval mode, on :attr:`device`
    config : its frozen config dataclass
    metadata : ``{"file", "epoch", "metrics", "sciml_version", "data": {train, val, pde, train_resolution,
        domain ...}, "train": {...}, "summary": {...}}`` from the model file and its run directory
    inference : the kind's :class:`~sciml.train.inference.Inference`
    device : where :meth:`predict` runs
    """

    def __init__(self, name: str, module: nn.Module, metadata: dict[str, Any], spec: Any, device: torch.device):
        self.name, self.module, self.metadata, self.spec = name, module, metadata, spec
        self.config = module.config
        self.inference = spec.inference
        self.device = device

    @property
    def normalization(self) -> dict[str, torch.Tensor]:
        """The normalisation statistics stored with the weights (``{buffer name: tensor}``; empty for
        kinds that normalise per input, such as neural-pcg)."""
        return {name: value for name, value in self.module.state_dict().items()
                if name.rsplit(".", 1)[-1] in ("in_mean", "in_std", "out_mean", "out_std")}

    @property
    def layouts(self) -> tuple[str, ...]:
        """The store layouts this model reads (:data:`sciml.data.layouts.LAYOUTS`)."""
        return self.inference.layouts

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """The prediction on the kind's natural input, un-normalised: see :attr:`signature`.

        ``fno``: ``x (batch, C_in, *spatial)`` -> ``(batch, C_out, *spatial)``; ``fno-rollout`` and
        ``fno-space-time``: ``initial (batch, in_steps, C, *spatial)``, ``steps`` -> ``(batch, steps, C,
        *spatial)``; ``neural-pcg``: ``A`` -> preconditioner; ``dcdm``: ``A, b`` -> SolveResult.
        """
        return self.inference.predict(self.module, *args, **kwargs)

    @property
    def signature(self) -> str:
        """What :meth:`predict` takes and returns, in words and shapes."""
        return self.inference.natural_input

    def open(self, path: str | os.PathLike) -> Any:
        """The data of the store ``path`` for this model (layout and compatibility checked)."""
        from sciml.data.layouts import require_layout
        from sciml.data.store import open_store

        with open_store(path) as store:
            require_layout(store, self.layouts, f"a {self.name} model")
        return self.inference.open(path, self.module, self.metadata.get("data") or {})

    def sample_metrics(self, data: Any, *, batch_size: int = 32,
                       on_batch: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Relative L2, nRMSE, RMSE and max error of every sample of ``data`` (from :meth:`open`), and overall."""
        from sciml.train.inference import sample_metrics, summarize_metrics

        if not self.inference.has_reference(data):
            raise DataError(f"{data.path} has no reference field {self.inference.reference!r} to evaluate against; "
                            f"sciml predict works without it")
        per_sample: dict[str, list[float]] = {}
        for batch in _batches(self, data, batch_size):
            for name, values in sample_metrics(batch).items():
                per_sample.setdefault(name, []).extend(float(v) for v in values)
            if on_batch is not None:
                on_batch(len(batch.indices))
        overall = summarize_metrics(per_sample)
        result = {"overall": overall, "per_sample": per_sample, "n_samples": len(per_sample["rel_l2"])}
        if "points" in self.layouts:
            result["points_outside_domain"] = self.points_outside(data)
        return result

    def points_outside(self, data: Any) -> int:
        """How many points of a point-set ``data`` lie outside the box of the training points (0 when the
        model records none)."""
        from sciml.data.points import points_outside_domain

        domain = (self.metadata.get("data") or {}).get("domain")
        if not domain:
            return 0
        total = 0
        for start in range(0, len(data), 256):
            points, _, counts = data.read(list(range(start, min(len(data), start + 256))))
            total += points_outside_domain(points, counts, domain)
        return total

    def __repr__(self) -> str:
        return (f"TrainedModel({self.name!r}, {self.metadata.get('file')!r}, epoch={self.metadata.get('epoch')}, "
                f"device={self.device})")


def _batches(model: TrainedModel, data: Any, batch_size: int):
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    for start in range(0, len(data), batch_size):
        indices = list(range(start, min(len(data), start + batch_size)))
        yield model.inference.predict_samples(model.module, data, indices, model.device)


def _metadata(path: Path, payload: dict[str, Any], spec: Any) -> dict[str, Any]:
    run = path if path.is_dir() else None
    metadata = {"file": payload.get("file"), "model_name": payload["model_name"], "epoch": payload.get("epoch"),
                "metrics": payload.get("metrics"), "sciml_version": payload.get("sciml_version"), "data": {},
                "train": {}, "summary": None}
    if run is not None and (run / "config.yaml").exists():
        import yaml

        from sciml.train.evaluation import training_identity

        config = yaml.safe_load((run / "config.yaml").read_text()) or {}
        metadata["data"] = dict(config.get("data") or {})
        metadata["train"] = dict(config.get("train") or {})
        if spec.dataset is not None:
            metadata["data"].update({k: v for k, v in training_identity(run, spec.dataset).items() if v is not None})
    if run is not None and (run / "summary.json").exists():
        metadata["summary"] = json.loads((run / "summary.json").read_text())
    return metadata


def load(path: str | os.PathLike, *, which: str = "best", device: str | torch.device | None = None) -> TrainedModel:
    """A trained model from its run directory (``best.pt`` or ``model.pt``, ``which``) or a model file.

    The weights load with ``torch.load(weights_only=True)``: a model file is data, never code.

    Raises
    ------
    DataError
        ``path`` holds no sciml model, or one of a kind this sciml does not know.
    """
    from sciml.registry import resolve_model
    from sciml.runtime import resolve_device
    from sciml.train.spec import build_model, read_model_file

    dev = resolve_device("cpu" if device is None else str(device))
    path = Path(path)
    payload = read_model_file(path, which=which, map_location=dev)
    try:
        spec = resolve_model(payload["model_name"])
    except ConfigError as exc:
        raise DataError(f"{payload['file']} holds a {payload['model_name']!r} model, which this sciml does not know "
                        f"({exc})") from exc
    if spec.inference is None:
        raise DataError(f"model kind {spec.name!r} has no inference contract (ModelSpec.inference)")
    module = build_model(spec, payload).to(dev)
    return TrainedModel(spec.name, module, _metadata(path, payload, spec), spec, dev)


def predict_file(run: str | os.PathLike, data_path: str | os.PathLike, out: str | os.PathLike, *,
                 which: str = "best", device: str = "cpu", batch_size: int = 32, vtk: str | os.PathLike | None = None,
                 force: bool = False, on_batch: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write the predictions of the model in ``run`` for every sample of ``data_path`` into the store ``out``.

    ``out`` has the input's layout: every per-sample field and coordinate of the input, plus
    ``prediction`` in the layout of the reference field (``output``, ``tensor``, ``solution`` ...) and
    the kind's extras (``iterations`` ...); its root attribute ``predicted_by`` names the run. ``vtk``:
    a directory that receives one ParaView file per sample (prediction, reference, error).
    Everything is checked before any file is written; ``out`` is written atomically.

    Returns
    -------
    ``{"written_to", "n_samples", "layout", "vtk_files", "warnings", "seconds"}``
    """
    from sciml.data.layouts import detect_layout
    from sciml.data.store import StoreWriter, open_store, partial_path

    out = Path(out)
    if out.exists() and not force:
        raise DataError(f"{out} already exists; pass --force to overwrite it")
    if Path(data_path).resolve() == out.resolve():
        raise DataError(f"--out {out} is the input file; choose another name")
    if partial_path(out).exists() and not force:
        raise DataError(f"{partial_path(out)} exists (another prediction under way, or one that was killed); "
                        f"remove it or pass --force")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"--batch-size must be a positive integer, got {batch_size!r}")
    if vtk is not None:
        vtk = Path(vtk)
        if vtk.exists() and not vtk.is_dir():
            raise DataError(f"--vtk {vtk} is a file; it names a directory for one ParaView file per sample")
        if vtk.is_dir() and any(vtk.iterdir()) and not force:
            raise DataError(f"--vtk {vtk} is not empty; pass --force to write into it")
    tic = time.perf_counter()
    model = load(run, which=which, device=device)
    data = model.open(data_path)
    refusal = model.inference.export_refusal(data) if vtk is not None else None
    if refusal:
        raise DataError(f"{refusal} ({model.name}); drop --vtk")
    warnings = model.inference.warnings(model.module, data, model.metadata.get("data") or {})
    for sentence in warnings:
        log.warning("%s", sentence)
    added = model.inference.prediction_fields(model.module, data)
    with open_store(data_path) as source:
        layout = detect_layout(source)
        fields = {name: (tuple(shape[1:]), dtype) for name, (shape, dtype) in source.fields.items() if name not in added}
        coords = {name: source.read(name) for name in source.coords}
        own = ("pde", "params", "generator", "seed", "created", "sciml_version", "sample_fields", "n_samples", "fields",
               "n_written", "complete")
        attrs = {k: v for k, v in source.attrs.items() if k not in own and not k.startswith("predict")}
        attrs.update(model.inference.prediction_attrs(model.module, data))
        attrs["predicted_by"] = json.dumps({"run": str(run), "model_name": model.name, "model_file": which,
                                            "epoch": model.metadata.get("epoch"), "data": str(data_path)})
        n = source.n_samples
        vtk_files: list[str] = []
        try:
            with StoreWriter(out, n_samples=n, fields={**fields, **added}, pde=source.attrs["pde"],
                             params=source.attrs["params"], generator=source.attrs["generator"],
                             seed=int(source.attrs["seed"]), coords=coords, attrs=attrs, force=force) as writer:
                for batch in _batches(model, data, batch_size):
                    block = {name: source.read(name, slice(batch.indices[0], batch.indices[-1] + 1))
                             for name in fields}
                    block["prediction"] = batch.prediction.astype(np.dtype(added["prediction"][1]))
                    for name, values in batch.extra.items():
                        if name in added:
                            block[name] = np.asarray(values).astype(np.dtype(added[name][1]))
                    writer.write(block)
                    if vtk is not None:
                        vtk.mkdir(parents=True, exist_ok=True)
                        vtk_files += model.inference.export(data, batch, vtk)
                    if on_batch is not None:
                        on_batch(writer.n_written, n)
        except BaseException:  # a prediction is cheap to redo: leave nothing half-written (it has no --resume)
            partial_path(out).unlink(missing_ok=True)
            for file in vtk_files:
                Path(file).unlink(missing_ok=True)
            raise
    return {"written_to": str(out), "n_samples": n, "layout": layout, "vtk_files": vtk_files, "warnings": warnings,
            "seconds": time.perf_counter() - tic}
