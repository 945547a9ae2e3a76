"""The models ``sciml train MODEL`` knows, and loading a trained model back from its run.

Each entry says how to read the data, how to complete the model's configuration from the data
(channel counts, dimensions), how to build the model and which training method drives it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import Dataset

from sciml._errors import ConfigError, DataError
from sciml.config import from_dict
from sciml.io import load_checkpoint

__all__ = ["ModelSpec", "MODELS", "resolve_model", "load_model"]


@dataclass(frozen=True)
class ModelSpec:
    """How one model plugs into the trainer and the command line."""

    name: str
    config_cls: type
    build: Callable[[Any], nn.Module]
    method: Callable[[nn.Module], Any]
    dataset: Callable[[str | os.PathLike], Dataset]
    complete_config: Callable[[Any, Dataset], Any]
    prepare: Callable[[nn.Module, Dataset], None]
    evaluate: Callable[[nn.Module, Dataset, torch.device], dict[str, Any]] | None = None  # None: field metrics


def _pair_dataset(path: str | os.PathLike) -> Dataset:
    from sciml.data.datasets import PairDataset

    return PairDataset(path)


def _complete_grid_config(config: Any, data: Any) -> Any:
    """Fill ``in_channels``, ``out_channels`` and ``n_dims`` from the data, or check the values given."""
    found = {"in_channels": data.in_channels, "out_channels": data.out_channels, "n_dims": len(data.spatial)}
    for key, value in found.items():
        given = getattr(config, key)
        if given and given != value:
            raise DataError(f"model config {key}={given} but {data.path} has {key}={value} "
                            f"(input {data.in_channels} channels, output {data.out_channels}, grid {data.spatial})")
    return replace(config, **found)


def _fit_fno_normalization(model: nn.Module, data: Any, limit: int = 1024) -> None:
    x, y = data._read(list(range(min(len(data), limit))))
    model.fit_normalization(x, y)


def _build_fno(config: Any) -> nn.Module:
    from sciml.operators.fno import FNO

    return FNO(config)


def _regression(model: nn.Module) -> Any:
    from sciml.operators.regression import OperatorRegression

    return OperatorRegression(model)


def _fno_config_cls() -> type:
    from sciml.operators.fno import FNOConfig

    return FNOConfig


def _fno_spec() -> ModelSpec:
    return ModelSpec(name="fno", config_cls=_fno_config_cls(), build=_build_fno, method=_regression,
                     dataset=_pair_dataset, complete_config=_complete_grid_config, prepare=_fit_fno_normalization)


def _neural_pcg_spec() -> ModelSpec:
    from sciml.learned import neural_pcg as npcg

    return ModelSpec(name="neural-pcg", config_cls=npcg.NeuralPCGConfig, build=npcg.spec_build,
                     method=npcg.spec_method, dataset=npcg.spec_dataset,
                     complete_config=npcg.spec_complete_config, prepare=npcg.spec_prepare,
                     evaluate=npcg.spec_evaluate)


def _spec_from(module: str, function: str) -> Callable[[], ModelSpec]:
    def load() -> ModelSpec:
        import importlib

        return getattr(importlib.import_module(module), function)()

    return load


# Each entry builds its spec on first use, so `sciml train fno` does not import torch_geometric.
_SPECS: dict[str, Callable[[], ModelSpec]] = {
    "fno": _fno_spec,
    "fno-rollout": _spec_from("sciml.train.autoregressive", "rollout_spec"),  # recurrent FNO on trajectories
    "fno-space-time": _spec_from("sciml.train.autoregressive", "space_time_spec"),  # FNO-3D on (x, y, t)
    "neural-pcg": _neural_pcg_spec,
    "dcdm": _spec_from("sciml.learned.dcdm", "spec"),
}
MODELS = tuple(_SPECS)


def resolve_model(name: str) -> ModelSpec:
    """The :class:`ModelSpec` called ``name``; an unknown name lists the choices."""
    if name not in _SPECS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return _SPECS[name]()


def load_model(path: str | os.PathLike, *, which: str = "best", map_location: str | torch.device = "cpu"
               ) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained model from a run directory (``best.pt`` or ``model.pt``) or a model file.

    Returns
    -------
    (model in eval mode, the checkpoint payload without the weights)
    """
    path = Path(path)
    if path.is_dir():
        if which not in ("best", "model"):
            raise ConfigError(f"unknown model file {which!r}; choose best or model")
        file = path / f"{which}.pt"
        if not file.exists() and (path / "model.pt").exists():
            file = path / "model.pt"
        if not file.exists():
            raise DataError(f"{path} holds no trained model (no best.pt or model.pt); is it a sciml run directory?")
    else:
        file = path
    payload = load_checkpoint(file, map_location=map_location)
    if payload.get("format") not in ("sciml-model", "sciml-checkpoint"):
        raise DataError(f"{file} is not a sciml model file")
    spec = resolve_model(payload["model_name"])
    config = from_dict(spec.config_cls, payload["model_config"], where="model")
    model = spec.build(config)
    model.load_state_dict(payload["model"])
    model.eval()
    return model, {k: v for k, v in payload.items() if k != "model"}
