"""diffusion-systems with per-sample contrast, correlation length and smoothness (``*_range``):
the default stream is untouched, the draws land in their ranges, bad ranges are refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sciml import ConfigError
from sciml.data import generate_dataset
from sciml.data.grf import cosine_grf, sample_rng
from sciml.data.pdes import diffusion_systems as ds
from sciml.data.store import open_store
from sciml.linalg.assemble import diffusion_2d


def test_parameters_without_ranges_are_stored_exactly_as_before():
    # the stored parameters decide whether an experiment reuses a dataset: no new keys may appear
    assert ds.check_params(8, {}) == {"dim": 2, "contrast": 1e3, "alpha": 2.0, "tau": 3.0, "rhs": "normal"}
    assert ds.check_params(4, {"dim": 3, "contrast": 10.0, "rhs": "ones"}) == {
        "dim": 3, "contrast": 10.0, "alpha": 2.0, "tau": 3.0, "rhs": "ones"}
    assert ds.GENERATOR == "sciml.data.pdes.diffusion_systems 1"


def test_the_fixed_parameter_sample_follows_the_documented_recipe():
    """Coefficient first, right-hand side second, both from sample_rng(seed, index): the stream of the
    generator before ranges existed, recomputed here from the recipe in the module docstring."""
    res, seed, index = 9, 4, 3
    params = ds.check_params(res, {"contrast": 200.0, "tau": 5.0})
    A, b = ds.sample_system(seed, index, res, params)
    rng = sample_rng(seed, index)
    z = cosine_grf(rng.standard_normal((1, res + 2, res + 2)), res + 2, alpha=2.0, tau=5.0)[0]
    z = (z - z.min()) / (z.max() - z.min())
    expected = diffusion_2d(np.exp(z * math.log(200.0)), 1.0 / (res + 1))
    expected.sum_duplicates()
    expected.sort_indices()
    np.testing.assert_array_equal(A.data, expected.data)
    np.testing.assert_array_equal(b, rng.standard_normal(res * res))


def test_ranges_draw_each_sample_inside_them_and_the_coefficient_follows():
    params = ds.check_params(12, {"contrast_range": [1e2, 1e6], "tau_range": [3.0, 12.0],
                                  "alpha_range": [1.5, 2.5]})
    assert "contrast" not in params and "tau" not in params and "alpha" not in params  # no unused fixed value
    drawn = [ds.sample_hyperparameters(0, i, params) for i in range(40)]
    contrasts = np.array([d["contrast"] for d in drawn])
    taus = np.array([d["tau"] for d in drawn])
    alphas = np.array([d["alpha"] for d in drawn])
    assert np.all((1e2 <= contrasts) & (contrasts <= 1e6)) and np.all((3 <= taus) & (taus <= 12))
    assert np.all((1.5 <= alphas) & (alphas <= 2.5))
    # log-uniform: about half the contrasts below the geometric midpoint 1e4 (40 draws: 8-32 is 4.7 sigma wide)
    assert 8 <= int(np.sum(contrasts < 1e4)) <= 32
    for i in (0, 1, 2):
        a = ds.sample_coefficient(0, i, 12, params)
        assert a.max() / a.min() == pytest.approx(drawn[i]["contrast"], rel=1e-9)
    # a shorter correlation length (larger tau) gives a rougher field: more sign changes of the centred log a
    rough = {"contrast_range": [1e3, 1e3], "tau_range": [40.0, 40.0]}
    smooth = {"contrast_range": [1e3, 1e3], "tau_range": [1.0, 1.0]}

    def crossings(p: dict) -> int:
        z = np.log(ds.sample_coefficient(1, 0, 30, ds.check_params(30, p)))
        z -= z.mean()
        return int(np.sum(np.signbit(z[:, 1:]) != np.signbit(z[:, :-1])))

    assert crossings(rough) > 3 * crossings(smooth)


def test_a_range_of_zero_width_gives_the_fixed_parameter_data(tmp_path):
    fixed = generate_dataset("diffusion-systems", tmp_path / "fixed.h5", n=3, res=6, seed=2,
                             params={"contrast": 50.0, "tau": 4.0})
    ranged = generate_dataset("diffusion-systems", tmp_path / "ranged.h5", n=3, res=6, seed=2,
                              params={"contrast_range": [50.0, 50.0], "tau_range": [4.0, 4.0]})
    with open_store(fixed) as a, open_store(ranged) as b:
        for name in ("values", "rhs", "solution"):
            np.testing.assert_array_equal(a.read(name), b.read(name))
        assert b.attrs["params"]["contrast_range"] == [50.0, 50.0]


@pytest.mark.parametrize("params, message", [
    ({"contrast_range": [10.0, 1.0]}, r"contrast_range must have lo <= hi, got \[10, 1\]"),
    ({"contrast_range": [0.5, 2.0]}, r"contrast_range must lie in \[1, inf\)"),
    ({"tau_range": [0.0, 2.0]}, "tau_range must hold positive numbers"),
    ({"alpha_range": [-1.0, 2.0]}, "alpha_range must hold positive numbers"),
    ({"alpha_range": 3.0}, r"alpha_range must be two finite numbers \[lo, hi\], got 3.0"),
    ({"tau_range": [1.0, "many"]}, "tau_range must be two finite numbers"),
    ({"contrast_range": [1.0, float("inf")]}, "contrast_range must be two finite numbers"),
    ({"contrast": 10.0, "contrast_range": [1.0, 2.0]}, "give contrast or contrast_range, not both"),
    ({"tau_rang": [1.0, 2.0]}, "unknown diffusion-systems parameter tau_rang; valid: .*tau_range"),
])
def test_bad_ranges_are_refused_before_any_work(tmp_path, params, message):
    with pytest.raises(ConfigError, match=message):
        generate_dataset("diffusion-systems", tmp_path / "x.h5", n=2, res=6, params=params)
    assert list(tmp_path.iterdir()) == []


def test_yaml_spelled_numbers_are_read_as_numbers():
    # YAML 1.1 reads 1e6 (no dot) as a string, as in `--set contrast_range=[1e2,1e6]`
    assert ds.check_params(6, {"contrast_range": ["1e2", "1e6"]})["contrast_range"] == [100.0, 1e6]
