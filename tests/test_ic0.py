"""IC(0): the defining identity on the pattern, exact Cholesky where no fill is dropped, the shifted fallback."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sciml._errors import ConfigError, SciMLError
from sciml.linalg._ic0 import ic0
from sciml.linalg.assemble import poisson_2d

KERSHAW = np.array([[3.0, -2.0, 0.0, 2.0], [-2.0, 3.0, -2.0, 0.0], [0.0, -2.0, 3.0, -2.0], [2.0, 0.0, -2.0, 3.0]])


def textbook_ic0(A: np.ndarray) -> np.ndarray | None:
    """Dense, entry-by-entry IC(0) on the nonzero pattern of tril(A); None at a non-positive pivot."""
    n = A.shape[0]
    L = np.zeros_like(A)
    for i in range(n):
        for j in range(i + 1):
            if A[i, j] == 0:
                continue
            value = A[i, j] - L[i, :j] @ L[j, :j]
            if i == j:
                if not value > 0:
                    return None
                L[i, i] = np.sqrt(value)
            else:
                L[i, j] = value / L[j, j]
    return L


def random_spd(n: int, seed: int) -> sp.csr_matrix:
    """Symmetric, strictly diagonally dominant, with enough couplings that IC(0) drops fill."""
    rng = np.random.default_rng(seed)
    upper = sp.random(n, n, density=0.15, random_state=rng, data_rvs=lambda k: rng.uniform(-1, 1, k))
    off = sp.triu(upper, k=1)
    off = (off + off.T).tocsr()
    return (off + sp.diags(1.0 + abs(off).sum(axis=1).A1)).tocsr()


def on_pattern(matrix: sp.spmatrix, pattern: sp.spmatrix) -> np.ndarray:
    dense = matrix.toarray()
    return np.where(pattern.toarray() != 0, dense, 0.0)


def check_factor(L: sp.csr_matrix, target: sp.spmatrix, rtol: float = 1e-12) -> None:
    """L has the pattern of tril(target), int32 indices, positive diagonal, and L L^T = target on its pattern."""
    lower = sp.tril(target, format="csr")
    lower.sort_indices()
    assert L.shape == target.shape
    assert L.indices.dtype == np.int32 and L.indptr.dtype == np.int32
    np.testing.assert_array_equal(L.indptr, lower.indptr)
    np.testing.assert_array_equal(L.indices, lower.indices)
    assert np.isfinite(L.data).all() and (L.diagonal() > 0).all()
    product = on_pattern(L @ L.T, target)
    np.testing.assert_allclose(product, target.toarray(), rtol=0, atol=rtol * abs(target).max())


def test_poisson_identity_on_pattern():
    A = poisson_2d(14)
    factor = ic0(A)
    assert factor.shift == 0.0 and factor.attempts == 1
    check_factor(factor.L, A)


def test_random_spd_with_dropped_fill_matches_textbook_loop():
    A = random_spd(40, seed=0)
    factor = ic0(A)
    assert factor.shift == 0.0
    check_factor(factor.L, A)
    full_product = (factor.L @ factor.L.T).toarray()
    assert np.abs(full_product - A.toarray()).max() > 1e-3, "test matrix too simple: IC(0) dropped no fill"
    np.testing.assert_allclose(factor.L.toarray(), textbook_ic0(A.toarray()), rtol=1e-12, atol=1e-12)


def test_tridiagonal_has_no_fill_so_ic0_is_exact_cholesky():
    rng = np.random.default_rng(1)
    n = 30
    off = rng.uniform(-1, 1, n - 1)
    A = sp.diags([off, 2.5 + rng.uniform(0, 1, n), off], [-1, 0, 1], format="csr")
    factor = ic0(A)
    assert factor.shift == 0.0
    np.testing.assert_allclose(factor.L.toarray(), np.linalg.cholesky(A.toarray()), rtol=1e-12, atol=1e-12)


def test_kershaw_matrix_takes_the_shifted_fallback():
    assert np.linalg.eigvalsh(KERSHAW).min() > 0, "Kershaw's matrix is SPD"
    assert textbook_ic0(KERSHAW) is None, "plain IC(0) breaks down on it"
    A = sp.csr_matrix(KERSHAW)
    factor = ic0(A)
    assert factor.shift > 0
    # the doubling schedule 1e-3, 2e-3, ...: attempt k used 1e-3 * 2^(k-2), and the one before it failed
    assert factor.shift == pytest.approx(1e-3 * 2.0 ** (factor.attempts - 2))
    shifted = A + factor.shift * sp.diags(A.diagonal())
    check_factor(factor.L, shifted)
    assert textbook_ic0((A + factor.shift / 2 * sp.diags(A.diagonal())).toarray()) is None


def test_all_attempts_failing_says_what_to_use_instead():
    with pytest.raises(SciMLError, match="non-positive pivot in all 2 attempts.*alpha = 0.001.*Jacobi or AMG"):
        ic0(sp.csr_matrix(KERSHAW), max_attempts=2)


def test_bad_input_is_refused():
    nonsymmetric = poisson_2d(6).tolil()
    nonsymmetric[0, 1] = -2.0
    with pytest.raises(SciMLError, match=r"A is not symmetric: A\[.*max \|A - A\^T\|"):
        ic0(nonsymmetric.tocsr())
    with pytest.raises(SciMLError, match=r"A must be square; got shape \(4, 5\)"):
        ic0(sp.eye(4, 5, format="csr"))
    with pytest.raises(SciMLError, match="scipy sparse matrix; got ndarray"):
        ic0(np.eye(3))
    with pytest.raises(SciMLError, match=r"A\[1, 1\] = -1 is not positive"):
        ic0(sp.diags([1.0, -1.0, 1.0]))
    with pytest.raises(SciMLError, match="non-finite"):
        ic0(sp.diags([1.0, np.inf, 1.0]))
    with pytest.raises(ConfigError, match="max_attempts must be an integer >= 1; got 0"):
        ic0(sp.eye(3), max_attempts=0)
