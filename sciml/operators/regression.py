"""Supervised operator learning: a model maps input fields to output fields, trained on relative L2."""

from __future__ import annotations

import torch
from torch import nn

from sciml.train.losses import nrmse, relative_lp, rmse

__all__ = ["OperatorRegression"]


class OperatorRegression:
    """The training method for ``(x, y)`` pairs: loss = mean relative L2 of ``model(x)`` against ``y``.

    ``step`` and ``evaluate`` use ``self.model``; the trainer may replace it by a
    DistributedDataParallel wrapper while training.

    Shapes
    ------
    batch ``(x (B, C_in, *spatial), y (B, C_out, *spatial))``.
    """

    metric = "rel_l2"  # the validation metric that picks the best model (lower is better)

    def __init__(self, model: nn.Module):
        self.model = model

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"loss": relative_lp(self.model(x), y)}

    @torch.no_grad()
    def evaluate(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-batch sums of the metrics (the trainer divides by the sample count)."""
        x, y = batch
        pred = self.model(x)
        return {"rel_l2": relative_lp(pred, y, reduction="sum"), "nrmse": nrmse(pred, y, reduction="sum"),
                "rmse": rmse(pred, y, reduction="sum")}
