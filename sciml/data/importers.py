"""Import operator-learning data from other tools into the sciml store.

Supported: neuraloperator-style ``.pt`` files and ``.npz`` archives holding a dict with ``x``
(inputs) and ``y`` (outputs), and the FNO paper's MATLAB ``.mat`` files (v5 through scipy, v7.3
through h5py) with inputs ``a`` or ``coeff`` and outputs ``u`` or ``sol``; each array
``(N, *spatial)`` or ``(N, C, *spatial)``, bool or float.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sciml._errors import DataError
from sciml.data.store import StoreWriter

__all__ = ["import_file", "SUFFIXES"]

SUFFIXES = (".pt", ".npz", ".mat")
MAT_KEYS = {"x": ("x", "a", "coeff"), "y": ("y", "u", "sol")}  # first present wins


def _load_mat(path: Path) -> dict[str, Any]:
    import h5py
    import scipy.io

    if h5py.is_hdf5(path):  # MATLAB v7.3 files are HDF5, with axes in reverse (column-major) order
        try:
            with h5py.File(path, "r") as f:
                raw = {k: np.asarray(f[k][()]).transpose() for k in f.keys() if isinstance(f[k], h5py.Dataset)}
        except OSError as exc:
            raise DataError(f"{path} cannot be read as a MATLAB v7.3 file: {exc}") from exc
    else:
        try:
            raw = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
        except Exception as exc:
            raise DataError(f"{path} cannot be read as a MATLAB file: {exc}") from exc
    data: dict[str, Any] = {}
    for target, names in MAT_KEYS.items():
        for name in names:
            if name in raw:
                data[target] = raw[name]
                break
    if len(data) < 2:
        raise DataError(f"{path} has none of the keys {' / '.join(MAT_KEYS['x'])} (inputs) or "
                        f"{' / '.join(MAT_KEYS['y'])} (outputs); it has {', '.join(map(repr, raw)) or 'nothing'}")
    return data


def _load(path: Path) -> dict[str, Any]:
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
                pde: str = "imported", force: bool = False) -> Path:
    """Convert ``path`` (``.pt``/``.npz`` with ``x`` and ``y``, or an FNO-paper ``.mat``) into the store at ``out``.

    Parameters
    ----------
    spatial_dims : number of spatial axes; default: inferred from ``x`` as ``ndim - 1`` for 2- and
        3-dimensional arrays (``(N, s)`` is 1D, ``(N, s, s)`` is 2D without channels) and
        ``ndim - 2`` otherwise (``(N, C, s, s)``)
    pde : the ``pde`` attribute to record

    Returns
    -------
    The path of the new store, with fields ``input (N, C_in, *spatial)`` and ``output (N, C_out, *spatial)``.
    """
    path, out = Path(path), Path(out)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    if path.suffix not in SUFFIXES:
        raise DataError(f"cannot import {path.name}: supported formats are {', '.join(SUFFIXES)}")
    data = _load(path)
    missing = [k for k in ("x", "y") if k not in data]
    if missing:
        raise DataError(f"{path} has no {' or '.join(repr(k) for k in missing)} entry; "
                        f"it has {', '.join(map(repr, data)) or 'nothing'} (expected 'x' inputs and 'y' outputs)")
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
        raise DataError(f"{path}: x grid {x.shape[2:]} differs from y grid {y.shape[2:]}")
    coords = {"xyz"[d] + "-coordinate": np.linspace(0.0, 1.0, x.shape[2 + d]) for d in range(spatial_dims)}
    params = {"source": path.name, "spatial_dims": spatial_dims}
    with StoreWriter(out, n_samples=len(x), fields={"input": (x.shape[1:], "float32"), "output": (y.shape[1:], "float32")},
                     pde=pde, params=params, generator="sciml.data.importers 1", seed=0, coords=coords,
                     force=force) as writer:
        writer.write({"input": x, "output": y})
    return out
