"""The inference side of the neural-operator kinds (:class:`sciml.train.inference.Inference`):
grid pairs for ``fno``, trajectories rolled out for ``fno-rollout`` and ``fno-space-time``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sciml._errors import ConfigError, DataError
from sciml.train.inference import Inference, SampleBatch

__all__ = ["GridPairInference", "RolloutInference"]


def _as_tensor(x: Any, name: str, model: nn.Module) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"{name} must be a torch tensor or numpy array, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        x = x.float()
    parameter = next(model.parameters())
    x = x.to(device=parameter.device, dtype=parameter.dtype)
    if not bool(torch.isfinite(x).all()):
        raise DataError(f"{name} contains NaN or Inf")
    return x


def _grid_axes(path: Path, spatial: tuple[int, ...]) -> list[np.ndarray]:
    from sciml.data.store import open_store

    with open_store(path) as store:
        names = ("x-coordinate", "y-coordinate", "z-coordinate")
        return [np.asarray(store.read(name), dtype=np.float64) if name in store.coords and
                len(store.read(name)) == size else np.linspace(0.0, 1.0, size) for name, size in zip(names, spatial)]


def _field_dtype(path: Path, name: str, default: str = "float32") -> str:
    """The stored dtype of field ``name`` (predictions are written in the reference's precision)."""
    from sciml.data.store import open_store

    with open_store(path) as store:
        return str(store.fields[name][1]) if name in store.fields else default


def _check_pde(path: Any, pde: str | None, metadata: dict[str, Any]) -> None:
    trained = metadata.get("pde")
    if trained and pde and pde != trained:
        raise DataError(f"{path} holds {pde!r} data but the model was trained on {trained!r} data")


class GridPairInference(Inference):
    """``fno``: grids ``(B, C_in, *spatial) -> (B, C_out, *spatial)`` at any resolution the modes allow."""

    layouts = ("pairs",)
    reference = "output"
    natural_input = "x (batch, in_channels, *spatial) -> (batch, out_channels, *spatial), un-normalised"

    def _check_grid(self, model: nn.Module, spatial: tuple[int, ...], in_channels: int, where: str) -> None:
        from sciml.train.evaluation import grid_too_coarse

        c = model.config
        if in_channels != c.in_channels:
            raise DataError(f"{where} has {in_channels} input channels, the model takes {c.in_channels}")
        if len(spatial) != c.n_dims:
            raise DataError(f"{where} is {len(spatial)}-dimensional (grid {tuple(spatial)}), the model is "
                            f"{c.n_dims}-dimensional")
        refusal = grid_too_coarse(where, tuple(spatial), c.modes, "the model")
        if refusal:
            raise DataError(refusal)

    def open(self, path: str | os.PathLike, model: nn.Module, metadata: dict[str, Any]) -> Any:
        from sciml.data.datasets import PairDataset

        data = PairDataset(path, require_output=False)
        self._check_grid(model, data.spatial, data.in_channels, str(path))
        if data.has_output and data.out_channels != model.config.out_channels:
            raise DataError(f"{path} has {data.out_channels} output channels, the model gives "
                            f"{model.config.out_channels}")
        _check_pde(path, data.attrs.get("pde"), metadata)
        return data

    def has_reference(self, data: Any) -> bool:
        return data.has_output

    def prediction_fields(self, model: nn.Module, data: Any) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"prediction": ((model.config.out_channels, *data.spatial), _field_dtype(data.path, "output"))}

    @torch.no_grad()
    def predict_samples(self, model: nn.Module, data: Any, indices: list[int], device: torch.device) -> SampleBatch:
        x, y = data.read(indices)
        pred = model.to(device)(x.to(device)).double().cpu().numpy()
        return SampleBatch(indices, pred, None if y is None else y.double().numpy(), channel_axis=0)

    @torch.no_grad()
    def predict(self, model: nn.Module, x: Any) -> torch.Tensor:
        x = _as_tensor(x, "x", model)
        c = model.config
        if x.ndim != c.n_dims + 2:
            raise ConfigError(f"x must be (batch, {c.in_channels}, {', '.join(['s'] * c.n_dims)}), got shape "
                              f"{tuple(x.shape)}")
        self._check_grid(model, tuple(x.shape[2:]), int(x.shape[1]), f"x of shape {tuple(x.shape)}")
        return model(x)

    def natural_example(self, model: nn.Module, data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        x, _ = data.read([0])
        return (x,), {}

    def export(self, data: Any, batch: SampleBatch, directory: str | os.PathLike) -> list[str]:
        from sciml.data.export import grid_cells, sample_file_name, write_fields

        points, cells = grid_cells(_grid_axes(data.path, data.spatial))
        written = []
        for k, index in enumerate(batch.indices):
            fields = {}
            x, _ = data.read([index])
            for c, values in enumerate(x[0].double().numpy()):
                fields[f"input_{c}"] = values.reshape(-1)
            for c in range(batch.prediction.shape[1]):
                fields[f"prediction_{c}"] = batch.prediction[k, c].reshape(-1)
                if batch.target is not None:
                    fields[f"reference_{c}"] = batch.target[k, c].reshape(-1)
                    fields[f"error_{c}"] = (batch.prediction[k, c] - batch.target[k, c]).reshape(-1)
            path = Path(directory) / sample_file_name(index, ".vtu")
            write_fields(path, points, cells, fields)
            written.append(str(path))
        return written


class RolloutInference(Inference):
    """``fno-rollout``, ``fno-space-time``: the frames after the first window, rolled out from it."""

    layouts = ("trajectory",)
    reference = "tensor"
    natural_input = ("initial (batch, in_steps, channels, *spatial), steps -> (batch, steps, channels, *spatial), "
                     "rolled out from the window")

    def open(self, path: str | os.PathLike, model: nn.Module, metadata: dict[str, Any]) -> Any:
        from sciml.data.trajectories import TrajectoryDataset
        from sciml.operators.autoregressive import check_data

        dtype = torch.float64 if _field_dtype(Path(path), "tensor") == "float64" else torch.float32
        data = TrajectoryDataset(path, dtype=dtype)  # the frames not predicted are copied exactly
        check_data(model.config, data, horizon=model.config.horizon, what="evaluated on")
        return data

    def _window(self, model: nn.Module) -> tuple[int, int, int]:
        c = model.config
        return c.first_frame, c.first_frame + c.in_steps, c.first_frame + c.in_steps + c.horizon

    def prediction_fields(self, model: nn.Module, data: Any) -> dict[str, tuple[tuple[int, ...], str]]:
        shape = (data.n_times, *((data.channels,) if data.has_channel_axis else ()), *data.spatial)
        return {"prediction": (shape, _field_dtype(data.path, "tensor"))}

    def prediction_attrs(self, model: nn.Module, data: Any) -> dict[str, Any]:
        _, start, stop = self._window(model)
        return {"predicted_frames": json.dumps([start, stop]),
                "prediction_note": f"frames {start}..{stop - 1} rolled out from the true frames before them; "
                                   f"the other frames are copies of the input"}

    @torch.no_grad()
    def predict_samples(self, model: nn.Module, data: Any, indices: list[int], device: torch.device) -> SampleBatch:
        from sciml.operators.autoregressive import rollout

        first, start, stop = self._window(model)
        trajectories = data.read(indices)  # (B, nt, C, *spatial)
        pred = trajectories.clone()
        model = model.to(device)
        window = trajectories[:, first:start].to(device, next(model.parameters()).dtype)
        pred[:, start:stop] = rollout(model, window, stop - start).to("cpu", pred.dtype)
        mask = np.zeros(trajectories.shape, dtype=bool)
        mask[:, start:stop] = True
        if not data.has_channel_axis:
            pred, trajectories, mask = pred.squeeze(2), trajectories.squeeze(2), mask.squeeze(2)
        return SampleBatch(indices, pred.double().numpy(), trajectories.double().numpy(), mask=mask,
                           channel_axis=1 if data.has_channel_axis else None)

    @torch.no_grad()
    def predict(self, model: nn.Module, initial: Any, steps: int | None = None) -> torch.Tensor:
        from sciml.operators.autoregressive import rollout

        initial = _as_tensor(initial, "initial", model)
        c = model.config
        if initial.ndim != c.n_dims + 3 or initial.shape[1] != c.in_steps or initial.shape[2] != c.channels:
            raise ConfigError(f"initial must be (batch, {c.in_steps}, {c.channels}, "
                              f"{', '.join(['s'] * c.n_dims)}), got shape {tuple(initial.shape)}")
        return rollout(model, initial, c.horizon if steps is None else int(steps))

    def natural_example(self, model: nn.Module, data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        first, start, _ = self._window(model)
        return (data.read([0])[:, first:start],), {"steps": 2}

    def export(self, data: Any, batch: SampleBatch, directory: str | os.PathLike) -> list[str]:
        from sciml.data.export import grid_cells, sample_file_name, write_time_series

        points, cells = grid_cells(_grid_axes(data.path, data.spatial))
        times = data.times if data.times is not None else np.arange(data.n_times, dtype=np.float64)
        written = []
        for k, index in enumerate(batch.indices):
            pred, ref = batch.prediction[k], batch.target[k]
            if not data.has_channel_axis:
                pred, ref = pred[:, None], ref[:, None]
            frames = []
            for f in range(data.n_times):
                frame = {}
                for c in range(pred.shape[1]):
                    frame[f"prediction_{c}"] = pred[f, c].reshape(-1)
                    frame[f"reference_{c}"] = ref[f, c].reshape(-1)
                    frame[f"error_{c}"] = (pred[f, c] - ref[f, c]).reshape(-1)
                frames.append(frame)
            path = Path(directory) / sample_file_name(index, ".xdmf")
            write_time_series(path, points, cells, times, frames)
            written.append(str(path))
        return written
