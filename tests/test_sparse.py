import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sciml import DataError
from sciml.gallery import diffusion2d_grf, poisson2d
from sciml.linalg import BatchedCSR, as_csr, from_scipy, spmv, to_scipy


def test_scipy_round_trip_uses_int32_indices():
    A = diffusion2d_grf(12, seed=1)
    T = from_scipy(A)
    assert T.layout == torch.sparse_csr and T.crow_indices().dtype == torch.int32
    assert T.col_indices().dtype == torch.int32 and T.dtype == torch.float64
    back = to_scipy(T)
    assert abs(back - A).max() == 0
    coo = torch.sparse_coo_tensor(np.vstack(A.nonzero()), A.data, A.shape, check_invariants=True)
    assert as_csr(coo).crow_indices().dtype == torch.int32
    with pytest.raises(DataError, match="must be 2D"):
        as_csr(np.zeros(3))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_spmv_matches_scipy_single_and_batched(dtype, tol):
    A = diffusion2d_grf(10, seed=2)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, A.shape[0]))
    T = from_scipy(A, dtype=dtype)
    expected = (A @ X.T).T
    got = spmv(T, torch.from_numpy(X).to(dtype)).double().numpy()
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())
    np.testing.assert_allclose(spmv(T, torch.from_numpy(X[1]).to(dtype)).double().numpy(), expected[1],
                               rtol=tol, atol=tol * np.abs(expected).max())


def test_batched_csr_equals_a_loop_over_scipy():
    mats = [diffusion2d_grf(8, seed=s) for s in range(4)]
    batch = BatchedCSR.from_scipy(mats)
    X = torch.randn(4, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = torch.stack([torch.from_numpy(m @ x.numpy()) for m, x in zip(mats, X)])
    torch.testing.assert_close(batch.matvec(X), expected, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(batch.diagonal()[2], torch.from_numpy(mats[2].diagonal()))
    assert abs(to_scipy(batch.matrix(3)) - mats[3]).max() == 0
    with pytest.raises(DataError, match="does not share the sparsity pattern"):
        BatchedCSR.from_scipy([poisson2d(8), sp.identity(64, format="csr")])
    with pytest.raises(DataError, match="expected \\(4, 64\\)"):
        batch.matvec(X[:2])
