"""Diffusion-sorption reference solver: analytic modes of the linear case, self-convergence of the
nonlinear (Freundlich) case, the generator path and bad input."""

import numpy as np
import pytest
from scipy.optimize import brentq

from sciml import ConfigError, DataError
from sciml.data import generate_dataset, open_store
from sciml.data.pdes import PDES, diffusion_sorption as ds


def _linear(D):
    """n_f = 1: R is the constant 1 + (1 - phi) / phi * rho_s * k."""
    p = {"D": D, "n_f": 1.0}
    return p, float(ds.retardation(np.array(0.3), {**ds.DEFAULTS, **p}))


def test_linear_case_decays_like_the_analytic_robin_mode_at_second_order():
    # u(0) = 0, u(1) + D u_x(1) = 0: modes sin(k x) with tan k = -D k, decaying like exp(-D k^2 t / R)
    D = 0.05
    p, R = _linear(D)
    p["u_left"] = 0.0
    k = brentq(lambda s: np.sin(s) + D * s * np.cos(s), np.pi / 2 + 1e-9, np.pi - 1e-9)
    T = 0.5 * R / (D * k**2)
    errors = []
    for nx in (32, 64, 128, 256):
        x = ds.cell_centres(nx)
        u = ds.solve(np.sin(k * x), [0.0, T], p)
        errors.append(np.abs(u[-1] - np.sin(k * x) * np.exp(-D * k**2 * T / R)).max())
    order = np.polyfit(np.log([32, 64, 128, 256]), np.log(errors), 1)[0]
    assert -2.3 < order < -1.7, errors
    assert errors[-1] < 1e-4


def test_linear_case_reaches_the_exact_steady_state():
    # u_xx = 0, u(0) = 1, u(1) = -D u_x(1): u = 1 - x / (1 + D), linear, so the scheme holds it exactly
    D = 0.2
    p, R = _linear(D)
    x = ds.cell_centres(40)
    u = ds.solve(np.zeros(40), [0.0, 60.0 * R / D], p)
    assert np.abs(u[-1] - (1 - x / (1 + D))).max() < 1e-6


def test_freundlich_case_converges_at_second_order():
    p = {"T": 500.0}
    ref_n = 1024
    xr = ds.cell_centres(ref_n)
    u0 = lambda x: 0.1 * (0.5 + 0.5 * np.sin(2 * np.pi * (2 * x + 0.3)))  # noqa: E731
    ref = ds.solve(u0(xr), [0.0, 500.0], p)[-1]
    sizes, errors = (32, 64, 128), []
    for nx in sizes:
        coarse = ref.reshape(nx, ref_n // nx).mean(-1)  # the reference's cell averages
        errors.append(np.abs(ds.solve(u0(ds.cell_centres(nx)), [0.0, 500.0], p)[-1] - coarse).max())
    order = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert -2.4 < order < -1.6, errors
    # the front moves in from the left boundary and the solution stays a concentration in [0, 1]
    assert ref.min() >= -1e-8 and ref.max() <= 1 + 1e-8 and ref[0] > 0.5


def test_generator_writes_a_store_reproducibly(tmp_path):
    params = {"fine": 64, "nt": 6, "T": 50.0}
    a = generate_dataset("diffusion-sorption", tmp_path / "a.h5", n=3, res=16, seed=4, params=params)
    b = generate_dataset("diffusion-sorption", tmp_path / "b.h5", n=3, res=16, seed=4, params=params)
    with open_store(a) as sa, open_store(b) as sb:
        ua, ub = sa.read("tensor"), sb.read("tensor")
    assert ua.shape == (3, 6, 16) and np.array_equal(ua, ub)
    assert np.all(ua[:, 0] < 0.2 + 1e-6) and np.all(ua[:, 1:, 0] > ua[:, :1, 0])  # inflow from u(0) = 1
    assert "diffusion-sorption" in PDES


@pytest.mark.parametrize("params, match", [
    ({"phi": 1.5}, "phi"), ({"D": -1.0}, "D must be a positive"), ({"ic": "gauss"}, "unknown diffusion-sorption ic"),
    ({"bogus": 1}, "unknown diffusion-sorption parameter"), ({"nt": 1}, "nt"),
])
def test_bad_parameters_are_refused_with_one_sentence(params, match):
    with pytest.raises(ConfigError, match=match):
        ds.check_params(16, params)


def test_bad_inputs_are_refused():
    with pytest.raises(ConfigError, match="divide fine"):
        ds.check_params(100, {})
    with pytest.raises(DataError, match="non-negative"):
        ds.solve(np.array([0.1, np.nan, 0.1, 0.2]), [0.0, 1.0])
    with pytest.raises(ConfigError, match="increasing"):
        ds.solve(np.zeros(8), [1.0, 0.5])
