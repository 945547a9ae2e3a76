"""Walk-on-spheres: a grid-free Monte Carlo solver for ``Lap u = f`` with Dirichlet data, in 2-D and 3-D.

* :mod:`sciml.wos.boundary`: distances and closest points (analytic domains; polygons and triangle surfaces
  behind a uniform-grid index), inside tests, mesh input through meshio;
* :mod:`sciml.wos.estimator`: :func:`walk_on_spheres`, batched walks with per-point mean, variance,
  standard error and the count of walks closed at the step cap.
"""

from sciml.wos.boundary import (Boundary, DomainBoundary, SegmentBoundary, TriangleBoundary, as_boundary,
                                boundary_from_mesh, star_vertices)
from sciml.wos.estimator import WosEstimate, naive_walk_on_spheres, walk_on_spheres

__all__ = ["Boundary", "DomainBoundary", "SegmentBoundary", "TriangleBoundary", "as_boundary", "boundary_from_mesh",
           "star_vertices", "WosEstimate", "walk_on_spheres", "naive_walk_on_spheres"]
