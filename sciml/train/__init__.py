"""Training: the one loop (:class:`Trainer`), losses and metrics, the :class:`ModelSpec` contract and
grid field evaluation. It knows no method package: models arrive as specs (:mod:`sciml.registry`)."""

from sciml.train.evaluation import check_field_data, field_metrics, resolution_table
from sciml.train.losses import error_spectrum, fourier_band_errors, nrmse, relative_lp, rmse
from sciml.train.spec import ModelSpec, build_model, model_file, read_model_file
from sciml.train.trainer import DistributedContext, TrainConfig, Trainer, TrainingError, distributed_context

__all__ = ["Trainer", "TrainConfig", "TrainingError", "DistributedContext", "distributed_context", "relative_lp",
           "nrmse", "rmse", "ModelSpec", "build_model", "model_file", "read_model_file", "check_field_data",
           "field_metrics", "resolution_table", "error_spectrum", "fourier_band_errors"]
