"""Neural operators (FNO through neuraloperator) and their training glue."""

from sciml.operators.fno import FNO, FNOConfig
from sciml.operators.regression import OperatorRegression

__all__ = ["FNO", "FNOConfig", "OperatorRegression"]
