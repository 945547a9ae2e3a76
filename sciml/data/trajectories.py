"""Trajectory datasets over time-dependent stores (Navier-Stokes, Burgers, heat, combined, wave).

A time-dependent store holds ``tensor (N, nt, *spatial)`` (one field) or ``(N, nt, C, *spatial)``
(several fields). Which of the two it is follows from its coordinates: the store's
``x-coordinate``, ``y-coordinate``, ``z-coordinate`` name the spatial axes, so an axis between
time and the first spatial axis is the channel axis. Without coordinates the layout
``(N, nt, *spatial)`` is assumed.

Items are whole trajectories ``(nt, C, *spatial)``; cutting them into windows is the training
method's business (:mod:`sciml.operators.autoregressive`), so one file serves teacher forcing,
unrolled training and rollout evaluation alike.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from sciml._errors import DataError
from sciml.data.datasets import StoreDataset
from sciml.data.store import open_store

__all__ = ["TrajectoryDataset", "SPATIAL_COORDINATES"]

SPATIAL_COORDINATES = ("x-coordinate", "y-coordinate", "z-coordinate")


class TrajectoryDataset(StoreDataset):
    """Whole trajectories of a time-dependent store, read lazily (one HDF5 call per batch).

    Parameters
    ----------
    path : dataset file with a per-sample field ``field`` of shape ``(nt, *spatial)`` or ``(nt, C, *spatial)``
    field : the time-dependent field (PDEBench name ``tensor``)
    dtype : floating dtype of the returned tensors

    Attributes
    ----------
    n_samples, n_times, channels : trajectories, frames per trajectory, fields per frame
    spatial : grid shape
    pde : the store's ``pde`` attribute
    times : the ``t-coordinate`` values ``(nt,)`` as a numpy array, or ``None``
    attrs : the store's root attributes

    Shapes
    ------
    item ``(nt, C, *spatial)``; :meth:`read` gives ``(batch, nt, C, *spatial)``.

    Raises
    ------
    DataError
        When the file has no such field (a store of input/output pairs, say), when the field has
        no time axis or no spatial axis, or fewer than two frames.
    """

    def __init__(self, path: str | os.PathLike, *, field: str = "tensor", dtype: torch.dtype = torch.float32):
        self.path = Path(path)
        self.field, self.dtype = field, dtype
        with open_store(self.path) as store:
            if field not in store.fields:
                raise DataError(f"{self.path} has no time-dependent field {field!r} (trajectories "
                                f"'{field} (N, nt, *spatial)'); it has {', '.join(store.fields)}: it is not a "
                                f"time-dependent store")
            shape = store.fields[field][0]
            n_spatial = sum(name in store.coords for name in SPATIAL_COORDINATES)
            t_coord = store.read("t-coordinate") if "t-coordinate" in store.coords else None
            self.attrs = store.attrs
        if n_spatial == 0:
            n_spatial = len(shape) - 2  # no coordinates: (N, nt, *spatial)
        if len(shape) < 3 or len(shape) - 2 not in (n_spatial, n_spatial + 1) or n_spatial < 1:
            raise DataError(f"{self.path}: field {field!r} has shape {tuple(shape)}, expected (N, nt, *spatial) or "
                            f"(N, nt, C, *spatial) with {max(n_spatial, 1)} spatial axes: it has no time axis")
        self.n_samples, self.n_times = int(shape[0]), int(shape[1])
        self.has_channel_axis = len(shape) - 2 == n_spatial + 1
        self.channels = int(shape[2]) if self.has_channel_axis else 1
        self.spatial = tuple(int(s) for s in shape[-n_spatial:])
        if t_coord is not None and len(t_coord) != self.n_times:
            raise DataError(f"{self.path}: 't-coordinate' has {len(t_coord)} entries but {field!r} has "
                            f"{self.n_times} frames")
        if self.n_times < 2:
            raise DataError(f"{self.path}: field {field!r} has {self.n_times} frame; trajectories need at least 2")
        self.times = None if t_coord is None else np.asarray(t_coord, dtype=np.float64)
        self.pde = str(self.attrs.get("pde", ""))
        super().__init__()

    def read(self, indices: list[int]) -> torch.Tensor:
        """Trajectories ``indices`` (any order, repeats allowed) as ``(batch, nt, C, *spatial)``."""
        for i in indices:
            if not -self.n_samples <= i < self.n_samples:
                raise IndexError(f"sample {i} is out of range for {self.n_samples} samples")
        indices = [i % self.n_samples for i in indices]
        unique, inverse = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
        values = self._handle().read(self.field, unique)  # h5py wants increasing indices
        tensor = torch.from_numpy(np.ascontiguousarray(values)).to(self.dtype)
        finite = torch.isfinite(tensor.reshape(len(unique), -1)).all(dim=1)
        if not bool(finite.all()):
            bad = int(unique[int(torch.nonzero(~finite)[0])])
            raise DataError(f"{self.path}: field {self.field!r} sample {bad} contains NaN or Inf")
        if not self.has_channel_axis:
            tensor = tensor.unsqueeze(2)
        return tensor[torch.from_numpy(inverse.reshape(-1))]

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.read([int(index)])[0]

    def __getitems__(self, indices: list[int]) -> list[torch.Tensor]:
        return list(self.read([int(i) for i in indices]))

    def __repr__(self) -> str:
        return (f"TrajectoryDataset({str(self.path)!r}, pde={self.pde!r}, n_samples={self.n_samples}, "
                f"n_times={self.n_times}, channels={self.channels}, spatial={self.spatial})")
