"""Small pieces shared by several generators."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from sciml._errors import ConfigError

__all__ = ["merge_params", "float64_tensor", "trajectory_fields_1d", "periodic_coords_1d"]


def merge_params(pde: str, params: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``params`` over ``defaults``, refusing unknown keys with the list of valid ones."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown {pde} parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                          f"valid: {', '.join(defaults)}")
    return {**defaults, **params}


def float64_tensor(values: Any, name: str, device: torch.device) -> torch.Tensor:
    """``values`` (tensor, array, number) as a float64 tensor on ``device``; non-numeric input is a ConfigError."""
    if isinstance(values, torch.Tensor):
        return values.detach().to(device=device, dtype=torch.float64)
    try:
        return torch.as_tensor(np.asarray(values, dtype=np.float64), device=device)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be numeric, got {type(values).__name__}") from exc


def trajectory_fields_1d(params: dict[str, Any], res: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample field of a 1D trajectory store: ``tensor (nt, res)`` float32."""
    return {"tensor": ((params["nt"], res), "float32")}


def periodic_coords_1d(params: dict[str, Any], res: int) -> dict[str, np.ndarray]:
    """``t-coordinate (nt,)`` equally spaced in ``[0, T]`` and ``x-coordinate (res,)`` at ``j / res``."""
    return {"t-coordinate": np.linspace(0.0, params["T"], params["nt"]), "x-coordinate": np.arange(res) / res}


def padded_block(fields: dict[str, tuple[tuple[int, ...], str]], count: int,
                 padding: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Zeroed arrays ``(count, *shape)`` for a block of samples of ``fields``; the index fields named in
    ``padding`` are filled with -1 (their padding marker)."""
    out = {name: np.zeros((count, *shape), dtype=dtype) for name, (shape, dtype) in fields.items()}
    for name in padding:
        out[name][:] = -1
    return out
