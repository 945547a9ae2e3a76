"""Losses and error metrics for fields on grids.

All reduce over every non-batch axis (channels and space) of ``(batch, channels, *spatial)``
tensors, so one function serves 1D, 2D and 3D data: the relative L2 error of a 2D field is the
same number however the grid is flattened (neuraloperator needs ``LpLoss(d=2)`` for that).
"""

from __future__ import annotations

import torch

__all__ = ["relative_lp", "nrmse", "rmse"]


def relative_lp(pred: torch.Tensor, target: torch.Tensor, *, p: float = 2.0, reduction: str = "mean",
                eps: float = 1e-12) -> torch.Tensor:
    """Relative Lp error ``||pred - target||_p / ||target||_p`` per sample, then reduced.

    Shapes
    ------
    pred, target ``(batch, ...)``; returns a scalar (``"mean"``, ``"sum"``) or ``(batch,)`` (``"none"``).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}")
    diff = torch.linalg.vector_norm((pred - target).flatten(1), ord=p, dim=1)
    norm = torch.linalg.vector_norm(target.flatten(1), ord=p, dim=1)
    errors = diff / norm.clamp_min(eps)
    return _reduce(errors, reduction)


def nrmse(pred: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean", eps: float = 1e-12) -> torch.Tensor:
    """PDEBench's normalised RMSE: per sample and channel ``RMSE / RMS(target)``, averaged over channels.

    Shapes
    ------
    pred, target ``(batch, channels, *spatial)``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}")
    err = (pred - target).flatten(2).pow(2).mean(-1).sqrt()
    scale = target.flatten(2).pow(2).mean(-1).sqrt().clamp_min(eps)
    return _reduce((err / scale).mean(1), reduction)


def rmse(pred: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Root-mean-square error per sample over all non-batch axes."""
    return _reduce((pred - target).flatten(1).pow(2).mean(-1).sqrt(), reduction)


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"unknown reduction {reduction!r}; choose one of mean, sum, none")
