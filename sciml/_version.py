"""The version of sciml, in one place (stored in checkpoints and dataset files)."""

__version__ = "0.1.0"
