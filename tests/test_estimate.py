"""sciml.linalg.estimate_condition against dense truth: Ritz values inside the spectrum of M^-1 A,
moving out to its ends as the probe grows; predicted iterations near the true ones; operators that
are not SPD reported as such."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import torch

from sciml import ConfigError, DataError
from sciml.gallery import diffusion2d_grf, indefinite, poisson2d, poisson3d
from sciml.linalg import EstimateStatus, estimate_condition, pcg, preconditioner

pytestmark = pytest.mark.usefixtures("one_thread")


def dense_preconditioner(name: str, A: sp.csr_matrix, M) -> np.ndarray:
    """``P`` with ``M^-1 = P^-1``: the identity, ``diag(A)``, or ``L L^T`` of IC(0)."""
    if name == "none":
        return np.eye(A.shape[0])
    if name == "jacobi":
        return np.diag(A.diagonal())
    L = M.L.toarray()
    return L @ L.T


MATRICES = {"diffusion2d": lambda: diffusion2d_grf(8, contrast=1e2, seed=1), "poisson3d": lambda: poisson3d(4)}


@pytest.mark.parametrize("matrix", list(MATRICES))
@pytest.mark.parametrize("name", ["none", "jacobi", "ic0"])
def test_ritz_values_lie_in_the_spectrum_and_move_out_to_its_ends(matrix, name):
    A = MATRICES[matrix]()
    M = preconditioner(name, A)
    # the spectrum of M^-1 A: the generalized problem A v = lambda P v, dense
    spectrum = scipy.linalg.eigh(A.toarray(), dense_preconditioner(name, A, M), eigvals_only=True)
    low, high = spectrum[0], spectrum[-1]
    previous = None
    errors = []
    for steps in (1, 2, 3, 5, 8, 12, 20, 40, 64):
        e = estimate_condition(A, M, steps=steps, fraction=0, rtol=1e-13)
        assert e.spd and e.steps <= steps and e.ritz_values.shape == (e.steps,)
        assert np.all(e.ritz_values >= low * (1 - 1e-9)) and np.all(e.ritz_values <= high * (1 + 1e-9))
        assert e.condition <= (high / low) * (1 + 1e-9)  # a lower estimate of the condition number
        if previous is not None and e.steps > previous.steps:
            # T_k is the leading block of T_(k+1): its extreme eigenvalues can only move outwards (interlacing)
            assert e.lambda_min <= previous.lambda_min * (1 + 1e-12)
            assert e.lambda_max >= previous.lambda_max * (1 - 1e-12)
        errors.append(((e.lambda_min - low) / low, (high - e.lambda_max) / high))
        previous = e
    (first_low, first_high), (last_low, last_high) = errors[0], errors[-1]
    # at the end of the probe (converged to 1e-13) both ends are found; the top one of IC(0) on the 3D
    # Laplacian, whose eigenvalues cluster under lambda_max, within 1e-3 (8.5e-4 measured)
    assert last_low <= 1e-6 and last_high <= 1e-3
    assert first_low > 100 * max(last_low, 1e-12) and first_high > 10 * max(last_high, 1e-12)  # not after one step


def test_a_probe_that_converges_predicts_the_steps_it_took_and_those_match_pcg():
    A = poisson2d(6)
    M = preconditioner("ic0", A)
    e = estimate_condition(A, M, steps=50, rtol=1e-8, seed=3)
    b = torch.from_numpy(np.random.default_rng(3).standard_normal(36))
    result = pcg(A, b, M, rtol=1e-8)
    assert e.status is EstimateStatus.CONVERGED and e.steps < 50
    assert e.predicted_iterations == e.steps == result.iterations  # the same CG on the same right-hand side
    np.testing.assert_allclose(e.residual_norms, result.residual_norms.numpy(), rtol=1e-10)


@pytest.mark.parametrize("name", ["none", "jacobi", "ic0", "amg-rs"])
def test_predicted_iterations_are_near_the_true_ones(name):
    """Preconditioned, usually high (CG speeds up after the probe; about 1.6x at 16 steps); unpreconditioned CG
    on this matrix is predicted low (259 against 418: its residual falls faster later than in the probe)."""
    A = diffusion2d_grf(32, contrast=1e3, seed=2)
    M = preconditioner(name, A)
    e = estimate_condition(A, M)
    b = torch.from_numpy(np.random.default_rng(0).standard_normal(A.shape[0]))
    true = pcg(A, b, M, rtol=1e-8).iterations
    assert 0.5 * true <= e.predicted_iterations <= 3 * true, (e.predicted_iterations, true)
    assert e.seconds > 0 and e.seconds_per_step > 0
    assert e.predicted_seconds == pytest.approx(e.predicted_iterations * e.seconds_per_step)


def test_the_predictions_rank_preconditioners_like_their_true_iterations():
    A = diffusion2d_grf(24, contrast=1e3, seed=4)
    b = torch.from_numpy(np.random.default_rng(1).standard_normal(A.shape[0]))
    names = ["none", "jacobi", "ssor", "ic0", "amg-rs"]
    predicted = [estimate_condition(A, preconditioner(n, A)).predicted_iterations for n in names]
    true = [pcg(A, b, preconditioner(n, A), rtol=1e-8).iterations for n in names]
    assert np.argsort(predicted).tolist() == np.argsort(true).tolist(), (predicted, true)


def test_the_probe_grows_to_a_fraction_of_its_prediction_and_no_further_than_max_steps():
    A = diffusion2d_grf(48, contrast=1e3, seed=5)
    M = preconditioner("jacobi", A)  # about 180 iterations: a longer probe than the minimum
    fixed = estimate_condition(A, M, steps=16, fraction=0)
    grown = estimate_condition(A, M, steps=16, fraction=0.15)
    assert fixed.steps == 16 and grown.steps > 16
    assert grown.steps >= 0.15 * grown.predicted_iterations  # it stops once it is long enough ...
    shorter = estimate_condition(A, M, steps=16, fraction=0.15, max_steps=grown.steps - 1)
    assert shorter.predicted_iterations * 0.15 > shorter.steps  # ... and not one step before
    assert shorter.steps == grown.steps - 1
    capped = estimate_condition(A, M, steps=16, fraction=0.9, max_steps=20)
    assert capped.steps == 20
    # the first 16 steps are the same PCG steps: a longer probe extends the same residual history
    np.testing.assert_array_equal(grown.residual_norms[:17], fixed.residual_norms)


def test_an_indefinite_preconditioner_is_reported_not_estimated():
    A = poisson2d(8)
    signs = np.where(np.arange(64) % 2 == 0, 1.0, -1.0)  # M^-1 = diag(+-1): symmetric, indefinite
    M = lambda R: R * torch.from_numpy(signs).to(R.dtype)  # noqa: E731
    e = estimate_condition(A, M, steps=16)
    assert e.status is EstimateStatus.INDEFINITE_PRECONDITIONER and not e.spd
    assert math.isnan(e.lambda_min) and math.isinf(e.condition) and math.isinf(e.predicted_iterations)
    d = e.as_dict()
    json.dumps(d, allow_nan=False)  # JSON-ready: the non-finite numbers are null
    assert d["lambda_min"] is None and d["predicted_iterations"] is None and "not symmetric positive" in d["message"]


def test_an_indefinite_matrix_and_nan_are_reported():
    e = estimate_condition(indefinite(6), None, steps=30)
    assert e.status is EstimateStatus.INDEFINITE_MATRIX and "matrix is not symmetric positive definite" in e.summary()
    A = poisson2d(4)
    e = estimate_condition(A, lambda R: R * float("nan"), steps=4)
    assert e.status is EstimateStatus.NON_FINITE


def test_a_residual_that_stops_falling_predicts_no_convergence():
    """The prediction extends the fitted line of the running-minimum residual: flat means never."""
    from sciml.linalg.estimate import _predict

    rate, predicted = _predict(np.array([1.0, 0.5, 0.5, 0.5, 0.5, 0.6, 0.5]), 1e-8)
    assert rate == pytest.approx(1.0) and math.isinf(predicted)
    rate, predicted = _predict(0.1 ** np.arange(7.0), 1e-8)  # a steady factor 10 per step reaches 1e-8 at step 8
    assert rate == pytest.approx(0.1) and predicted == pytest.approx(8.0)


def test_matrix_types_give_the_same_estimate():
    A = diffusion2d_grf(8, contrast=10.0, seed=0)
    M = preconditioner("jacobi", A)
    base = estimate_condition(A, M, steps=10)
    for other in (A.toarray(), torch.from_numpy(A.toarray())):
        e = estimate_condition(other, M, steps=10)
        assert e.lambda_min == pytest.approx(base.lambda_min, rel=1e-10)
        assert e.predicted_iterations == pytest.approx(base.predicted_iterations, rel=1e-8)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"steps": 0}, ConfigError, "steps must be a positive integer, got 0"),
    ({"steps": 2.5}, ConfigError, "steps must be a positive integer"),
    ({"rtol": 0.0}, ConfigError, r"rtol must lie in \(0, 1\)"),
    ({"rtol": 1.0}, ConfigError, r"rtol must lie in \(0, 1\)"),
    ({"seed": -1}, ConfigError, "seed must be a non-negative integer"),
    ({"max_steps": 0}, ConfigError, "max_steps must be a positive integer, got 0"),
    ({"fraction": 1.0}, ConfigError, r"fraction must lie in \[0, 1\), got 1.0"),
    ({"fraction": -0.1}, ConfigError, r"fraction must lie in \[0, 1\)"),
])
def test_bad_settings_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        estimate_condition(poisson2d(4), None, **kwargs)


def test_bad_matrices_are_refused():
    with pytest.raises(DataError, match=r"A must be a square matrix with at least one row, got csr_matrix of shape "
                                        r"\(4, 5\)"):
        estimate_condition(sp.csr_matrix(np.ones((4, 5))), None)
    nan = poisson2d(4).astype(float)
    nan.data[0] = np.nan
    with pytest.raises(DataError, match="NaN or Inf"):
        estimate_condition(nan, None)
