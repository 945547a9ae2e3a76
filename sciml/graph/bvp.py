"""A graph-network solution operator for boundary value problems on FEM meshes (Lotzsch et al., arXiv 2206.14092).

``-div(eps grad u) = rho`` in a 2-D domain, ``u = 0`` on its boundary, on the meshes of the poisson-mesh
generator (square, disk, L, U, holed squares, stars). The graph is the mesh: nodes are vertices, edges
the triangle edges weighted by their length. Node inputs (the paper's): source density ``rho``,
permittivity ``eps`` (the mean of the cells around the node), boundary flag and distance to the
boundary (the coordinates enter only through the edge weights, so the operator does not see where a
shape sits in the plane and is invariant to rotations and translations of the mesh).

Network: 2-layer MLP encoder -> ``layers`` ChebConv layers (torch_geometric, Chebyshev order ``K``,
edge weight = edge length, symmetric normalisation) with SiLU and residual connections -> 2-layer MLP
decoder giving ``u / target_scale``.

Mesh augmentation (:func:`scaled`): a domain scaled by ``s`` with the source scaled along
(``rho_s(x) = rho(x / s)``) has the solution ``u_s(x) = s^2 u(x / s)``, so a stored sample gives new
exact samples at any size; random remeshing is training on meshes of several resolutions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from sciml._errors import ConfigError, DataError

__all__ = ["BVPConfig", "ChebBVP", "node_inputs", "scaled", "field_error", "NODE_FEATURES"]

NODE_FEATURES = 4


@dataclass(frozen=True)
class BVPConfig:
    """Configuration of :class:`ChebBVP` (the paper: hidden 128, 3 ChebConv layers of K = 5)."""

    hidden: int = 128
    layers: int = 3
    K: int = 5
    target_scale: float = 1.0

    def __post_init__(self):
        for name, low in (("hidden", 1), ("layers", 1), ("K", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not self.target_scale > 0:
            raise ValueError(f"target_scale must be positive, got {self.target_scale}")


def node_inputs(data: Any) -> torch.Tensor:
    """``[rho, eps, boundary, distance to the nearest boundary node]`` ``(N, 4)`` of a poisson-mesh graph
    (:func:`sciml.data.pdes.poisson_mesh.load_sample`)."""
    boundary = data.boundary
    if not bool(boundary.any()):
        raise DataError("the mesh has no boundary nodes")
    pos = data.pos.double()
    distance = torch.cdist(pos, pos[boundary]).min(dim=1).values
    return torch.cat([data.x[:, :3].double(), distance[:, None]], dim=1).to(data.x.dtype)


def scaled(data: Any, factor: float) -> Any:
    """The sample on its domain scaled by ``factor`` about its centroid, with ``u`` scaled by ``factor^2`` (exact)."""
    if not factor > 0:
        raise ConfigError(f"the scale factor must be positive, got {factor}")
    out = data.clone()
    centre = out.pos.mean(dim=0, keepdim=True)
    out.pos = centre + factor * (out.pos - centre)
    out.edge_attr = out.edge_attr * factor
    out.y = out.y * factor ** 2
    if hasattr(out, "features"):
        out.features = out.features.clone()
        out.features[:, 3] = out.features[:, 3] * factor
    return out


class ChebBVP(nn.Module):
    """Encoder -> ChebConv layers -> decoder (see the module docstring).

    Shapes
    ------
    ``forward(features (N, 4), edge_index (2, E), edge_length (E,), batch (N,) or None)`` -> ``(N, 1)``, ``u``.
    """

    def __init__(self, config: BVPConfig):
        super().__init__()
        from torch_geometric.nn import ChebConv

        self.config = c = config
        self.encoder = nn.Sequential(nn.Linear(NODE_FEATURES, c.hidden), nn.SiLU(), nn.Linear(c.hidden, c.hidden))
        self.convs = nn.ModuleList(ChebConv(c.hidden, c.hidden, K=c.K, normalization="sym") for _ in range(c.layers))
        self.decoder = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.SiLU(), nn.Linear(c.hidden, 1))

    def forward(self, features, edge_index, edge_length, batch=None):
        from sciml.graph.builders import check_graph

        if features.ndim != 2 or features.shape[1] != NODE_FEATURES:
            raise DataError(f"node features must be (N, {NODE_FEATURES}) [rho, eps, boundary, distance], got "
                            f"{tuple(features.shape)}")
        if edge_length.shape != (edge_index.shape[1],) or bool((edge_length <= 0).any()):
            raise DataError("edge lengths must be one positive number per edge (a degenerate mesh has zero-length "
                            "edges)")
        check_graph(edge_index, features.shape[0])
        h = self.encoder(features)
        for conv in self.convs:
            h = h + torch.nn.functional.silu(conv(h, edge_index, edge_length, batch=batch))
        return self.decoder(h) * self.config.target_scale


def field_error(data: Any, u: torch.Tensor) -> float:
    """Relative L2 error of the field ``E = -grad u`` of the P1 interpolant of ``u (N,)`` against the truth's,
    area-weighted over the triangles (the paper's finding: potentials are learned well, fields less so)."""
    pos = data.pos.double()
    cells = data.face.T.long()
    p0, p1, p2 = pos[cells[:, 0]], pos[cells[:, 1]], pos[cells[:, 2]]
    e1, e2 = p1 - p0, p2 - p0
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    area = 0.5 * det.abs()

    def gradient(values):
        v = values.double().reshape(-1)
        d1, d2 = v[cells[:, 1]] - v[cells[:, 0]], v[cells[:, 2]] - v[cells[:, 0]]
        gx = (d1 * e2[:, 1] - d2 * e1[:, 1]) / det
        gy = (d2 * e1[:, 0] - d1 * e2[:, 0]) / det
        return torch.stack([gx, gy], dim=1)

    truth, pred = gradient(data.y[:, 0]), gradient(u)
    num = float((area[:, None] * (pred - truth) ** 2).sum())
    den = float((area[:, None] * truth ** 2).sum())
    return float(np.sqrt(num / max(den, 1e-300)))
