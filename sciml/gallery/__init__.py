"""Model problems with known answers, shared by tests, docs and benchmarks."""

from sciml.gallery.darcy import manufactured_darcy
from sciml.gallery.matrices import diffusion2d_grf, indefinite, poisson2d, poisson3d, spd_with_spectrum

__all__ = ["manufactured_darcy", "poisson2d", "poisson3d", "diffusion2d_grf", "spd_with_spectrum", "indefinite"]
