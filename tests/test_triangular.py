"""TriangularSolver against scipy's spsolve_triangular, batched against looped, and its error messages."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import spsolve_triangular

import sciml.linalg.triangular as triangular
from sciml._errors import ConfigError, SciMLError
from sciml.linalg.assemble import poisson_2d
from sciml.linalg.triangular import TriangularSolver

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}


def torch_method_unsupported(dtype: torch.dtype) -> str | None:
    return triangular._torch_sparse_triangular_support(torch.device("cpu"), dtype)


def random_dominant(n: int, seed: int) -> sp.csr_matrix:
    """Random sparse matrix, about 10% dense, with a diagonal that dominates each row."""
    rng = np.random.default_rng(seed)
    off = sp.random(n, n, density=0.1, random_state=rng, data_rvs=lambda k: rng.uniform(-1, 1, k), format="csr")
    off.setdiag(0)
    off.eliminate_zeros()
    return (off + sp.diags(1.0 + abs(off).sum(axis=1).A1 + rng.uniform(0, 1, n))).tocsr()


def triangle(kind: str, lower: bool, unit_diagonal: bool) -> sp.csr_matrix:
    """A test triangle of the 2-D Poisson matrix (100 unknowns) or of a random dominant matrix.

    For a unit-diagonal solve the strict part is scaled to keep the solve well conditioned, and
    the stored diagonal is set to 7: the solver must not read it.
    """
    matrix = poisson_2d(12) if kind == "poisson" else random_dominant(90, seed=3)
    part = sp.tril(matrix, format="csr") if lower else sp.triu(matrix, format="csr")
    if unit_diagonal:
        strict = sp.diags(1.0 / matrix.diagonal()) @ (part - sp.diags(part.diagonal()))
        part = (strict + 7.0 * sp.eye(matrix.shape[0])).tocsr()
    return part


def reference(T: sp.csr_matrix, b: np.ndarray, lower: bool, unit_diagonal: bool) -> np.ndarray:
    """scipy's float64 solve, one right-hand side per row of ``b``."""
    return spsolve_triangular(T, np.atleast_2d(b).T, lower=lower, unit_diagonal=unit_diagonal).T.reshape(b.shape)


@pytest.mark.parametrize("method", ["levels", "torch"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("unit_diagonal", [False, True], ids=["nonunit", "unit"])
@pytest.mark.parametrize("lower", [True, False], ids=["lower", "upper"])
@pytest.mark.parametrize("kind", ["poisson", "random"])
def test_matches_scipy_single_and_batched(kind, lower, unit_diagonal, dtype, method):
    if method == "torch" and (reason := torch_method_unsupported(dtype)):
        pytest.skip(f"torch sparse triangular solve unsupported here: {reason}")
    T = triangle(kind, lower, unit_diagonal)
    solver = TriangularSolver(T, lower=lower, unit_diagonal=unit_diagonal, dtype=dtype, method=method)
    assert solver.method == method and solver.n == T.shape[0]
    generator = torch.Generator().manual_seed(11)
    rhs = torch.randn(6, T.shape[0], generator=generator, dtype=torch.float64).to(dtype)
    expected = torch.from_numpy(reference(T, rhs.double().numpy(), lower, unit_diagonal))
    tol = TOLERANCE[dtype]
    scale = expected.abs().max().item()

    single = solver.solve(rhs[0])
    assert single.shape == rhs[0].shape and single.dtype == dtype
    torch.testing.assert_close(single.double(), expected[0], rtol=tol, atol=tol * scale)

    batched = solver.solve(rhs)
    assert batched.shape == rhs.shape and batched.dtype == dtype
    torch.testing.assert_close(batched.double(), expected, rtol=tol, atol=tol * scale)
    looped = torch.stack([solver.solve(row) for row in rhs])
    torch.testing.assert_close(batched, looped, rtol=tol * 1e-2, atol=tol * 1e-2 * scale)


def test_levels_of_poisson_triangles_are_wavefronts():
    """Row (r, c) of the m x m grid depends on (r-1, c) and (r, c-1): level r + c, so 2m - 1 levels."""
    m = 10
    A = poisson_2d(m + 2)
    for lower, part in ((True, sp.tril(A)), (False, sp.triu(A))):
        assert TriangularSolver(part, lower=lower, method="levels").n_levels == 2 * m - 1
    assert TriangularSolver(sp.eye(5), lower=True, method="levels").n_levels == 1


@pytest.mark.parametrize("method", ["levels", "torch"])
def test_strict_triangle_with_unit_diagonal(method):
    """No stored diagonal at all is fine when the diagonal is declared to be ones."""
    if method == "torch" and (reason := torch_method_unsupported(torch.float64)):
        pytest.skip(f"torch sparse triangular solve unsupported here: {reason}")
    matrix = random_dominant(50, seed=5)
    strict = sp.tril(sp.diags(1.0 / matrix.diagonal()) @ matrix, k=-1, format="csr")
    solver = TriangularSolver(strict, lower=True, unit_diagonal=True, method=method)
    b = torch.randn(50, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected = torch.from_numpy(reference(strict, b.numpy(), True, True))
    torch.testing.assert_close(solver.solve(b), expected, rtol=1e-10, atol=1e-10)


def test_input_formats_and_defaults_agree():
    """CSC, COO and a torch sparse CSR tensor give the same solver; float32 input defaults to float32."""
    T = triangle("random", lower=True, unit_diagonal=False)
    b = torch.randn(T.shape[0], generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    expected = TriangularSolver(T, lower=True, method="levels").solve(b)
    as_torch = torch.sparse_csr_tensor(torch.from_numpy(T.indptr.astype(np.int64)),
                                       torch.from_numpy(T.indices.astype(np.int64)),
                                       torch.from_numpy(T.data), size=T.shape, check_invariants=True)
    for same in (T.tocsc(), T.tocoo(), as_torch):
        solver = TriangularSolver(same, lower=True, method="levels")
        assert solver.dtype == torch.float64 and solver.device == torch.device("cpu")
        torch.testing.assert_close(solver.solve(b), expected, rtol=1e-13, atol=1e-13)
    assert TriangularSolver(T.astype(np.float32), lower=True).dtype == torch.float32


def test_auto_prefers_torch_where_supported_and_falls_back(monkeypatch):
    T = triangle("poisson", lower=True, unit_diagonal=False)
    supported = torch_method_unsupported(torch.float64) is None
    assert TriangularSolver(T, lower=True).method == ("torch" if supported else "levels")

    monkeypatch.setattr(triangular, "_torch_sparse_triangular_support", lambda device, dtype: "not compiled in")
    auto = TriangularSolver(T, lower=True)
    assert auto.method == "levels" and auto.n_levels == 19
    with pytest.raises(SciMLError, match="method 'torch' is not available.*not compiled in.*method='levels'"):
        TriangularSolver(T, lower=True, method="torch")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("method", ["levels", "auto"])
def test_cuda_matches_cpu(method):
    T = triangle("poisson", lower=False, unit_diagonal=False)
    b = torch.randn(3, T.shape[0], generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    cpu = TriangularSolver(T, lower=False, method="levels").solve(b)
    cuda = TriangularSolver(T, lower=False, method=method, device="cuda").solve(b.cuda())
    torch.testing.assert_close(cuda.cpu(), cpu, rtol=1e-12, atol=1e-12)


def test_entry_on_wrong_side_names_it():
    T = sp.tril(poisson_2d(6), format="lil")
    T[2, 5] = 1.0
    T[3, 9] = 1.0
    with pytest.raises(SciMLError, match=r"entry above the diagonal at \(2, 5\).*lower triangular"):
        TriangularSolver(T, lower=True)
    with pytest.raises(SciMLError, match=r"entry below the diagonal at \(1, 0\).*upper triangular"):
        TriangularSolver(T, lower=False)


def test_zero_or_missing_diagonal_names_the_row():
    T = sp.tril(poisson_2d(6), format="lil")
    T[3, 3] = 0.0
    with pytest.raises(SciMLError, match="zero or missing diagonal entry in row 3"):
        TriangularSolver(T.tocsr(), lower=True)
    strict = sp.tril(poisson_2d(6), k=-1)
    with pytest.raises(SciMLError, match="row 0.*unit_diagonal=True"):
        TriangularSolver(strict, lower=True)


def test_bad_matrices_are_refused():
    with pytest.raises(SciMLError, match=r"square; got shape \(4, 5\)"):
        TriangularSolver(sp.eye(4, 5), lower=True)
    nan_matrix = sp.eye(4, format="lil")
    nan_matrix[2, 1] = np.nan
    with pytest.raises(SciMLError, match=r"non-finite value nan at \(2, 1\)"):
        TriangularSolver(nan_matrix, lower=True)
    with pytest.raises(SciMLError, match="scipy sparse matrix or a torch sparse CSR tensor; got ndarray"):
        TriangularSolver(np.eye(3), lower=True)
    with pytest.raises(SciMLError, match="torch sparse CSR.*layout torch.strided"):
        TriangularSolver(torch.eye(3), lower=True)
    with pytest.raises(SciMLError, match="float32 or torch.float64; got torch.float16"):
        TriangularSolver(sp.eye(3), lower=True, dtype=torch.float16)


def test_unknown_method_lists_the_choices():
    with pytest.raises(ConfigError,
                       match="unknown triangular solve method 'cusparse'; choose one of auto, levels, torch"):
        TriangularSolver(sp.eye(3), lower=True, method="cusparse")


@pytest.mark.parametrize("method", ["levels", "auto"])
def test_bad_right_hand_sides_are_refused(method):
    solver = TriangularSolver(sp.tril(poisson_2d(12)), lower=True, method=method)
    with pytest.raises(SciMLError, match=r"T has shape \(100, 100\) but b has shape \(99,\)"):
        solver.solve(torch.zeros(99, dtype=torch.float64))
    with pytest.raises(SciMLError, match=r"b has shape \(2, 3, 100\)"):
        solver.solve(torch.zeros(2, 3, 100, dtype=torch.float64))
    with pytest.raises(SciMLError, match="b has dtype torch.float32 but the solver was set up for torch.float64"):
        solver.solve(torch.zeros(100, dtype=torch.float32))
    with pytest.raises(SciMLError, match="b must be a torch tensor; got ndarray"):
        solver.solve(np.zeros(100))
