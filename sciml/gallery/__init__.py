"""Model problems with known answers, shared by tests, docs and benchmarks."""

from sciml.gallery.darcy import manufactured_darcy

__all__ = ["manufactured_darcy"]
