"""Derivatives of pointwise networks with respect to their inputs, through :mod:`torch.func`.

A pointwise function ``f`` maps points ``x (N, dim)`` to values ``(N, C)`` with row ``n`` of the output
depending on row ``n`` of the input only (an MLP, a PINN ansatz; nothing that mixes points such as
batch norm). Its Jacobian is then block diagonal, so one forward-mode product ``jvp`` with a tangent
``v (N, dim)`` gives every point's directional derivative at once, and a second ``jvp`` of that
(forward-over-forward) gives ``v^T H v``: a second derivative along one direction costs two forward
passes, whatever ``dim``, and no Hessian is ever formed. This is what SDGD needs (second derivatives
along a few sampled coordinates of a 10^4-dimensional input) and what every PINN residual uses.

* :func:`along`: value, first and second directional derivatives along ``k`` tangents (vmapped);
* :func:`partials`: the same along coordinate axes (``d/dx_i``, ``d^2/dx_i^2`` for chosen ``i``);
* :func:`laplacian`: the sum of ``d^2/dx_i^2`` over all (or the given) axes;
* :func:`gradient`, :func:`hessian`: the full first and second derivatives per point (``vmap`` over
  points of ``jacrev`` and of forward-over-reverse ``jacfwd(jacrev)``), for small ``dim``.

Every result stays differentiable with respect to the parameters ``f`` closes over, so a residual
built from these trains with ordinary ``loss.backward()``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.func import jacfwd, jacrev, jvp, vmap

from sciml._errors import DataError

__all__ = ["along", "partials", "laplacian", "gradient", "hessian"]

Pointwise = Callable[[torch.Tensor], torch.Tensor]


def _check_points(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise DataError(f"points must be a (N, dim) tensor, got {getattr(x, 'shape', type(x).__name__)}")


def _as_columns(f: Pointwise) -> Pointwise:
    """``f`` with a ``(N,)`` output read as ``(N, 1)``."""
    def g(x: torch.Tensor) -> torch.Tensor:
        out = f(x)
        return out[:, None] if out.ndim == 1 else out
    return g


def along(f: Pointwise, x: torch.Tensor, tangents: torch.Tensor, *, order: int = 2,
          chunk_size: int | None = None) -> tuple[torch.Tensor, ...]:
    """Directional derivatives of the pointwise ``f`` at ``x`` along ``k`` tangent fields.

    Parameters
    ----------
    f : pointwise function ``(N, dim) -> (N, C)`` (or ``(N,)``)
    x : points
    tangents : ``(k, N, dim)``, or ``(k, dim)`` for one direction per tangent shared by every point
    order : 1 (value and first derivatives) or 2 (and second derivatives ``v^T H v``)
    chunk_size : tangents evaluated together (``vmap`` chunks); ``None``: all at once

    Returns
    -------
    ``(value (N, C), first (k, N, C))`` or ``(value, first, second (k, N, C))``

    Shapes: ``x (N, dim)``, ``tangents (k, N, dim)``.
    """
    _check_points(x)
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    if tangents.ndim == 2:
        tangents = tangents[:, None, :].expand(-1, x.shape[0], -1)
    if tangents.ndim != 3 or tangents.shape[1:] != x.shape:
        raise DataError(f"tangents must have shape (k, {x.shape[0]}, {x.shape[1]}) or (k, {x.shape[1]}), got "
                        f"{tuple(tangents.shape)}")
    g = _as_columns(f)
    value = g(x)

    if order == 1:
        def first(v: torch.Tensor) -> torch.Tensor:
            return jvp(g, (x,), (v,))[1]
        return value, vmap(first, chunk_size=chunk_size)(tangents)

    def both(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def d1(y: torch.Tensor) -> torch.Tensor:
            return jvp(g, (y,), (v,))[1]
        return jvp(d1, (x,), (v,))

    d1, d2 = vmap(both, chunk_size=chunk_size)(tangents)
    return value, d1, d2


def _axes(dim: int, dims: Sequence[int] | torch.Tensor | None) -> torch.Tensor:
    if dims is None:
        return torch.arange(dim)
    dims = torch.as_tensor(dims, dtype=torch.long).reshape(-1)
    if dims.numel() and (int(dims.min()) < 0 or int(dims.max()) >= dim):
        raise DataError(f"coordinate indices must lie in 0..{dim - 1}, got {dims.tolist()[:8]}")
    return dims


def partials(f: Pointwise, x: torch.Tensor, dims: Sequence[int] | torch.Tensor | None = None, *,
             order: int = 2, chunk_size: int | None = None) -> tuple[torch.Tensor, ...]:
    """Value and partial derivatives ``d f / d x_i`` (and ``d^2 f / d x_i^2``) for the axes ``dims``.

    Returns ``(value (N, C), first (k, N, C)[, second (k, N, C)])`` with ``k = len(dims)`` (all axes
    when ``dims`` is ``None``). Costs ``k`` forward-mode passes (two per axis for second derivatives);
    the tangents are one-hot ``(k, N, dim)`` tensors, so for very wide inputs prefer :func:`along` on a
    linear first layer's output (as :mod:`sciml.pinn.sdgd` does).
    """
    _check_points(x)
    axes = _axes(x.shape[1], dims).to(x.device)
    eye = torch.zeros(len(axes), x.shape[1], dtype=x.dtype, device=x.device)
    eye[torch.arange(len(axes), device=x.device), axes] = 1.0
    return along(f, x, eye, order=order, chunk_size=chunk_size)


def laplacian(f: Pointwise, x: torch.Tensor, dims: Sequence[int] | torch.Tensor | None = None, *,
              chunk_size: int | None = None) -> torch.Tensor:
    """``sum_i d^2 f / d x_i^2`` over ``dims`` (all axes by default): ``(N, C)``."""
    return partials(f, x, dims, order=2, chunk_size=chunk_size)[2].sum(dim=0)


def gradient(f: Pointwise, x: torch.Tensor) -> torch.Tensor:
    """``d f_c / d x_j`` per point, ``(N, C, dim)``: reverse mode (``jacrev``) vmapped over points."""
    _check_points(x)
    g = _as_columns(f)
    return vmap(jacrev(lambda p: g(p[None])[0]))(x)


def hessian(f: Pointwise, x: torch.Tensor) -> torch.Tensor:
    """``d^2 f_c / d x_i d x_j`` per point, ``(N, C, dim, dim)``: forward-over-reverse, vmapped over points.
    Memory grows as ``dim^2`` per point; for Laplacians of wide inputs use :func:`laplacian`."""
    _check_points(x)
    g = _as_columns(f)
    return vmap(jacfwd(jacrev(lambda p: g(p[None])[0])))(x)
