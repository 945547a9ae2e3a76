"""Training: the one loop (:class:`Trainer`), losses and metrics, the model registry, train/eval entry points."""

from sciml.train.losses import error_spectrum, fourier_band_errors, nrmse, relative_lp, rmse
from sciml.train.models import MODELS, ModelSpec, load_model, resolve_model
from sciml.train.run import evaluate_resolutions, evaluate_run, resolution_table, train_model
from sciml.train.trainer import DistributedContext, TrainConfig, Trainer, TrainingError, distributed_context

__all__ = ["Trainer", "TrainConfig", "TrainingError", "DistributedContext", "distributed_context", "relative_lp",
           "nrmse", "rmse", "MODELS", "ModelSpec", "resolve_model", "load_model", "train_model", "evaluate_run",
           "evaluate_resolutions", "resolution_table", "error_spectrum", "fourier_band_errors"]
