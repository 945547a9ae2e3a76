"""Deep Conjugate Direction Method (DCDM; Kaneda et al., arXiv 2205.10763, ICML 2023).

A convolutional network ``f`` on the grid maps the normalised residual to a search direction; each
direction is A-orthogonalised against the previous two and the step along it is exact::

    r_0 = b - A x_0
    for k = 1, 2, ...
        q_k = f(r_{k-1} / ||r_{k-1}||)
        d_k = q_k - sum_{i = k-2, k-1} (q_k^T A d_i) / (d_i^T A d_i) d_i
        alpha_k = (d_k^T r_{k-1}) / (d_k^T A d_k)
        x_k = x_{k-1} + alpha_k d_k,   r_k = r_{k-1} - alpha_k A d_k

With the identity for ``f`` this is conjugate gradients (the projection on ``d_{k-2}`` vanishes in
exact arithmetic). ``f`` is nonlinear, so DCDM is not a preconditioner ``M``: it cannot be handed
to :func:`sciml.linalg.pcg` or to ``scipy.sparse.linalg.cg`` and has its own solver,
:func:`dcdm_solve`, which returns the same :class:`~sciml.linalg.SolveResult`.

Training is unsupervised: for right-hand sides ``b`` with ``||b|| = 1`` and ``q = f(b)`` the loss
is ``||b - alpha A q||^2`` with ``alpha = q^T b / q^T A q``, the residual after one exact step
along ``q``; it is zero when ``q`` is a multiple of ``A^-1 b``. As in the paper the training
right-hand sides are rich in the low end of A's spectrum, where CG is slow: ``k`` Lanczos steps
(full reorthogonalisation, start vector ``A z`` with ``z ~ N(0, I)``) give Ritz vectors
``v_1 .. v_k`` by increasing Ritz value, and ``b = sum_j c_j v_j / ||.||`` with
``c_j ~ low_weight * N(0, 1)`` for the first ``low_fraction * k`` of them and ``c_j ~ N(0, 1)``
for the rest (the paper's reference code: 1000 Ritz vectors, weight 9 below ``m/2 + 50``).

Network (our choice; the paper uses a deeper residual conv net with down- and up-sampling on
64^3-256^3 grids): a small fully convolutional U-shaped net (``levels`` average-pool halvings,
one residual block of two 3^d convolutions per level on the way down and up, a bottom block,
skip connections added, nearest up-sampling to the skip's exact size), ``width`` channels, ReLU,
**no biases**, zero padding (the unknowns are interior nodes of a zero-Dirichlet grid). Without
biases the net is positively homogeneous, ``f(c r) = c f(r)`` for ``c > 0``, so the direction does
not depend on how ``r`` is normalised; the input is scaled to unit root-mean-square (``r sqrt(n) /
||r||``) only to keep float32 in range on every grid size. The net takes any grid size, 2D or 3D.
With ``shared_levels`` one block pair is reused at every level and the net halves until the grid is
coarse (``coarsest``), so its depth grows with the grid like a multigrid V-cycle: trained at 64^2
it needs 7 / 7 / 8 iterations at 32^2 / 64^2 / 128^2 (a fixed 3-level net trained at 32^2: 8 / 9.3
/ 15.7; ``dcdm-poisson`` small scale).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from sciml._errors import ConfigError, DataError, SciMLError
from sciml.linalg.krylov import STAGNATION_CHECKS, STAGNATION_INTERVAL, SolveResult, SolveStatus, as_operator, finish
from sciml.train.losses import _reduce
from sciml.train.spec import ModelSpec
from sciml.learned.inference import SystemsInference

__all__ = ["DCDMConfig", "DCDMNet", "DCDMSolver", "DCDMMethod", "SpectralRHSDataset", "dcdm_solve", "dcdm_loss",
           "ritz_vectors", "spectral_rhs", "grid_shape_of", "load", "SPEC", "spec_evaluate", "MODEL_NAME"]

MODEL_NAME = "dcdm"
SYMMETRY_RTOL = 1e-10  # |A - A^T| above this fraction of max |A| is not symmetric


@dataclass(frozen=True)
class DCDMConfig:
    """Configuration of :class:`DCDMNet` and of its training right-hand sides.

    The right-hand-side settings live here so that the run records how its data was made.

    Attributes
    ----------
    n_dims : 2 or 3 (0: take it from the data)
    width : channels of every convolution
    levels : average-pool halvings (the receptive field grows like ``2^levels``); ignored when
        ``shared_levels``
    shared_levels : one down block and one up block, reused at every level, and as many halvings as
        the grid allows (until the shortest axis has at most ``coarsest`` cells): the depth grows
        with the grid like a multigrid V-cycle, so a net trained on one grid reaches the lowest
        modes of larger ones
    coarsest : with ``shared_levels``, halve while the shortest axis is longer than this
    ritz_vectors : Lanczos steps (Ritz vectors) per distinct training matrix
    rhs_per_system : training right-hand sides made from each stored system
    low_fraction : fraction of the Ritz vectors, lowest first, whose weights are scaled by ``low_weight``
    low_weight : scale of the weights of the low Ritz vectors (the paper: 9)
    data_seed : seed of the Lanczos start vectors and the weights (mixed with the store's seed)
    """

    n_dims: int = 0
    width: int = 16
    levels: int = 3
    shared_levels: bool = False
    coarsest: int = 4
    ritz_vectors: int = 200
    rhs_per_system: int = 64
    low_fraction: float = 0.55
    low_weight: float = 9.0
    data_seed: int = 0

    def __post_init__(self):
        if self.n_dims not in (0, 2, 3):
            raise ValueError(f"n_dims must be 2 or 3 (0: from the data), got {self.n_dims}")
        for name in ("width", "ritz_vectors", "rhs_per_system"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.levels < 0:
            raise ValueError(f"levels must be non-negative, got {self.levels}")
        if self.coarsest < 1:
            raise ValueError(f"coarsest must be at least 1, got {self.coarsest}")

    def levels_for(self, grid: Sequence[int]) -> int:
        """Halvings on ``grid``: ``levels``, or with ``shared_levels`` until the shortest axis is at most ``coarsest``."""
        if not self.shared_levels:
            return self.levels
        levels, shortest = 0, min(grid)
        while shortest > self.coarsest:
            shortest = -(-shortest // 2)
            levels += 1
        return levels
        if not 0 <= self.low_fraction <= 1:
            raise ValueError(f"low_fraction must lie in [0, 1], got {self.low_fraction}")
        if not self.low_weight > 0:
            raise ValueError(f"low_weight must be positive, got {self.low_weight}")
        if self.data_seed < 0:
            raise ValueError(f"data_seed must be non-negative, got {self.data_seed}")


class _ResidualBlock(nn.Module):
    """``h + conv(relu(conv(relu(h))))`` with bias-free 3^d convolutions."""

    def __init__(self, channels: int, n_dims: int):
        super().__init__()
        conv = nn.Conv2d if n_dims == 2 else nn.Conv3d
        self.first = conv(channels, channels, 3, padding=1, bias=False)
        self.second = conv(channels, channels, 3, padding=1, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.second(F.relu(self.first(F.relu(h))))


class DCDMNet(nn.Module):
    """Fully convolutional U-shaped net mapping a residual on the grid to a search direction.

    See the module docstring for the architecture. It is positively homogeneous
    (``f(c r) = c f(r)``, ``c > 0``) and takes any grid size.

    Parameters
    ----------
    config : :class:`DCDMConfig` with ``n_dims`` 2 or 3

    Shapes
    ------
    ``forward(r (batch, 1, *grid)) -> (batch, 1, *grid)``, ``grid`` of ``n_dims`` axes.
    """

    def __init__(self, config: DCDMConfig):
        super().__init__()
        if config.n_dims not in (2, 3):
            raise ConfigError(f"DCDMNet needs n_dims 2 or 3, got {config.n_dims} (0 is filled from the data)")
        self.config = config
        conv = nn.Conv2d if config.n_dims == 2 else nn.Conv3d
        width = config.width
        self.lift = conv(1, width, 3, padding=1, bias=False)
        blocks = 1 if config.shared_levels else config.levels
        self.down = nn.ModuleList(_ResidualBlock(width, config.n_dims) for _ in range(blocks))
        self.bottom = _ResidualBlock(width, config.n_dims)
        self.up = nn.ModuleList(_ResidualBlock(width, config.n_dims) for _ in range(blocks))
        self.project = conv(width, 1, 3, padding=1, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d)):
                module.reset_parameters()

    def levels_for(self, grid: Sequence[int]) -> int:
        """Halvings the net makes on ``grid`` (see :meth:`DCDMConfig.levels_for`)."""
        return self.config.levels_for(grid)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        n_dims = self.config.n_dims
        if r.ndim != n_dims + 2 or r.shape[1] != 1:
            raise DataError(f"DCDMNet ({n_dims}D) takes (batch, 1, {', '.join('n' + str(i) for i in range(n_dims))}), "
                            f"got shape {tuple(r.shape)}")
        pool = F.avg_pool2d if n_dims == 2 else F.avg_pool3d
        levels = self.levels_for(r.shape[2:])
        down = [self.down[0]] * levels if self.config.shared_levels else list(self.down)
        up = [self.up[0]] * levels if self.config.shared_levels else list(self.up)
        h = self.lift(r)
        skips = []
        for block in down:
            h = block(h)
            skips.append(h)
            h = pool(h, 2, ceil_mode=True)  # odd axes: the last window averages what lies inside the grid
        h = self.bottom(h)
        for block, skip in zip(reversed(up), reversed(skips)):
            h = block(F.interpolate(h, size=skip.shape[2:], mode="nearest") + skip)
        return self.project(h)

    def __repr__(self) -> str:
        c = self.config
        params = sum(p.numel() for p in self.parameters())
        levels = "shared, grid-dependent" if c.shared_levels else c.levels
        return f"DCDMNet(n_dims={c.n_dims}, width={c.width}, levels={levels}, parameters={params})"


# -- checks shared by the solver and the training data --------------------------------------------------
def grid_shape_of(n: int, n_dims: int) -> tuple[int, ...]:
    """The cubic grid ``(m,) * n_dims`` with ``m^n_dims = n``; a :class:`DataError` when there is none."""
    m = round(n ** (1.0 / n_dims))
    for candidate in (m - 1, m, m + 1):
        if candidate > 0 and candidate ** n_dims == n:
            return (candidate,) * n_dims
    raise DataError(f"A has {n} rows, which is not a square{' or cube' if n_dims == 3 else ''} "
                    f"({n_dims}D grid) number; pass grid_shape explicitly")


def _check_grid(n: int, grid_shape: Sequence[int] | None, n_dims: int | None) -> tuple[int, ...]:
    if grid_shape is None:
        if n_dims is None:
            raise DataError("grid_shape is needed: the direction model does not say whether it is 2D or 3D")
        return grid_shape_of(n, n_dims)
    shape = tuple(int(s) for s in grid_shape)
    if any(s < 1 for s in shape) or len(shape) not in (2, 3):
        raise DataError(f"grid_shape must have 2 or 3 positive sizes, got {tuple(grid_shape)}")
    if n_dims is not None and len(shape) != n_dims:
        raise DataError(f"the model is {n_dims}D but grid_shape {shape} has {len(shape)} axes")
    if math.prod(shape) != n:
        raise DataError(f"A has shape ({n}, {n}) but grid_shape {shape} holds {math.prod(shape)} unknowns")
    return shape


def _check_spd_candidate(A: Any, where: str = "A") -> sp.csr_matrix:
    """``A`` as float64 scipy CSR after the cheap necessary checks of SPD: square, finite, symmetric,
    positive diagonal. (Indefiniteness is caught during the iteration: ``d^T A d <= 0``.)"""
    from sciml.linalg.precond import _scipy_csr

    csr = _scipy_csr(A)
    scale = abs(csr).max() if csr.nnz else 0.0
    asymmetry = abs(csr - csr.T).max() if csr.nnz else 0.0
    if asymmetry > SYMMETRY_RTOL * scale:
        raise DataError(f"{where} is not symmetric (max |A - A^T| = {asymmetry:.3g}, max |A| = {scale:.3g}); "
                        f"DCDM needs a symmetric positive definite matrix")
    diagonal = csr.diagonal()
    if not np.all(diagonal > 0):
        i = int(np.flatnonzero(~(diagonal > 0))[0])
        raise DataError(f"{where} has a non-positive diagonal entry ({where}[{i}, {i}] = {diagonal[i]:.3g}), so it is "
                        f"not symmetric positive definite; DCDM (like CG) does not apply")
    # every 2x2 principal minor of an SPD matrix is positive: A_ij^2 < A_ii A_jj
    coo = csr.tocoo()
    bad = np.flatnonzero((coo.row != coo.col) & ~(coo.data ** 2 < diagonal[coo.row] * diagonal[coo.col]))
    if bad.size:
        i, j = int(coo.row[bad[0]]), int(coo.col[bad[0]])
        raise DataError(f"{where} is not positive definite: A[{i}, {j}]^2 = {coo.data[bad[0]] ** 2:.3g} is not below "
                        f"A[{i}, {i}] A[{j}, {j}] = {diagonal[i] * diagonal[j]:.3g}; DCDM (like CG) needs an SPD matrix")
    return csr


def _model_dims(model: Any) -> int | None:
    config = getattr(getattr(model, "module", model), "config", None)
    return getattr(config, "n_dims", None) or None


# -- the solver -------------------------------------------------------------------------------------
def dcdm_solve(model: Callable[[torch.Tensor], torch.Tensor], A: Any, b: Any, grid_shape: Sequence[int] | None = None,
               *, rtol: float = 1e-6, atol: float = 0.0, maxiter: int | None = None, x0: Any = None,
               raise_on_failure: bool = False,
               callback: Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None) -> SolveResult:
    """Solve ``A x = b`` (``A`` SPD on a grid) by the Deep Conjugate Direction Method.

    Converged when ``||b - A x|| <= max(rtol * ||b||, atol)`` (Euclidean norm). The residual is
    updated recursively; when it meets the tolerance the true residual ``b - A x`` is computed,
    and the iteration goes on from it if it does not.

    Parameters
    ----------
    model : a :class:`DCDMNet` or any callable ``(1, 1, *grid) -> (1, 1, *grid)`` (the identity gives CG);
        it runs on the device and in the dtype of its parameters (float64 on the CPU for a plain callable)
    A : SPD matrix ``(n, n)``: scipy sparse, torch sparse or dense
    b : right-hand side ``(n,)``, unknowns ordered row-major on the grid; sets the solve's device (float64)
    grid_shape : the grid, ``n = prod(grid_shape)``; default the square (cube) grid of the model's ``n_dims``
    rtol, atol : tolerances (keyword-only)
    maxiter : iteration limit (default ``n``)
    x0 : initial guess ``(n,)`` (default zeros)
    raise_on_failure : raise :class:`~sciml.linalg.SolveError` when the solve does not converge
    callback : called after each step as ``callback(k, x, r, d)`` (iteration, iterate, residual, direction)

    Returns
    -------
    SolveResult (``status`` ``BREAKDOWN`` when ``d^T A d <= 0``: ``A`` is not SPD; ``NON_FINITE`` when the
    network returns NaN or Inf, with the last finite iterate)

    Raises
    ------
    DataError
        ``A`` is not square, finite, symmetric with a positive diagonal, or does not fit ``b``, ``grid_shape``
        or the model's dimension.

    Shapes
    ------
    ``b (n,)`` -> ``x (n,)``; the network sees ``r`` reshaped to ``(1, 1, *grid_shape)``.
    """
    if not (rtol >= 0 and atol >= 0):
        raise DataError(f"rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    b_t = torch.as_tensor(b)
    if b_t.ndim != 1:
        raise DataError(f"b must have shape (n,), got {tuple(b_t.shape)}; solve one right-hand side at a time")
    device, dtype = b_t.device, torch.float64
    b_t = b_t.to(dtype)
    n = b_t.shape[0]
    if not bool(torch.isfinite(b_t).all()):
        raise DataError("b contains NaN or Inf")
    csr = _check_spd_candidate(A)
    if csr.shape[0] != n:
        raise DataError(f"A has shape {csr.shape} but b has shape ({n},)")
    shape = _check_grid(n, grid_shape, _model_dims(model))
    matvec = as_operator(csr, n, device, dtype)
    maxiter = n if maxiter is None else int(maxiter)
    if maxiter < 0:
        raise DataError(f"maxiter must be non-negative, got {maxiter}")
    parameters = list(model.parameters()) if isinstance(model, nn.Module) else []
    net_device = parameters[0].device if parameters else device
    net_dtype = parameters[0].dtype if parameters else dtype
    if any(not bool(torch.isfinite(p).all()) for p in parameters):
        raise SciMLError("the direction model has non-finite parameters; it cannot make search directions "
                         "(was its training diverging?)")

    if x0 is None:
        x = torch.zeros(n, dtype=dtype, device=device)
        r = b_t.clone()
    else:
        x = torch.as_tensor(x0).to(device=device, dtype=dtype).clone()
        if x.shape != b_t.shape:
            raise DataError(f"x0 has shape {tuple(x.shape)} but b has shape {tuple(b_t.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise DataError("x0 contains NaN or Inf")
        r = b_t - matvec(x.unsqueeze(0))[0]
    threshold = max(rtol * float(torch.linalg.vector_norm(b_t)), atol)
    eps = torch.finfo(dtype).eps
    residual = float(torch.linalg.vector_norm(r))
    history = [residual]
    status = SolveStatus.CONVERGED if residual <= threshold else SolveStatus.MAX_ITERATIONS
    previous: list[tuple[torch.Tensor, torch.Tensor, float]] = []  # (d, A d, d^T A d), newest last
    iterations = quiet_checks = 0

    def direction(r: torch.Tensor) -> torch.Tensor | None:
        scaled = (r * (math.sqrt(n) / float(torch.linalg.vector_norm(r)))).reshape(1, 1, *shape)
        with torch.no_grad():
            q = model(scaled.to(net_device, net_dtype))
        if not isinstance(q, torch.Tensor) or q.numel() != n:
            raise DataError(f"the direction model returned {tuple(getattr(q, 'shape', ()))} for a residual of shape "
                            f"{tuple(scaled.shape)}; it must return the same shape")
        q = q.reshape(n).to(device, dtype)
        return q if bool(torch.isfinite(q).all()) else None

    while status is SolveStatus.MAX_ITERATIONS and iterations < maxiter:
        q = direction(r)
        if q is None:
            status = SolveStatus.NON_FINITE
            break
        d = q.clone()
        for d_i, Ad_i, dAd_i in previous:  # A-orthogonalise against the last two directions
            d.add_(d_i, alpha=-float(torch.dot(q, Ad_i)) / dAd_i)
        Ad = matvec(d.unsqueeze(0))[0]
        dAd = float(torch.dot(d, Ad))
        if not dAd > 0:
            # d = 0 only if q lies in the span of the last two directions: the network repeats itself
            status = SolveStatus.NON_FINITE if not math.isfinite(dAd) else SolveStatus.BREAKDOWN
            break
        alpha = float(torch.dot(d, r)) / dAd
        x.add_(d, alpha=alpha)
        r.add_(Ad, alpha=-alpha)
        previous = (previous + [(d, Ad, dAd)])[-2:]
        iterations += 1
        residual = float(torch.linalg.vector_norm(r))
        if callback is not None:
            callback(iterations, x, r, d)
        if not math.isfinite(residual):
            history.append(residual)
            status = SolveStatus.NON_FINITE
            break
        if residual <= threshold:
            r = b_t - matvec(x.unsqueeze(0))[0]  # trust only the true residual
            residual = float(torch.linalg.vector_norm(r))
            if residual <= threshold:
                history.append(residual)
                status = SolveStatus.CONVERGED
                break
        history.append(residual)
        if iterations % STAGNATION_INTERVAL == 0:
            small = abs(alpha) * float(torch.linalg.vector_norm(d)) <= eps * float(torch.linalg.vector_norm(x))
            quiet_checks = quiet_checks + 1 if small else 0
            if quiet_checks >= STAGNATION_CHECKS:
                status = SolveStatus.STAGNATION
                break
    norms = torch.tensor(history, dtype=dtype, device=device)
    return finish(x.unsqueeze(0), [status], torch.tensor([iterations], device=device), [norms.unsqueeze(0)],
                  single=True, raise_on_failure=raise_on_failure, stacked=True)


class DCDMSolver:
    """A trained DCDM network, ready to solve systems of its grid family (any grid size).

    Parameters
    ----------
    model : a :class:`DCDMNet` (put in eval mode; runs on the device of its parameters)
    rtol, atol, maxiter : defaults of :meth:`solve`

    Shapes: ``solve(A (n, n), b (n,)) -> SolveResult`` with ``x (n,)``.
    """

    def __init__(self, model: DCDMNet, *, rtol: float = 1e-6, atol: float = 0.0, maxiter: int | None = None):
        if not isinstance(model, DCDMNet):
            raise ConfigError(f"model must be a DCDMNet, got {type(model).__name__}")
        bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            raise SciMLError(f"the DCDM model has non-finite parameters ({', '.join(bad[:3])}); "
                             f"it cannot make search directions (was its training diverging?)")
        self.model = model.eval()
        self.rtol, self.atol, self.maxiter = rtol, atol, maxiter

    @classmethod
    def from_run(cls, path: str | os.PathLike, *, which: str = "best", map_location: str | torch.device = "cpu",
                 **defaults: Any) -> "DCDMSolver":
        """The solver of the model trained in run directory (or model file) ``path``."""
        return cls(load(path, which=which, map_location=map_location), **defaults)

    @property
    def n_dims(self) -> int:
        return self.model.config.n_dims

    def solve(self, A: Any, b: Any, *, grid_shape: Sequence[int] | None = None, rtol: float | None = None,
              atol: float | None = None, maxiter: int | None = None, x0: Any = None,
              raise_on_failure: bool = False) -> SolveResult:
        """:func:`dcdm_solve` with this model; ``None`` tolerances take the solver's defaults."""
        return dcdm_solve(self.model, A, b, grid_shape, rtol=self.rtol if rtol is None else rtol,
                          atol=self.atol if atol is None else atol, maxiter=self.maxiter if maxiter is None else maxiter,
                          x0=x0, raise_on_failure=raise_on_failure)

    def __repr__(self) -> str:
        return f"DCDMSolver({self.model!r}, rtol={self.rtol}, atol={self.atol}, maxiter={self.maxiter})"


def load(path: str | os.PathLike, *, which: str = "best", map_location: str | torch.device = "cpu") -> DCDMNet:
    """Rebuild a trained :class:`DCDMNet` (eval mode) from a run directory or a model file.

    Raises
    ------
    DataError
        ``path`` holds no sciml model, or a model that is not a DCDM network.
    """
    from sciml.train.spec import build_model, read_model_file

    return build_model(SPEC, read_model_file(path, which=which, map_location=map_location))


# -- training data: right-hand sides rich in the low end of the spectrum ------------------------------
def ritz_vectors(A: sp.spmatrix, k: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ritz values and vectors of SPD ``A`` from ``k`` Lanczos steps with full reorthogonalisation.

    The start vector is ``A z``, ``z ~ N(0, I)`` (as the paper). Fewer than ``k`` pairs come back
    when the Krylov space is exhausted.

    Shapes: ``A (n, n)`` -> ``(values (k,) increasing, vectors (n, k))`` float64, orthonormal columns.
    """
    from scipy.linalg import eigh_tridiagonal

    n = A.shape[0]
    k = min(int(k), n)
    rng = np.random.default_rng(seed)
    v = A @ rng.standard_normal(n)
    v /= np.linalg.norm(v)
    basis = np.zeros((n, k))
    diagonal, off = np.zeros(k), np.zeros(k)
    steps = k
    for j in range(k):
        basis[:, j] = v
        w = A @ v
        diagonal[j] = v @ w
        for _ in range(2):  # twice is enough (Kahan, Parlett)
            w -= basis[:, : j + 1] @ (basis[:, : j + 1].T @ w)
        off[j] = np.linalg.norm(w)
        if j + 1 < k and off[j] <= 1e-10 * abs(diagonal[: j + 1]).max():
            steps = j + 1
            break
        v = w / off[j]
    values, small = eigh_tridiagonal(diagonal[:steps], off[: steps - 1])
    return values, basis[:, :steps] @ small


def spectral_rhs(vectors: np.ndarray, count: int, *, low_fraction: float = 0.55, low_weight: float = 9.0,
                 seed: int = 0) -> np.ndarray:
    """Unit right-hand sides ``b = V c / ||V c||`` weighted toward the first (lowest) Ritz vectors.

    ``c_j ~ low_weight * N(0, 1)`` for ``j < low_fraction * k``, ``N(0, 1)`` otherwise.

    Shapes: ``vectors (n, k)`` -> ``(count, n)`` float64.
    """
    k = vectors.shape[1]
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((count, k))
    weights[:, : int(math.ceil(low_fraction * k))] *= low_weight
    rhs = weights @ vectors.T
    return rhs / np.linalg.norm(rhs, axis=1, keepdims=True)


class SpectralRHSDataset(Dataset):
    """Training items for DCDM: systems on one grid with right-hand sides made from their Ritz vectors.

    The right-hand sides are made on first access (Lanczos per distinct matrix), after
    :meth:`configure` has set how (``sciml train`` calls it with the model config); evaluation reads
    only the stored systems (:meth:`matrix`, :attr:`rhs`) and makes none.

    Parameters
    ----------
    matrices : SPD matrices sharing one CSR pattern (scipy sparse)
    grid_shape : the grid of the unknowns (``prod = n``)
    rhs : the systems' own right-hand sides ``(len(matrices), n)`` (for evaluation; default none)
    seed : mixed into ``data_seed`` (the seed of the store the systems come from)
    path : where the systems came from (for messages)

    Shapes
    ------
    item: dict ``rhs (n,)`` (unit norm), ``values (nnz,)`` float64, ``crow (n + 1,)``, ``col (nnz,)`` int64.
    """

    def __init__(self, matrices: Sequence[sp.spmatrix], grid_shape: Sequence[int], *, rhs: np.ndarray | None = None,
                 seed: int = 0, path: str | None = None):
        if not matrices:
            raise DataError("no matrices to make DCDM training data from")
        self.path = path or "the training matrices"
        csrs = [_check_spd_candidate(A, where=f"{self.path} system {i}") for i, A in enumerate(matrices)]
        first = csrs[0]
        for i, csr in enumerate(csrs[1:], 1):
            if not (np.array_equal(csr.indptr, first.indptr) and np.array_equal(csr.indices, first.indices)):
                raise DataError(f"{self.path}: system {i} has a different sparsity pattern from system 0")
        self.n = first.shape[0]
        self.grid_shape = _check_grid(self.n, grid_shape, None)
        self.crow = torch.from_numpy(first.indptr.astype(np.int64))
        self.col = torch.from_numpy(first.indices.astype(np.int64))
        self.values = torch.from_numpy(np.stack([c.data for c in csrs]))
        if rhs is not None and np.shape(rhs) != (len(csrs), self.n):
            raise DataError(f"rhs has shape {np.shape(rhs)}, expected ({len(csrs)}, {self.n})")
        self.rhs = None if rhs is None else np.asarray(rhs, dtype=np.float64)
        self.seed = int(seed)
        self.settings = DCDMConfig(n_dims=len(self.grid_shape))
        self._items: tuple[torch.Tensor, torch.Tensor] | None = None  # (system index (N,), rhs (N, n))

    @property
    def n_systems(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_dims(self) -> int:
        return len(self.grid_shape)

    def configure(self, config: DCDMConfig) -> None:
        """Use the right-hand-side settings of ``config`` (drops right-hand sides already made)."""
        self.settings = config
        self._items = None

    def matrix(self, index: int) -> sp.csr_matrix:
        """System ``index`` as scipy CSR (float64)."""
        return sp.csr_matrix((self.values[index].numpy(), self.col.numpy(), self.crow.numpy()), shape=(self.n, self.n))

    def _make(self) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.settings
        seed = s.data_seed * 1_000_003 + self.seed
        owners, blocks, ritz = [], [], {}
        for i in range(self.n_systems):
            key = self.values[i].numpy().tobytes()
            if key not in ritz:  # identical matrices (the Poisson matrix of every sample) share one Lanczos run
                ritz[key] = ritz_vectors(self.matrix(i), s.ritz_vectors, seed=seed + 7919 * len(ritz))[1]
            blocks.append(spectral_rhs(ritz[key], s.rhs_per_system, low_fraction=s.low_fraction,
                                       low_weight=s.low_weight, seed=seed + 104729 * (i + 1)))
            owners.append(np.full(s.rhs_per_system, i))
        return torch.from_numpy(np.concatenate(owners)), torch.from_numpy(np.concatenate(blocks))

    def _built(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._items is None:
            self._items = self._make()
        return self._items

    def __len__(self) -> int:
        return self.n_systems * self.settings.rhs_per_system

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        owners, rhs = self._built()
        index = int(index)
        if not -len(owners) <= index < len(owners):
            raise IndexError(f"item {index} is out of range for {len(owners)} items")
        return {"rhs": rhs[index], "values": self.values[owners[index]], "crow": self.crow, "col": self.col}

    def __repr__(self) -> str:
        return (f"SpectralRHSDataset({self.path!r}, systems={self.n_systems}, grid={self.grid_shape}, "
                f"items={len(self)})")


def _store_dataset(path: str | os.PathLike) -> SpectralRHSDataset:
    from sciml.data.pdes.diffusion_systems import load_systems

    systems = load_systems(path)
    grid = grid_shape_of(systems.n, 2)
    matrices = [systems.matrix(i) for i in range(len(systems))]
    rhs = np.stack([systems[i]["rhs"].numpy() for i in range(len(systems))])
    return SpectralRHSDataset(matrices, grid, rhs=rhs, seed=int(systems.attrs.get("seed", 0)), path=str(path))


# -- the loss and the training method -----------------------------------------------------------------
def _csr_matvec(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A x`` for systems on one CSR pattern, differentiable in ``x`` and ``values``.

    Shapes: ``crow (n + 1,)``, ``col (nnz,)``, ``values (B, nnz)``, ``x (B, n)`` -> ``(B, n)``.
    """
    n = x.shape[-1]
    row = torch.repeat_interleave(torch.arange(n, device=x.device), crow[1:] - crow[:-1])
    products = values * x[:, col.long()]
    return products.new_zeros(x.shape).index_add(1, row, products)


def dcdm_loss(q: torch.Tensor, b: torch.Tensor, Aq: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """DCDM's training loss ``||b - alpha A q||^2 / ||b||^2`` with ``alpha = q^T b / q^T A q``.

    Shapes: ``q``, ``b``, ``Aq`` ``(B, n)`` -> a scalar (``"mean"``, ``"sum"``) or ``(B,)`` (``"none"``).
    """
    tiny = torch.finfo(q.dtype).tiny
    alpha = (q * b).sum(-1) / (q * Aq).sum(-1).clamp_min(tiny)
    per_item = (b - alpha.unsqueeze(-1) * Aq).square().sum(-1) / b.square().sum(-1).clamp_min(tiny)
    return _reduce(per_item, reduction)


class DCDMMethod:
    """The training method of :class:`DCDMNet` for :class:`sciml.train.Trainer` (unsupervised).

    Shapes
    ------
    batch: dict ``rhs (B, n)``, ``values (B, nnz)``, ``crow (B, n + 1)``, ``col (B, nnz)`` (one pattern),
    the default collation of :class:`SpectralRHSDataset` items.
    """

    metric = "loss"
    KEYS = ("rhs", "values", "crow", "col")

    def __init__(self, model: nn.Module, grid_shape: Sequence[int] | None = None):
        self.model = model
        self.grid_shape = None if grid_shape is None else tuple(grid_shape)

    def _loss(self, batch: Any, reduction: str) -> torch.Tensor:
        if not isinstance(batch, dict) or any(k not in batch for k in self.KEYS):
            found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise DataError(f"a dcdm batch is a dict with {', '.join(self.KEYS)}; got {found}")
        b, values, crow, col = (batch[k] for k in self.KEYS)
        crow, col = (crow[0], col[0]) if crow.ndim == 2 else (crow, col)
        network = getattr(self.model, "module", self.model)
        n = b.shape[-1]
        shape = self.grid_shape or grid_shape_of(n, network.config.n_dims)
        parameter = next(network.parameters())
        b = b / torch.linalg.vector_norm(b, dim=-1, keepdim=True)
        scaled = (b * math.sqrt(n)).reshape(b.shape[0], 1, *shape).to(parameter.dtype)
        q = self.model(scaled).reshape(b.shape[0], n).to(b.dtype)
        return dcdm_loss(q, b, _csr_matvec(crow, col, values, q), reduction=reduction)

    def step(self, batch: Any) -> dict[str, torch.Tensor]:
        return {"loss": self._loss(batch, "mean")}

    @torch.no_grad()
    def evaluate(self, batch: Any) -> dict[str, torch.Tensor]:
        """Per-batch sum of the loss (the trainer divides by the count)."""
        return {"loss": self._loss(batch, "sum")}


# -- the pieces of the "dcdm" ModelSpec (SPEC, listed in sciml.registry) ----------------------------------------------------
def spec_complete_config(config: DCDMConfig, data: SpectralRHSDataset) -> DCDMConfig:
    """Fill ``n_dims`` from the data (or check it) and hand the right-hand-side settings to the data."""
    from dataclasses import replace

    if config.n_dims and config.n_dims != data.n_dims:
        raise DataError(f"model config n_dims={config.n_dims} but {data.path} is on a {data.n_dims}D grid "
                        f"{data.grid_shape}")
    config = replace(config, n_dims=data.n_dims)
    data.configure(config)
    return config


def spec_build(config: DCDMConfig) -> DCDMNet:
    return DCDMNet(config)


def spec_method(model: nn.Module) -> DCDMMethod:
    return DCDMMethod(model)


def spec_prepare(model: nn.Module, data: SpectralRHSDataset) -> None:
    """No data-dependent set-up: the input is normalised per residual."""


def spec_evaluate(model: nn.Module, data: SpectralRHSDataset, device: torch.device, *, rtol: float = 1e-6,
                  baselines: tuple[str, ...] = ("none", "jacobi", "ic0", "amg-rs")) -> dict[str, Any]:
    """Per-system iterations and times of DCDM next to CG with classical preconditioners.

    Each stored system (its own right-hand side) is solved to ``rtol`` (``||r|| <= rtol ||b||``).
    DCDM has no set-up (network inference happens in every iteration and counts as solve time).
    Returns the table of :func:`sciml.learned.neural_pcg.spec_evaluate` with a ``dcdm`` row:
    ``{"table": [{precond, mean_iterations, mean_setup_s, mean_solve_s, mean_total_s, all_converged}],
    "per_system": {precond: [iterations ...]}, "n_systems", "n", "rtol", "grid"}``.
    """
    from sciml.linalg import pcg, preconditioner

    if data.rhs is None:
        raise DataError(f"{data.path} carries no right-hand sides to evaluate on")
    model = model.to(device).eval()
    names = (*baselines, "dcdm")
    per: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for i in range(data.n_systems):
        A = data.matrix(i)
        b = torch.from_numpy(data.rhs[i]).to(device)
        for name in names:
            tic = time.perf_counter()
            M = None if name in ("none", "dcdm") else preconditioner(name, A, device=device)
            setup = time.perf_counter() - tic
            tic = time.perf_counter()
            if name == "dcdm":
                result = dcdm_solve(model, A, b, data.grid_shape, rtol=rtol)
            else:
                result = pcg(A, b, M, rtol=rtol)
            per[name].append({"iterations": result.iterations, "setup_s": setup,
                              "solve_s": time.perf_counter() - tic, "converged": result.converged})
    from sciml.learned.neural_pcg import solve_table

    return {**solve_table(per), "n_systems": data.n_systems, "n": data.n, "rtol": rtol, "grid": list(data.grid_shape)}


# ``sciml train dcdm --data SYSTEMS.h5 --out RUN`` with a diffusion-systems store (2D grid; the network sees
# only residuals, so a store of one matrix, ``contrast=1``, trains the Poisson solver)
SPEC = ModelSpec(
    name=MODEL_NAME, config_cls=DCDMConfig, build=spec_build, method=spec_method, dataset=_store_dataset,
    complete_config=spec_complete_config, prepare=spec_prepare, evaluate=spec_evaluate,
    paper="Kaneda, Akar, Chen, Kala, Hyde, Teran: A Deep Conjugate Direction Method for Iteratively Solving "
          "Linear Systems, arXiv 2205.10763",
    summary="CNN mapping the residual to a search direction, A-orthogonalised: a learned Krylov-like solver",
    inference=SystemsInference(MODEL_NAME),
    example={"pde": "diffusion-systems", "res": 8, "n": 2, "params": {"contrast": 1.0},
             "overrides": {"epochs": 1, "batch_size": 8, "width": 4, "levels": 2, "ritz_vectors": 8,
                           "rhs_per_system": 8}})
