"""2D Darcy flow, the FNO benchmark: ``-div(a grad u) = f`` on the unit square, ``u = 0`` on the boundary.

The coefficient is a thresholded Gaussian random field, ``a = 12`` where ``z >= 0`` and ``3``
elsewhere, ``z ~ N(0, (-Laplacian + 9 I)^-2)`` with Neumann boundary conditions; ``f = 1``.
Solved by second-order finite differences (5-point stencil, face coefficients by arithmetic mean)
on a fine node grid and subsampled. Li et al., arXiv 2010.08895, section 5.2.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import scipy.sparse.linalg as spla
import torch

from sciml._errors import ConfigError, DataError
from sciml.data.grf import cosine_grf, sample_rng
from sciml.linalg.assemble import diffusion_2d
from sciml.data.pdes._common import merge_params

__all__ = ["solve", "sample_coefficient", "generate", "fields", "coords", "check_params", "DEFAULTS", "GENERATOR"]

GENERATOR = "sciml.data.pdes.darcy 1"
DEFAULTS: dict[str, Any] = {"refine": 2, "alpha": 2.0, "tau": 3.0, "a_high": 12.0, "a_low": 3.0,
                            "forcing": 1.0, "solver": "direct"}
SOLVERS = ("direct", "amg")


def _as_numpy(values: Any, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def solve(a: Any, f: Any = 1.0, *, solver: str = "direct", rtol: float = 1e-10) -> torch.Tensor:
    """Solve ``-div(a grad u) = f`` with ``u = 0`` on the boundary of the unit square.

    Parameters
    ----------
    a : coefficient at the grid nodes, ``(batch, n, n)`` or ``(n, n)``, tensor or array, positive
    f : forcing, a number or node values of the same shape as ``a``
    solver : ``"direct"`` (sparse LU) or ``"amg"`` (pyamg smoothed aggregation, to ``rtol``)

    Returns
    -------
    Tensor of ``a``'s shape (float64 for arrays; ``a``'s dtype and device for tensors), zero on the boundary.

    Shapes
    ------
    ``a (batch, n, n)`` with nodes ``x_i = i / (n - 1)``, ``i = 0 .. n-1``, boundary included.
    """
    if solver not in SOLVERS:
        raise ConfigError(f"unknown Darcy solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    like = a if isinstance(a, torch.Tensor) else None
    coeff = _as_numpy(a, "a")
    single = coeff.ndim == 2
    if single:
        coeff = coeff[None]
    if coeff.ndim != 3 or coeff.shape[1] != coeff.shape[2] or coeff.shape[1] < 3:
        raise ConfigError(f"a must have shape (batch, n, n) with n >= 3, got {tuple(np.shape(a))}")
    if not np.all(np.isfinite(coeff)) or np.any(coeff <= 0):
        raise ConfigError("a must be finite and positive at every node")
    forcing = _as_numpy(f, "f")
    if forcing.ndim == 0:
        forcing = np.full(coeff.shape, float(forcing))
    elif single and forcing.ndim == 2:
        forcing = forcing[None]
    if forcing.shape != coeff.shape:
        raise ConfigError(f"f has shape {forcing.shape} but a has shape {coeff.shape}")
    n = coeff.shape[1]
    h = 1.0 / (n - 1)
    out = np.zeros_like(coeff)
    for b in range(coeff.shape[0]):
        matrix = diffusion_2d(coeff[b], h)
        rhs = forcing[b, 1:-1, 1:-1].ravel()
        if solver == "direct":
            u = spla.spsolve(matrix.tocsc(), rhs)
        else:
            import pyamg

            ml = pyamg.smoothed_aggregation_solver(matrix)
            u = ml.solve(rhs, tol=rtol, accel="cg", maxiter=500)
        out[b, 1:-1, 1:-1] = u.reshape(n - 2, n - 2)
    result = torch.from_numpy(out[0] if single else out)
    if like is not None:
        result = result.to(dtype=like.dtype if like.is_floating_point() else torch.float64, device=like.device)
    return result


def sample_coefficient(seed: int, index: int, size: int, params: dict[str, Any]) -> np.ndarray:
    """The thresholded-GRF coefficient of sample ``index``, ``(size, size)`` node values."""
    rng = sample_rng(seed, index)
    modes = min(size, 128)  # the spectrum decays like |k|^-2; 128 modes resolve the sign pattern
    xi = rng.standard_normal((1, modes, modes))
    z = cosine_grf(xi, size, alpha=params["alpha"], tau=params["tau"])[0]
    return np.where(z >= 0.0, params["a_high"], params["a_low"])


def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any work."""
    params = dict(params)
    fine_res = params.pop("fine_res", None)  # derived; accepted back only when consistent
    merged = merge_params("darcy", params, DEFAULTS)
    refine = merged["refine"]
    if not isinstance(refine, int) or isinstance(refine, bool) or refine < 1:
        raise ConfigError(f"refine must be a positive integer (fine grid = (res-1)*refine+1), got {refine!r}")
    if res < 3:
        raise ConfigError(f"res must be at least 3, got {res}")
    for key in ("alpha", "tau", "a_high", "a_low", "forcing"):
        if not isinstance(merged[key], (int, float)) or isinstance(merged[key], bool):
            raise ConfigError(f"{key} must be a number, got {merged[key]!r}")
        merged[key] = float(merged[key])
    if merged["a_high"] <= 0 or merged["a_low"] <= 0:
        raise ConfigError("a_high and a_low must be positive (the operator must stay elliptic)")
    if merged["solver"] not in SOLVERS:
        raise ConfigError(f"unknown Darcy solver {merged['solver']!r}; choose one of {', '.join(SOLVERS)}")
    merged["fine_res"] = (res - 1) * refine + 1
    if fine_res is not None and fine_res != merged["fine_res"]:
        raise ConfigError(f"fine_res {fine_res} does not match res {res} and refine {refine}: the fine grid "
                          f"must be (res-1)*refine+1 = {merged['fine_res']} so that res divides it; set refine instead")
    return merged


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 16) -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of Darcy samples ``start .. n-1`` at resolution ``res``.

    Each block is ``{"input": a (B, 1, res, res), "output": u (B, 1, res, res)}`` in float32,
    computed on the fine grid ``(res - 1) * refine + 1`` and subsampled at its nodes.
    """
    params = check_params(res, params)
    fine, step = params["fine_res"], params["refine"]
    for first in range(start, n, block):
        last = min(n, first + block)
        a = np.stack([sample_coefficient(seed, i, fine, params) for i in range(first, last)])
        u = solve(a, params["forcing"], solver=params["solver"]).numpy()
        if not np.all(np.isfinite(u)):
            raise DataError(f"Darcy solve produced non-finite values in samples {first}..{last - 1}")
        yield {"input": a[:, None, ::step, ::step].astype(np.float32),
               "output": u[:, None, ::step, ::step].astype(np.float32)}


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of a Darcy store."""
    return {"input": ((1, res, res), "float32"), "output": ((1, res, res), "float32")}


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Coordinate fields of a Darcy store (node coordinates, boundary included)."""
    x = np.linspace(0.0, 1.0, res)
    return {"x-coordinate": x, "y-coordinate": x}
