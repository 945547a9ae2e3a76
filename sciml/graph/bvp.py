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
from sciml.data.datasets import GraphItemDataset

PAPER = ("Lotzsch, Ohler, Otto, Mahecha, Denzler: Learning the solution operator of boundary value problems using "
         "graph neural networks, arXiv 2206.14092")

__all__ = ["PAPER", "MeshGraphDataset", "mesh_graph", "graph_errors", "BVPMethod", "complete_config", "metrics", "BVPConfig", "ChebBVP", "node_inputs", "scaled", "field_error", "NODE_FEATURES"]

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


# -- the gnn-bvp model kind --------------------------------------------------------------------------
_MESH_FIELDS = ("points", "cells", "num_nodes", "num_cells", "rho", "eps")
_TARGET_SAMPLES = 256  # training samples whose solutions set target_scale


class MeshGraphDataset(GraphItemDataset):
    """The samples of a poisson-mesh store as torch_geometric graphs with :func:`node_inputs` as ``features``
    (``collate`` batches them with ``Batch.from_data_list``). A store without ``u`` (inputs only) gives
    graphs with ``y`` all zero and ``has_target`` false.

    Raises
    ------
    DataError
        For a store that lacks the mesh fields (another layout).
    """

    def __init__(self, path):
        from pathlib import Path

        from sciml.data.store import open_store

        self.path = Path(path)
        with open_store(self.path) as store:
            missing = [name for name in _MESH_FIELDS if name not in store.fields]
            if missing:
                raise DataError(f"{self.path} is not a mesh store of the poisson-mesh layout: it lacks "
                                f"{', '.join(missing)}")
            self.n_samples = store.n_samples
            self.has_target = "u" in store.fields
            self.max_nodes = int(store.fields["points"][0][1])
            self.attrs = store.attrs
        self.pde = str(self.attrs.get("pde", ""))
        super().__init__()

    def graph(self, index: int):
        """Sample ``index`` as a graph; a defective mesh (repeated vertex, degenerate or inverted triangle ...)
        is refused with the file and sample named."""
        from sciml.data.mesh import check_mesh
        from sciml.data.pdes.poisson_mesh import load_sample

        store = self._handle()
        index = int(index)
        n, m = int(store.read("num_nodes", index)), int(store.read("num_cells", index))
        try:
            check_mesh((store.read("points", index)[:n], store.read("cells", index)[:m].astype(np.int64)))
        except DataError as exc:
            raise DataError(f"{self.path}: sample {index} does not hold a valid mesh: {exc}") from None
        if not self.has_target:
            return _inputs_only(store, index)
        data = load_sample(store, index)
        data.features = node_inputs(data)
        return data



def mesh_graph(points: np.ndarray, cells: np.ndarray, rho: np.ndarray, eps: np.ndarray):
    """The graph of a triangle mesh with source ``rho`` at the vertices and permittivity ``eps`` per cell, as
    :func:`sciml.data.pdes.poisson_mesh.load_sample` builds it (``eps`` averaged over the cells around each
    vertex), with ``cell_eps`` and :func:`node_inputs` as ``features``; ``y`` all zero (no solution)."""
    import meshio

    from sciml.data.mesh import to_graph

    n = len(points)
    counts = np.bincount(cells.ravel(), minlength=n)
    eps_node = np.bincount(cells.ravel(), weights=np.repeat(eps, 3), minlength=n) / np.maximum(counts, 1)
    data = to_graph(meshio.Mesh(points, [("triangle", cells)]), fields={"rho": rho, "eps": eps_node})
    data.y = torch.zeros(n, 1)
    data.cell_eps = torch.from_numpy(np.asarray(eps, dtype=np.float64)).float()
    data.features = node_inputs(data)
    return data


def _inputs_only(store, index: int):
    nn, nc = int(store.read("num_nodes", index)), int(store.read("num_cells", index))
    return mesh_graph(store.read("points", index)[:nn], store.read("cells", index)[:nc].astype(np.int64),
                      store.read("rho", index)[:nn].astype(np.float64), store.read("eps", index)[:nc].astype(np.float64))


class BVPMethod:
    """MSE training of :class:`ChebBVP` on batches of mesh graphs; validation by the mean relative L2 per mesh."""

    metric = "rel_l2"

    def __init__(self, model: ChebBVP):
        self.model = model
        self.config = model.config

    def _predict(self, batch):
        return self.model(batch.features, batch.edge_index, batch.edge_attr[:, -1], batch.batch)

    def step(self, batch) -> dict[str, torch.Tensor]:
        scale = self.config.target_scale
        return {"loss": (((self._predict(batch) - batch.y) / scale) ** 2).mean()}

    @torch.no_grad()
    def evaluate(self, batch) -> dict[str, torch.Tensor]:
        from torch_geometric.utils import scatter

        err = scatter((self._predict(batch) - batch.y)[:, 0] ** 2, batch.batch, reduce="sum")
        ref = scatter(batch.y[:, 0] ** 2, batch.batch, reduce="sum")
        return {"rel_l2": (err.sqrt() / ref.sqrt().clamp_min(1e-12)).sum()}


def complete_config(config: BVPConfig, data: Any) -> BVPConfig:
    """``target_scale``: the standard deviation of ``u`` over the first training samples (kept when given)."""
    from dataclasses import replace

    if data is None:
        raise ConfigError("gnn-bvp trains on a poisson-mesh store: pass --data TRAIN.h5")
    if not data.has_target:
        raise DataError(f"{data.path} has no solution field u to train on")
    if config.target_scale != 1.0:
        return config
    values = torch.cat([data.graph(i).y[:, 0] for i in range(min(len(data), _TARGET_SAMPLES))])
    scale = float(values.std())
    if not scale > 0:
        raise DataError(f"the solutions in {data.path} are all equal; nothing to learn")
    return replace(config, target_scale=scale)


@torch.no_grad()
def graph_errors(model: ChebBVP, g: Any, device: Any = "cpu") -> dict[str, float]:
    """Relative L2 errors of the potential and of its field (:func:`field_error`) on one mesh graph."""
    u = model(g.features.to(device), g.edge_index.to(device), g.edge_attr[:, -1].to(device))[:, 0].cpu()
    return {"potential": float((u - g.y[:, 0]).norm() / g.y[:, 0].norm().clamp_min(1e-12)),
            "field": field_error(g, u)}


@torch.no_grad()
def metrics(model: ChebBVP, data: Any, device: Any = "cpu") -> dict[str, Any]:
    """``sciml eval`` of a gnn-bvp run: the potential's and the field's relative L2 per mesh, overall and by shape."""
    model = model.to(device).eval()
    shapes = list((data.attrs.get("params") or {}).get("shapes") or [])
    rows = []
    for i in range(len(data)):
        g = data.graph(i)
        index = int(g.shape_index) if hasattr(g, "shape_index") else -1
        rows.append({**graph_errors(model, g, device),
                     "shape": shapes[index] if 0 <= index < len(shapes) else str(index)})
    by_shape = {}
    for name in sorted({r["shape"] for r in rows}):
        mine = [r for r in rows if r["shape"] == name]
        by_shape[name] = {"potential_rel_l2": float(np.mean([r["potential"] for r in mine])),
                          "field_rel_l2": float(np.mean([r["field"] for r in mine])), "samples": len(mine)}
    return {"potential_rel_l2": float(np.mean([r["potential"] for r in rows])),
            "field_rel_l2": float(np.mean([r["field"] for r in rows])), "by_shape": by_shape, "n_samples": len(rows)}
