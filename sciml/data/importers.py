"""Import operator-learning data from other tools into the sciml store.

Supported: neuraloperator ``.pt`` files and ``.npz`` archives holding a dict with ``x`` (inputs)
and ``y`` (outputs), each ``(N, *spatial)`` (neuraloperator's datasets save one channel squeezed
out, ``(N, s, s)``) or ``(N, C, *spatial)``, bool or float; and the FNO paper's MATLAB ``.mat``
files (v5 through scipy, v7.3 through h5py): input/output pairs with inputs ``a`` or ``coeff`` and
outputs ``u`` or ``sol`` (Burgers ``a, u (N, 8192)``, Darcy ``coeff, sol (N, 421, 421)``), and
time series ``u (N, *spatial, T)`` with time last (Navier-Stokes ``u (N, 64, 64, T)`` next to the
initial vorticity ``a (N, 64, 64)`` and the times ``t``), stored as trajectories
``tensor (N, T, *spatial)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sciml._errors import ConfigError, DataError
from sciml.data.store import StoreWriter

__all__ = ["import_file", "SUFFIXES", "LAYOUTS"]

SUFFIXES = (".pt", ".npz", ".mat")
MAT_KEYS = {"x": ("x", "a", "coeff"), "y": ("y", "u", "sol")}  # first present wins
LAYOUTS = ("pair", "trajectory")


def _load_mat(path: Path) -> dict[str, Any]:
    """Every array of a MATLAB file (v5 through scipy, v7.3 through h5py), axes in MATLAB's order."""
    import h5py
    import scipy.io

    if h5py.is_hdf5(path):  # MATLAB v7.3 files are HDF5, with axes in reverse (column-major) order
        try:
            with h5py.File(path, "r") as f:
                return {k: np.asarray(f[k][()]).transpose() for k in f.keys() if isinstance(f[k], h5py.Dataset)}
        except OSError as exc:
            raise DataError(f"{path} cannot be read as a MATLAB v7.3 file: {exc}") from exc
    try:
        return {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    except Exception as exc:
        raise DataError(f"{path} cannot be read as a MATLAB file: {exc}") from exc


def _load(path: Path) -> dict[str, Any]:
    """The file's named arrays, as stored."""
    if path.suffix == ".mat":
        return _load_mat(path)
    if path.suffix == ".pt":
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DataError(f"{path} cannot be read as a weights-only torch file: {first}") from exc
    else:
        try:
            with np.load(path, allow_pickle=False) as archive:
                data = {k: archive[k] for k in archive.files}
        except Exception as exc:
            raise DataError(f"{path} cannot be read as an .npz archive: {exc}") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path} holds a {type(data).__name__}; expected a dict with keys 'x' and 'y'")
    return data


def _keys(raw: dict[str, Any]) -> str:
    return ", ".join(map(repr, raw)) or "nothing"


def _pair_arrays(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """``{"x": inputs, "y": outputs}`` from a file's arrays (``.mat``: first present of each :data:`MAT_KEYS`)."""
    if path.suffix == ".mat":
        data = {}
        for target, names in MAT_KEYS.items():
            present = [name for name in names if name in raw]
            if present:
                data[target] = raw[present[0]]
        if len(data) < 2:
            raise DataError(f"{path} has none of the keys {' / '.join(MAT_KEYS['x'])} (inputs) or "
                            f"{' / '.join(MAT_KEYS['y'])} (outputs); it has {_keys(raw)} (a trajectory file "
                            f"holding only 'u' needs layout='trajectory')")
        return data
    missing = [k for k in ("x", "y") if k not in raw]
    if missing:
        raise DataError(f"{path} has no {' or '.join(repr(k) for k in missing)} entry; "
                        f"it has {_keys(raw)} (expected 'x' inputs and 'y' outputs)")
    return raw


def _detect_layout(raw: dict[str, Any]) -> str:
    """``trajectory`` for FNO-paper time series: ``u (N, *spatial, T)`` next to ``a (N, *spatial)``."""
    u, a = raw.get("u"), raw.get("a")
    if u is not None and a is not None:
        u_shape, a_shape = np.shape(u), np.shape(a)
        if len(u_shape) == len(a_shape) + 1 and len(a_shape) >= 2 and tuple(u_shape[:-1]) == tuple(a_shape):
            return "trajectory"
    return "pair"


def _as_array(value: Any, key: str, path: Path) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype == bool:
        return array.astype(np.float32)
    if array.dtype.kind not in "iuf":
        raise DataError(f"{path}: '{key}' has dtype {array.dtype}, expected bool or a number type")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        bad = int(np.argmax(~np.isfinite(array.reshape(len(array), -1)).all(axis=1)))
        raise DataError(f"{path}: '{key}' sample {bad} contains NaN or Inf")
    return array.astype(np.float32)


def _with_channels(array: np.ndarray, spatial_dims: int, key: str, path: Path) -> np.ndarray:
    if array.ndim == spatial_dims + 1:
        return array[:, None]
    if array.ndim == spatial_dims + 2:
        return array
    raise DataError(f"{path}: '{key}' has shape {array.shape}; with {spatial_dims} spatial "
                    f"dimension(s) expected (N, *spatial) or (N, C, *spatial)")


def import_file(path: str | os.PathLike, out: str | os.PathLike, *, spatial_dims: int | None = None,
                pde: str = "imported", force: bool = False, layout: str | None = None, subsample: int = 1,
                prepend_initial: bool = False) -> Path:
    """Convert ``path`` (``.pt``/``.npz`` with ``x`` and ``y``, or an FNO-paper ``.mat``) into the store at ``out``.

    Parameters
    ----------
    spatial_dims : number of spatial axes; default: for pairs inferred from ``x`` as ``ndim - 1``
        for 2- and 3-dimensional arrays (``(N, s)`` is 1D, ``(N, s, s)`` is 2D without channels)
        and ``ndim - 2`` otherwise (``(N, C, s, s)``); for trajectories ``u.ndim - 2``
    pde : the ``pde`` attribute to record
    layout : ``"pair"`` (input/output fields), ``"trajectory"`` (time series ``u (N, *spatial, T)``,
        time last, as the FNO paper's Navier-Stokes files hold it) or ``None``: trajectory when the
        file holds ``a (N, *spatial)`` and ``u`` with exactly one more, last, axis
        (``u.shape[:-1] == a.shape``), pair otherwise
    subsample : keep every ``subsample``-th point along each spatial axis (the FNO paper's
        ``[:, ::r]``: Burgers 8192 with 8 gives 1024, Darcy 421 with 5 gives 85); time is kept whole
    prepend_initial : trajectories only: put ``a`` (the initial state) before ``u`` as the frame at
        ``t = 0``, so the store holds ``T + 1`` frames like sciml's Navier-Stokes generator

    Returns
    -------
    The path of the new store. Pairs: fields ``input (N, C_in, *spatial)`` and
    ``output (N, C_out, *spatial)``, coordinates ``linspace(0, 1)`` of the original grid at the kept
    points. Trajectories: field ``tensor (N, T, *spatial)`` (PDEBench layout), ``t-coordinate (T,)``
    from the file's ``t`` (else the frame numbers ``1 .. T``, recorded as ``t_from_file: false``) and
    periodic ``x-coordinate``, ``y-coordinate`` ... ``i / s`` of the original grid at the kept points.
    """
    path, out = Path(path), Path(out)
    if layout is not None and layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)} (or leave it out to detect it)")
    if not isinstance(subsample, int) or isinstance(subsample, bool) or subsample < 1:
        raise ConfigError(f"subsample must be a positive integer, got {subsample!r}")
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    if path.suffix not in SUFFIXES:
        raise DataError(f"cannot import {path.name}: supported formats are {', '.join(SUFFIXES)}")
    raw = _load(path)
    layout = layout or _detect_layout(raw)
    if prepend_initial and layout != "trajectory":
        raise ConfigError("prepend_initial applies to the trajectory layout only")
    if layout == "trajectory":
        return _import_trajectory(raw, path, out, spatial_dims=spatial_dims, pde=pde, force=force,
                                  subsample=subsample, prepend_initial=prepend_initial)
    data = _pair_arrays(raw, path)
    x = _as_array(data["x"], "x", path)
    y = _as_array(data["y"], "y", path)
    if spatial_dims is None:
        spatial_dims = x.ndim - 1 if x.ndim <= 3 else x.ndim - 2
    if not 1 <= spatial_dims <= 3:
        raise DataError(f"{path}: cannot infer 1 to 3 spatial dimensions from x of shape {x.shape}")
    x = _with_channels(x, spatial_dims, "x", path)
    y = _with_channels(y, spatial_dims, "y", path)
    if len(x) != len(y):
        raise DataError(f"{path}: x has {len(x)} samples but y has {len(y)}")
    if len(x) == 0:
        raise DataError(f"{path}: x and y hold no samples")
    if x.shape[2:] != y.shape[2:]:
        hint = (" (a time series with time last? pass layout='trajectory')"
                if np.ndim(data["y"]) == np.ndim(data["x"]) + 1 else "")
        raise DataError(f"{path}: x grid {x.shape[2:]} differs from y grid {y.shape[2:]}{hint}")
    grid = x.shape[2:]
    keep = (slice(None), slice(None)) + (slice(None, None, subsample),) * spatial_dims
    x, y = np.ascontiguousarray(x[keep]), np.ascontiguousarray(y[keep])
    coords = {"xyz"[d] + "-coordinate": np.linspace(0.0, 1.0, grid[d])[::subsample] for d in range(spatial_dims)}
    params = {"source": path.name, "spatial_dims": spatial_dims, "layout": "pair", "subsample": subsample}
    with StoreWriter(out, n_samples=len(x), fields={"input": (x.shape[1:], "float32"), "output": (y.shape[1:], "float32")},
                     pde=pde, params=params, generator="sciml.data.importers 1", seed=0, coords=coords,
                     force=force) as writer:
        writer.write({"input": x, "output": y})
    return out


def _import_trajectory(raw: dict[str, Any], path: Path, out: Path, *, spatial_dims: int | None, pde: str,
                       force: bool, subsample: int, prepend_initial: bool) -> Path:
    """``u (N, *spatial, T)`` (and optionally ``a (N, *spatial)``, ``t (T,)``) -> ``tensor (N, T, *spatial)``."""
    if "u" not in raw:
        raise DataError(f"{path} has no 'u' entry for the trajectory layout (u (N, *spatial, T), time last); "
                        f"it has {_keys(raw)}")
    u = _as_array(raw["u"], "u", path)
    dims = u.ndim - 2
    if spatial_dims is not None and spatial_dims != dims:
        raise DataError(f"{path}: 'u' has shape {u.shape}, which is (N, *spatial, T) with {dims} spatial "
                        f"dimension(s), not {spatial_dims}")
    if not 1 <= dims <= 3:
        raise DataError(f"{path}: 'u' has shape {u.shape}; a trajectory needs (N, *spatial, T) with 1 to 3 "
                        f"spatial dimensions")
    n, grid, steps = u.shape[0], u.shape[1:-1], u.shape[-1]
    if n == 0 or steps == 0:
        raise DataError(f"{path}: 'u' of shape {u.shape} holds no samples or no time steps")
    tensor = np.moveaxis(u, -1, 1)  # (N, T, *spatial)
    if "t" in raw:
        times = np.asarray(raw["t"].numpy() if isinstance(raw["t"], torch.Tensor) else raw["t"]).reshape(-1)
        if times.dtype.kind not in "iuf" or not np.all(np.isfinite(times)):
            raise DataError(f"{path}: 't' must hold finite numbers, got dtype {times.dtype}")
        if len(times) != steps:
            raise DataError(f"{path}: 't' has {len(times)} values but 'u' has {steps} time steps (its last axis)")
        times, t_from_file = times.astype(np.float64), True
    else:
        times, t_from_file = np.arange(1, steps + 1, dtype=np.float64), False
    if prepend_initial and "a" not in raw:
        raise DataError(f"{path} has no 'a' entry (the initial state) to prepend; it has {_keys(raw)}")
    if "a" in raw:  # checked whenever present: a file whose a and u disagree is not what it claims
        a = _as_array(raw["a"], "a", path)
        if a.shape != (n, *grid):
            raise DataError(f"{path}: 'a' (the initial state) has shape {a.shape} but 'u' {u.shape} needs "
                            f"{(n, *grid)}, (N, *spatial)")
    if prepend_initial:
        tensor = np.concatenate([a[:, None], tensor], axis=1)
        times = np.concatenate([[0.0], times])
    keep = (slice(None), slice(None)) + (slice(None, None, subsample),) * dims
    tensor = np.ascontiguousarray(tensor[keep])
    coords = {"t-coordinate": times,
              **{"xyz"[d] + "-coordinate": (np.arange(grid[d]) / grid[d])[::subsample] for d in range(dims)}}
    params = {"source": path.name, "spatial_dims": dims, "layout": "trajectory", "time_axis": "last",
              "subsample": subsample, "prepend_initial": prepend_initial, "t_from_file": t_from_file}
    with StoreWriter(out, n_samples=n, fields={"tensor": (tensor.shape[1:], "float32")}, pde=pde, params=params,
                     generator="sciml.data.importers 1", seed=0, coords=coords, force=force) as writer:
        writer.write({"tensor": tensor})
    return out
