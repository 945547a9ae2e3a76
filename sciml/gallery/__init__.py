"""Model problems with known answers, shared by tests, docs and benchmarks."""

from sciml.gallery.advection import advected_sine, cell_centers, dispersive_mode, manufactured_combined
from sciml.gallery.burgers import burgers_cole_hopf
from sciml.gallery.darcy import manufactured_darcy
from sciml.gallery.fem import ManufacturedPoisson, poisson_disk, poisson_square, unit_square_mesh
from sciml.gallery.flows import heat_exact, taylor_green_vorticity
from sciml.gallery.matrices import diffusion2d_grf, indefinite, poisson2d, poisson3d, spd_with_spectrum
from sciml.gallery.wave import standing_wave

__all__ = ["manufactured_darcy", "poisson2d", "poisson3d", "diffusion2d_grf", "spd_with_spectrum", "indefinite",
           "burgers_cole_hopf", "taylor_green_vorticity", "heat_exact", "advected_sine", "cell_centers",
           "dispersive_mode", "manufactured_combined", "standing_wave", "ManufacturedPoisson", "poisson_square",
           "poisson_disk", "unit_square_mesh"]
