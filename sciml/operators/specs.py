"""The model kinds of :mod:`sciml.operators` as :class:`~sciml.train.ModelSpec` entries of
:mod:`sciml.registry`: ``fno`` (input -> output pairs), ``fno-rollout`` and ``fno-space-time``
(trajectories)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from sciml._errors import DataError
from sciml.operators import autoregressive
from sciml.operators.fno import DEFAULT_MODES, FNO, FNOConfig, modes_for_grid
from sciml.operators.inference import GridPairInference, RolloutInference
from sciml.operators.regression import OperatorRegression
from sciml.train.evaluation import grid_too_coarse
from sciml.train.spec import ModelSpec

__all__ = ["FNO_SPEC", "ROLLOUT_SPEC", "SPACE_TIME_SPEC", "complete_grid_config"]

_FNO_PAPER = ("Li, Kovachki, Azizzadenesheli, Liu, Bhattacharya, Stuart, Anandkumar: Fourier Neural Operator for "
              "Parametric Partial Differential Equations, arXiv 2010.08895")


def _pair_dataset(path: str | os.PathLike) -> Dataset:
    from sciml.data.datasets import PairDataset

    return PairDataset(path)


def complete_grid_config(config: Any, data: Any) -> Any:
    """Fill ``in_channels``, ``out_channels``, ``n_dims`` and (when 0) ``modes`` from the data, or check
    the values given: an explicit ``modes`` the training grid cannot resolve is refused here with the
    sentence ``sciml eval`` would refuse the same grid with."""
    found = {"in_channels": data.in_channels, "out_channels": data.out_channels, "n_dims": len(data.spatial)}
    for key, value in found.items():
        given = getattr(config, key)
        if given and given != value:
            raise DataError(f"model config {key}={given} but {data.path} has {key}={value} "
                            f"(input {data.in_channels} channels, output {data.out_channels}, grid {data.spatial})")
    if config.modes == 0:
        found["modes"] = modes_for_grid(tuple(data.spatial))
    else:
        refusal = grid_too_coarse(str(data.path), tuple(data.spatial), config.modes, f"modes={config.modes}")
        if refusal:
            raise DataError(f"{refusal}; drop --set modes to take {modes_for_grid(tuple(data.spatial))} from the "
                            f"grid (the default is {DEFAULT_MODES}, at most half the points per axis)")
    return replace(config, **found)


def _field_evaluation(model: nn.Module, data: Any, device: Any) -> dict[str, Any]:
    """``sciml eval`` of an fno run: relative L2, nRMSE, RMSE and the Fourier-band errors on the test grid."""
    from sciml.train.evaluation import field_metrics

    return field_metrics(model, data, device)


def _fit_fno_normalization(model: nn.Module, data: Any, limit: int = 1024) -> None:
    x, y = data.read(list(range(min(len(data), limit))))
    model.fit_normalization(x, y)


def _trajectory_dataset(path: str | os.PathLike) -> Dataset:
    from sciml.data.trajectories import TrajectoryDataset

    return TrajectoryDataset(path)


FNO_SPEC = ModelSpec(
    name="fno", config_cls=FNOConfig, build=FNO, method=OperatorRegression, dataset=_pair_dataset,
    complete_config=complete_grid_config, prepare=_fit_fno_normalization, evaluate=_field_evaluation,
    paper=_FNO_PAPER,
    summary="Fourier neural operator on input -> output grid pairs (Darcy, Burgers ...), any resolution",
    inference=GridPairInference(),
    example={"pde": "darcy", "res": 16, "n": 8, "params": {"refine": 2},
             "overrides": {"epochs": 1, "batch_size": 4, "width": 4, "n_layers": 1}})
_TRAJECTORY_EXAMPLE = {"pde": "heat", "res": 32, "n": 6, "params": {"nt": 8, "fine": 256},
                       "overrides": {"epochs": 1, "batch_size": 3, "in_steps": 2, "first_frame": 0, "horizon": 4,
                                     "modes": 4, "width": 4, "n_layers": 1}}


def _trajectory_spec(name: str, config_cls: type, build: Any, summary: str) -> ModelSpec:
    return ModelSpec(name=name, config_cls=config_cls, build=build, method=autoregressive.AutoregressiveMethod,
                     dataset=_trajectory_dataset, complete_config=autoregressive.complete_config,
                     prepare=autoregressive.prepare, evaluate=autoregressive.rollout_metrics, paper=_FNO_PAPER,
                     summary=summary, inference=RolloutInference(), example=_TRAJECTORY_EXAMPLE)


ROLLOUT_SPEC = _trajectory_spec(
    "fno-rollout", autoregressive.RolloutConfig, autoregressive.RecurrentFNO,
    "recurrent FNO-2D over space, rolled out frame by frame on trajectories (Navier-Stokes)")
SPACE_TIME_SPEC = _trajectory_spec(
    "fno-space-time", autoregressive.SpaceTimeConfig, autoregressive.SpaceTimeFNO,
    "FNO-3D over (x, y, t), predicting the whole horizon at once from the first frames")
