"""Pseudo-spectral reference solvers: Burgers (ETDRK4), Navier-Stokes (CN/Heun), heat (exact).

Convergence orders are checked against analytic solutions from :mod:`sciml.gallery`; the generators
against the store protocol (shapes, attributes, determinism, refusal before any work).
"""

import math

import numpy as np
import pytest
import torch

from sciml import ConfigError
from sciml.data import generate_dataset, open_store
from sciml.data.pdes import PDES, burgers, heat, navier_stokes
from sciml.data.pdes import _spectral as sp
from sciml.gallery.burgers import burgers_cole_hopf
from sciml.gallery.flows import heat_exact, taylor_green_vorticity


def grid(n: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.float64) / n


def fitted_order(steps, errors) -> float:
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


# Cole-Hopf solution with phi between 0.05 and 1.95: fronts about 10 grid cells wide at n = 64
BURGERS_NU, BURGERS_AMPLITUDES, BURGERS_T = 0.05, (0.7, 0.25), 0.25


def burgers_error(n: int, dt: float) -> float:
    x, times = grid(n), torch.tensor([0.0, BURGERS_T], dtype=torch.float64)
    exact = burgers_cole_hopf(x, times, BURGERS_NU, amplitudes=BURGERS_AMPLITUDES)
    u = burgers.solve(exact[0], BURGERS_NU, times, dt=dt)
    return float((u[-1] - exact[-1]).abs().max())


def test_cole_hopf_solution_satisfies_burgers():
    x = torch.linspace(0.0, 1.0, 9, dtype=torch.float64)[:-1]
    t, nu, h = 0.1, 0.05, 1e-4

    def u(dx=0.0, dt=0.0):
        return burgers_cole_hopf(x + dx, torch.tensor([t + dt]), nu, amplitudes=BURGERS_AMPLITUDES)[0]

    u_t = (u(dt=h) - u(dt=-h)) / (2 * h)
    u_x = (u(dx=h) - u(dx=-h)) / (2 * h)
    u_xx = (u(dx=h) - 2 * u() + u(dx=-h)) / h**2
    assert float(u().abs().max()) > 0.3
    assert float((nu * u_xx).abs().max()) > 1.0  # the residual below is small against terms of order one
    assert float((u_t + u() * u_x - nu * u_xx).abs().max()) < 1e-4


def test_burgers_converges_spectrally_in_space():
    errors = [burgers_error(n, 1e-3) for n in (16, 24, 32, 64)]
    assert all(b < a / 20 for a, b in zip(errors, errors[1:])), errors  # geometric, not algebraic
    assert errors[-1] < 1e-10, errors


def test_burgers_etdrk4_is_fourth_order_in_time():
    steps = [BURGERS_T / m for m in (5, 10, 20, 40)]
    errors = [burgers_error(64, h) for h in steps]
    order = fitted_order(steps, errors)
    assert abs(order - burgers.ORDER) < 0.3, (order, errors)
    assert errors[-1] < 1e-8


def test_burgers_batched_solve_equals_per_sample_solves_and_keeps_dtype():
    params = burgers.check_params(64, {"fine": 64})
    u0 = torch.stack([burgers.initial_condition(2, i, params) for i in range(3)])
    times = [0.0, 0.05, 0.1]
    batched = burgers.solve(u0, 0.1, times, dt=0.01)
    for i in range(3):
        torch.testing.assert_close(batched[i], burgers.solve(u0[i], 0.1, times, dt=0.01), rtol=0, atol=1e-13)
    torch.testing.assert_close(batched[:, 0], u0, rtol=0, atol=0)
    single = burgers.solve(u0.float(), 0.1, times, dt=0.01)
    assert single.dtype == torch.float32 and single.shape == (3, 3, 64)
    with pytest.raises(ConfigError, match="nu must be positive"):
        burgers.solve(u0, -0.1, times)
    with pytest.raises(ConfigError, match=r"u0 must have shape \(batch, n\)"):
        burgers.solve(u0[None], 0.1, times)


def test_taylor_green_error_is_second_order_in_time_and_zero_in_space():
    nu, end = 0.05, 0.5
    times = torch.tensor([0.0, end], dtype=torch.float64)

    def error(n: int, dt: float) -> float:
        exact = taylor_green_vorticity(grid(n), grid(n), times, nu)
        w = navier_stokes.solve(exact[0], nu, times, forcing=0, dt=dt)
        return float((w[-1] - exact[-1]).abs().max())

    steps = [end / m for m in (5, 10, 20, 40)]
    errors = [error(16, h) for h in steps]
    order = fitted_order(steps, errors)
    assert abs(order - navier_stokes.ORDER) < 0.3, (order, errors)
    for n in (8, 32):  # the Fourier discretization is exact: only the time error remains
        assert abs(error(n, steps[1]) - errors[1]) < 1e-12 * errors[1] + 1e-15


def test_navier_stokes_advection_is_second_order_in_time():
    """Taylor-Green has no advection; a forced random flow is compared with a solve at a 32 times smaller step."""
    params = navier_stokes.check_params(32, {"fine": 32})
    w0 = torch.stack([navier_stokes.initial_condition(0, i, params) for i in range(2)]) * 10  # |u| about 1.5
    times = [0.0, 0.2]
    reference = navier_stokes.solve(w0, 0.01, times, dt=0.2 / 640)[:, -1]
    steps = [0.2 / m for m in (10, 20, 40)]
    errors = [float((navier_stokes.solve(w0, 0.01, times, dt=h)[:, -1] - reference).abs().max()) for h in steps]
    order = fitted_order(steps, errors)
    assert abs(order - navier_stokes.ORDER) < 0.3, (order, errors)


def test_navier_stokes_forcing_forms_batching_and_unstable_steps():
    n, nu, times = 16, 1e-3, [0.0, 0.1]
    params = navier_stokes.check_params(n, {"fine": n})
    w0 = torch.stack([navier_stokes.initial_condition(1, i, params) for i in range(3)])
    default = navier_stokes.solve(w0, nu, times, dt=0.01)
    x, y = torch.meshgrid(grid(n), grid(n), indexing="ij")
    values = 0.1 * (torch.sin(2 * math.pi * (x + y)) + torch.cos(2 * math.pi * (x + y)))
    torch.testing.assert_close(navier_stokes.solve(w0, nu, times, values, dt=0.01), default, rtol=0, atol=1e-14)
    torch.testing.assert_close(navier_stokes.solve(w0, nu, times, navier_stokes.fno_forcing, dt=0.01), default,
                               rtol=0, atol=1e-14)
    assert float((navier_stokes.solve(w0, nu, times, 0, dt=0.01) - default).abs().max()) > 1e-3
    for i in range(3):
        torch.testing.assert_close(default[i], navier_stokes.solve(w0[i], nu, times, dt=0.01), rtol=0, atol=1e-13)
    adaptive = navier_stokes.solve(w0, nu, times)
    torch.testing.assert_close(adaptive, default, rtol=0, atol=1e-4)
    with pytest.raises(ConfigError, match="Courant number"):
        navier_stokes.solve(w0 * 50, nu, [0.0, 1.0], dt=0.5)
    with pytest.raises(ConfigError, match=r"forcing must have shape \(16, 16\)"):
        navier_stokes.solve(w0, nu, times, torch.zeros(8, 8))


def test_heat_matches_the_exact_solution_to_round_off():
    nu, times = 0.02, torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    x = grid(32)
    exact = heat_exact(x, times, nu)
    u = heat.solve(exact[0], nu, times)
    assert float((u - exact).abs().max()) < 1e-14
    product = exact[:, :, None] * heat_exact(x[:24] * 32 / 24, times, nu)[:, None, :]  # u(x, t) u(y, t), 32 x 24
    u2 = heat.solve(product[0][None], nu, times)
    assert u2.shape == (1, 3, 32, 24) and float((u2[0] - product).abs().max()) < 1e-14
    assert heat.solve(exact[0].float(), nu, times).dtype == torch.float32
    batch = torch.stack([exact[0], exact[1]])
    torch.testing.assert_close(heat.solve(batch, nu, times)[1], heat.solve(exact[1], nu, times), rtol=0, atol=1e-15)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_solvers_on_cuda_match_cpu():
    x = grid(32)
    u0 = burgers_cole_hopf(x, torch.zeros(1), 0.05, amplitudes=BURGERS_AMPLITUDES)
    w0 = taylor_green_vorticity(x, x, torch.zeros(1), 0.01) + 0.1 * torch.cos(2 * math.pi * x)[None, :, None]
    for solve, initial in ((lambda a: burgers.solve(a, 0.05, [0.0, 0.1], dt=0.01), u0),
                           (lambda a: navier_stokes.solve(a, 0.01, [0.0, 0.1], dt=0.01), w0),
                           (lambda a: heat.solve(a, 0.05, [0.0, 0.1]), u0)):
        on_cuda = solve(initial.cuda())
        assert on_cuda.device.type == "cuda"
        torch.testing.assert_close(on_cuda.cpu(), solve(initial), rtol=0, atol=1e-12)


# generators, each at a tiny size: (name, module, res, params, field shape per sample)
GENERATORS = [
    ("burgers", burgers, 32, {"fine": 128, "nt": 3, "T": 0.2}, (3, 32)),
    ("navier-stokes", navier_stokes, 8, {"fine": 16, "T": 2.0, "dt": 0.02}, (3, 8, 8)),
    ("heat", heat, 16, {"fine": 64, "nt": 4}, (4, 16)),
]


@pytest.fixture
def registered(monkeypatch):
    for name, module, *_ in GENERATORS:
        monkeypatch.setitem(PDES, name, module)


@pytest.mark.parametrize("name,module,res,params,shape", GENERATORS, ids=[g[0] for g in GENERATORS])
def test_generator_store_is_deterministic_and_independent_of_blocks(tmp_path, registered, name, module, res,
                                                                    params, shape):
    for file, n in (("a.h5", 5), ("b.h5", 5), ("c.h5", 3)):
        generate_dataset(name, tmp_path / file, n=n, res=res, seed=4, params=params)
    with open_store(tmp_path / "a.h5") as a, open_store(tmp_path / "b.h5") as b, open_store(tmp_path / "c.h5") as c:
        data = a.read("tensor")
        assert data.shape == (5, *shape) and data.dtype == np.float32
        np.testing.assert_array_equal(data, b.read("tensor"))
        np.testing.assert_array_equal(data[:3], c.read("tensor"))
        assert not np.array_equal(data[0], data[1])
        assert a.attrs["pde"] == name and a.attrs["generator"] == module.GENERATOR
        assert a.attrs["params"] == module.check_params(res, params)
        times = a.read("t-coordinate")
        assert times.shape == (shape[0],) and times[0] == 0.0 and math.isclose(times[-1], a.attrs["params"]["T"])
        np.testing.assert_array_equal(a.read("x-coordinate"), np.arange(res) / res)
    merged = module.check_params(res, params)
    resumed = np.concatenate([blk["tensor"] for blk in module.generate(5, res, seed=4, params=merged, start=2,
                                                                       block=2)])
    np.testing.assert_array_equal(resumed, data[2:])


def test_generated_samples_are_the_fine_solutions_subsampled(tmp_path, registered):
    params = {"fine": 128, "nt": 3, "T": 0.2}
    generate_dataset("burgers", tmp_path / "b.h5", n=2, res=32, seed=1, params=params)
    merged = burgers.check_params(32, params)
    u0 = burgers.initial_condition(1, 1, merged)
    fine = burgers.solve(u0, merged["nu"], [0.0, 0.1, 0.2], dt=merged["dt"])
    with open_store(tmp_path / "b.h5") as store:
        np.testing.assert_allclose(store.read("tensor")[1], fine[:, ::4].numpy(), rtol=0, atol=1e-6)
    # the same sample is the same function on every fine grid: exact beyond DRAW, its low modes below
    finest = burgers.initial_condition(1, 1, burgers.check_params(32, {"fine": 2 * burgers.DRAW}))
    draw = burgers.initial_condition(1, 1, burgers.check_params(32, {"fine": burgers.DRAW}))
    np.testing.assert_allclose(finest[::2].numpy(), draw.numpy(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(sp.fourier_resample(draw, 128).numpy(), u0.numpy(), rtol=0, atol=1e-13)


@pytest.mark.parametrize("name,res,params,pattern", [
    ("burgers", 32, {"nu": -0.1}, "nu must be a positive number"),
    ("burgers", 48, {"fine": 128}, "res 48 does not divide the burgers fine grid of 128"),
    ("burgers", 32, {"dt": 0.5}, "exceeds the ETDRK4 stability limit"),
    ("burgers", 32, {"nu": 1e-4, "fine": 128}, "does not resolve the viscous scale"),
    ("burgers", 32, {"nt": 1}, "nt must be an integer >= 2"),
    ("burgers", 32, {"viscosity": 0.1}, "unknown burgers parameter viscosity; valid: nu, T"),
    ("navier-stokes", 8, {"nu": -1e-3}, "nu must be a positive number"),
    ("navier-stokes", 12, {"fine": 64}, "res 12 does not divide the navier-stokes fine grid of 64"),
    ("navier-stokes", 8, {"fine": 256, "dt": 0.01}, "is unstable on the 256\\^2 grid"),
    ("navier-stokes", 8, {"T": 2.5}, "must be a whole multiple of record_every"),
    ("navier-stokes", 8, {"T": 0.0}, "T must be a positive number"),
    ("heat", 16, {"nu": 0.0}, "nu must be a positive number"),
    ("heat", 24, {"fine": 64}, "res 24 does not divide the heat fine grid of 64"),
])
def test_bad_parameters_are_refused_before_any_work(tmp_path, registered, name, res, params, pattern):
    out = tmp_path / "d.h5"
    with pytest.raises(ConfigError, match=pattern):
        generate_dataset(name, out, n=2, res=res, params=params)
    assert not out.exists() and not (tmp_path / "d.h5.partial").exists()


def test_defaults_are_accepted_at_the_fno_resolutions_and_stable():
    b = burgers.check_params(1024, {})
    k = np.arange(1, 4096)
    u_std = math.sqrt(2 * np.sum(625.0 * (4 * math.pi**2 * k**2 + 25.0) ** -2.0))  # the GRF's pointwise std
    assert b["fine"] == 8192 and b["dt"] == pytest.approx(0.5 * 0.1 / (6 * u_std) ** 2, rel=1e-6)
    ns = navier_stokes.check_params(64, {})
    courant = ns["dt"] * navier_stokes.U_REF * 2 * math.pi * (ns["fine"] // 3)
    assert ns["fine"] == 128 and courant <= navier_stokes.STABLE_COURANT
    assert navier_stokes.fields(64, ns) == {"tensor": ((11, 64, 64), "float32")}
    assert heat.check_params(1024, {})["fine"] == 8192
