"""The MP-PDE wave equation: ``u_tt = c^2 u_xx`` on ``[-1, 1]``, ``u_t(0) = 0``, three kinds of boundary.

Boundary conditions: ``"dirichlet"`` (``u = 0`` at both ends), ``"neumann"`` (``u_x = 0`` at both
ends) or ``"mixed"`` (``u = 0`` at ``x = -1``, ``u_x = 0`` at ``x = 1``). Brandstetter, Worrall and
Welling, arXiv 2202.03376, section 4 (their wave data use ``c = 2`` and the same irregular grid).

Discretisation: Chebyshev (pseudo)spectral collocation on the Chebyshev-Gauss-Lobatto nodes
``x_j = -cos(pi j / (n - 1))`` (or any increasing nodes given by the caller, through the barycentric
differentiation matrix). The boundary conditions eliminate the two boundary values, leaving the
linear system ``u_I'' = A u_I`` on the interior nodes. ``A`` is diagonalised once
(``A = V diag(-omega^2) V^-1``, a real non-positive spectrum), and the semi-discrete system is
integrated exactly: ``u_I(t) = V diag(cos(omega t)) V^-1 u_I(0)``. So there is no time-step error or
stability limit, and the error is the spatial one, which decays geometrically in ``n`` for smooth
data. The decomposition is the expensive set-up and is reused for every sample
(:class:`WaveSolver`).

Dataset samples are one to three Gaussian pulses ``a exp(-((x - x0) / w)^2)``, ``a ~ U[-1, 1]``,
``x0 ~ U[-0.6, 0.6]``, ``w ~ U[0.1, 0.25]``, minus the low-degree polynomial (at most ``1e-3`` in size)
that makes them satisfy the boundary conditions exactly; they are solved on the Chebyshev grid of
``(res - 1) * refine + 1`` nodes and stored at its every ``refine``-th node, which is the Chebyshev grid
of ``res`` nodes.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import torch

from sciml._errors import ConfigError, DataError
from sciml.data.grf import sample_rng
from sciml.data.pdes._common import float64_tensor, merge_params

__all__ = ["solve", "WaveSolver", "chebyshev_grid", "sample_initial", "generate", "fields", "coords",
           "check_params", "DEFAULTS", "GENERATOR", "BOUNDARY_CONDITIONS"]

GENERATOR = "sciml.data.pdes.wave 1"
BOUNDARY_CONDITIONS = ("dirichlet", "neumann", "mixed")
DEFAULTS: dict[str, Any] = {"bc": "dirichlet", "c": 2.0, "T": 2.0, "nt": 250, "refine": 2}
_SIDES = {"dirichlet": ("dirichlet", "dirichlet"), "neumann": ("neumann", "neumann"),
          "mixed": ("dirichlet", "neumann")}


def chebyshev_grid(n: int) -> np.ndarray:
    """The ``n`` Chebyshev-Gauss-Lobatto nodes of ``[-1, 1]``, increasing, ``(n,)`` (exactly symmetric)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 3:
        raise ConfigError(f"a Chebyshev grid needs an integer n >= 3 nodes, got {n!r}")
    j = np.arange(n)
    return np.sin(math.pi * (2 * j - (n - 1)) / (2 * (n - 1)))


def _check_bc(bc: Any) -> str:
    if bc not in BOUNDARY_CONDITIONS:
        raise ConfigError(f"unknown boundary condition {bc!r}; choose one of {', '.join(BOUNDARY_CONDITIONS)}")
    return bc


def _check_speed(c: Any) -> float:
    if not isinstance(c, (int, float)) or isinstance(c, bool) or not (math.isfinite(c) and c > 0):
        raise ConfigError(f"wave speed c must be a positive number, got {c!r}")
    return float(c)


def _differentiation_matrix(x: np.ndarray) -> np.ndarray:
    """First-derivative collocation matrix of the polynomial interpolant on nodes ``x`` (barycentric form)."""
    diff = x[:, None] - x[None, :]
    np.fill_diagonal(diff, 1.0)
    log_weights = -np.log(np.abs(diff)).sum(axis=1)  # w_j = 1 / prod_k (x_j - x_k), kept in logs
    signs = (-1.0) ** (len(x) - 1 - np.arange(len(x)))  # nodes are increasing
    weights = signs * np.exp(log_weights - log_weights.max())
    D = (weights[None, :] / weights[:, None]) / diff
    np.fill_diagonal(D, 0.0)
    np.fill_diagonal(D, -D.sum(axis=1))  # rows annihilate constants
    return D


class WaveSolver:
    """Set-up once, solve many: ``u_tt = c^2 u_xx`` with ``u_t(0) = 0`` on fixed nodes and boundaries.

    Parameters
    ----------
    x : increasing collocation nodes ``(n,)``, ``n >= 3``, or an int ``n`` for :func:`chebyshev_grid`.
        The domain is ``[x[0], x[-1]]``. Chebyshev-like (boundary-clustered) nodes are needed:
        on equispaced nodes the collocation operator has complex or growing modes, which is refused.
    c : wave speed
    bc : ``"dirichlet"``, ``"neumann"`` or ``"mixed"`` (Dirichlet at ``x[0]``, Neumann at ``x[-1]``)

    Attributes
    ----------
    x : ndarray ``(n,)``; frequencies : ndarray ``(n - 2,)``, the discrete ``omega``.

    Shapes
    ------
    ``x (n,)``; :meth:`solve` maps ``u0 (batch, n)``, ``times (nt,)`` to ``(batch, nt, n)``.
    """

    def __init__(self, x: Any = 64, c: float = 2.0, bc: str = "dirichlet"):
        self.c, self.bc = _check_speed(c), _check_bc(bc)
        nodes = chebyshev_grid(x) if isinstance(x, int) and not isinstance(x, bool) else _check_nodes(x)
        self.x = nodes
        n = len(nodes)
        D = _differentiation_matrix(nodes)
        D2 = D @ D
        left, right = _SIDES[bc]
        rows = np.stack([np.eye(n)[0] if left == "dirichlet" else D[0],
                         np.eye(n)[-1] if right == "dirichlet" else D[-1]])
        ends, inner = [0, n - 1], slice(1, n - 1)
        # boundary values from interior values: rows[:, ends] u_B + rows[:, inner] u_I = 0
        self._boundary = -np.linalg.solve(rows[:, ends], rows[:, inner])  # (2, n - 2)
        A = self.c**2 * (D2[inner, inner] + D2[inner][:, ends] @ self._boundary)
        eigenvalues, vectors = np.linalg.eig(A)
        scale = max(float(np.abs(eigenvalues).max()), 1.0)
        if np.iscomplexobj(eigenvalues) and np.abs(eigenvalues.imag).max() > 1e-8 * scale:
            raise ConfigError("the collocation operator on these nodes has complex eigenvalues (the nodes are "
                              "too far from a Chebyshev grid); use chebyshev_grid(n)")
        eigenvalues, vectors = eigenvalues.real, vectors.real
        if eigenvalues.max() > 1e-8 * scale:
            raise ConfigError("the collocation operator on these nodes has a growing mode (the nodes are too far "
                              "from a Chebyshev grid); use chebyshev_grid(n)")
        self.frequencies = np.sqrt(np.clip(-eigenvalues, 0.0, None))
        self._vectors = vectors
        self._inverse = np.linalg.inv(vectors)

    def __repr__(self) -> str:
        return f"WaveSolver(n={len(self.x)}, c={self.c:g}, bc={self.bc!r})"

    def solve(self, u0: Any, times: Any) -> torch.Tensor:
        """Solve from ``u0`` at ``times[0]`` (with ``u_t = 0`` there).

        Parameters
        ----------
        u0 : node values ``(batch, n)`` or ``(n,)``, tensor or array; the two boundary values are
            replaced by those the boundary conditions imply from the interior values
        times : ``(nt,)``, strictly increasing

        Returns
        -------
        Tensor ``(batch, nt, n)`` (or ``(nt, n)``) on ``u0``'s device, float64 or ``u0``'s floating dtype.

        Shapes
        ------
        ``u0 (batch, n)``, ``times (nt,)`` -> ``(batch, nt, n)``.
        """
        like = u0 if isinstance(u0, torch.Tensor) else None
        device = u0.device if like is not None else torch.device("cpu")
        u = float64_tensor(u0, "u0", device)
        single = u.ndim == 1
        if single:
            u = u[None]
        n = len(self.x)
        if u.ndim != 2 or u.shape[1] != n:
            raise ConfigError(f"u0 must have shape (batch, {n}) to match the {n} nodes, got {tuple(u.shape)}")
        if not bool(torch.isfinite(u).all()):
            raise ConfigError("u0 must be finite")
        t = float64_tensor(times, "times", device)
        if t.ndim != 1 or t.shape[0] < 1 or not bool(torch.isfinite(t).all()) or (
                t.shape[0] > 1 and not bool((t[1:] > t[:-1]).all())):
            raise ConfigError(f"times must be a finite, strictly increasing (nt,) array, got shape {tuple(t.shape)}")
        vectors = torch.from_numpy(self._vectors).to(device)
        inverse = torch.from_numpy(self._inverse).to(device)
        boundary = torch.from_numpy(self._boundary).to(device)
        frequencies = torch.from_numpy(self.frequencies).to(device)
        modal = u[:, 1:-1] @ inverse.T  # (batch, m)
        oscillation = torch.cos((t - t[0])[:, None] * frequencies[None, :])  # (nt, m)
        interior = (modal[:, None, :] * oscillation[None]) @ vectors.T  # (batch, nt, m)
        ends = interior @ boundary.T  # (batch, nt, 2)
        out = torch.cat([ends[..., :1], interior, ends[..., 1:]], dim=-1)
        out = out[0] if single else out
        if like is not None and like.is_floating_point():
            out = out.to(like.dtype)
        return out


def _check_nodes(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    nodes = np.asarray(x, dtype=np.float64)
    if nodes.ndim != 1 or len(nodes) < 3 or not np.all(np.isfinite(nodes)) or not np.all(np.diff(nodes) > 0):
        raise ConfigError(f"x must be a finite, strictly increasing (n,) array with n >= 3, got shape {nodes.shape}")
    return nodes


def solve(u0: Any, times: Any, c: float = 2.0, bc: str = "dirichlet", x: Any = None) -> torch.Tensor:
    """Solve ``u_tt = c^2 u_xx`` with ``u_t = 0`` at ``times[0]`` by Chebyshev collocation, exactly in time.

    Parameters
    ----------
    u0 : node values ``(batch, n)`` or ``(n,)``, tensor or array
    times : output times ``(nt,)``, strictly increasing; ``u0`` is the state at ``times[0]``
    c : wave speed
    bc : ``"dirichlet"``, ``"neumann"`` or ``"mixed"`` (Dirichlet left, Neumann right)
    x : the nodes ``(n,)``; default the Chebyshev-Gauss-Lobatto nodes of ``[-1, 1]`` (:func:`chebyshev_grid`)

    Returns
    -------
    Tensor ``(batch, nt, n)`` on ``u0``'s device. Builds a :class:`WaveSolver`; reuse one for many calls.

    Shapes
    ------
    ``u0 (batch, n)``, ``times (nt,)`` -> ``(batch, nt, n)``.
    """
    n = u0.shape[-1] if hasattr(u0, "shape") and len(u0.shape) >= 1 else None
    if x is None:
        if n is None or n < 3:
            raise ConfigError(f"u0 must have shape (batch, n) with n >= 3, got {getattr(u0, 'shape', None)}")
        x = int(n)
    return WaveSolver(x, c, bc).solve(u0, times)


def _pulses(x: np.ndarray, amplitude, centre, width) -> tuple[np.ndarray, np.ndarray]:
    z = (x[:, None] - centre) / width
    bumps = amplitude * np.exp(-z * z)
    return bumps.sum(axis=1), (-2.0 * z / width * bumps).sum(axis=1)


def sample_initial(seed: int, index: int, x: np.ndarray, bc: str) -> np.ndarray:
    """The initial displacement of sample ``index`` at nodes ``x`` of ``[-1, 1]``, ``(n,)``.

    One to three Gaussian pulses drawn from :func:`sciml.data.grf.sample_rng` ``(seed, index)``, corrected
    by ``a + b x`` (Dirichlet, mixed) or ``b x + d x^2`` (Neumann) to meet the boundary conditions exactly.
    """
    rng = sample_rng(seed, index)
    count = int(rng.integers(1, 4))
    amplitude = rng.uniform(-1.0, 1.0, count)
    centre = rng.uniform(-0.6, 0.6, count)
    width = rng.uniform(0.1, 0.25, count)
    value, slope = _pulses(np.asarray(x, dtype=np.float64), amplitude, centre, width)
    (g_left, g_right), (s_left, s_right) = _pulses(np.array([-1.0, 1.0]), amplitude, centre, width)
    if bc == "dirichlet":  # subtract the line through the two boundary values
        correction = 0.5 * g_left * (1.0 - x) + 0.5 * g_right * (1.0 + x)
    elif bc == "neumann":  # subtract b x + d x^2 with the two boundary slopes
        correction = 0.5 * (s_right + s_left) * x + 0.25 * (s_right - s_left) * x * x
    else:  # u(-1) = 0 and u_x(1) = 0: subtract a + b x with a - b = g(-1), b = g'(1)
        correction = (g_left + s_right) + s_right * x
    return value - correction


def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any work."""
    params = dict(params)
    fine_res = params.pop("fine_res", None)  # derived; accepted back only when consistent
    merged = merge_params("wave", params, DEFAULTS)
    _check_bc(merged["bc"])
    merged["c"] = _check_speed(merged["c"])
    T = merged["T"]
    if not isinstance(T, (int, float)) or isinstance(T, bool) or not (math.isfinite(T) and T > 0):
        raise ConfigError(f"T must be a positive number, got {T!r}")
    merged["T"] = float(T)
    for key, low in (("nt", 2), ("refine", 1)):
        value = merged[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{key} must be an integer >= {low}, got {value!r}")
    if not isinstance(res, int) or isinstance(res, bool) or res < 3:
        raise ConfigError(f"res must be an integer >= 3 (Chebyshev nodes including both ends), got {res!r}")
    merged["fine_res"] = (res - 1) * merged["refine"] + 1
    if fine_res is not None and fine_res != merged["fine_res"]:
        raise ConfigError(f"fine_res {fine_res} does not match res {res} and refine {merged['refine']}: the fine "
                          f"grid must be (res-1)*refine+1 = {merged['fine_res']} Chebyshev nodes; set refine instead")
    return merged


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 64) -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of wave samples ``start .. n-1``: ``tensor (B, nt, res)`` float32 at the Chebyshev nodes."""
    params = check_params(res, params)
    step = params["refine"]
    solver = WaveSolver(params["fine_res"], params["c"], params["bc"])
    times = np.linspace(0.0, params["T"], params["nt"])
    for first in range(start, n, block):
        last = min(n, first + block)
        u0 = np.stack([sample_initial(seed, i, solver.x, params["bc"]) for i in range(first, last)])
        u = solver.solve(u0, times).numpy()[:, :, ::step]
        if not np.all(np.isfinite(u)):
            raise DataError(f"wave solve produced non-finite values in samples {first}..{last - 1}")
        yield {"tensor": u.astype(np.float32)}


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of a wave store."""
    return {"tensor": ((params["nt"], res), "float32")}


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """``t-coordinate (nt,)`` and ``x-coordinate (res,)``, the Chebyshev-Gauss-Lobatto nodes of ``[-1, 1]``."""
    return {"t-coordinate": np.linspace(0.0, params["T"], params["nt"]), "x-coordinate": chebyshev_grid(res)}
