"""Learned incomplete-Cholesky-like factors for preconditioned CG: Neural PCG and NeuralIF.

A graph network reads a sparse SPD matrix ``A`` (nodes = unknowns, edges = off-diagonal nonzeros)
and predicts a lower triangular ``L`` with exactly the sparsity of ``tril(A)``; ``P = L L^T``
approximates ``A`` and CG is preconditioned by ``P^-1 r = L^-T L^-1 r`` (two sparse triangular
solves). Two training losses, both computed with sparse products (``P`` is never formed):

* ``"solution"`` (Li, Chen, Du, Matusik, arXiv 2305.16432): ``||L L^T x - b||^2 / ||b||^2`` over
  training systems with known solutions ``x = A^-1 b``;
* ``"frobenius"`` (Hausner, Oktem, Sjolund, arXiv 2305.16368): ``||(L L^T - A) z||^2 / ||A||_F^2``
  with ``z ~ N(0, I)``, an unbiased estimate of the relative squared Frobenius error; needs no solutions.
* ``"probe-solution"`` (ours): the solution loss on white-noise right-hand sides,
  ``||L L^T A^-1 z - z||^2 / ||z||^2`` with ``z ~ N(0, I)`` and ``A^-1 z`` from a sparse direct
  solve per system and step (scipy's LU on the CPU, outside the gradient). Its expectation is
  ``||P A^-1 - I||_F^2 / n``: every eigenmode of ``A`` counts equally in the *relative* error of
  ``P``, so the low end of the spectrum, which sets CG's iteration count, is not drowned by the
  large entries the Frobenius loss is dominated by. On heat-mesh systems the Frobenius-trained
  factor had a lower Frobenius error than IC(0) (0.0048-0.0053 vs 0.0054-0.0056 of ``||A||_F^2`` on
  three held-out systems) but a larger condition number of ``L^-1 A L^-T`` on each (24 vs 20, 13 vs
  10, 35 vs 29), and the stored right-hand sides ``M u_prev`` are
  smooth, so the plain solution loss constrains ``P`` on smooth vectors only.
* ``"condition"`` (ours): ``log(lambda_max / lambda_min)`` of ``L^-1 A L^-T`` per system, exactly,
  from dense triangular solves and a symmetric eigensolver (``O(n^3)``: training systems of at
  most :data:`CONDITION_LIMIT` unknowns each; the trained network then runs on systems of any
  size). It is the quantity CG's iteration bound depends on. The losses above are averages over
  directions and can fall while the condition number rises: on heat-mesh systems the
  probe-solution loss went 3x below IC(0)'s and the factor still needed 1.1x IC(0)'s
  iterations, whereas the condition loss gives 0.90-0.97x.

Parametrisation
---------------
With ``D = diag(A)`` the network sees the symmetrically scaled matrix ``Ahat = D^-1/2 A D^-1/2``
(unit diagonal, so its features do not depend on the scale of ``A``) and predicts ``Lhat``; the
factor is the row scaling ``L = D^1/2 Lhat``, so that ``L L^T = D^1/2 Lhat Lhat^T D^1/2`` has the
scale of ``A``. The entries of ``Lhat`` are a correction to symmetric Gauss-Seidel::

    Lhat_ii = softplus(h_i + c) + diag_eps        (c such that Lhat_ii = 1 when h_i = 0)
    Lhat_ij = Ahat_ij + g_ij                      (j < i, (i, j) a nonzero of A)

with ``h`` from a node head and ``g`` from an edge head whose last layers start at zero, so an
untrained network gives ``P = (D + L_A) D^-1 (D + L_A^T)``, the SSOR preconditioner with
``omega = 1``, and training improves on it. The diagonal is positive by construction (at least
``diag_eps * sqrt(A_ii)``), so ``P`` is SPD.

Batching: systems sharing one pattern run as one batch of values on that pattern; systems of
different sizes or patterns (the padded stores of :mod:`sciml.data.pdes.mesh_systems`) run as one
block-diagonal matrix whose blocks are the systems (:func:`block_diagonal_batch`), with the
per-system normalisations (mean diagonal, ``||b||``, ``||A||_F``) taken block by block, so a batch
gives exactly what the systems give one at a time.

Node features: ``log(A_ii / mean(diag A))`` and the row sum of ``Ahat`` (about 0 inside the domain
of a pure diffusion operator, positive next to Dirichlet boundaries). Edge features (edge
``j -> i`` for the nonzero ``A_ij``): ``Ahat_ij``, ``+1`` for ``j < i`` and ``-1`` for ``j > i`` (the
factor is not symmetric), and ``log(A_jj / A_ii)``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from sciml._errors import ConfigError, DataError, SciMLError
from sciml.data.pdes.diffusion_systems import SystemsDataset, check_pattern, load_systems
from sciml.linalg.precond import Preconditioner, _scipy_csr
from sciml.linalg.sparse import _csr_tensor
from sciml.train.losses import _reduce
from sciml.train.spec import ModelSpec
from sciml.learned.inference import SystemsInference

__all__ = ["NeuralPCGConfig", "NeuralPCG", "MatrixGraphLayer", "edge_sum_matrix", "SparsityPattern", "SystemsBatch",
           "systems_batch", "solution_loss", "frobenius_loss", "probe_solution_loss", "condition_loss",
           "CONDITION_LIMIT",
           "NeuralPCGMethod", "LearnedPreconditioner", "load", "preconditioner_from_run", "MODEL_NAME",
           "SPEC", "spec_dataset", "spec_complete_config", "spec_build", "spec_method", "spec_prepare"]

MODEL_NAME = "neural-pcg"
NODE_FEATURES = 2
EDGE_FEATURES = 3
SYMMETRY_RTOL = 1e-10  # |A - A^T| above this fraction of max |A| is not symmetric
EVALUATION_SEED = 0  # the Frobenius probes of evaluate() are drawn from this seed, so validation is repeatable


@dataclass(frozen=True)
class NeuralPCGConfig:
    """Configuration of :class:`NeuralPCG` and of its training loss.

    Attributes
    ----------
    hidden : width of node and edge embeddings and of the MLPs
    layers : message-passing layers
    loss : ``"solution"`` (Li et al.; needs stored solutions), ``"frobenius"`` (NeuralIF; stochastic),
        ``"probe-solution"`` (the solution loss on random right-hand sides solved directly) or
        ``"condition"`` (log condition number of the preconditioned matrix; small training systems)
    probes : random vectors ``z`` per system for the Frobenius and probe-solution losses
    diag_eps : lower bound of the scaled diagonal ``L_ii / sqrt(A_ii)``, in ``(0, 1)``
    """

    hidden: int = 16
    layers: int = 3
    loss: Literal["solution", "frobenius", "probe-solution", "condition"] = "solution"
    probes: int = 4
    diag_eps: float = 1e-3

    def __post_init__(self):
        for name in ("hidden", "layers", "probes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(repr(v) for v in LOSSES)}, got {self.loss!r}")
        if not 0 < self.diag_eps < 1:
            raise ValueError(f"diag_eps must lie in (0, 1), got {self.diag_eps}")


class SparsityPattern:
    """Index maps of a CSR pattern that is structurally symmetric with a full diagonal, and of ``tril``.

    Built once per pattern (validated with numpy on the CPU), then held on ``device``.

    Parameters
    ----------
    crow, col : the CSR pattern, ``(n + 1,)`` and ``(nnz,)`` integer tensors
    blocks : sizes ``(num_systems,)`` of the diagonal blocks when the pattern is a block-diagonal
        batch of systems (no nonzero may couple two blocks); None: one system

    Attributes
    ----------
    n, nnz : size and nonzeros of ``A``
    num_systems : number of diagonal blocks (1 for one system)
    system : ``(n,)`` int64, the block of every row
    row, col : ``(nnz,)`` int64 row and column of every nonzero of ``A`` (CSR order)
    diagonal : ``(n,)`` positions of ``A_ii`` in the CSR values
    edge_index : ``(2, num_edges)`` graph edges ``col -> row`` of the off-diagonal nonzeros (source first)
    edge_position : ``(num_edges,)`` positions of those nonzeros in the CSR values
    edge_sign : ``(num_edges,)`` float64, +1 for ``col < row`` (strictly lower nonzeros), -1 otherwise
    lower_edges : ``(num_lower,)`` ids of the edges with ``col < row``, in CSR order
    lower_crow, lower_col : the CSR pattern of ``tril(A)`` (int32), ``(n + 1,)`` and ``(n + num_lower,)``
    lower_row, lower_col64 : ``(n + num_lower,)`` int64 rows and columns of the entries of ``tril(A)``
    lower_gather : ``(n + num_lower,)`` where each entry of ``tril`` comes from in ``[diagonal (n), lower edges]``
    """

    def __init__(self, crow: torch.Tensor, col: torch.Tensor, *, blocks: torch.Tensor | None = None, where: str = "A"):
        crow_np = crow.detach().cpu().numpy()
        col_np = col.detach().cpu().numpy()
        n = check_pattern(crow_np, col_np, where=where)
        row = np.repeat(np.arange(n, dtype=np.int64), np.diff(crow_np))
        col64 = col_np.astype(np.int64)
        sizes = np.array([n]) if blocks is None else blocks.detach().cpu().numpy().astype(np.int64).ravel()
        if sizes.size < 1 or np.any(sizes < 1) or sizes.sum() != n:
            raise DataError(f"{where}: block sizes must be positive and add up to n = {n}, got {sizes.tolist()}")
        system = np.repeat(np.arange(len(sizes)), sizes)
        crossing = np.flatnonzero(system[row] != system[col64])
        if crossing.size:
            i, j = row[crossing[0]], col64[crossing[0]]
            raise DataError(f"{where}: entry ({i}, {j}) couples blocks {system[i]} and {system[j]}; a batch of "
                            f"systems must be block diagonal")
        key = row * n + col64
        transposed = col64 * n + row
        on_diagonal = row == col64
        diagonal_rows = row[on_diagonal]
        if diagonal_rows.size != n:
            absent = np.setdiff1d(np.arange(n), diagonal_rows)[0]
            raise DataError(f"{where}: row {absent} has no stored diagonal entry; an SPD matrix needs all of them")
        position = np.minimum(np.searchsorted(key, transposed), len(key) - 1)
        missing = np.flatnonzero(key[position] != transposed)
        if missing.size:
            i, j = row[missing[0]], col64[missing[0]]
            raise DataError(f"{where}: the sparsity pattern is not symmetric (entry ({i}, {j}) is stored but "
                            f"({j}, {i}) is not); the learned factor needs a structurally symmetric pattern")
        off = np.flatnonzero(~on_diagonal)
        is_lower = col64[off] < row[off]
        tril = np.flatnonzero(col64 <= row)
        lower_row = row[tril]
        lower_col = col64[tril]
        # an entry of tril is the diagonal of its row (node id) or the k-th strict lower nonzero in CSR order,
        # which is the k-th lower edge: edges are listed in CSR order too
        gather = np.where(lower_row == lower_col, lower_row, 0)
        strict = lower_row != lower_col
        gather[strict] = n + np.arange(int(strict.sum()))

        device = crow.device
        self.n, self.nnz = n, len(col_np)
        self.num_systems = len(sizes)
        self.device = device

        def tensor(array: np.ndarray, dtype: torch.dtype = torch.int64) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(array)).to(device=device, dtype=dtype)

        self.row, self.col = tensor(row), tensor(col64)
        self.diagonal = tensor(np.flatnonzero(on_diagonal))
        self.edge_index = tensor(np.stack([col64[off], row[off]]))
        self.edge_position = tensor(off)
        self.edge_sign = tensor(np.where(is_lower, 1.0, -1.0), torch.float64)
        self.lower_edges = tensor(np.flatnonzero(is_lower))
        self.lower_crow = tensor(np.concatenate([[0], np.cumsum(np.bincount(lower_row, minlength=n))]), torch.int32)
        self.lower_col = tensor(lower_col, torch.int32)
        self.lower_row = tensor(lower_row)
        self.lower_col64 = tensor(lower_col)
        self.lower_gather = tensor(gather)
        self.system = tensor(system)
        self.row_system = tensor(system[row])
        self._crow, self._col = crow.detach().clone(), col.detach().clone()
        self._blocks = torch.as_tensor(sizes)

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def lower_nnz(self) -> int:
        return int(self.lower_row.shape[0])

    def matches(self, crow: torch.Tensor, col: torch.Tensor, blocks: torch.Tensor | None = None) -> bool:
        """Whether ``(crow, col, blocks)`` is this pattern (same device, same indices, same blocks)."""
        sizes = torch.tensor([len(crow) - 1]) if blocks is None else blocks.detach().cpu().long().ravel()
        return (crow.device == self.device and crow.shape == self._crow.shape and col.shape == self._col.shape
                and torch.equal(sizes, self._blocks) and torch.equal(crow, self._crow.to(crow.dtype))
                and torch.equal(col, self._col.to(col.dtype)))

    def per_system(self, values: torch.Tensor, *, nonzeros: bool = False) -> torch.Tensor:
        """Sums over each system: ``(..., n)`` (or ``(..., nnz)`` with ``nonzeros``) -> ``(..., num_systems)``."""
        index = self.row_system if nonzeros else self.system
        return values.new_zeros(values.shape[:-1] + (self.num_systems,)).index_add(-1, index, values)

    @staticmethod
    def _product(values: torch.Tensor, x: torch.Tensor, out_index: torch.Tensor, in_index: torch.Tensor,
                 n: int) -> torch.Tensor:
        contributions = values * x[..., in_index]
        return contributions.new_zeros(contributions.shape[:-1] + (n,)).index_add(-1, out_index, contributions)

    def matvec(self, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``A x`` with ``A`` on this pattern; differentiable. ``values (..., nnz)``, ``x (..., n)`` broadcast."""
        return self._product(values, x, self.row, self.col, self.n)

    def lower_matvec(self, lower: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``L x`` with ``L`` on the pattern of ``tril(A)``. ``lower (..., lower_nnz)``, ``x (..., n)``."""
        return self._product(lower, x, self.lower_row, self.lower_col64, self.n)

    def lower_t_matvec(self, lower: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``L^T x`` with ``L`` on the pattern of ``tril(A)``. ``lower (..., lower_nnz)``, ``x (..., n)``."""
        return self._product(lower, x, self.lower_col64, self.lower_row, self.n)

    def __repr__(self) -> str:
        systems = f", num_systems={self.num_systems}" if self.num_systems > 1 else ""
        return f"SparsityPattern(n={self.n}, nnz={self.nnz}, lower_nnz={self.lower_nnz}{systems}, device={self.device})"


def _mlp(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(), nn.Linear(hidden, out_channels))


def edge_sum_arrays(target: torch.Tensor, num_nodes: int,
                    dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """The CSR arrays ``(crow, col, values)`` of :func:`edge_sum_matrix`, or ``None`` where it does not apply.

    Kept apart so that a model can cache plain tensors (a sparse tensor cannot be deep-copied).
    """
    num_edges = target.numel()
    if target.device.type != "cpu" or dtype not in (torch.float32, torch.float64) or num_edges >= 2 ** 31:
        # measured on the CPU only (no GPU here; the scatter-add is the tested path on CUDA); no CSR kernels
        # for other dtypes; int32 indices would overflow
        return None
    if num_edges and not bool((target[1:] >= target[:-1]).all()):
        return None
    counts = torch.bincount(target, minlength=num_nodes)
    crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)]).to(torch.int32)
    col = torch.arange(num_edges, device=target.device, dtype=torch.int32)
    return crow, col, torch.ones(num_edges, device=target.device, dtype=dtype)


def edge_sum_matrix(target: torch.Tensor, num_nodes: int, dtype: torch.dtype) -> torch.Tensor | None:
    """The CSR matrix ``S`` of ones at ``(target_e, e)``: ``S @ m`` sums edge rows into their target nodes.

    ``None`` unless ``target`` is on the CPU and sorted (edges in CSR order, as for the graph of a CSR
    matrix), ``dtype`` is float32 or float64 and there are fewer than ``2^31`` edges (int32 indices, with
    which torch's CSR product is fastest); the caller then sums with a scatter-add (on CUDA always: the
    CSR product was measured and tested on the CPU only).

    Shapes: ``target (num_edges,)`` int64 -> ``S (num_nodes, num_edges)``.
    """
    arrays = edge_sum_arrays(target, num_nodes, dtype)
    return None if arrays is None else _csr_tensor(*arrays, (num_nodes, target.numel()))


class MatrixGraphLayer(nn.Module):
    """One message-passing layer on the graph of a sparse matrix, updating edges and nodes.

    ``e_ji <- e_ji + phi_e([x_i, x_j, e_ji])``, then ``x_i <- skip(x_i) + phi_x([x_i, sum_j phi_m([x_j, e_ji])])``,
    each ``phi`` a two-layer MLP with a ReLU.

    Written out rather than through torch_geometric's ``MessagePassing.propagate``, for speed on the
    CPU, where the network's inference is set-up time of every solve (measured on a 7-point 3D
    stencil, n = 4096, 23040 edges, one thread: summing messages into nodes with a CSR product
    ``S @ m`` (:func:`edge_sum_matrix`) was 4-8x faster than the scatter-add of ``propagate``'s sum
    aggregation, and gathering rows with ``index_select`` 4x faster than the advanced indexing
    ``x[target]`` of this layer's first version). The first linear map of ``phi_e`` and
    of ``phi_m`` acts on the node part of its input on the nodes, before gathering:
    ``W [x_i, x_j, e] = (W_1 x)_i + (W_2 x)_j + W_3 e``, so no ``(num_edges, 2 width + width)``
    concatenation is formed. Same function, same parameters as the direct form
    (:meth:`reference_forward`, kept for tests).

    Parameters
    ----------
    in_channels, out_channels : node embedding widths before and after the layer
    edge_channels : edge embedding width (kept)

    Shapes
    ------
    ``x (num_nodes, in_channels)``, ``edge_index (2, num_edges)`` (source row first),
    ``edge_attr (num_edges, edge_channels)``, optional ``edge_sum`` from :func:`edge_sum_matrix`
    -> ``(x (num_nodes, out_channels), edge_attr (num_edges, edge_channels))``.
    """

    def __init__(self, in_channels: int, out_channels: int, edge_channels: int):
        super().__init__()
        self.in_channels, self.out_channels, self.edge_channels = in_channels, out_channels, edge_channels
        self.edge_mlp = _mlp(2 * in_channels + edge_channels, edge_channels, edge_channels)
        self.message_mlp = _mlp(in_channels + edge_channels, out_channels, out_channels)
        self.node_mlp = _mlp(in_channels + out_channels, out_channels, out_channels)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Linear(in_channels, out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor,
                edge_sum: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        source, target = edge_index
        c = self.in_channels
        edge_first, message_first = self.edge_mlp[0], self.message_mlp[0]
        to_target = x @ edge_first.weight[:, :c].t()  # node parts of the first layers, on the nodes
        to_source = x @ edge_first.weight[:, c:2 * c].t()
        message_source = x @ message_first.weight[:, :c].t()
        hidden = torch.addmm(edge_first.bias, edge_attr, edge_first.weight[:, 2 * c:].t())
        hidden = hidden + to_target.index_select(0, target) + to_source.index_select(0, source)
        edge_attr = edge_attr + self.edge_mlp[2](torch.relu(hidden))
        hidden = torch.addmm(message_first.bias, edge_attr, message_first.weight[:, c:].t())
        messages = self.message_mlp[2](torch.relu(hidden + message_source.index_select(0, source)))
        if edge_sum is not None:
            aggregated = edge_sum @ messages
        else:
            aggregated = messages.new_zeros(x.shape[0], messages.shape[1]).index_add(0, target, messages)
        return self.skip(x) + self.node_mlp(torch.cat([x, aggregated], dim=-1)), edge_attr

    def reference_forward(self, x: torch.Tensor, edge_index: torch.Tensor,
                          edge_attr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer written directly from its formula (concatenate on the edges, then the MLPs)."""
        source, target = edge_index
        edge_attr = edge_attr + self.edge_mlp(torch.cat([x[target], x[source], edge_attr], dim=-1))
        messages = self.message_mlp(torch.cat([x[source], edge_attr], dim=-1))
        aggregated = messages.new_zeros(x.shape[0], messages.shape[1]).index_add(0, target, messages)
        return self.skip(x) + self.node_mlp(torch.cat([x, aggregated], dim=-1)), edge_attr

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, edge_channels={self.edge_channels})"


class NeuralPCG(nn.Module):
    """Graph network mapping an SPD matrix to a lower triangular factor ``L`` on the pattern of ``tril(A)``.

    See the module docstring for the parametrisation (``L = D^1/2 Lhat``, SSOR at initialisation).
    Systems that share one pattern run as one disjoint union of graphs; systems of different
    patterns run as one block-diagonal matrix with ``blocks`` giving the sizes of its systems.

    Parameters
    ----------
    config : :class:`NeuralPCGConfig`

    Shapes
    ------
    ``forward(crow (n + 1,), col (nnz,), values (nnz,) or (batch, nnz), blocks (num_systems,) or None)``
    -> ``L`` values ``(lower_nnz,)`` or ``(batch, lower_nnz)`` in the CSR order of ``tril(A)``
    (:meth:`pattern` gives its ``lower_crow``, ``lower_col``). The network runs in the dtype of
    its parameters; ``L`` has the dtype of ``values``.
    """

    def __init__(self, config: NeuralPCGConfig):
        super().__init__()
        self.config = config
        width = config.hidden
        self.node_encoder = nn.Linear(NODE_FEATURES, width)
        self.edge_encoder = nn.Linear(EDGE_FEATURES, width)
        self.layers = nn.ModuleList(MatrixGraphLayer(width, width, width) for _ in range(config.layers))
        self.diagonal_head = _mlp(width, width, 1)
        self.lower_head = _mlp(3 * width, width, 1)
        # softplus(h + shift) + diag_eps = 1 at h = 0
        self.diagonal_shift = math.log(math.expm1(1.0 - config.diag_eps))
        self._pattern: SparsityPattern | None = None
        self._graph: tuple | None = None  # (pattern, batch, dtype, edge_index, edge_sum_arrays) of the last batch
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in (self.node_encoder, self.edge_encoder):
            module.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        for head in (self.diagonal_head, self.lower_head):
            head[0].reset_parameters()
            nn.init.zeros_(head[-1].weight)  # start from symmetric Gauss-Seidel (see the module docstring)
            nn.init.zeros_(head[-1].bias)

    def pattern(self, crow: torch.Tensor, col: torch.Tensor, blocks: torch.Tensor | None = None) -> SparsityPattern:
        """The validated :class:`SparsityPattern` of ``(crow, col, blocks)``; the last one is cached."""
        if self._pattern is None or not self._pattern.matches(crow, col, blocks):
            self._pattern = SparsityPattern(crow, col, blocks=blocks)
        return self._pattern

    def _batched_graph(self, pattern: SparsityPattern, batch: int,
                       dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Edges of ``batch`` copies of the pattern's graph (disjoint union) and their :func:`edge_sum_matrix`;
        the arrays of the last one are cached (plain tensors, so the model can still be deep-copied)."""
        cached = self._graph
        if cached is None or cached[0] is not pattern or cached[1:3] != (batch, dtype):
            offsets = pattern.n * torch.arange(batch, device=pattern.device)
            edge_index = (pattern.edge_index.unsqueeze(1) + offsets.view(1, -1, 1)).reshape(2, -1)
            cached = self._graph = (pattern, batch, dtype, edge_index,
                                    edge_sum_arrays(edge_index[1], batch * pattern.n, dtype))
        edge_index, arrays = cached[3], cached[4]
        return edge_index, None if arrays is None else _csr_tensor(*arrays, (batch * pattern.n, edge_index.shape[1]))

    def forward(self, crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor,
                blocks: torch.Tensor | None = None) -> torch.Tensor:
        pattern = self.pattern(crow, col, blocks)
        single = values.ndim == 1
        values = values.unsqueeze(0) if single else values
        if values.ndim != 2 or values.shape[1] != pattern.nnz:
            raise DataError(f"values must have shape ({pattern.nnz},) or (batch, {pattern.nnz}) for this pattern, "
                            f"got {tuple(values.shape[1:] if single else values.shape)}")
        if not values.is_floating_point():
            raise DataError(f"values must be floating point, got {values.dtype}")
        batch, n = values.shape[0], pattern.n
        diag = values[:, pattern.diagonal]
        if not bool((diag > 0).all()):
            raise DataError("A has a non-positive diagonal entry; the learned factor needs an SPD matrix")
        root = diag.sqrt()
        source, target = pattern.edge_index
        edge_values = values.index_select(1, pattern.edge_position)
        scaled = edge_values / (root.index_select(1, source) * root.index_select(1, target))  # Ahat_ij, (batch, E)
        if pattern.num_systems == 1:
            mean_diag = diag.mean(dim=1, keepdim=True)
        else:  # each system of a block-diagonal batch by itself
            sizes = pattern.per_system(torch.ones_like(diag[:1]))
            mean_diag = (pattern.per_system(diag) / sizes)[:, pattern.system]
        log_diag = torch.log(diag / mean_diag)
        row_sum = 1.0 + scaled.new_zeros(batch, n).index_add(1, target, scaled)
        dtype = self.node_encoder.weight.dtype
        node_features = torch.stack([log_diag, row_sum], dim=-1).to(dtype).reshape(batch * n, NODE_FEATURES)
        edge_features = torch.stack([scaled, pattern.edge_sign.to(scaled.dtype).expand_as(scaled),
                                     log_diag.index_select(1, source) - log_diag.index_select(1, target)], dim=-1)
        num_edges = pattern.num_edges
        edge_features = edge_features.to(dtype).reshape(batch * num_edges, EDGE_FEATURES)
        edge_index, edge_sum = self._batched_graph(pattern, batch, dtype)

        x = self.node_encoder(node_features)
        e = self.edge_encoder(edge_features)
        for layer in self.layers:
            x, e = layer(x, edge_index, e, edge_sum)

        h = self.diagonal_head(x).view(batch, n).to(values.dtype)
        diagonal = nn.functional.softplus(h + self.diagonal_shift) + self.config.diag_eps
        lower = pattern.lower_edges
        x = x.view(batch, n, -1)
        head_input = torch.cat([x.index_select(1, target[lower]), x.index_select(1, source[lower]),
                                e.view(batch, num_edges, -1).index_select(1, lower)], -1)
        off_diagonal = scaled.index_select(1, lower) + self.lower_head(head_input).squeeze(-1).to(values.dtype)
        lower_hat = torch.cat([diagonal, off_diagonal], dim=1).index_select(1, pattern.lower_gather)
        factor = root.index_select(1, pattern.lower_row) * lower_hat
        return factor[0] if single else factor

    @torch.no_grad()
    def factor(self, crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``L`` of one system as a torch sparse CSR tensor (int32 indices, dtype and device of ``values``).

        Shapes: ``crow (n + 1,)``, ``col (nnz,)``, ``values (nnz,)`` -> ``L (n, n)``.
        """
        if values.ndim != 1:
            raise DataError(f"factor takes one system, values (nnz,); got shape {tuple(values.shape)}")
        lower = self(crow, col, values)
        pattern = self.pattern(crow, col)
        return _csr_tensor(pattern.lower_crow, pattern.lower_col, lower, (pattern.n, pattern.n))

    def __repr__(self) -> str:
        c = self.config
        params = sum(p.numel() for p in self.parameters())
        return f"NeuralPCG(hidden={c.hidden}, layers={c.layers}, loss={c.loss!r}, parameters={params})"




def solution_loss(pattern: SparsityPattern, lower: torch.Tensor, solution: torch.Tensor, rhs: torch.Tensor, *,
                  reduction: str = "mean") -> torch.Tensor:
    """Neural PCG's loss: ``||L L^T x - b||^2 / ||b||^2`` per system, from two sparse products.

    A block-diagonal ``pattern`` (a batch of different systems) gives one term per block.

    Shapes: ``lower (batch, lower_nnz)``, ``solution``, ``rhs`` ``(batch, n)`` -> a scalar
    (``reduction="mean"`` or ``"sum"``) or ``(batch * num_systems,)`` (``"none"``).
    """
    residual = pattern.lower_matvec(lower, pattern.lower_t_matvec(lower, solution)) - rhs
    per_system = pattern.per_system(residual.square()) / \
        pattern.per_system(rhs.square()).clamp_min(torch.finfo(rhs.dtype).tiny)
    return _reduce(per_system.reshape(-1), reduction)


def _probes(pattern: SparsityPattern, values: torch.Tensor, probes: int | torch.Tensor,
            generator: torch.Generator | None) -> torch.Tensor:
    """The probes ``(batch, k, n)``: checked when given, else ``k = probes`` standard normal draws."""
    batch = values.shape[0]
    if isinstance(probes, torch.Tensor):
        z = probes.to(values.dtype)
        if z.ndim != 3 or z.shape[0] != batch or z.shape[2] != pattern.n:
            raise DataError(f"probes must have shape ({batch}, k, {pattern.n}), got {tuple(z.shape)}")
        return z
    return torch.randn(batch, int(probes), pattern.n, generator=generator, dtype=values.dtype, device=values.device)


def frobenius_loss(pattern: SparsityPattern, lower: torch.Tensor, values: torch.Tensor, *,
                   probes: int | torch.Tensor = 1, generator: torch.Generator | None = None,
                   reduction: str = "mean") -> torch.Tensor:
    """NeuralIF's loss: ``mean_k ||(L L^T - A) z_k||^2 / ||A||_F^2`` per system, ``z_k ~ N(0, I)``.

    Its expectation is ``||L L^T - A||_F^2 / ||A||_F^2``.

    Parameters
    ----------
    probes : the number of random ``z`` per system (drawn with ``generator``), or the probes themselves

    Shapes: ``lower (batch, lower_nnz)``, ``values (batch, nnz)``, ``probes`` tensor ``(batch, k, n)``
    -> a scalar or ``(batch * num_systems,)`` as in :func:`solution_loss`.
    """
    z = _probes(pattern, values, probes, generator)
    lower_k, values_k = lower.unsqueeze(1), values.unsqueeze(1)
    error = pattern.lower_matvec(lower_k, pattern.lower_t_matvec(lower_k, z)) - pattern.matvec(values_k, z)
    per_system = pattern.per_system(error.square()).mean(-2) / pattern.per_system(values.square(), nonzeros=True)
    return _reduce(per_system.reshape(-1), reduction)


def probe_solution_loss(pattern: SparsityPattern, lower: torch.Tensor, values: torch.Tensor, *,
                        probes: int | torch.Tensor = 1, generator: torch.Generator | None = None,
                        reduction: str = "mean") -> torch.Tensor:
    """``mean_k ||L L^T x_k - z_k||^2 / ||z_k||^2`` per system, ``z_k ~ N(0, I)``, ``x_k = A^-1 z_k``.

    The solves use scipy's sparse LU in float64 on the CPU, without gradient (``A`` does not depend
    on the network). Expectation: ``||L L^T A^-1 - I||_F^2 / n`` per system. Parameters and shapes
    as for :func:`frobenius_loss`.
    """
    from scipy.sparse.linalg import splu

    z = _probes(pattern, values, probes, generator)
    row, col = pattern.row.cpu().numpy(), pattern.col.cpu().numpy()
    solutions = []
    for b in range(values.shape[0]):
        A = sp.csc_matrix((values[b].detach().cpu().double().numpy(), (row, col)), shape=(pattern.n, pattern.n))
        try:
            factor = splu(A)
        except RuntimeError as exc:
            raise DataError(f"system {b} of the batch is singular ({exc}); the probe-solution loss needs an "
                            "invertible A") from None
        solutions.append(torch.from_numpy(factor.solve(z[b].detach().cpu().double().numpy().T).T))
    x = torch.stack(solutions).to(device=values.device, dtype=values.dtype)
    lower_k = lower.unsqueeze(1)
    residual = pattern.lower_matvec(lower_k, pattern.lower_t_matvec(lower_k, x)) - z
    per_system = (pattern.per_system(residual.square()) /
                  pattern.per_system(z.square()).clamp_min(torch.finfo(z.dtype).tiny)).mean(-2)
    return _reduce(per_system.reshape(-1), reduction)


def condition_loss(pattern: SparsityPattern, lower: torch.Tensor, values: torch.Tensor, *,
                   reduction: str = "mean") -> torch.Tensor:
    """``log(lambda_max / lambda_min)`` of ``L^-1 A L^-T`` per system, computed densely (differentiable).

    Each system (each batch entry, and each diagonal block of a block-diagonal pattern) is made
    dense, ``L^-1 A L^-T`` is formed by two triangular solves and its extreme eigenvalues come from
    ``torch.linalg.eigvalsh``: ``O(n^3)`` per system, so systems of more than
    :data:`CONDITION_LIMIT` unknowns are refused.

    Shapes: ``lower (batch, lower_nnz)``, ``values (batch, nnz)`` -> a scalar or ``(batch * num_systems,)``
    as in :func:`solution_loss`.
    """
    sizes = [int(v) for v in pattern._blocks]
    if max(sizes) > CONDITION_LIMIT:
        raise ConfigError(f"the condition loss forms each system densely; a system has {max(sizes)} unknowns, more "
                          f"than {CONDITION_LIMIT}: train on smaller systems or use loss='frobenius'")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    lower_block = pattern.system[pattern.lower_row]
    entry_block = pattern.system[pattern.row]
    blocks = []  # per system: its entries of L and of A, and their positions within the system
    for s, size in enumerate(sizes):
        lower_mask, entry_mask, offset = lower_block == s, entry_block == s, int(starts[s])
        lower_at = (pattern.lower_row[lower_mask] - offset, pattern.lower_col64[lower_mask] - offset)
        entry_at = (pattern.row[entry_mask] - offset, pattern.col[entry_mask] - offset)
        blocks.append((size, lower_mask, lower_at, entry_mask, entry_at))
    per_system = []
    for b in range(values.shape[0]):
        for s, (size, lower_mask, lower_at, entry_mask, entry_at) in enumerate(blocks):
            L = lower.new_zeros(size, size).index_put(lower_at, lower[b][lower_mask])
            A = values.new_zeros(size, size).index_put(entry_at, values[b][entry_mask])
            half = torch.linalg.solve_triangular(L, A, upper=False)           # L^-1 A
            full = torch.linalg.solve_triangular(L, half.T, upper=False)      # L^-1 (L^-1 A)^T = L^-1 A L^-T
            eigenvalues = torch.linalg.eigvalsh(0.5 * (full + full.T))
            if not bool(eigenvalues[0] > 0):
                raise SciMLError(f"L^-1 A L^-T of system {s} has a non-positive eigenvalue ({float(eigenvalues[0]):.3g}); "
                                 "A must be SPD")
            per_system.append(torch.log(eigenvalues[-1]) - torch.log(eigenvalues[0]))
    return _reduce(torch.stack(per_system), reduction)


LOSSES = ("solution", "frobenius", "probe-solution", "condition")
CONDITION_LIMIT = 4096  # unknowns per system for the dense condition loss


@dataclass(frozen=True)
class SystemsBatch:
    """A training batch on one pattern: a batch of values on a shared pattern, or one block-diagonal system.

    Attributes
    ----------
    values : ``(batch, nnz)``; rhs, solution : ``(batch, n)``
    crow, col : the pattern ``(n + 1,)``, ``(nnz,)``
    blocks : None (``batch`` systems on one pattern) or the sizes ``(num_systems,)`` of the diagonal
        blocks of one block-diagonal system (``batch = 1``)
    """

    values: torch.Tensor
    rhs: torch.Tensor
    solution: torch.Tensor
    crow: torch.Tensor
    col: torch.Tensor
    blocks: torch.Tensor | None = None


BATCH_KEYS = ("values", "rhs", "solution", "crow", "col")


def systems_batch(batch: Any) -> SystemsBatch:
    """A collated batch of :class:`~sciml.data.pdes.diffusion_systems.SystemsDataset` items as a :class:`SystemsBatch`.

    Systems that share one pattern (and size) stay a batch of values on it; otherwise the systems,
    cut to their counts ``num_rows``, ``num_nonzeros`` (full padded sizes when absent), are joined
    into one block-diagonal system: the row pointers and columns shifted by the preceding systems'
    nonzeros and rows. Works on the batch's device.

    Shapes
    ------
    batch: dict ``values (B, nnz)``, ``rhs (B, n)``, ``solution (B, n)``, ``crow (B, n + 1)`` or ``(n + 1,)``,
    ``col (B, nnz)`` or ``(nnz,)``, optionally ``num_rows (B,)``, ``num_nonzeros (B,)``.

    Raises
    ------
    DataError
        Missing keys, or counts that disagree with the padded arrays.
    """
    if not isinstance(batch, dict) or any(k not in batch for k in BATCH_KEYS):
        found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(f"a neural-pcg batch is a dict with {', '.join(BATCH_KEYS)}; got {found}")
    values, rhs, solution, crow, col = (batch[k] for k in BATCH_KEYS)
    if crow.ndim == 1:
        return SystemsBatch(values, rhs, solution, crow, col)
    size, width = rhs.shape[1], values.shape[1]
    rows = batch.get("num_rows")
    nonzeros = batch.get("num_nonzeros")
    rows = torch.full((len(crow),), size, device=crow.device) if rows is None else rows.to(crow.device).long()
    nonzeros = torch.full((len(crow),), width, device=crow.device) if nonzeros is None else \
        nonzeros.to(crow.device).long()
    if bool(((rows < 1) | (rows > size) | (nonzeros < 0) | (nonzeros > width)).any()):
        raise DataError(f"a batch's num_rows must lie in [1, {size}] and num_nonzeros in [0, {width}], got "
                        f"{rows.tolist()} and {nonzeros.tolist()}")
    ends = crow.gather(1, rows[:, None]).squeeze(1).long()
    if not torch.equal(ends, nonzeros):
        raise DataError(f"a batch's row pointers end at {ends.tolist()} but num_nonzeros is {nonzeros.tolist()}")
    if bool((rows == rows[0]).all()) and bool((nonzeros == nonzeros[0]).all()) \
            and bool((crow == crow[:1]).all()) and bool((col == col[:1]).all()):
        n, nnz = int(rows[0]), int(nonzeros[0])
        return SystemsBatch(values[:, :nnz], rhs[:, :n], solution[:, :n], crow[0, :n + 1], col[0, :nnz])
    row_mask = torch.arange(size, device=crow.device) < rows[:, None]
    nonzero_mask = torch.arange(width, device=crow.device) < nonzeros[:, None]
    row_offset = torch.cumsum(rows, 0) - rows
    nonzero_offset = torch.cumsum(nonzeros, 0) - nonzeros
    joined_crow = torch.cat([crow.new_zeros(1), (crow[:, 1:].long() + nonzero_offset[:, None])[row_mask].to(crow.dtype)])
    joined_col = (col.long() + row_offset[:, None])[nonzero_mask].to(col.dtype)
    return SystemsBatch(values[nonzero_mask][None], rhs[row_mask][None], solution[row_mask][None], joined_crow,
                        joined_col, rows)


class NeuralPCGMethod:
    """The training method of :class:`NeuralPCG` for :class:`sciml.train.Trainer`.

    ``step`` returns the loss named by ``model.config.loss`` (the mean over the batch's systems);
    ``evaluate`` returns per-batch sums over the systems of that loss (``loss``, the validation
    metric), of ``solution_loss`` and of ``frobenius_loss`` (its probes drawn from a fixed seed, so
    validation is repeatable).

    Shapes
    ------
    batch: the default collation of :class:`~sciml.data.pdes.diffusion_systems.SystemsDataset` items,
    a dict with ``values (B, nnz)``, ``rhs (B, n)``, ``solution (B, n)``, ``crow (B, n + 1)``,
    ``col (B, nnz)``, ``num_rows (B,)``, ``num_nonzeros (B,)``; systems of different patterns or sizes
    (padded) run as one block-diagonal system (:func:`systems_batch`).
    """

    metric = "loss"
    KEYS = BATCH_KEYS

    def __init__(self, model: nn.Module):
        self.model = model

    def _network(self) -> NeuralPCG:
        return getattr(self.model, "module", self.model)  # under DDP the trainer wraps the model

    def _losses(self, batch: Any, *, reduction: str, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        systems = systems_batch(batch)
        lower = self.model(systems.crow, systems.col, systems.values, systems.blocks)
        network = self._network()
        pattern = network.pattern(systems.crow, systems.col, systems.blocks)
        losses = {}
        if generator is not None or network.config.loss == "solution":
            losses["solution_loss"] = solution_loss(pattern, lower, systems.solution, systems.rhs, reduction=reduction)
        if generator is not None or network.config.loss == "frobenius":
            losses["frobenius_loss"] = frobenius_loss(pattern, lower, systems.values, probes=network.config.probes,
                                                      generator=generator, reduction=reduction)
        if network.config.loss == "condition":  # dense eigenvalues: computed only when trained on
            losses["condition_loss"] = condition_loss(pattern, lower, systems.values, reduction=reduction)
        if network.config.loss == "probe-solution":  # direct solves: computed only when trained on
            losses["probe-solution_loss"] = probe_solution_loss(pattern, lower, systems.values,
                                                                probes=network.config.probes, generator=generator,
                                                                reduction=reduction)
        losses["loss"] = losses[f"{network.config.loss}_loss"]
        return losses

    def step(self, batch: Any) -> dict[str, torch.Tensor]:
        return {"loss": self._losses(batch, reduction="mean", generator=None)["loss"]}

    @torch.no_grad()
    def evaluate(self, batch: Any) -> dict[str, torch.Tensor]:
        """Per-batch sums of ``loss``, ``solution_loss`` and ``frobenius_loss`` (the trainer divides by the count)."""
        device = batch["values"].device if isinstance(batch, dict) and "values" in batch else "cpu"
        generator = torch.Generator(device=device).manual_seed(EVALUATION_SEED)
        return self._losses(batch, reduction="sum", generator=generator)


class LearnedPreconditioner(Preconditioner):
    """``M^-1 r = L^-T L^-1 r`` with ``L`` predicted by a trained :class:`NeuralPCG` for the matrix ``A``.

    The network runs once here (counted in ``setup_seconds`` with the triangular set-up); each
    application is a forward and a backward sparse triangular solve (:class:`~sciml.linalg.TriangularSolver`).

    Parameters
    ----------
    model : a :class:`NeuralPCG` (runs on the device of its parameters)
    A : SPD matrix (scipy sparse, torch sparse or dense), structurally symmetric with a stored diagonal
    device, dtype : where and in which precision the solves run (default CPU, float64)
    method : triangular solve method, ``"auto"``, ``"levels"`` or ``"torch"``

    Attributes
    ----------
    L : the factor, scipy CSR ``(n, n)`` float64 on the pattern of ``tril(A)``

    Raises
    ------
    DataError
        ``A`` is not square, finite, symmetric, structurally symmetric, or lacks a positive diagonal.
    SciMLError
        The model has non-finite parameters or predicts a non-finite factor.

    Shapes: ``apply(r)``: ``r (n,)`` or ``(batch, n)`` -> same shape.
    """

    name = "learned"

    def __init__(self, model: NeuralPCG, A: Any, *, device=None, dtype=None, method: str = "auto"):
        from sciml.linalg.triangular import TriangularSolver

        if not isinstance(model, NeuralPCG):
            raise ConfigError(f"model must be a NeuralPCG, got {type(model).__name__}")
        tic = time.perf_counter()
        csr = _scipy_csr(A)
        super().__init__(csr.shape[0], device, dtype)
        scale = abs(csr).max() if csr.nnz else 0.0
        asymmetry = abs(csr - csr.T).max() if csr.nnz else 0.0
        if asymmetry > SYMMETRY_RTOL * scale:
            raise DataError(f"A is not symmetric (max |A - A^T| = {asymmetry:.3g}, max |A| = {scale:.3g}); "
                            f"a CG preconditioner needs an SPD matrix")
        bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            raise SciMLError(f"the model has non-finite parameters ({', '.join(bad[:3])}); it cannot make a "
                             f"preconditioner (was its training diverging?)")
        network_device = next(model.parameters()).device
        crow = torch.from_numpy(csr.indptr.astype(np.int32)).to(network_device)
        col = torch.from_numpy(csr.indices.astype(np.int32)).to(network_device)
        values = torch.from_numpy(csr.data).to(network_device)
        with torch.no_grad():
            lower = model(crow, col, values).detach().to("cpu", torch.float64).numpy()
        pattern = model.pattern(crow, col)
        if not np.all(np.isfinite(lower)):
            raise SciMLError(f"the network predicted {int((~np.isfinite(lower)).sum())} non-finite entries of L "
                             f"for this matrix; refusing to build a preconditioner from them")
        self.L = sp.csr_matrix((lower, pattern.lower_col.cpu().numpy(), pattern.lower_crow.cpu().numpy()),
                               shape=(self.n, self.n))
        self.lower = TriangularSolver(self.L, lower=True, device=self.device, dtype=self.dtype, method=method)
        self.upper = TriangularSolver(self.L.T.tocsr(), lower=False, device=self.device, dtype=self.dtype,
                                      method=method)
        self.setup_seconds = time.perf_counter() - tic

    def _apply(self, R: torch.Tensor) -> torch.Tensor:
        return self.upper.solve(self.lower.solve(R.to(self.device, self.dtype))).to(R.dtype)


def load(path: str | os.PathLike, *, which: str = "best", map_location: str | torch.device = "cpu") -> NeuralPCG:
    """Rebuild a trained :class:`NeuralPCG` (eval mode) from a run directory or a model file.

    Reads ``best.pt`` (or ``model.pt``, ``which="model"``) of a run directory written by
    :class:`sciml.train.Trainer`, or the file ``path``, with ``torch.load(weights_only=True)``.
    """
    from sciml.train.spec import build_model, read_model_file

    return build_model(SPEC, read_model_file(path, which=which, map_location=map_location))


def preconditioner_from_run(run: str | os.PathLike, A: Any, *, which: str = "best",
                            **options: Any) -> LearnedPreconditioner:
    """:class:`LearnedPreconditioner` for ``A`` from the model trained in ``run``; ``options`` go to it."""
    return LearnedPreconditioner(load(run, which=which), A, **options)


# -- the pieces of the "neural-pcg" ModelSpec (SPEC, listed in sciml.registry) -------------------------------
def spec_dataset(path: str | os.PathLike) -> SystemsDataset:
    """The training data: a store of linear systems of any family (shared or per-sample patterns)."""
    return load_systems(path)


def spec_complete_config(config: NeuralPCGConfig, data: SystemsDataset) -> NeuralPCGConfig:
    """Nothing to fill from the data (the network takes any pattern); checks that ``data`` suits it (system 0)."""
    crow, col = data.pattern(0)
    SparsityPattern(crow, col, where=f"{getattr(data, 'path', 'the data')} system 0")
    return config


def spec_build(config: NeuralPCGConfig) -> NeuralPCG:
    return NeuralPCG(config)


def spec_method(model: nn.Module) -> NeuralPCGMethod:
    return NeuralPCGMethod(model)


def spec_prepare(model: nn.Module, data: SystemsDataset) -> None:
    """No data-dependent set-up: the features are normalised per matrix."""


def solve_table(per: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The ``sciml eval`` table of a learned solver from per-system runs ``{precond: [{iterations,
    setup_s, solve_s, converged}, ...]}``: ``{"table": [{precond, mean_iterations, mean_setup_s,
    mean_solve_s, mean_total_s, all_converged}], "per_system": {precond: [iterations ...]}}``."""
    table = []
    for name, rows in per.items():
        table.append({"precond": name, "mean_iterations": float(np.mean([r["iterations"] for r in rows])),
                      "mean_setup_s": float(np.mean([r["setup_s"] for r in rows])),
                      "mean_solve_s": float(np.mean([r["solve_s"] for r in rows])),
                      "mean_total_s": float(np.mean([r["setup_s"] + r["solve_s"] for r in rows])),
                      "all_converged": all(r["converged"] for r in rows)})
    return {"table": table, "per_system": {name: [r["iterations"] for r in rows] for name, rows in per.items()}}


def spec_evaluate(model: nn.Module, data: SystemsDataset, device: torch.device, *, rtol: float = 1e-8,
                  baselines: tuple[str, ...] = ("none", "jacobi", "ic0", "amg-rs")) -> dict[str, Any]:
    """Per-system PCG iterations and times of the learned preconditioner next to classical ones.

    Each test system is solved to ``rtol`` (``||r|| <= rtol ||b||``) with every preconditioner;
    set-up (network inference for the learned one) and solve are timed separately. Returns
    ``{"table": [{precond, mean_iterations, mean_setup_s, mean_solve_s, mean_total_s, all_converged}],
    "per_system": {precond: [iterations ...]}, "n_systems", "n", "n_range", "rtol"}`` with ``n`` the
    unknowns of the largest system and ``n_range`` ``[smallest, largest]``.
    """
    from sciml.linalg import pcg, preconditioner

    names = (*baselines, "learned")
    per: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for i in range(len(data)):
        A = data.matrix(i)
        b = data.rhs(i)
        for name in names:
            tic = time.perf_counter()
            M = LearnedPreconditioner(model, A, device=device) if name == "learned" else \
                preconditioner(name, A, device=device)
            setup = time.perf_counter() - tic
            tic = time.perf_counter()
            result = pcg(A, torch.from_numpy(b).to(device), None if name == "none" else M, rtol=rtol)
            per[name].append({"iterations": result.iterations, "setup_s": setup,
                              "solve_s": time.perf_counter() - tic, "converged": result.converged})
    return {**solve_table(per), "n_systems": len(data), "n": int(data.num_rows.max()),
            "n_range": [int(data.num_rows.min()), int(data.num_rows.max())], "rtol": rtol}


SPEC = ModelSpec(
    name=MODEL_NAME, config_cls=NeuralPCGConfig, build=spec_build, method=spec_method, dataset=spec_dataset,
    complete_config=spec_complete_config, prepare=spec_prepare, evaluate=spec_evaluate,
    paper="Li, Chen, Du, Matusik: Learning Preconditioners for Conjugate Gradient PDE Solvers, arXiv 2305.16432",
    summary="graph network on the matrix graph predicting an L L^T preconditioner for CG (any sparsity pattern)",
    inference=SystemsInference(MODEL_NAME),
    example={"pde": "diffusion-systems", "res": 6, "n": 6, "params": {"contrast": 100.0},
             "overrides": {"epochs": 1, "batch_size": 3, "hidden": 8, "layers": 1}})
