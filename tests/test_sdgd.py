"""SDGD: the exact solution, sampled-dimension derivatives, the estimators' (un)biasedness, bad input."""

from __future__ import annotations

import pytest
import torch

from sciml._errors import ConfigError
from sciml.config import from_dict
from sciml.pinn.derivatives import laplacian, partials
from sciml.pinn.sdgd import ExactSolution, SdgdConfig, SdgdMethod, SdgdNet, sample_ball


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_the_closed_form_laplacian_equals_autodiff_and_finite_differences():
    exact = ExactSolution(5, seed=3)
    x = sample_ball(9, 5, torch.Generator().manual_seed(0), torch.float64)
    torch.testing.assert_close(exact.laplacian(x), laplacian(lambda p: exact.u(p), x)[:, 0], rtol=1e-12, atol=1e-12)
    h, fd = 1e-4, torch.zeros(9, dtype=torch.float64)
    for i in range(5):
        e = torch.zeros(5, dtype=torch.float64)
        e[i] = h
        fd += (exact.u(x + e) - 2 * exact.u(x) + exact.u(x - e)) / h ** 2
    torch.testing.assert_close(exact.laplacian(x), fd, rtol=1e-5, atol=1e-6)
    sphere = x / x.norm(dim=1, keepdim=True)
    assert float(exact.u(sphere).abs().max()) < 1e-12  # u = 0 on the sphere


def test_the_numpy_draw_is_the_authors_instance():
    # numpy's legacy generator seeded 0 starts 1.764, 0.400, 0.979, 2.241, 1.868 (the authors draw c so)
    exact = ExactSolution.of(SdgdConfig(dim=6, coefficient_rng="numpy"))
    torch.testing.assert_close(exact.coefficients, torch.tensor([1.76405235, 0.40015721, 0.97873798, 2.2408932,
                                                                 1.86755799], dtype=torch.float64), rtol=0, atol=1e-8)
    other = ExactSolution.of(SdgdConfig(dim=6))
    assert not torch.allclose(other.coefficients, exact.coefficients)
    method = SdgdMethod(SdgdNet(SdgdConfig(dim=6, coefficient_rng="numpy", width=8, depth=1)))
    torch.testing.assert_close(method.exact.coefficients, exact.coefficients)


def test_sampled_second_derivatives_equal_the_full_ones_on_those_dimensions():
    net = SdgdNet(SdgdConfig(dim=7, width=16, depth=3, dtype="float64"))
    x = 0.4 * torch.randn(6, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    dims = torch.tensor([5, 0, 3])
    u, second = net.second_derivatives(x, dims)
    value, _, full = partials(net, x)
    torch.testing.assert_close(u, value[:, 0], rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(second, full[dims, :, 0], rtol=1e-11, atol=1e-12)
    u2, lap = net.sampled_laplacian(x, dims)  # the summed jet: the same sum without per-dimension terms
    torch.testing.assert_close(u2, u, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(lap, full[dims, :, 0].sum(0), rtol=1e-11, atol=1e-12)


def _grad(method, batch):
    method.net.zero_grad()
    method.step(batch)["loss"].backward()
    return torch.cat([p.grad.reshape(-1) for p in method.net.parameters()])


@pytest.mark.parametrize("estimator", ["independent", "full-detached"])
def test_the_unbiased_estimators_average_to_the_full_gradient_and_same_is_full_at_all_dims(estimator):
    torch.manual_seed(0)
    net = SdgdNet(SdgdConfig(dim=6, width=8, depth=2, dtype="float64", points=8))
    full = SdgdMethod(net)
    full.config = from_dict(SdgdConfig, {**vars(net.config), "estimator": "full"})
    generator = torch.Generator().manual_seed(2)
    batch = full.sample(generator)
    reference = _grad(full, batch)
    sampled = SdgdMethod(net)
    sampled.config = from_dict(SdgdConfig, {**vars(net.config), "estimator": estimator, "dim_batch": 2})
    draws = torch.stack([_grad(sampled, {**batch, "I": torch.randperm(6, generator=generator)[:2],
                                         "J": torch.randperm(6, generator=generator)[:2]}) for _ in range(800)])
    mean, stderr = draws.mean(0), draws.std(0) / 800 ** 0.5
    assert float(((mean - reference).abs() / (stderr + 1e-12)).max()) < 5.0  # within 5 standard errors everywhere
    same = SdgdMethod(net)
    same.config = from_dict(SdgdConfig, {**vars(net.config), "estimator": "same", "dim_batch": 6})
    torch.testing.assert_close(_grad(same, {**batch, "I": torch.arange(6)}), reference, rtol=1e-10, atol=1e-12)


def test_a_wide_input_never_forms_a_dimension_sized_tangent():
    """d = 200000, |I| = 8: a (|I|, N, d) tangent would be 51 MB per copy; the step works on (|I|, N, width)."""
    net = SdgdNet(SdgdConfig(dim=200_000, dim_batch=8, width=16, depth=2, points=8))
    method = SdgdMethod(net)
    out = method.step(method.sample(torch.Generator().manual_seed(0)))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and net.first.weight.grad.shape == (16, 200_000)


def test_training_reduces_the_error():
    from sciml.pinn.sdgd import relative_l2

    torch.manual_seed(0)
    net = SdgdNet(SdgdConfig(dim=4, width=32, depth=2, points=64, dtype="float64"))
    method = SdgdMethod(net)
    before = relative_l2(net, n=2000)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(300):
        loss = method.step(method.sample(generator))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert relative_l2(net, n=2000) < 0.5 * before


@pytest.mark.parametrize("values, message", [
    ({"dim": 10, "dim_batch": 11}, "dim_batch \\(\\|I\\|\\) must be between 1 and dim = 10"),
    ({"dim": 1}, "dim must be at least 2"),
    ({"estimator": "all"}, "must be one of 'full-detached', 'independent', 'same', 'full'"),
    ({"coefficient_rng": "mt"}, "must be one of 'torch', 'numpy'"),
])
def test_bad_settings_are_refused_with_one_sentence(values, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(SdgdConfig, values, where="model")


def test_points_outside_the_ball_are_refused(tmp_path, capsys):
    from sciml.cli import main
    from sciml.pinn.sdgd import write_reference_points

    run = tmp_path / "run"
    assert main(["--quiet", "train", "sdgd", "--out", str(run), "--set", "dim=3", "--set", "width=8", "--set", "depth=1",
                 "--set", "points=8", "--set", "epochs=1", "--set", "steps_per_epoch=2"]) == 0
    inside = tmp_path / "in.h5"
    write_reference_points(inside, dim=3, n=1, n_points=20)
    assert main(["--quiet", "eval", str(run), "--data", str(inside)]) == 0
    outside = tmp_path / "out.h5"
    assert main(["--quiet", "data", "points", "--out", str(outside), "--expr", "x", "--box", "1:2,0:1,0:1", "--n", "1",
                 "--points", "10"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(outside)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "10 points of" in err[0] and "lie outside the unit ball" in err[0], err
