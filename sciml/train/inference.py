"""The inference contract of a model kind: what it reads, how it predicts, what a prediction file holds.

Every :class:`~sciml.train.ModelSpec` carries an :class:`Inference` (its ``inference`` field). Through
it :func:`sciml.load` answers ``predict`` on the kind's natural input, and ``sciml predict`` /
``sciml eval`` work on store files of the layouts it reads (:mod:`sciml.data.layouts`), for every
kind alike: a batch of samples in, a :class:`SampleBatch` out (the prediction in the layout of the
file's reference field, the reference when the file has one, and a mask of the entries that count).
Nothing here imports the training loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from sciml._errors import DataError

__all__ = ["Inference", "PointSetInference", "SampleBatch", "sample_metrics", "summarize_metrics", "EPS",
           "export_node_fields"]

EPS = 1e-12  # norms of a reference below this count as this (as sciml.train.losses does)


@dataclass
class SampleBatch:
    """Predictions for some samples of a store.

    Attributes
    ----------
    indices : the samples, in order
    prediction : ``(B, *shape)`` float64, in the layout of the store's reference field
    target : the reference ``(B, *shape)`` when the store has one, else ``None``
    mask : ``(B, *shape)`` bool, the entries the metrics use (padding and frames given to the model are
        ``False``); ``None`` means all
    extra : more per-sample fields for the prediction file, ``{name: (B, ...)}`` (``iterations`` ...)
    channel_axis : the axis of the per-sample shape that holds channels (for nRMSE), or ``None``
    """

    indices: list[int]
    prediction: np.ndarray
    target: np.ndarray | None = None
    mask: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    channel_axis: int | None = None


def sample_metrics(batch: SampleBatch) -> dict[str, np.ndarray]:
    """Per-sample relative L2 ``||p - t|| / ||t||``, nRMSE (PDEBench: per channel ``RMSE / RMS(t)``,
    averaged over channels; channels on ``batch.channel_axis``), RMSE and max error ``max |p - t|``,
    over the masked entries. Shapes: ``(B,)`` each."""
    if batch.target is None:
        raise DataError("no reference values to compare the prediction with")
    b = len(batch.indices)
    p = np.asarray(batch.prediction, dtype=np.float64)
    t = np.asarray(batch.target, dtype=np.float64)
    if p.shape != t.shape:
        raise DataError(f"predictions of shape {p.shape} cannot be compared with references of shape {t.shape}")
    m = np.ones(p.shape, dtype=bool) if batch.mask is None else np.broadcast_to(np.asarray(batch.mask, bool), p.shape)
    err, ref = np.where(m, p - t, 0.0), np.where(m, t, 0.0)
    tiny = EPS
    flat_err, flat_ref, flat_m = err.reshape(b, -1), ref.reshape(b, -1), m.reshape(b, -1)
    count = np.maximum(flat_m.sum(axis=1), 1)
    err_norm = np.sqrt((flat_err ** 2).sum(axis=1))
    rel = err_norm / np.maximum(np.sqrt((flat_ref ** 2).sum(axis=1)), tiny)
    if batch.channel_axis is None:
        nrmse = rel
    else:
        axis = batch.channel_axis + 1
        by_channel = [np.moveaxis(a, axis, 1).reshape(b, p.shape[axis], -1) for a in (err, ref, m)]
        n = np.maximum(by_channel[2].sum(axis=2), 1)
        nrmse = (np.sqrt((by_channel[0] ** 2).sum(axis=2) / n)
                 / np.maximum(np.sqrt((by_channel[1] ** 2).sum(axis=2) / n), tiny)).mean(axis=1)
    return {"rel_l2": rel, "nrmse": nrmse, "rmse": err_norm / np.sqrt(count),
            "max_error": np.abs(flat_err).max(axis=1)}


def summarize_metrics(per_sample: dict[str, list[float]]) -> dict[str, Any]:
    """Overall figures from per-sample ones: the mean of each, and the largest max error."""
    out = {name: float(np.mean(values)) for name, values in per_sample.items()}
    if "max_error" in per_sample:
        out["max_error"] = float(np.max(per_sample["max_error"]))
    return out


def export_node_fields(batch: SampleBatch, directory: str | os.PathLike, mesh_of) -> list[str]:
    """One ``.vtu`` per sample of ``batch``: node fields ``prediction_k``, ``reference_k``, ``error_k`` (``k`` the
    channel of a ``(B, n, C)`` prediction, 0 for ``(B, n)``) on the sample's first ``n`` nodes;
    ``mesh_of(index) -> (points (n, dim <= 3), cells [(type, array), ...])``, points padded to 3-D."""
    from pathlib import Path

    from sciml.data.export import sample_file_name, write_fields

    def channels(values, k, n):
        v = values[k, :n]
        return v[:, None] if v.ndim == 1 else v

    written = []
    for k, index in enumerate(batch.indices):
        given, cells = mesh_of(index)
        given = np.asarray(given, dtype=np.float64)
        n = len(given)
        points = np.zeros((n, 3))
        points[:, :given.shape[1]] = given[:, :3]
        pred = channels(batch.prediction, k, n)
        ref = channels(batch.target, k, n) if batch.target is not None else None
        fields = {}
        for ch in range(pred.shape[1]):
            fields[f"prediction_{ch}"] = pred[:, ch]
            if ref is not None:
                fields[f"reference_{ch}"] = ref[:, ch]
                fields[f"error_{ch}"] = pred[:, ch] - ref[:, ch]
        path = Path(directory) / sample_file_name(index, ".vtu")
        write_fields(path, points, cells, fields)
        written.append(str(path))
    return written


class Inference:
    """Base of the inference side of a model kind. Subclasses set :attr:`layouts` and :attr:`reference`
    and implement :meth:`open`, :meth:`predict` and :meth:`predict_samples`.

    Attributes
    ----------
    layouts : the store layouts the kind reads (:data:`sciml.data.layouts.LAYOUTS`)
    reference : the store field a prediction is compared with (``output``, ``tensor``, ``solution`` ...)
    natural_input : one line on what :meth:`predict` takes and returns (shapes), for docs and errors
    """

    layouts: tuple[str, ...] = ()
    reference: str = ""
    natural_input: str = ""

    # -- files --------------------------------------------------------------------------------------
    def open(self, path: str | os.PathLike, model: nn.Module, metadata: dict[str, Any]) -> Any:
        """The data of ``path`` for this model, checked (layout, channels, grid, PDE ...); one sentence
        naming what is wrong otherwise."""
        raise NotImplementedError

    def has_reference(self, data: Any) -> bool:
        return True

    def prediction_fields(self, model: nn.Module, data: Any) -> dict[str, tuple[tuple[int, ...], str]]:
        """Per-sample fields the prediction file adds (``prediction`` in the reference's layout, extras)."""
        raise NotImplementedError

    def prediction_attrs(self, model: nn.Module, data: Any) -> dict[str, Any]:
        """Root attributes the prediction file adds (which frames were predicted ...)."""
        return {}

    def predict_samples(self, model: nn.Module, data: Any, indices: list[int], device: torch.device) -> SampleBatch:
        raise NotImplementedError

    def warnings(self, model: nn.Module, data: Any, metadata: dict[str, Any]) -> list[str]:
        """Sentences about inputs the model may answer badly (points outside its training domain ...)."""
        return []

    # -- Python ---------------------------------------------------------------------------------------
    def predict(self, model: nn.Module, *args: Any, **kwargs: Any) -> Any:
        """The kind's natural-form prediction (see :attr:`natural_input`)."""
        raise NotImplementedError

    def natural_example(self, model: nn.Module, data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Arguments of :meth:`predict` in the natural form, made from the first sample of ``data``
        (what the docs and the registry test call it with)."""
        raise NotImplementedError

    # -- export ---------------------------------------------------------------------------------------
    def export(self, data: Any, batch: SampleBatch, directory: str | os.PathLike) -> list[str]:
        """Write each sample of ``batch`` (prediction, reference, error) as a VTK/XDMF file in ``directory``."""
        raise DataError(f"this model kind has no VTK export for {', '.join(self.layouts)} data")

    def export_refusal(self, data: Any) -> str | None:
        """Why ``data`` cannot be exported (one sentence), or ``None``; asked before anything is written. The base
        refuses for a kind that does not override :meth:`export`."""
        if type(self).export is Inference.export:
            return "this model kind has no ParaView export yet"
        return None


def _model_dim(model: nn.Module, default: int) -> int:
    """The number of coordinates a pointwise model takes: ``model.dim``, else ``model.config.dim``."""
    dim = getattr(model, "dim", None)
    if dim is None:
        dim = getattr(model.config, "dim", None)
    return int(dim) if dim is not None else default


class PointSetInference(Inference):
    """The inference side of a pointwise model ``u(points)`` (PINNs, TENG, walk-on-spheres operators):
    ``module(points (B, P, dim)) -> (B, P, C)``, on point-set stores (:mod:`sciml.data.points`).

    ``predict(points)`` takes ``(P, dim)`` or ``(batch, P, dim)`` (space, or space-time with time last,
    in the coordinates the model was trained on) and returns ``(P, C)`` or ``(batch, P, C)``. The model
    (an attribute ``dim``) or its ``config`` must say ``dim``; points outside the box of the training points are counted
    (:meth:`sciml.trained.TrainedModel.points_outside`), predicted anyway, and reported.
    """

    layouts = ("points",)
    reference = "target"
    natural_input = "points (P, dim) or (batch, P, dim) -> values (P, C) or (batch, P, C)"

    def open(self, path: str | os.PathLike, model: nn.Module, metadata: dict[str, Any]) -> Any:
        from sciml.data.points import read_point_set

        data = read_point_set(path)
        dim = _model_dim(model, data.dim)
        if data.dim != dim:
            raise DataError(f"{path} has {data.dim}-dimensional points ({', '.join(data.coordinate_names)}), the "
                            f"model takes {dim}")
        channels = int(getattr(model.config, "channels", 0) or 0)
        if data.has_target and channels and data.channels != channels:
            raise DataError(f"{path} has targets with {data.channels} channel(s), the model gives {channels}")
        names = (metadata.get("domain") or {}).get("coordinate_names")
        if names and list(names) != list(data.coordinate_names):
            raise DataError(f"{path} has coordinates {', '.join(data.coordinate_names)}, the model was trained on "
                            f"{', '.join(names)}")
        return data

    def has_reference(self, data: Any) -> bool:
        return data.has_target

    def warnings(self, model: nn.Module, data: Any, metadata: dict[str, Any]) -> list[str]:
        from sciml.data.points import points_outside_domain

        domain = metadata.get("domain")
        if not domain:
            return []
        outside = 0
        for start in range(0, len(data), 256):
            points, _, counts = data.read(list(range(start, min(len(data), start + 256))))
            outside += points_outside_domain(points, counts, domain)
        if not outside:
            return []
        return [f"{outside} points of {data.path} lie outside the domain the model was trained on (the box of its "
                f"training points); their predictions are extrapolations"]

    def prediction_fields(self, model: nn.Module, data: Any) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"prediction": ((data.n_points, int(model.config.channels)), "float64")}

    @torch.no_grad()
    def predict_samples(self, model: nn.Module, data: Any, indices: list[int], device: torch.device) -> SampleBatch:
        points, target, counts = data.read(indices)
        pred = model.to(device)(torch.from_numpy(points).to(device, next(model.parameters()).dtype))
        pred = pred.double().cpu().numpy()
        mask = np.arange(points.shape[1])[None, :, None] < counts[:, None, None]
        pred = np.where(mask, pred, 0.0)
        return SampleBatch(indices, pred, target, mask=np.broadcast_to(mask, pred.shape), channel_axis=1)

    @torch.no_grad()
    def predict(self, model: nn.Module, points: Any) -> torch.Tensor:
        if isinstance(points, np.ndarray):
            points = torch.from_numpy(points)
        if not isinstance(points, torch.Tensor) or points.ndim not in (2, 3):
            raise DataError(f"points must be a (P, dim) or (batch, P, dim) tensor or array, got "
                            f"{getattr(points, 'shape', type(points).__name__)}")
        dim = _model_dim(model, points.shape[-1])
        if points.shape[-1] != dim:
            raise DataError(f"points have {points.shape[-1]} coordinates, the model takes {dim}")
        parameter = next(model.parameters())
        single = points.ndim == 2
        out = model(points.to(parameter.device, parameter.dtype)[None] if single else
                    points.to(parameter.device, parameter.dtype))
        return out[0] if single else out

    def natural_example(self, model: nn.Module, data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        points, _, counts = data.read([0])
        return (points[0, :int(counts[0])],), {}

    def export(self, data: Any, batch: SampleBatch, directory: str | os.PathLike) -> list[str]:
        from pathlib import Path

        from sciml.data.export import sample_file_name, write_fields

        written = []
        points_all, _, counts = data.read(batch.indices)
        for k, index in enumerate(batch.indices):
            c = int(counts[k])
            points = np.zeros((c, 3))
            space = [i for i, name in enumerate(data.coordinate_names) if name != "t"][:3]
            points[:, :len(space)] = points_all[k, :c][:, space]
            fields = {f"prediction_{j}": batch.prediction[k, :c, j] for j in range(batch.prediction.shape[2])}
            if batch.target is not None:
                for j in range(batch.prediction.shape[2]):
                    fields[f"reference_{j}"] = batch.target[k, :c, j]
                    fields[f"error_{j}"] = batch.prediction[k, :c, j] - batch.target[k, :c, j]
            if "t" in data.coordinate_names:
                fields["t"] = points_all[k, :c, data.coordinate_names.index("t")]
            path = Path(directory) / sample_file_name(index, ".vtu")
            write_fields(path, points, [("vertex", np.arange(c)[:, None])], fields)
            written.append(str(path))
        return written
