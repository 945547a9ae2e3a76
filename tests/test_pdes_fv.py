"""MP-PDE data generators: the combined equation (finite volume, WENO5) and the wave equation (Chebyshev)."""

import numpy as np
import pytest
import torch

import sciml.data.pdes
from sciml import ConfigError, DataError
from sciml.data import generate_dataset, open_store
from sciml.data.pdes import combined, wave
from sciml.gallery.advection import advected_sine, dispersive_mode, manufactured_combined
from sciml.gallery.wave import standing_wave

L = 16.0


def fitted_order(sizes, errors):
    """Slope of log(error) against log(h), h = L / n."""
    return np.polyfit(np.log(L / np.asarray(sizes, dtype=float)), np.log(errors), 1)[0]


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(sciml.data.pdes.PDES, "combined", combined)
    monkeypatch.setitem(sciml.data.pdes.PDES, "wave", wave)


# ---------------------------------------------------------------------------- combined: discretisation


def test_weno5_reconstruction_is_fifth_order_on_smooth_data():
    sizes = [20, 40, 80, 160, 320]
    errors = []
    for n in sizes:
        minus, plus = combined.weno5(torch.from_numpy(advected_sine(n, [0.0], L=L)))
        faces = np.sin(2 * np.pi * (np.arange(n) + 1.0) / n)  # u at x_{i+1/2}
        errors.append(max(np.abs(minus[0].numpy() - faces).max(), np.abs(plus[0].numpy() - faces).max()))
    assert abs(fitted_order(sizes, errors) - 5.0) < 0.3, errors


def test_weno5_advection_converges_at_fifth_order():
    # dt ~ h^(5/3) so that SSP-RK3's O(dt^3) error stays below WENO5's O(h^5)
    sizes = [20, 40, 80, 160]
    errors = []
    for n in sizes:
        u0 = torch.from_numpy(advected_sine(n, [0.0], L=L))
        u = combined.solve_advection(u0, [0.0, 4.0], 1.0, L, cfl=0.8 * (20 / n) ** (2 / 3))
        errors.append(np.abs(u[0, -1].numpy() - advected_sine(n, [4.0], L=L)[0]).max())
    assert abs(fitted_order(sizes, errors) - 5.0) < 0.3, errors
    assert errors[-1] < 1e-7


def test_diffusive_and_dispersive_fluxes_are_fourth_order():
    sizes = [16, 32, 64, 128]
    errors = []
    for n in sizes:
        u0 = torch.from_numpy(dispersive_mode(n, [0.0], beta=0.1, gamma=0.1, L=L, mode=2))
        u = combined.solve(u0, [0.0, 1.0], 0.0, 0.1, 0.1, None, L)
        exact = dispersive_mode(n, [1.0], beta=0.1, gamma=0.1, L=L, mode=2)[0]
        errors.append(np.abs(u[0, -1].numpy() - exact).max())
    assert abs(fitted_order(sizes, errors) - 4.0) < 0.3, errors


def test_forced_manufactured_solution_converges_between_fourth_and_fifth_order():
    sizes = [16, 32, 64, 128]
    errors = []
    for n in sizes:
        forcing, exact = manufactured_combined(n, [0.0, 1.0], alpha=1.0, beta=0.3, gamma=0.3, amplitude=0.5, L=L)
        u = combined.solve(torch.from_numpy(exact[:1]), [0.0, 1.0], 1.0, 0.3, 0.3, forcing[None], L)
        errors.append(np.abs(u[0, -1].numpy() - exact[-1]).max())
    order = fitted_order(sizes, errors)
    assert 4.0 - 0.3 < order < 5.0 + 0.3, (order, errors)
    assert errors[-1] < 1e-7


def test_ssprk3_time_stepping_is_third_order():
    n, times = 64, [0.0, 1.0]
    forcing, exact = manufactured_combined(n, times, alpha=1.0, beta=0.0, gamma=0.0, amplitude=0.5, L=L)
    u0 = torch.from_numpy(exact[:1])
    run = lambda cfl: combined.solve(u0, times, 1.0, 0.0, 0.0, forcing[None], L, cfl=cfl)[0, -1]  # noqa: E731
    reference = run(0.01)
    cfls = [0.8, 0.4, 0.2, 0.1]
    errors = [float((run(c) - reference).abs().max()) for c in cfls]
    order = np.polyfit(np.log(cfls), np.log(errors), 1)[0]
    assert abs(order - 3.0) < 0.3, errors


def test_mean_is_conserved_without_forcing_through_shocks_and_dispersion():
    g = torch.Generator().manual_seed(0)
    n = 64
    x = (torch.arange(n, dtype=torch.float64) + 0.5) * L / n
    u0 = sum(torch.rand(3, 1, generator=g, dtype=torch.float64) * torch.sin(2 * np.pi * k * x / L + k)
             for k in (1, 2, 3)) + torch.tensor([[0.3], [-0.2], [0.1]], dtype=torch.float64)
    alpha = torch.tensor([0.5, 2.0, 0.0], dtype=torch.float64)  # Burgers with shocks, KdV-like, heat
    beta = torch.tensor([0.0, 0.1, 0.3], dtype=torch.float64)
    gamma = torch.tensor([0.0, 0.5, 0.0], dtype=torch.float64)
    u = combined.solve(u0, np.linspace(0.0, 4.0, 5), alpha, beta, gamma, None, L)
    drift = (u.mean(dim=2) - u0.mean(dim=1, keepdim=True)).abs().max()
    assert float(drift) < 1e-13
    # Burgers obeys a maximum principle: WENO5 + SSP-RK3 keep the shocks nearly free of overshoot
    assert float(u[0].max()) < float(u0[0].max()) + 1e-2
    assert float((u[0, -1] - u[0, -1].roll(1)).abs().max()) > 0.2  # a shock has formed


def test_forcing_averages_are_the_exact_cell_averages():
    forcing = np.array([[[0.4, 0.3, 2.0, 1.0], [-0.2, -0.1, 1.0, 4.0]]])
    n, t = 40, 0.7
    edges = np.linspace(0.0, L, n + 1)
    exact = sum(-A / (2 * np.pi * l / L) * np.diff(np.cos(w * t + 2 * np.pi * l * edges / L + phi))
                for A, w, l, phi in forcing[0]) / (L / n)
    torch.testing.assert_close(combined.forcing_average(forcing, n, t, L)[0], torch.from_numpy(exact),
                               rtol=1e-12, atol=1e-13)


def test_batched_solve_equals_per_sample_solves_bit_for_bit():
    params = combined.check_params(10, {"family": "E3", "fine": 40})
    draws = [combined.sample_parameters(3, i, params) for i in range(3)]
    forcing = torch.from_numpy(np.stack([d["forcing"] for d in draws]))
    coefficients = [torch.tensor([d[k] for d in draws], dtype=torch.float64) for k in ("alpha", "beta", "gamma")]
    u0 = combined.forcing_average(forcing, 40)
    times = np.linspace(0.0, 0.5, 6)
    batched = combined.solve(u0, times, *coefficients, forcing)
    for i in range(3):
        single = combined.solve(u0[i:i + 1], times, *(c[i:i + 1] for c in coefficients), forcing[i:i + 1])
        assert torch.equal(batched[i:i + 1], single)


def test_solve_validates_inputs_and_keeps_dtype():
    u0 = torch.zeros(2, 16, dtype=torch.float32)
    out = combined.solve(u0, [0.0, 0.1], 0.5, 0.0, 0.0)
    assert out.shape == (2, 2, 16) and out.dtype == torch.float32
    for kwargs, pattern in [({"u0": torch.zeros(16)}, "shape \\(batch, nx\\)"),
                            ({"beta": -0.1}, "beta must be non-negative"),
                            ({"times": [0.0, 0.2, 0.1]}, "strictly increasing"),
                            ({"alpha": torch.zeros(3)}, "alpha must be a number or have shape \\(2,\\)"),
                            ({"forcing": np.ones((2, 5, 4)) * 1.5}, "must be integers"),
                            ({"cfl": 1.5}, "cfl must be a number in \\(0, 1\\]")]:
        args = {"u0": u0, "times": [0.0, 0.1], "alpha": 0.5, "beta": 0.0, "gamma": 0.0, **kwargs}
        with pytest.raises(ConfigError, match=pattern):
            combined.solve(**args)
    with pytest.raises(DataError, match="no stable time step"):
        combined.solve(torch.full((1, 16), 1e300, dtype=torch.float64), [0.0, 1.0], 1e300, 0.0, 0.0)


# ---------------------------------------------------------------------------- wave: discretisation


@pytest.mark.parametrize("bc", wave.BOUNDARY_CONDITIONS)
def test_wave_converges_spectrally_and_exactly_in_time(bc):
    # spectral in space: log(error) falls linearly in n (geometric convergence) down to round-off
    sizes = [8, 12, 16]
    times = np.linspace(0.0, 3.0, 7)
    errors = []
    for n in sizes:
        solver = wave.WaveSolver(n, 2.0, bc)
        exact = standing_wave(solver.x, times, c=2.0, bc=bc, mode=2)
        errors.append(np.abs(solver.solve(exact[0], times).numpy() - exact).max())
    rate = np.polyfit(sizes, np.log(errors), 1)[0]
    assert rate < -1.5, errors  # at least a factor e^1.5 per extra node
    # exact time integration: no error growth over 50 periods
    solver = wave.WaveSolver(24, 2.0, bc)
    exact = standing_wave(solver.x, [0.0, 100.0], c=2.0, bc=bc, mode=3)
    assert np.abs(solver.solve(exact[0], [0.0, 100.0]).numpy()[-1] - exact[-1]).max() < 1e-10


def test_wave_solution_meets_its_boundary_conditions_and_batches():
    x = wave.chebyshev_grid(33)
    u0 = np.stack([wave.sample_initial(0, i, x, "mixed") for i in range(3)])
    u = wave.solve(torch.from_numpy(u0).float(), np.linspace(0.0, 2.0, 9), bc="mixed")
    assert u.shape == (3, 9, 33) and u.dtype == torch.float32
    assert float(u[:, :, 0].abs().max()) < 1e-6  # Dirichlet at x = -1
    D = wave._differentiation_matrix(x)
    slope = torch.from_numpy(D[-1]).float() @ u.transpose(1, 2)
    assert float(slope.abs().max()) < 1e-4  # Neumann at x = 1
    single = wave.solve(u0[1], np.linspace(0.0, 2.0, 9), bc="mixed")
    torch.testing.assert_close(single, wave.solve(u0, np.linspace(0.0, 2.0, 9), bc="mixed")[1],
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(ConfigError, match="unknown boundary condition 'periodic'"):
        wave.solve(u0, [0.0, 1.0], bc="periodic")
    with pytest.raises(ConfigError, match="Chebyshev grid"):
        wave.solve(u0, [0.0, 1.0], x=np.linspace(-1.0, 1.0, 33))


# ---------------------------------------------------------------------------- generators

SMALL_E3 = {"family": "E3", "fine": 40, "T": 0.2, "nt": 6}


def test_combined_generator_writes_pdebench_layout(tmp_path, registered):
    path = generate_dataset("combined", tmp_path / "e3.h5", n=3, res=20, seed=7, params=SMALL_E3)
    with open_store(path) as store:
        assert store.fields["tensor"][0] == (3, 6, 20)
        assert {k: store.fields[k][0] for k in ("alpha", "beta", "gamma", "forcing")} == {
            "alpha": (3,), "beta": (3,), "gamma": (3,), "forcing": (3, 5, 4)}
        params = store.attrs["params"]
        assert params["convention"] == "paper" and params["beta"] == [0.0, 0.4] and params["T"] == 0.2
        np.testing.assert_allclose(store.read("x-coordinate"), (np.arange(20) + 0.5) * 0.8)
        np.testing.assert_allclose(store.read("t-coordinate"), np.linspace(0.0, 0.2, 6))
        draws = combined.sample_parameters(7, 2, combined.check_params(20, SMALL_E3))
        assert store.read("gamma")[2] == np.float32(draws["gamma"])
        np.testing.assert_array_equal(store.read("forcing")[2], draws["forcing"].astype(np.float32))
        assert set(np.unique(store.read("forcing")[:, :, 2])) <= {1.0, 2.0, 3.0}
        # the stored trajectory is the fine solution averaged over pairs of cells
        forcing = torch.from_numpy(draws["forcing"][None])
        fine = combined.solve(combined.forcing_average(forcing, 40), np.linspace(0.0, 0.2, 6), draws["alpha"],
                              draws["beta"], draws["gamma"], forcing)
        np.testing.assert_allclose(store.read("tensor")[2], fine[0].reshape(6, 20, 2).mean(-1).numpy(), rtol=1e-6,
                                   atol=1e-6)


def test_code_convention_draws_from_the_released_ranges():
    params = combined.check_params(50, {"family": "E3", "convention": "code"})
    draws = [combined.sample_parameters(0, i, params) for i in range(40)]
    assert params["beta"] == [0.1, 0.4] and params["T"] == 2.0
    assert all(0.1 <= d["beta"] <= 0.4 for d in draws)
    assert set(np.concatenate([d["forcing"][:, 2] for d in draws])) == {1.0, 2.0}
    e1 = [combined.sample_parameters(0, i, combined.check_params(50, {})) for i in range(3)]
    assert all((d["alpha"], d["beta"], d["gamma"]) == (0.5, 0.0, 0.0) for d in e1)


def test_combined_generation_is_deterministic_and_independent_of_blocks(tmp_path, registered):
    generate_dataset("combined", tmp_path / "a.h5", n=3, res=20, seed=1, params=SMALL_E3)
    generate_dataset("combined", tmp_path / "b.h5", n=3, res=20, seed=1, params=SMALL_E3)
    generate_dataset("combined", tmp_path / "c.h5", n=5, res=20, seed=1, params=SMALL_E3)
    with open_store(tmp_path / "a.h5") as a, open_store(tmp_path / "b.h5") as b, open_store(tmp_path / "c.h5") as c:
        for name in a.fields:
            np.testing.assert_array_equal(a.read(name), b.read(name))
            np.testing.assert_array_equal(a.read(name), c.read(name)[:3])
        in_pairs = np.concatenate([blk["tensor"] for blk in combined.generate(5, 20, seed=1, params=SMALL_E3,
                                                                              block=2)])
        np.testing.assert_array_equal(in_pairs, c.read("tensor"))
        resumed = next(combined.generate(5, 20, seed=1, params=SMALL_E3, start=3))["tensor"]
        np.testing.assert_array_equal(resumed, c.read("tensor")[3:])


def test_combined_bad_parameters_are_refused_before_any_work(tmp_path, registered):
    out = tmp_path / "bad.h5"
    for res, params, pattern in [(20, {"family": "E4"}, "unknown family 'E4'; choose one of E1, E2, E3"),
                                 (30, {}, "res 30 must divide the fine grid \\(200 cells\\)"),
                                 (50, {"gamma": [-0.1, 1.0]}, "gamma must be >= 0"),
                                 (50, {"cfl": 1.2}, "cfl must be a number in \\(0, 1\\]"),
                                 (50, {"convention": "matlab"}, "unknown convention"),
                                 (50, {"nu": 0.1}, "unknown combined parameter nu")]:
        with pytest.raises(ConfigError, match=pattern):
            generate_dataset("combined", out, n=2, res=res, params=params)
    assert not out.exists() and not (tmp_path / "bad.h5.partial").exists()


def test_wave_generator_layout_determinism_and_refusals(tmp_path, registered):
    params = {"bc": "neumann", "T": 1.0, "nt": 5, "refine": 2}
    generate_dataset("wave", tmp_path / "a.h5", n=3, res=17, seed=2, params=params)
    generate_dataset("wave", tmp_path / "b.h5", n=5, res=17, seed=2, params=params)
    with open_store(tmp_path / "a.h5") as a, open_store(tmp_path / "b.h5") as b:
        assert a.fields["tensor"][0] == (3, 5, 17) and a.attrs["params"]["fine_res"] == 33
        np.testing.assert_array_equal(a.read("tensor"), b.read("tensor")[:3])
        np.testing.assert_allclose(a.read("x-coordinate"), wave.chebyshev_grid(17), atol=1e-15)
        fine_x = wave.chebyshev_grid(33)
        u0 = wave.sample_initial(2, 1, fine_x, "neumann")
        np.testing.assert_allclose(a.read("tensor")[1, 0], u0[::2], rtol=1e-6, atol=1e-6)
        resolved = wave.chebyshev_grid(129)  # the pulses meet u_x = 0 exactly; checked where they are resolved
        slopes = wave._differentiation_matrix(resolved)[[0, -1]] @ wave.sample_initial(2, 1, resolved, "neumann")
        assert np.abs(slopes).max() < 1e-8
    out = tmp_path / "bad.h5"
    for params, pattern in [({"bc": "robin"}, "unknown boundary condition 'robin'"),
                            ({"refine": 0}, "refine must be an integer >= 1"),
                            ({"c": -2.0}, "wave speed c must be a positive number"),
                            ({"speed": 2.0}, "unknown wave parameter speed")]:
        with pytest.raises(ConfigError, match=pattern):
            generate_dataset("wave", out, n=2, res=9, params=params)
    assert not out.exists() and not (tmp_path / "bad.h5.partial").exists()
