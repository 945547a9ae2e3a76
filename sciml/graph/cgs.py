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

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import MessagePassing, global_mean_pool

from sciml._errors import ConfigError, DataError

__all__ = ["CGSConfig", "CGS", "FixedPoint", "fixed_point", "apply_operator", "check_contraction", "SOLVERS"]

SOLVERS = ("iterative", "direct")


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
