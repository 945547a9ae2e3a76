"""sciml: scientific machine learning for partial differential equations.

Subpackages: ``sciml.data`` (reference solvers, the HDF5 store, torch datasets),
``sciml.operators`` (neural operators), ``sciml.learned`` (learned linear solvers),
``sciml.train`` (the one training loop), ``sciml.linalg`` (sparse linear algebra),
``sciml.gallery`` (model problems). ``sciml.load(RUN_DIR)`` opens any trained model.
"""

from __future__ import annotations

from typing import Any

from sciml._errors import ConfigError, DataError, SciMLError
from sciml._version import __version__

__all__ = ["__version__", "SciMLError", "DataError", "ConfigError", "load"]


def load(path: Any, *, which: str = "best", device: Any = None) -> Any:
    """A trained model from its run directory or model file: ``model.predict(...)`` on its natural input.

    See :func:`sciml.trained.load` and docs/using-models.md.
    """
    from sciml.trained import load as _load

    return _load(path, which=which, device=device)
