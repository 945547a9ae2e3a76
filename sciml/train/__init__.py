"""Training: the one loop (:class:`Trainer`), losses and metrics, the :class:`ModelSpec` contract, the
inference contract of a model kind, and grid field evaluation. It knows no method package: models
arrive as specs (:mod:`sciml.registry`).

The names below are imported on first use, so that loading a trained model to predict
(``sciml.load``) does not import the training loop.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "Trainer": "trainer", "TrainConfig": "trainer", "TrainingError": "trainer", "DistributedContext": "trainer",
    "distributed_context": "trainer",
    "relative_lp": "losses", "nrmse": "losses", "rmse": "losses", "error_spectrum": "losses",
    "fourier_band_errors": "losses",
    "ModelSpec": "spec", "build_model": "spec", "model_file": "spec", "read_model_file": "spec",
    "field_metrics": "evaluation", "resolution_table": "evaluation",
    "Inference": "inference", "PointSetInference": "inference", "SampleBatch": "inference",
    "sample_metrics": "inference",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'sciml.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"sciml.train.{_NAMES[name]}"), name)


def __dir__() -> list[str]:
    return __all__
