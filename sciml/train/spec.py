"""The contract between a model kind and the trainer: :class:`ModelSpec`, and rebuilding a model
from its saved file.

A method package describes each model kind it offers with a :class:`ModelSpec` (how to read the
data, complete the configuration from it, build the model, train and evaluate it) and lists it in
:mod:`sciml.registry`. Nothing here knows any method package: a spec is handed in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import Dataset

from sciml._errors import ConfigError, DataError
from sciml.config import from_dict
from sciml.io import load_checkpoint

__all__ = ["ModelSpec", "model_file", "read_model_file", "build_model"]


@dataclass(frozen=True)
class ModelSpec:
    """How one model kind plugs into the trainer and the command line.

    Attributes
    ----------
    name : registry name (``sciml train NAME``)
    config_cls : the model's frozen config dataclass
    build : ``config -> nn.Module``
    method : ``model -> training method`` (``step(batch) -> {"loss": ...}``, optional ``evaluate``)
    dataset : ``path -> torch Dataset`` over a store file
    complete_config : ``(config, dataset) -> config`` with the values the data decide (channels ...)
    prepare : ``(model, dataset) -> None``: data-dependent set-up before training (normalisation)
    evaluate : ``(model, dataset, device) -> metrics``; ``None``: grid field metrics
    paper : the paper it implements (authors, title, arXiv id)
    summary : one line on what the model is
    inference : the kind's :class:`~sciml.train.inference.Inference`: the layouts it reads, ``predict``
        on its natural input, prediction files (``sciml predict``), exports
    example : a smoke-scale case the registry test trains, predicts and evaluates:
        ``{"pde", "res", "n", "params", "overrides"}`` (a generator of ``sciml data generate`` and
        ``sciml train --set`` values); a kind without training data gives ``{"points", "overrides"}``
        instead, ``points`` holding the ``sciml data points --expr`` arguments of its evaluation file
    needs_data : ``False`` for sampler-driven kinds (PINNs): the method draws its own points
        (``sample(generator)``), ``sciml train`` takes no ``--data``, ``dataset`` reads ``--val`` files only,
        and ``complete_config`` / ``prepare`` get ``None`` for the dataset
    identity : ``model -> {...}``: what ``config.yaml`` records under ``data`` for a kind without training
        data (its problem, the box of its domain as ``domain = {lower, upper, coordinate_names}``)
    train_defaults : training settings of this kind laid under the configuration file and ``--set``
        (``{"steps_per_epoch": 100, "lbfgs_epochs": 5}`` ...)
    """

    name: str
    config_cls: type
    build: Callable[[Any], nn.Module]
    method: Callable[[nn.Module], Any]
    dataset: Callable[[str | os.PathLike], Dataset]
    complete_config: Callable[[Any, Dataset], Any]
    prepare: Callable[[nn.Module, Dataset], None]
    evaluate: Callable[[nn.Module, Dataset, torch.device], dict[str, Any]] | None = None
    paper: str = ""
    summary: str = ""
    inference: Any = None
    example: dict[str, Any] | None = None
    needs_data: bool = True
    identity: Callable[[nn.Module], dict[str, Any]] | None = None
    train_defaults: dict[str, Any] | None = None


def model_file(path: str | os.PathLike, which: str = "best") -> Path:
    """The model file of a run directory (``best.pt``, else ``model.pt``) or ``path`` itself."""
    path = Path(path)
    if not path.is_dir():
        if not path.exists():
            raise DataError(f"{path} does not exist (expected a sciml run directory or model .pt file)")
        return path
    if which not in ("best", "model"):
        raise ConfigError(f"unknown model file {which!r}; choose best or model")
    file = path / f"{which}.pt"
    if not file.exists() and (path / "model.pt").exists():
        file = path / "model.pt"
    if not file.exists():
        raise DataError(f"{path} holds no trained model (no best.pt or model.pt); is it a sciml run directory?")
    return file


def read_model_file(path: str | os.PathLike, *, which: str = "best",
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The payload of a saved model (``torch.load(weights_only=True)``), checked to be a sciml model."""
    file = model_file(path, which)
    payload = load_checkpoint(file, map_location=map_location)
    if payload.get("format") not in ("sciml-model", "sciml-checkpoint") or "model_name" not in payload:
        raise DataError(f"{file} is not a sciml model file")
    payload["file"] = str(file)
    return payload


def build_model(spec: ModelSpec, payload: dict[str, Any]) -> nn.Module:
    """The model of ``payload`` (from :func:`read_model_file`) rebuilt by ``spec``, weights loaded, in eval mode."""
    if payload["model_name"] != spec.name:
        raise DataError(f"{payload.get('file', 'the model file')} holds a {payload['model_name']!r} model, "
                        f"not {spec.name!r}")
    config = from_dict(spec.config_cls, payload["model_config"], where="model")
    model = spec.build(config)
    model.load_state_dict(payload["model"])
    model.eval()
    return model
