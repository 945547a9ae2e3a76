"""Sparse matrices as torch CSR tensors with int32 indices, conversion to and from scipy, SpMV.

int32 indices matter on the CPU: torch's CSR SpMV with int64 indices runs at about half the speed
(the kernels are memory-bound and the index arrays are half the traffic).

Batched systems that share one sparsity pattern (``values (batch, nnz)``) are held by
:class:`BatchedCSR`, which multiplies all of them in one call through a block-diagonal CSR matrix.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from sciml._errors import DataError

__all__ = ["from_scipy", "to_scipy", "as_csr", "spmv", "BatchedCSR", "diagonal", "is_torch_sparse"]


def _csr_tensor(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    with warnings.catch_warnings():  # torch warns that CSR support is "beta" on every construction
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


def is_torch_sparse(A: Any) -> bool:
    return isinstance(A, torch.Tensor) and A.layout in (torch.sparse_csr, torch.sparse_coo)


def from_scipy(A: sp.spmatrix | sp.sparray, *, device: str | torch.device | None = None,
               dtype: torch.dtype | None = None) -> torch.Tensor:
    """A scipy sparse matrix as a torch CSR tensor with int32 indices.

    Parameters
    ----------
    A : any scipy sparse matrix or array (converted to CSR, duplicates summed, indices sorted)
    device, dtype : target device and floating dtype (default: CPU and A's dtype, float64 for integers)
    """
    if not sp.issparse(A):
        raise DataError(f"expected a scipy sparse matrix, got {type(A).__name__}")
    if np.iscomplexobj(A.data if hasattr(A, "data") else A):
        raise DataError("A is complex; sciml's sparse kernels take real matrices")
    csr = sp.csr_matrix(A, copy=True)
    csr.sum_duplicates()
    csr.sort_indices()
    if dtype is None:
        dtype = torch.float32 if csr.dtype == np.float32 else torch.float64
    if np.iinfo(np.int32).max < csr.nnz:
        raise DataError(f"matrix has {csr.nnz} nonzeros, more than int32 indices can address")
    crow = torch.from_numpy(csr.indptr.astype(np.int32))
    col = torch.from_numpy(csr.indices.astype(np.int32))
    values = torch.from_numpy(np.ascontiguousarray(csr.data)).to(dtype)
    return _csr_tensor(crow, col, values, tuple(csr.shape)).to(device or "cpu")


def to_scipy(A: torch.Tensor) -> sp.csr_matrix:
    """A torch sparse tensor (CSR or COO, 2D) as a scipy CSR matrix."""
    if not is_torch_sparse(A) or A.ndim != 2:
        raise DataError(f"expected a 2D torch sparse tensor, got {type(A).__name__} with layout "
                        f"{getattr(A, 'layout', None)}")
    if A.layout == torch.sparse_coo:
        A = A.coalesce().to_sparse_csr()
    return sp.csr_matrix((A.values().detach().cpu().numpy(), A.col_indices().cpu().numpy().astype(np.int32),
                          A.crow_indices().cpu().numpy().astype(np.int32)), shape=tuple(A.shape))


def as_csr(A: Any, *, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Any supported matrix (scipy sparse, torch CSR/COO, dense tensor or array) as a torch CSR tensor."""
    if sp.issparse(A):
        return from_scipy(A, device=device, dtype=dtype)
    if is_torch_sparse(A):
        if A.layout == torch.sparse_coo:
            A = A.coalesce().to_sparse_csr()
        if A.crow_indices().dtype != torch.int32:
            A = _csr_tensor(A.crow_indices().to(torch.int32), A.col_indices().to(torch.int32), A.values(),
                            tuple(A.shape))
        return A.to(device=device or A.device, dtype=dtype or A.dtype)
    if isinstance(A, (torch.Tensor, np.ndarray)):
        dense = torch.as_tensor(A)
        if dense.ndim != 2:
            raise DataError(f"a matrix must be 2D, got shape {tuple(dense.shape)}")
        return from_scipy(sp.csr_matrix(dense.detach().cpu().numpy()), device=device or "cpu",
                          dtype=dtype or (dense.dtype if dense.is_floating_point() else torch.float64))
    raise DataError(f"cannot use a {type(A).__name__} as a sparse matrix; give a scipy sparse matrix, "
                    f"a torch sparse tensor or a dense array")


def diagonal(A: torch.Tensor) -> torch.Tensor:
    """The main diagonal of a square torch CSR matrix, ``(n,)`` (zeros where no entry is stored)."""
    crow, col, values = A.crow_indices().long(), A.col_indices().long(), A.values()
    n = A.shape[0]
    rows = torch.repeat_interleave(torch.arange(n, device=crow.device), crow[1:] - crow[:-1])
    on_diag = rows == col
    out = torch.zeros(n, dtype=values.dtype, device=values.device)
    out[rows[on_diag]] = values[on_diag]
    return out


def spmv(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A @ x`` for a torch CSR matrix and ``x (n,)`` or ``(batch, n)`` (one product per row of x).

    Shapes
    ------
    A ``(m, n)``, x ``(n,)`` -> ``(m,)``; x ``(batch, n)`` -> ``(batch, m)``.
    """
    if x.ndim == 1:
        return A @ x
    return torch.stack([A @ row for row in x])


@dataclass
class BatchedCSR:
    """Many ``n x n`` matrices that share one sparsity pattern: ``values (batch, nnz)``.

    Products run as one SpMV with the block-diagonal matrix ``diag(A_1, ..., A_batch)``.

    Shapes
    ------
    ``crow (n+1,)``, ``col (nnz,)``, ``values (batch, nnz)``; :meth:`matvec` takes ``(batch, n)``.
    """

    crow: torch.Tensor
    col: torch.Tensor
    values: torch.Tensor
    n: int

    def __post_init__(self):
        if self.values.ndim != 2 or self.values.shape[1] != self.col.shape[0]:
            raise DataError(f"values must be (batch, nnz={self.col.shape[0]}), got {tuple(self.values.shape)}")
        batch, nnz = self.values.shape
        offsets = torch.arange(batch, device=self.crow.device, dtype=torch.int64)
        crow = self.crow.long()
        block_crow = torch.cat([crow[:1], (crow[1:].unsqueeze(0) + nnz * offsets.unsqueeze(1)).reshape(-1)])
        block_col = (self.col.long().unsqueeze(0) + self.n * offsets.unsqueeze(1)).reshape(-1)
        if batch * max(nnz, self.n) >= np.iinfo(np.int32).max:
            raise DataError("batch too large for int32 indices of the block-diagonal matrix")
        self._block = _csr_tensor(block_crow.to(torch.int32), block_col.to(torch.int32), self.values.reshape(-1),
                                  (batch * self.n, batch * self.n))

    @property
    def batch(self) -> int:
        return self.values.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.batch, self.n, self.n)

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def device(self) -> torch.device:
        return self.values.device

    @classmethod
    def from_scipy(cls, matrices: Sequence[sp.spmatrix], *, device: str | torch.device | None = None,
                   dtype: torch.dtype | None = None) -> "BatchedCSR":
        """Stack scipy matrices with identical sparsity patterns."""
        if not matrices:
            raise DataError("BatchedCSR needs at least one matrix")
        first = from_scipy(matrices[0], dtype=dtype)
        values = [first.values()]
        for i, m in enumerate(matrices[1:], start=1):
            t = from_scipy(m, dtype=first.dtype)
            if t.shape != first.shape or not (torch.equal(t.crow_indices(), first.crow_indices())
                                              and torch.equal(t.col_indices(), first.col_indices())):
                raise DataError(f"matrix {i} does not share the sparsity pattern of matrix 0")
            values.append(t.values())
        return cls(first.crow_indices(), first.col_indices(), torch.stack(values), first.shape[0]).to(device or "cpu")

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> "BatchedCSR":
        return BatchedCSR(self.crow.to(device), self.col.to(device), self.values.to(device=device, dtype=dtype), self.n)

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        """``A_b @ x_b`` for every system: ``x (batch, n) -> (batch, n)``."""
        if x.shape != (self.batch, self.n):
            raise DataError(f"x has shape {tuple(x.shape)}, expected ({self.batch}, {self.n})")
        return (self._block @ x.reshape(-1)).view(self.batch, self.n)

    def matrix(self, index: int) -> torch.Tensor:
        """System ``index`` as a torch CSR tensor."""
        return _csr_tensor(self.crow, self.col, self.values[index], (self.n, self.n))

    def diagonal(self) -> torch.Tensor:
        """Diagonals of all systems, ``(batch, n)``."""
        return diagonal(self._block).view(self.batch, self.n)
