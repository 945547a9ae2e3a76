"""Convergent graph solvers (CGS): a learned contracting linear map per input graph, its fixed point, and an
implicit backward pass.

Park, Choo and Park, arXiv 2106.01680. An encoder reads the graph and builds, per head ``h`` of ``m``,
a linear map ``T_h(H) = gamma A_h H + b_h`` with nonnegative, row-normalised ``A_h``
(``A_ij = s_ij / deg_i``, ``0 <= s_ij <= 1`` on the edges ``j -> i``, ``deg_i`` the number of edges into
``i``), so each row of ``gamma A_h`` sums to at most ``gamma < 1`` and ``T_h`` is a contraction in the
max norm. Its fixed point ``H* = (I - gamma A)^{-1} b`` exists and is unique (Banach), and a decoder
maps ``[encoder features, H*]`` to node (or graph) properties.

The fixed point is found by Picard iteration (``solver="iterative"``, the authors' choice; the error
shrinks by ``gamma`` per step) or by a sparse LU solve (``solver="direct"``, scipy, on the CPU).
Backward (:class:`FixedPoint`): with ``G = dL/dH*``, solve the adjoint system ``(I - gamma A)^T g = G``
the same way, then ``dL/db = g`` and ``dL/dA_ij = gamma g_i H*_j``. Nothing of the iterations is kept
for autograd, so backward memory does not grow with the iteration count (``sciml bench graph``
measures it). ``A`` is stored as one value per edge and head (``O(m E)``), never densely.

Differences from the authors' code, on purpose: ``s_ij`` is a sigmoid of the edge logit (the code
clips the logit to ``[0, 1]``, whose gradient vanishes outside it); ``A`` is sparse (the code holds a
dense ``N x N`` matrix per head, which a later paper reports running out of memory on large graphs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import MessagePassing, global_mean_pool

from sciml._errors import ConfigError, DataError
from sciml.data.datasets import GraphItemDataset

__all__ = ["CGSConfig", "CGS", "FixedPoint", "fixed_point", "apply_operator", "check_contraction", "SOLVERS",
           "GraphStoreDataset", "CGSMethod", "complete_config", "check_store", "metrics"]

SOLVERS = ("iterative", "direct")
log = logging.getLogger("sciml.graph.cgs")


@dataclass(frozen=True)
class CGSConfig:
    """Configuration of :class:`CGS`.

    Attributes
    ----------
    node_features, edge_features : input sizes (filled from the data)
    out_features : predicted values per node (or per graph with ``readout="mean"``)
    hidden : encoder and decoder width
    heads : ``m``, fixed-point systems per graph (the authors: 16 for pore networks, 64 for MDPs)
    encoder_layers : message-passing layers of the encoder before the edge logits
    gamma : contraction factor in ``(0, 1)`` (the authors: 0.5)
    solver : ``iterative`` (Picard) or ``direct`` (sparse LU, CPU)
    tol, max_iter : Picard stops when the update's max norm is below ``tol`` times the iterate's (and at
        ``max_iter``, reported)
    readout : ``node`` (one prediction per node) or ``mean`` (per graph, the mean of the node states)
    fixed_point : ``False`` drops the fixed point (the decoder sees the encoder's features alone): the
        ablation baseline of the same encoder
    """

    node_features: int = 0
    edge_features: int = 0
    out_features: int = 1
    hidden: int = 64
    heads: int = 16
    encoder_layers: int = 2
    gamma: float = 0.5
    solver: str = "iterative"
    tol: float = 1e-8
    max_iter: int = 200
    readout: str = "node"
    fixed_point: bool = True

    def __post_init__(self):
        for name, low in (("node_features", 0), ("edge_features", 0), ("out_features", 1), ("hidden", 1),
                          ("heads", 1), ("encoder_layers", 0), ("max_iter", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(self.gamma, (int, float)) and 0 < self.gamma < 1):
            raise ValueError(f"gamma must lie in (0, 1) for the map to contract, got {self.gamma!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        if not (isinstance(self.tol, (int, float)) and self.tol > 0):
            raise ValueError(f"tol must be positive, got {self.tol!r}")
        if self.readout not in ("node", "mean"):
            raise ValueError(f"readout must be node or mean, got {self.readout!r}")


# -- the operator and its fixed point ----------------------------------------------------------------
def apply_operator(values: torch.Tensor, h: torch.Tensor, edge_index: torch.Tensor, *,
                   transpose: bool = False) -> torch.Tensor:
    """``A H`` (or ``A^T H``) for ``A`` given by ``values (E, m)`` on the edges ``j -> i``; ``h (N, m)``."""
    source, target = edge_index[0], edge_index[1]
    if transpose:
        return torch.zeros_like(h).index_add_(0, source, values * h[target])
    return torch.zeros_like(h).index_add_(0, target, values * h[source])


def check_contraction(values: torch.Tensor, edge_index: torch.Tensor, num_nodes: int, gamma: float) -> float:
    """The largest row sum of ``|gamma A|`` (the max-norm Lipschitz constant of the map); refuses ``A`` with
    negative or non-finite entries and maps that do not contract (a row sum of 1 or more)."""
    if not bool(torch.isfinite(values).all()):
        raise DataError("the fixed-point operator has NaN or Inf entries")
    if bool((values < 0).any()):
        raise DataError(f"the fixed-point operator has {int((values < 0).sum())} negative entries; CGS needs A >= 0")
    rows = torch.zeros(num_nodes, values.shape[1], dtype=values.dtype, device=values.device)
    rows.index_add_(0, edge_index[1], values.detach())
    lipschitz = float(gamma * rows.max()) if rows.numel() else 0.0
    if lipschitz >= 1.0:
        raise DataError(f"the map gamma A + b does not contract: a row of gamma A sums to {lipschitz:.4g} >= 1 "
                        f"(gamma = {gamma}); rows of A must sum to at most 1")
    return lipschitz


def _picard(values, rhs, edge_index, gamma, tol, max_iter, transpose):
    h = rhs.clone()
    for k in range(1, max_iter + 1):
        new = gamma * apply_operator(values, h, edge_index, transpose=transpose) + rhs
        change = float((new - h).abs().max())
        h = new
        if change <= tol * max(float(h.abs().max()), 1e-300):
            return h, k
    return h, max_iter


def _direct(values, rhs, edge_index, gamma, transpose):
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    n, m = rhs.shape
    source = edge_index[0].cpu().numpy()
    target = edge_index[1].cpu().numpy()
    vals = values.detach().cpu().double().numpy()
    b = rhs.detach().cpu().double().numpy()
    out = np.empty_like(b)
    eye = sp.identity(n, format="csc")
    for head in range(m):
        a = sp.csc_matrix((vals[:, head], (target, source)), shape=(n, n))
        matrix = eye - gamma * (a.T if transpose else a)
        out[:, head] = splu(matrix.tocsc()).solve(b[:, head])
    return torch.from_numpy(out).to(rhs.device, rhs.dtype)


def _solve(values, rhs, edge_index, gamma, solver, tol, max_iter, transpose, stats):
    if solver == "direct":
        stats["iterations"] = 0
        return _direct(values, rhs, edge_index, gamma, transpose)
    h, iterations = _picard(values, rhs, edge_index, gamma, tol, max_iter, transpose)
    stats["iterations"] = iterations
    stats["converged"] = iterations < max_iter
    return h


class FixedPoint(torch.autograd.Function):
    """``H* = (I - gamma A)^{-1} b`` with the implicit-function-theorem backward (no unrolling)."""

    @staticmethod
    def forward(ctx, values, b, edge_index, gamma, solver, tol, max_iter, stats):
        with torch.no_grad():
            h = _solve(values, b, edge_index, gamma, solver, tol, max_iter, False, stats)
        ctx.save_for_backward(values, edge_index, h)
        ctx.settings = (gamma, solver, tol, max_iter, stats)
        return h

    @staticmethod
    def backward(ctx, grad):
        values, edge_index, h = ctx.saved_tensors
        gamma, solver, tol, max_iter, stats = ctx.settings
        backward_stats: dict[str, Any] = {}
        with torch.no_grad():
            g = _solve(values, grad.contiguous(), edge_index, gamma, solver, tol, max_iter, True, backward_stats)
            grad_values = gamma * g[edge_index[1]] * h[edge_index[0]]
        stats["backward_iterations"] = backward_stats.get("iterations", 0)
        return grad_values, g, None, None, None, None, None, None


def fixed_point(values: torch.Tensor, b: torch.Tensor, edge_index: torch.Tensor, gamma: float, *,
                solver: str = "iterative", tol: float = 1e-8, max_iter: int = 200,
                stats: dict[str, Any] | None = None) -> torch.Tensor:
    """The fixed point of ``H = gamma A H + b`` (per head), differentiable in ``values`` and ``b`` by the
    implicit function theorem.

    Parameters
    ----------
    values : ``(E, m)`` entries of ``A`` on the edges ``j -> i`` of ``edge_index (2, E)``, nonnegative, each row
        summing to at most 1
    b : ``(N, m)``
    gamma : in ``(0, 1)``
    solver : ``iterative`` (Picard, any device) or ``direct`` (sparse LU through scipy, CPU)
    stats : filled with ``iterations`` (forward), ``converged`` and, after backward, ``backward_iterations``

    Raises
    ------
    DataError
        When the map does not contract (negative entries, a row of ``gamma A`` summing to 1 or more).
    """
    if values.ndim != 2 or b.ndim != 2 or values.shape[1] != b.shape[1] or values.shape[0] != edge_index.shape[1]:
        raise ConfigError(f"values must be (E, m) and b (N, m) with E = {edge_index.shape[1]} edges; got values "
                          f"{tuple(values.shape)} and b {tuple(b.shape)}")
    if not 0 < gamma < 1:
        raise ConfigError(f"gamma must lie in (0, 1), got {gamma}")
    if solver not in SOLVERS:
        raise ConfigError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    check_contraction(values, edge_index, b.shape[0], gamma)
    stats = {} if stats is None else stats
    return FixedPoint.apply(values, b, edge_index, float(gamma), solver, float(tol), int(max_iter), stats)


# -- the model ---------------------------------------------------------------------------------------
class _EncoderLayer(MessagePassing):
    """Residual message passing: ``h_i + MLP([h_i, mean_j MLP([h_i, h_j, e_ij])])``."""

    def __init__(self, hidden: int, edge_features: int):
        super().__init__(aggr="mean", node_dim=0)
        self.message_net = nn.Sequential(nn.Linear(2 * hidden + edge_features, hidden), nn.SiLU(),
                                         nn.Linear(hidden, hidden))
        self.update_net = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, h, e, edge_index):
        return self.propagate(edge_index, h=h, e=e)

    def message(self, h_i, h_j, e):
        return self.message_net(torch.cat([h_i, h_j, e], dim=-1))

    def update(self, aggregated, h):
        return h + self.update_net(torch.cat([h, aggregated], dim=-1))


class CGS(nn.Module):
    """The convergent graph solver (see the module docstring).

    Shapes
    ------
    ``forward(x (N, node_features), edge_index (2, E), edge_attr (E, edge_features), batch (N,) or None)``
    -> ``(N, out_features)`` (``readout="node"``) or ``(graphs, out_features)`` (``readout="mean"``).
    The last call's Picard iterations are in ``self.stats``.
    """

    def __init__(self, config: CGSConfig):
        super().__init__()
        if config.node_features < 1:
            raise ConfigError("CGS needs node_features set (complete the config from the data)")
        c = self.config = config
        self.node_in = nn.Sequential(nn.Linear(c.node_features, c.hidden), nn.SiLU(), nn.Linear(c.hidden, c.hidden))
        self.edge_in = nn.Sequential(nn.Linear(max(c.edge_features, 1), c.hidden), nn.SiLU())
        self.layers = nn.ModuleList(_EncoderLayer(c.hidden, c.hidden) for _ in range(c.encoder_layers))
        self.logits = nn.Sequential(nn.Linear(3 * c.hidden, c.hidden), nn.SiLU(), nn.Linear(c.hidden, c.heads))
        self.bias = nn.Linear(c.hidden, c.heads)
        self.decoder = nn.Sequential(nn.Linear(c.hidden + c.heads, c.hidden), nn.SiLU(),
                                     nn.Linear(c.hidden, c.out_features))
        self.stats: dict[str, Any] = {}

    def operator(self, x, edge_index, edge_attr):
        """Encoder features ``h (N, hidden)``, ``A``'s values ``(E, heads)`` and ``b (N, heads)``."""
        from sciml.graph.builders import check_graph

        c = self.config
        n = x.shape[0]
        if x.ndim != 2 or x.shape[1] != c.node_features:
            raise DataError(f"node features must be (N, {c.node_features}), got {tuple(x.shape)}")
        if edge_attr is None:
            edge_attr = x.new_ones(edge_index.shape[1], 1)
        if edge_attr.ndim != 2 or edge_attr.shape != (edge_index.shape[1], max(c.edge_features, 1)):
            raise DataError(f"edge features must be ({edge_index.shape[1]}, {max(c.edge_features, 1)}) for "
                            f"{edge_index.shape[1]} edges, got {tuple(edge_attr.shape)}")
        check_graph(edge_index, n)
        h = self.node_in(x)
        e = self.edge_in(edge_attr)
        for layer in self.layers:
            h = layer(h, e, edge_index)
        source, target = edge_index[0], edge_index[1]
        strength = torch.sigmoid(self.logits(torch.cat([h[target], h[source], e], dim=-1)))  # (E, heads) in (0, 1)
        degree = torch.zeros(n, dtype=x.dtype, device=x.device).index_add_(0, target, torch.ones_like(target,
                                                                                                   dtype=x.dtype))
        values = strength / degree[target, None]
        return h, values, self.bias(h)

    def forward(self, x, edge_index, edge_attr=None, batch=None):
        c = self.config
        h, values, b = self.operator(x, edge_index, edge_attr)
        self.stats = {}
        if c.fixed_point:
            states = fixed_point(values, b, edge_index, c.gamma, solver=c.solver, tol=c.tol, max_iter=c.max_iter,
                                 stats=self.stats)
        else:
            states = torch.zeros_like(b)
        out = self.decoder(torch.cat([h, states], dim=-1))
        if c.readout == "mean":
            out = global_mean_pool(out, batch if batch is not None else torch.zeros(len(out), dtype=torch.long,
                                                                                 device=out.device))
        return out

    def __repr__(self) -> str:
        c = self.config
        return f"CGS(hidden={c.hidden}, heads={c.heads}, gamma={c.gamma}, solver={c.solver!r}, readout={c.readout!r})"


def unrolled_fixed_point(values: torch.Tensor, b: torch.Tensor, edge_index: torch.Tensor, gamma: float,
                         iterations: int) -> torch.Tensor:
    """``iterations`` Picard steps with autograd through every one: the reference the implicit backward is
    checked against, and the memory baseline of ``sciml bench graph``."""
    h = b
    for _ in range(iterations):
        h = gamma * apply_operator(values, h, edge_index) + b
    return h


# -- the cgs model kind (graph stores) -------------------------------------------------------------
_GRAPH_FIELDS = ("x", "edge_index", "num_nodes", "num_edges")


class GraphStoreDataset(GraphItemDataset):
    """The samples of a ``graphs`` store (:mod:`sciml.data.layouts`; the ``pore-network`` generator writes
    one) as torch_geometric ``Data`` (``x``, ``edge_index``, ``edge_attr``, ``y (n, C)``, ``pos``); ``collate``
    batches them. A store without ``y`` gives graphs with ``y`` all zero and ``has_target`` false.

    Raises
    ------
    DataError
        For a store of another layout, and (naming the sample) for a graph with edges out of range, self
        loops or isolated nodes.
    """

    def __init__(self, path):
        from pathlib import Path

        from sciml.data.store import open_store

        self.path = Path(path)
        with open_store(self.path) as store:
            missing = [name for name in _GRAPH_FIELDS if name not in store.fields]
            if missing:
                raise DataError(f"{self.path} is not a graph store: it lacks {', '.join(missing)}")
            shapes = {name: store.fields[name][0] for name in store.fields}
            self.n_samples = store.n_samples
            self.attrs = store.attrs
        _check_shapes(self.path, shapes)
        self.has_target = "y" in shapes
        self.has_pos = "pos" in shapes
        self.max_nodes, self.node_features = int(shapes["x"][1]), int(shapes["x"][2])
        self.max_edges = int(shapes["edge_index"][1])
        self.edge_features = int(shapes["edge_attr"][2]) if "edge_attr" in shapes else 0
        self.out_features = int(shapes["y"][2]) if self.has_target else 0
        self.pde = str(self.attrs.get("pde", ""))
        super().__init__()

    def graph(self, index: int):
        """Sample ``index`` as a ``Data``; a defective graph is refused with the file and sample named."""
        from torch_geometric.data import Data

        from sciml.graph.builders import check_graph

        store = self._handle()
        index = int(index)
        n, e = int(store.read("num_nodes", index)), int(store.read("num_edges", index))
        if not (1 <= n <= self.max_nodes and 0 <= e <= self.max_edges):
            raise DataError(f"{self.path}: sample {index} says {n} nodes and {e} edges, outside the store's padding of "
                            f"{self.max_nodes} nodes and {self.max_edges} edges")
        x = torch.from_numpy(np.asarray(store.read("x", index)[:n], dtype=np.float32))
        edge_index = torch.from_numpy(np.asarray(store.read("edge_index", index)[:e], dtype=np.int64).T.copy())
        data = Data(x=x, edge_index=edge_index, num_nodes=n)
        if self.edge_features:
            data.edge_attr = torch.from_numpy(np.asarray(store.read("edge_attr", index)[:e], dtype=np.float32))
        y = store.read("y", index)[:n] if self.has_target else np.zeros((n, 1))
        data.y = torch.from_numpy(np.asarray(y, dtype=np.float32))
        try:
            check_graph(edge_index, n)
            for name in ("x", "edge_attr", "y"):
                value = getattr(data, name, None)
                if value is not None and not bool(torch.isfinite(value).all()):
                    raise DataError(f"its {name} holds NaN or Inf")
        except DataError as exc:
            raise DataError(f"{self.path}: sample {index} is not a usable graph: {exc}") from None
        if self.has_pos:
            data.pos = torch.from_numpy(np.asarray(store.read("pos", index)[:n], dtype=np.float64))
        return data



def _check_shapes(path, shapes: dict[str, tuple[int, ...]]) -> None:
    """One sentence for a graph store whose fields do not have the layout's shapes and paddings."""
    want = {"x": 3, "edge_index": 3, "num_nodes": 1, "num_edges": 1, "edge_attr": 3, "y": 3, "pos": 3}
    wrong = [f"{name} {shapes[name][1:]}" for name, dims in want.items() if name in shapes and len(shapes[name]) != dims]
    if "edge_index" in shapes and len(shapes["edge_index"]) == 3 and shapes["edge_index"][2] != 2:
        wrong.append(f"edge_index {shapes['edge_index'][1:]}")
    nodes, edges = shapes["x"][1:2], shapes["edge_index"][1:2]
    wrong += [f"{name} {shapes[name][1:]} (padding)" for name, pad in (("y", nodes), ("pos", nodes), ("edge_attr", edges))
              if name in shapes and len(shapes[name]) == 3 and shapes[name][1:2] != pad]
    if wrong:
        raise DataError(f"{path} is not a valid graph store: per sample, x must be (nodes, F), edge_index (edges, 2), "
                        f"edge_attr (edges, F_e), y (nodes, C), pos (nodes, dim); it has {', '.join(wrong)}")


class CGSMethod:
    """MSE training of :class:`CGS` (node readout) on batches of graphs; validation by the mean relative L2 per
    graph."""

    metric = "rel_l2"

    def __init__(self, model: CGS):
        self.model = model

    def _predict(self, batch):
        return self.model(batch.x, batch.edge_index, getattr(batch, "edge_attr", None), batch.batch)

    def step(self, batch) -> dict[str, torch.Tensor]:
        return {"loss": ((self._predict(batch) - batch.y) ** 2).mean()}

    @torch.no_grad()
    def evaluate(self, batch) -> dict[str, torch.Tensor]:
        from torch_geometric.utils import scatter

        err = scatter(((self._predict(batch) - batch.y) ** 2).sum(dim=1), batch.batch, reduce="sum")
        ref = scatter((batch.y ** 2).sum(dim=1), batch.batch, reduce="sum")
        return {"rel_l2": (err.sqrt() / ref.sqrt().clamp_min(1e-12)).sum()}


def complete_config(config: CGSConfig, data: Any) -> CGSConfig:
    """Node and edge feature sizes from a graph store (given ones that disagree are refused); the model predicts
    the store's ``y`` channels."""
    from dataclasses import replace

    if data is None:
        raise ConfigError("cgs trains on a graph store (sciml data generate pore-network ...): pass --data TRAIN.h5")
    if not data.has_target:
        raise DataError(f"{data.path} has no node targets y to train or validate on")
    if config.readout != "node":
        raise ConfigError("sciml train cgs fits node values (graph stores hold y per node): readout must be node")
    sizes = {"node_features": data.node_features, "edge_features": data.edge_features,
             "out_features": data.out_features}
    done = replace(config, **sizes)
    # a config already completed (node_features set: by an earlier store, or given) must fit this store as it is
    # (the validation store is checked this way, and must match the training store)
    if config.node_features and done != config:
        wrong = [f"{k} = {getattr(config, k)} (the store has {v})" for k, v in sizes.items() if getattr(config, k) != v]
        raise ConfigError(f"{data.path} does not fit the model: {'; '.join(wrong)}")
    return done


def check_store(config: CGSConfig, data: Any) -> None:
    """Refuse a graph store whose feature sizes differ from the model's, in one sentence."""
    mine = (config.node_features, config.edge_features)
    theirs = (data.node_features, data.edge_features)
    if mine != theirs:
        raise DataError(f"{data.path} has {theirs[0]} node and {theirs[1]} edge features per graph; the model was "
                        f"trained on {mine[0]} and {mine[1]} and cannot be evaluated on it")
    if data.has_target and data.out_features != config.out_features:
        raise DataError(f"{data.path} has {data.out_features} target values per node; the model predicts "
                        f"{config.out_features}")


@torch.no_grad()
def metrics(model: CGS, data: Any, device: Any = "cpu") -> dict[str, Any]:
    """``sciml eval`` of a cgs run: MSE over the nodes, the mean relative L2 per graph, by graph size, the mean
    Picard iterations of the fixed point and the graphs whose Picard iteration stopped at ``max_iter`` (warned)."""
    model = model.to(device).eval()
    rows = []
    for i in range(len(data)):
        g = data.graph(i).to(device)
        pred = model(g.x, g.edge_index, getattr(g, "edge_attr", None))
        err = pred - g.y
        rows.append({"nodes": g.num_nodes, "se": float((err ** 2).sum()), "count": err.numel(),
                     "rel_l2": float(err.norm() / g.y.norm().clamp_min(1e-12)),
                     "iterations": model.stats.get("iterations", 0),
                     "unconverged": not model.stats.get("converged", True)})
    nodes = np.array([r["nodes"] for r in rows])
    median = float(np.median(nodes))
    unconverged = sum(r["unconverged"] for r in rows)
    if unconverged:
        log.warning("the fixed point of %d of %d graphs stopped at max_iter = %d before tol = %g; raise max_iter",
                    unconverged, len(rows), model.config.max_iter, model.config.tol)
    halves = {"smaller": [r for r in rows if r["nodes"] <= median], "larger": [r for r in rows if r["nodes"] > median]}
    return {"mse": sum(r["se"] for r in rows) / max(sum(r["count"] for r in rows), 1),
            "rel_l2": float(np.mean([r["rel_l2"] for r in rows])),
            "by_size": {name: {"rel_l2": float(np.mean([r["rel_l2"] for r in part])), "graphs": len(part),
                               "nodes": [int(min(r["nodes"] for r in part)), int(max(r["nodes"] for r in part))]}
                        for name, part in halves.items() if part},
            "picard_iterations": float(np.mean([r["iterations"] for r in rows])),
            "picard_unconverged": int(sum(r["unconverged"] for r in rows)), "n_samples": len(rows)}
