import math

import numpy as np
import pytest
import torch

from sciml import ConfigError
from sciml.gallery import poisson2d
from sciml.linalg import SolveStatus, sor


def _reference_sweeps(A, b, omega, sweeps, symmetric):
    """Textbook SOR, one unknown at a time (independent of the triangular-solve formulation)."""
    A = A.toarray()
    x = np.zeros_like(b)
    n = len(b)
    for _ in range(sweeps):
        orders = [range(n), range(n - 1, -1, -1)] if symmetric else [range(n)]
        for order in orders:
            for i in order:
                sigma = A[i] @ x - A[i, i] * x[i]
                x[i] = (1 - omega) * x[i] + omega * (b[i] - sigma) / A[i, i]
    return x


@pytest.mark.parametrize("symmetric", [False, True])
def test_sweeps_equal_the_textbook_iteration(symmetric):
    A = poisson2d(5)
    b = np.random.default_rng(0).standard_normal(25)
    result = sor(A, torch.from_numpy(b), omega=1.3, symmetric=symmetric, maxiter=4, rtol=0.0)
    assert result.iterations == 4 and result.status is SolveStatus.MAX_ITERATIONS
    np.testing.assert_allclose(result.x.numpy(), _reference_sweeps(A, b, 1.3, 4, symmetric), rtol=1e-12)


def test_optimal_omega_beats_gauss_seidel_on_poisson():
    m = 16
    A = poisson2d(m)
    b = np.ones(m * m)
    gauss_seidel = sor(A, b, omega=1.0, rtol=1e-6)
    optimal = sor(A, b, omega=2 / (1 + math.sin(math.pi / (m + 1))), rtol=1e-6)
    assert gauss_seidel.converged and optimal.converged
    assert optimal.iterations * 4 < gauss_seidel.iterations
    assert np.linalg.norm(b - A @ optimal.x.numpy()) <= 1e-6 * np.linalg.norm(b)


def test_batched_equals_looped_and_bad_omega_is_refused():
    A = poisson2d(6)
    B = torch.randn(3, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    batched = sor(A, B, omega=1.5, rtol=1e-8)
    for i in range(3):
        single = sor(A, B[i], omega=1.5, rtol=1e-8)
        assert single.iterations == int(batched.iterations[i])
        torch.testing.assert_close(single.x, batched.x[i])
    with pytest.raises(ConfigError, match="0 < omega < 2"):
        sor(A, B, omega=2.0)


def test_non_finite_or_misshaped_x0_is_refused():
    from sciml import DataError

    A = poisson2d(3)
    with pytest.raises(DataError, match="x0 must be finite"):
        sor(A, np.ones(9), x0=np.full(9, np.nan))
    with pytest.raises(DataError, match="x0 must be finite with the shape of b"):
        sor(A, np.ones(9), x0=np.zeros(8))
