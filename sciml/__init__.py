"""sciml: scientific machine learning for partial differential equations.

Subpackages: ``sciml.data`` (reference solvers, the HDF5 store, torch datasets),
``sciml.operators`` (neural operators), ``sciml.train`` (the one training loop),
``sciml.linalg`` (sparse linear algebra), ``sciml.gallery`` (model problems).
"""

from sciml._errors import ConfigError, DataError, SciMLError

from sciml._version import __version__

__all__ = ["__version__", "SciMLError", "DataError", "ConfigError"]
