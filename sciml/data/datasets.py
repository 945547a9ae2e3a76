"""torch Datasets over the HDF5 store.

Samples are read lazily from the file; a DataLoader batch is read with one HDF5 call
(``__getitems__``). Each process opens its own handle, so DataLoader workers and DDP ranks work.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sciml._errors import DataError
from sciml.data.store import Store, open_store

__all__ = ["PairDataset", "StoreDataset", "GraphItemDataset"]


class StoreDataset(Dataset):
    """Base of the torch Datasets over one store file: a lazily opened handle per process.

    Subclasses set ``path`` and ``n_samples`` and call ``super().__init__()``; :meth:`_handle`
    opens (and validates) the file once per process, so DataLoader workers and DDP ranks each
    get their own handle, and pickling drops it.
    """

    def __init__(self):
        self._store: Store | None = None
        self._pid: int | None = None

    def _handle(self) -> Store:
        if self._store is None or self._pid != os.getpid():
            self._store = open_store(self.path)
            self._pid = os.getpid()
        return self._store

    def __len__(self) -> int:
        return self.n_samples

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_store"] = None
        state["_pid"] = None
        return state


class GraphItemDataset(StoreDataset):
    """Base of the Datasets whose items are torch_geometric graphs: subclasses define ``graph(index)``;
    ``collate`` batches the items with ``Batch.from_data_list`` (the trainer uses it)."""

    def graph(self, index: int):
        raise NotImplementedError

    def __getitem__(self, index: int):
        return self.graph(index)

    @staticmethod
    def collate(items):
        from torch_geometric.data import Batch

        return Batch.from_data_list(items)


class PairDataset(StoreDataset):
    """Input/output pairs of an operator-learning store (Darcy, Poisson, imported FNO data).

    Parameters
    ----------
    path : dataset file with per-sample fields ``input`` and ``output``
    input_field, output_field : field names to read
    dtype : floating dtype of the returned tensors
    require_output : refuse a file without ``output_field``; with ``False`` such a file gives inputs
        only (``has_output`` is then ``False``, ``out_channels`` 0 and the outputs ``None``)

    Shapes
    ------
    item: ``x (C_in, *spatial)``, ``y (C_out, *spatial)``; bool inputs are returned as 0/1 floats.
    """

    def __init__(self, path: str | os.PathLike, *, input_field: str = "input", output_field: str = "output",
                 dtype: torch.dtype = torch.float32, require_output: bool = True):
        self.path = Path(path)
        self.input_field, self.output_field = input_field, output_field
        self.dtype = dtype
        with open_store(self.path, required=(input_field, output_field) if require_output else (input_field,)) as store:
            self.n_samples = store.n_samples
            self.has_output = output_field in store.fields
            in_shape = store.fields[input_field][0]
            out_shape = store.fields[output_field][0] if self.has_output else in_shape
            if len(in_shape) < 3 or len(out_shape) < 3:
                raise DataError(f"{self.path}: fields must be (N, C, *spatial); got {input_field} {in_shape} "
                                f"and {output_field} {out_shape}")
            if in_shape[2:] != out_shape[2:]:
                raise DataError(f"{self.path}: {input_field} grid {in_shape[2:]} differs from "
                                f"{output_field} grid {out_shape[2:]}")
            self.in_channels, self.out_channels = in_shape[1], (out_shape[1] if self.has_output else 0)
            self.spatial = tuple(in_shape[2:])
            self.attrs = store.attrs
        super().__init__()

    def _to_tensor(self, values: np.ndarray, name: str, indices: list[int]) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(values)).to(self.dtype)
        finite = torch.isfinite(tensor.reshape(len(indices), -1)).all(dim=1)
        if not bool(finite.all()):
            bad = indices[int(torch.nonzero(~finite)[0])]
            raise DataError(f"{self.path}: field {name!r} sample {bad} contains NaN or Inf")
        return tensor

    def _read(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        for i in indices:
            if not -self.n_samples <= i < self.n_samples:
                raise IndexError(f"sample {i} is out of range for {self.n_samples} samples")
        indices = [i % self.n_samples for i in indices]
        order = np.argsort(indices, kind="stable")
        unique, inverse = np.unique(np.asarray(indices)[order], return_inverse=True)
        store = self._handle()
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        sorted_idx = [indices[j] for j in order]
        x_t = self._to_tensor(store.read(self.input_field, unique)[inverse], self.input_field, sorted_idx)[back]
        if not self.has_output:
            return x_t, None
        y_t = self._to_tensor(store.read(self.output_field, unique)[inverse], self.output_field, sorted_idx)[back]
        return x_t, y_t

    def read(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Samples ``indices`` (any order, repeats allowed) as ``x (B, C_in, *spatial)``, ``y (B, C_out,
        *spatial)`` (``None`` for a file without outputs), one HDF5 read per field."""
        return self._read([int(i) for i in indices])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = self._read([int(index)])
        return x[0], None if y is None else y[0]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        x, y = self._read([int(i) for i in indices])
        return list(zip(x, y)) if y is not None else [(xi, None) for xi in x]
