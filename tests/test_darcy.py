import numpy as np
import pytest
import torch

from sciml import ConfigError
from sciml.data import generate_dataset, open_store
from sciml.data.pdes import darcy
from sciml.gallery import manufactured_darcy
from sciml.linalg.assemble import diffusion_2d


def test_finite_differences_converge_at_second_order():
    sizes = [9, 17, 33, 65]
    errors = []
    for n in sizes:
        a, f, u = manufactured_darcy(n)
        errors.append(float(np.abs(darcy.solve(a, f).numpy() - u).max()))
    h = [1.0 / (n - 1) for n in sizes]
    slope = np.polyfit(np.log(h), np.log(errors), 1)[0]
    assert abs(slope - 2.0) < 0.3, (slope, errors)
    assert errors[-1] < 1e-3


def test_matrix_is_symmetric_positive_definite_with_int32_indices():
    a = darcy.sample_coefficient(0, 0, 17, darcy.check_params(17, {}))
    matrix = diffusion_2d(a, 1 / 16)
    assert matrix.indices.dtype == np.int32 and matrix.indptr.dtype == np.int32
    assert abs(matrix - matrix.T).max() < 1e-12
    assert np.linalg.eigvalsh(matrix.toarray()).min() > 0


def test_amg_and_direct_solvers_agree_and_tensors_keep_their_device_and_dtype():
    params = darcy.check_params(33, {})
    a = np.stack([darcy.sample_coefficient(3, i, 33, params) for i in range(2)])
    direct = darcy.solve(torch.tensor(a, dtype=torch.float32), 1.0)
    amg = darcy.solve(a, 1.0, solver="amg", rtol=1e-12)
    assert direct.dtype == torch.float32 and direct.shape == (2, 33, 33)
    torch.testing.assert_close(direct.double(), amg, rtol=1e-5, atol=1e-7)
    assert float(direct[:, 0].abs().max()) == 0.0  # boundary


def test_coefficient_is_the_thresholded_field_and_samples_are_independent():
    params = darcy.check_params(32, {})
    a0 = darcy.sample_coefficient(0, 0, 63, params)
    a1 = darcy.sample_coefficient(0, 1, 63, params)
    assert set(np.unique(a0)) <= {3.0, 12.0} and 0.1 < (a0 == 12).mean() < 0.9
    assert not np.array_equal(a0, a1)
    np.testing.assert_array_equal(a0, darcy.sample_coefficient(0, 0, 63, params))


def test_bad_parameters_are_refused_before_any_work(tmp_path):
    out = tmp_path / "d.h5"
    for params, pattern in [({"refine": 0}, "refine must be a positive integer"),
                            ({"nu": 1}, "unknown darcy parameter nu"),
                            ({"a_low": -1.0}, "must be positive"),
                            ({"fine_res": 100}, "fine_res 100 does not match")]:
        with pytest.raises(ConfigError, match=pattern):
            generate_dataset("darcy", out, n=2, res=8, params=params)
    with pytest.raises(ConfigError, match="unknown PDE 'darcyy'; choose one of darcy"):
        generate_dataset("darcyy", out, n=2, res=8)
    with pytest.raises(ConfigError, match="positive"):
        darcy.solve(-np.ones((5, 5)))
    assert not out.exists() and not (tmp_path / "d.h5.partial").exists()


def test_generation_is_deterministic_and_subsamples_the_fine_solution(tmp_path):
    generate_dataset("darcy", tmp_path / "a.h5", n=3, res=9, seed=5, params={"refine": 2})
    generate_dataset("darcy", tmp_path / "b.h5", n=3, res=9, seed=5, params={"refine": 2})
    with open_store(tmp_path / "a.h5") as a, open_store(tmp_path / "b.h5") as b:
        np.testing.assert_array_equal(a.read("output"), b.read("output"))
        coeff = a.read("input")[1, 0]
        fine = darcy.check_params(9, {"refine": 2})
        a_fine = darcy.sample_coefficient(5, 1, 17, fine)
        np.testing.assert_array_equal(coeff, a_fine[::2, ::2])
        u_fine = darcy.solve(a_fine).numpy()
        np.testing.assert_allclose(a.read("output")[1, 0], u_fine[::2, ::2], rtol=1e-6)
        assert a.attrs["params"]["fine_res"] == 17 and a.attrs["pde"] == "darcy"
