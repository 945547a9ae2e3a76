"""sciml: scientific machine learning for partial differential equations.

Subpackages: ``sciml.data`` (reference solvers, the HDF5 store, torch datasets),
``sciml.operators`` (neural operators), ``sciml.train`` (the one training loop),
``sciml.linalg`` (sparse linear algebra), ``sciml.gallery`` (model problems).
"""

from sciml._errors import ConfigError, DataError, SciMLError

__version__ = "0.1.0"

__all__ = ["__version__", "SciMLError", "DataError", "ConfigError"]
