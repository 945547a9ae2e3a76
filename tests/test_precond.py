import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from sciml import ConfigError, DataError
from sciml.gallery import diffusion2d_grf, poisson2d
from sciml.linalg import IC0, SSOR, Jacobi, pcg, preconditioner

NAMES = ["none", "jacobi", "ssor", "ic0", "amg-sa", "amg-rs"]


@pytest.fixture(scope="module")
def system():
    A = diffusion2d_grf(20, contrast=100.0, seed=4)
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    return A, b


@pytest.mark.parametrize("name", NAMES)
def test_torch_apply_equals_scipy_operator_and_batched_equals_looped(name, system):
    A, _ = system
    M = preconditioner(name, A)
    R = torch.randn(3, A.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    Z = M.apply(R)
    op = M.as_linear_operator()
    for i in range(3):
        np.testing.assert_allclose(Z[i].numpy(), op.matvec(R[i].numpy()), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(M.apply(R[i]), Z[i], rtol=1e-12, atol=1e-12)
    # SPD: r^T M^-1 r > 0
    assert bool(((R * Z).sum(-1) > 0).all())


@pytest.mark.parametrize("name", NAMES)
def test_each_preconditioner_serves_our_pcg_and_scipy_cg_alike(name, system):
    A, b = system
    M = preconditioner(name, A)
    ours = pcg(A, b, None if name == "none" else M, rtol=1e-8)
    count = [0]
    x, info = spla.cg(A, b, rtol=1e-8, atol=0.0, M=None if name == "none" else M.as_linear_operator(),
                      maxiter=5000, callback=lambda xk: count.__setitem__(0, count[0] + 1))
    assert ours.converged and info == 0
    assert abs(ours.iterations - count[0]) <= max(2, 0.05 * count[0])
    np.testing.assert_allclose(ours.x.numpy(), x, rtol=0, atol=1e-6 * np.abs(x).max())


def test_stronger_preconditioners_take_fewer_iterations(system):
    A, b = system
    its = {name: pcg(A, b, preconditioner(name, A), rtol=1e-8).iterations for name in NAMES}
    assert its["jacobi"] < its["none"]
    assert its["ic0"] < its["jacobi"] and its["ssor"] < its["jacobi"]
    assert its["amg-sa"] < its["ic0"] and its["amg-rs"] < its["ic0"]
    assert its["amg-sa"] <= 25


def test_jacobi_and_ssor_apply_their_formulas():
    A = diffusion2d_grf(6, seed=2)
    r = np.random.default_rng(3).standard_normal(36)
    d = A.diagonal()
    np.testing.assert_allclose(Jacobi(A).apply(torch.from_numpy(r)).numpy(), r / d, rtol=1e-14)
    omega = 1.4
    D, L, U = np.diag(d), np.tril(A.toarray(), -1), np.triu(A.toarray(), 1)
    M = (D + omega * L) @ np.linalg.inv(D) @ (D + omega * U) / (omega * (2 - omega))
    np.testing.assert_allclose(SSOR(A, omega=omega).apply(torch.from_numpy(r)).numpy(), np.linalg.solve(M, r),
                               rtol=1e-10)


def test_ic0_applies_its_factor_and_uses_the_fallback_when_needed():
    A = poisson2d(6)
    P = IC0(A)
    assert P.shift == 0.0
    r = np.random.default_rng(5).standard_normal(36)
    L = P.L.toarray()
    np.testing.assert_allclose(P.apply(torch.from_numpy(r)).numpy(), np.linalg.solve(L @ L.T, r), rtol=1e-10)
    kershaw = sp.csr_matrix(np.array([[3.0, -2, 0, 2], [-2, 3, -2, 0], [0, -2, 3, -2], [2, 0, -2, 3]]))
    shifted = IC0(kershaw)
    assert shifted.shift > 0
    assert pcg(kershaw, np.ones(4), shifted, rtol=1e-10).converged


def test_float32_on_the_same_device_and_dtype():
    A = poisson2d(12)
    M = preconditioner("ic0", A, dtype=torch.float32)
    result = pcg(A, torch.ones(144, dtype=torch.float32), M, rtol=1e-5)
    assert result.converged and result.x.dtype == torch.float32


def test_bad_names_and_matrices_are_refused():
    A = poisson2d(4)
    with pytest.raises(ConfigError, match="unknown preconditioner 'ic1'; choose one of none, jacobi, ssor, ic0, amg"):
        preconditioner("ic1", A)
    with pytest.raises(ConfigError, match="0 < omega < 2"):
        preconditioner("ssor", A, omega=2.5)
    with pytest.raises(ConfigError, match="unknown AMG kind"):
        preconditioner("amg", A, kind="xx")
    with pytest.raises(DataError, match="non-positive diagonal"):
        Jacobi(-A)
    with pytest.raises(DataError, match="must be square"):
        Jacobi(sp.random(3, 4, density=1.0, format="csr"))
