import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from sciml import DataError
from sciml.gallery import diffusion2d_grf, indefinite, poisson2d, spd_with_spectrum
from sciml.linalg import BatchedCSR, SolveError, SolveStatus, pcg


def _scipy_iterations(A, b, M=None, rtol=1e-8):
    count = [0]
    x, info = spla.cg(A, b, rtol=rtol, atol=0.0, M=M, maxiter=10 * A.shape[0],
                      callback=lambda xk: count.__setitem__(0, count[0] + 1))
    return x, info, count[0]


def test_manufactured_solution_on_a_matrix_of_known_conditioning():
    A = spd_with_spectrum(np.geomspace(1.0, 1e4, 60), seed=0)
    x_true = np.random.default_rng(1).standard_normal(60)
    b = A @ x_true
    result = pcg(torch.from_numpy(A), torch.from_numpy(b), rtol=1e-10)
    assert result.converged and result.status is SolveStatus.CONVERGED
    true_residual = np.linalg.norm(b - A @ result.x.numpy())
    assert true_residual <= 1e-9 * np.linalg.norm(b)
    assert np.linalg.norm(result.x.numpy() - x_true) <= 1e4 * 1e-9 * np.linalg.norm(x_true)
    assert result.residual_norms.shape == (result.iterations + 1,)
    assert result.residual_norms[0] == pytest.approx(np.linalg.norm(b))
    assert result.residual_norms[-1] <= 1e-10 * np.linalg.norm(b)


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-8), (torch.float32, 1e-5)])
def test_matches_scipy_cg_on_poisson(dtype, rtol):
    A = poisson2d(24)
    b = np.random.default_rng(2).standard_normal(A.shape[0])
    result = pcg(A, torch.from_numpy(b).to(dtype), rtol=rtol)
    x_ref, info, its = _scipy_iterations(A, b, rtol=rtol)
    assert result.converged and info == 0
    assert abs(result.iterations - its) <= 2
    tol = 1e-6 if dtype == torch.float64 else 1e-3
    np.testing.assert_allclose(result.x.double().numpy(), x_ref, rtol=0, atol=tol * np.abs(x_ref).max())
    assert np.linalg.norm(b - A @ result.x.double().numpy()) <= 5 * rtol * np.linalg.norm(b)


def test_batched_right_hand_sides_equal_looped_solves():
    A = diffusion2d_grf(12, seed=3)
    B = torch.randn(5, A.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    B[2] *= 1e-3  # a different scale per system must not change the relative criterion
    batched = pcg(A, B, rtol=1e-9)
    for i in range(5):
        single = pcg(A, B[i], rtol=1e-9)  # the one-system path: same iteration, scalar bookkeeping
        # round-off moves the stop by a few iterations: this matrix needs more iterations than it has unknowns
        assert abs(single.iterations - int(batched.iterations[i])) <= max(1, 0.02 * single.iterations)
        scale = float(single.x.abs().max())
        torch.testing.assert_close(batched.x[i], single.x, rtol=0, atol=1e-7 * scale)
        # CG amplifies round-off on this ill-conditioned matrix, so the histories agree tightly only early on
        torch.testing.assert_close(batched.residual_norms[i, :15], single.residual_norms[:15], rtol=1e-10, atol=0)
    assert bool(batched.converged.all()) and batched.status == (SolveStatus.CONVERGED,) * 5


def test_batched_matrices_sharing_a_pattern():
    mats = [diffusion2d_grf(10, contrast=10.0 ** (s + 1), seed=s) for s in range(3)]
    B = torch.ones(3, 100, dtype=torch.float64)
    result = pcg(BatchedCSR.from_scipy(mats), B, rtol=1e-10)
    for i, m in enumerate(mats):
        np.testing.assert_allclose(result.x[i].numpy(), spla.spsolve(m.tocsc(), np.ones(100)), rtol=1e-7)
    assert len(set(result.iterations.tolist())) > 1  # contrasts differ, so do iteration counts


def test_indefinite_matrix_breaks_down_and_says_so():
    A = indefinite(8)
    b = np.random.default_rng(0).standard_normal(64)
    result = pcg(A, b)
    assert not result.converged and result.status is SolveStatus.BREAKDOWN
    assert "not symmetric positive definite" in result.status.message
    with pytest.raises(SolveError, match="breakdown"):
        pcg(A, b, raise_on_failure=True)


def test_indefinite_preconditioner_is_detected():
    A = poisson2d(8)
    result = pcg(A, np.ones(64), M=lambda r: -r)
    assert result.status is SolveStatus.PRECONDITIONER_BREAKDOWN and not result.converged


def test_maxiter_zero_rhs_max_norm_and_stagnation():
    A = poisson2d(16)
    b = np.random.default_rng(1).standard_normal(256)
    limited = pcg(A, b, maxiter=5)
    assert limited.status is SolveStatus.MAX_ITERATIONS and limited.iterations == 5
    zero = pcg(A, np.zeros(256))
    assert zero.converged and zero.iterations == 0 and float(zero.x.abs().max()) == 0
    maxnorm = pcg(A, b, rtol=1e-6, norm="max")
    assert maxnorm.converged
    assert np.abs(b - A @ maxnorm.x.numpy()).max() <= 2e-6 * np.abs(b).max()
    stuck = pcg(A, torch.from_numpy(b).float(), rtol=1e-14, maxiter=5000)
    assert stuck.status is SolveStatus.STAGNATION and stuck.iterations < 5000


def test_bad_input_is_refused_with_shapes_named():
    A = poisson2d(4)
    with pytest.raises(DataError, match=r"A has shape \(16, 16\) but b has shape \(15,\)"):
        pcg(A, np.ones(15))
    with pytest.raises(DataError, match="A must be square"):
        pcg(sp.random(4, 5, density=0.5, format="csr"), np.ones(4))
    with pytest.raises(DataError, match="b contains NaN"):
        pcg(A, np.full(16, np.nan))
    bad = A.copy().astype(np.float64)
    bad.data[0] = np.inf
    with pytest.raises(DataError, match="A contains NaN or Inf"):
        pcg(bad, np.ones(16))
    with pytest.raises(DataError, match="unknown norm 'l1'"):
        pcg(A, np.ones(16), norm="l1")


def test_zero_preconditioner_and_bad_x0_are_reported_as_such():
    A = poisson2d(6)
    result = pcg(A, np.ones(36), M=lambda r: torch.zeros_like(r))
    assert result.status is SolveStatus.PRECONDITIONER_BREAKDOWN
    batched = pcg(A, np.ones((2, 36)), M=lambda r: torch.zeros_like(r))
    assert batched.status == (SolveStatus.PRECONDITIONER_BREAKDOWN,) * 2
    with pytest.raises(DataError, match=r"x0 has shape \(36, 2\) but b has shape \(2, 36\)"):
        pcg(A, np.ones((2, 36)), x0=np.zeros((36, 2)))
    with pytest.raises(DataError, match="complex"):
        pcg(sp.csr_matrix(np.eye(3, dtype=complex)), np.ones(3))
