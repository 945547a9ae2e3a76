"""sciml.pinn.derivatives against analytic derivatives, finite differences and autograd, in float64."""

from __future__ import annotations

import pytest
import torch

from sciml._errors import DataError
from sciml.pinn.derivatives import along, gradient, hessian, laplacian, partials


def analytic(x):
    """f = sin(x0) exp(x1) x2^2 and its gradient, Hessian diagonal and Laplacian."""
    s, c, e, z = torch.sin(x[:, 0]), torch.cos(x[:, 0]), torch.exp(x[:, 1]), x[:, 2]
    f = s * e * z ** 2
    grad = torch.stack([c * e * z ** 2, s * e * z ** 2, 2 * s * e * z], 1)
    diag = torch.stack([-s * e * z ** 2, s * e * z ** 2, 2 * s * e], 1)
    return f, grad, diag


def f_analytic(x):
    return (torch.sin(x[:, 0]) * torch.exp(x[:, 1]) * x[:, 2] ** 2)[:, None]


@pytest.fixture
def points():
    return torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))


def test_partials_gradient_hessian_and_laplacian_equal_the_analytic_ones(points):
    f, grad, diag = analytic(points)
    value, first, second = partials(f_analytic, points)
    torch.testing.assert_close(value[:, 0], f, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(first[:, :, 0].T, grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(second[:, :, 0].T, diag, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gradient(f_analytic, points)[:, 0], grad, rtol=1e-12, atol=1e-12)
    H = hessian(f_analytic, points)[:, 0]
    torch.testing.assert_close(torch.diagonal(H, dim1=1, dim2=2), diag, rtol=1e-12, atol=1e-12)
    c, e, z = torch.cos(points[:, 0]), torch.exp(points[:, 1]), points[:, 2]
    torch.testing.assert_close(H[:, 0, 2], 2 * c * e * z, rtol=1e-12, atol=1e-12)  # a mixed term
    torch.testing.assert_close(laplacian(f_analytic, points)[:, 0], diag.sum(1), rtol=1e-12, atol=1e-12)
    # a subset of axes, in the order given
    _, first2, second2 = partials(f_analytic, points, [2, 0])
    torch.testing.assert_close(second2[:, :, 0].T, diag[:, [2, 0]], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(laplacian(f_analytic, points, [1, 2])[:, 0], diag[:, 1:].sum(1), rtol=1e-12, atol=1e-12)


def _mlp(dim, out=2, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(dim, 12), torch.nn.Tanh(), torch.nn.Linear(12, 12), torch.nn.Tanh(),
                               torch.nn.Linear(12, out)).double()


def test_an_mlps_derivatives_equal_central_finite_differences():
    net, dim = _mlp(4), 4
    x = torch.randn(5, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    _, first, second = partials(net, x)
    h1, h2 = 1e-6, 1e-4
    with torch.no_grad():
        for i in range(dim):
            e = torch.zeros(dim, dtype=torch.float64)
            e[i] = 1.0
            fd1 = (net(x + h1 * e) - net(x - h1 * e)) / (2 * h1)
            fd2 = (net(x + h2 * e) - 2 * net(x) + net(x - h2 * e)) / h2 ** 2
            torch.testing.assert_close(first[i].detach(), fd1, rtol=1e-7, atol=1e-8)
            torch.testing.assert_close(second[i].detach(), fd2, rtol=1e-5, atol=1e-6)


def test_along_gives_directional_derivatives_and_the_quadratic_form_of_the_hessian():
    net = _mlp(3, out=1)
    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    v = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    _, first, second = along(net, x, v)
    G, H = gradient(net, x)[:, 0], hessian(net, x)[:, 0]
    torch.testing.assert_close(first[:, :, 0], v @ G.T, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(second[:, :, 0], torch.einsum("ki,nij,kj->kn", v, H, v), rtol=1e-11, atol=1e-12)
    # per-point tangents (k, N, dim) and chunked evaluation agree with shared ones
    _, first_b, second_b = along(net, x, v[:, None, :].expand(-1, 6, -1).contiguous(), chunk_size=3)
    torch.testing.assert_close(second_b, second, rtol=1e-13, atol=1e-13)
    _, only_first = along(net, x, v, order=1)
    torch.testing.assert_close(only_first, first)


def test_a_residual_built_from_them_backpropagates_like_double_backward_autograd():
    net = _mlp(2, out=1, seed=4)
    x = torch.randn(9, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    loss = laplacian(net, x).pow(2).mean()
    ours = torch.autograd.grad(loss, list(net.parameters()), allow_unused=True)  # the last bias drops out
    xr = x.clone().requires_grad_(True)
    u = net(xr)
    (g,) = torch.autograd.grad(u.sum(), xr, create_graph=True)
    lap = sum(torch.autograd.grad(g[:, i].sum(), xr, create_graph=True)[0][:, i] for i in range(2))
    theirs = torch.autograd.grad(lap.pow(2).mean(), list(net.parameters()), allow_unused=True)
    assert ours[-1] is None and theirs[-1] is None
    for a, b in zip(ours[:-1], theirs[:-1]):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13)


def test_bad_shapes_are_refused_with_the_expected_shape():
    x = torch.zeros(4, 3, dtype=torch.float64)
    with pytest.raises(DataError, match=r"points must be a \(N, dim\) tensor, got torch.Size\(\[3\]\)"):
        partials(f_analytic, torch.zeros(3))
    with pytest.raises(DataError, match=r"tangents must have shape \(k, 4, 3\) or \(k, 3\), got \(2, 4, 2\)"):
        along(f_analytic, x, torch.zeros(2, 4, 2, dtype=torch.float64))
    with pytest.raises(DataError, match=r"coordinate indices must lie in 0..2"):
        partials(f_analytic, x, [0, 3])


@pytest.mark.parametrize("act", ["tanh", "sin", "silu", "gelu", "sigmoid", "softplus"])
def test_the_layer_by_layer_jet_equals_torch_func_values_and_parameter_gradients(act):
    from torch import nn

    from sciml.pinn.derivatives import jet_supported, mlp_jet
    from sciml.pinn.pinn import activation

    def make():
        if act in ("sigmoid", "softplus"):
            return nn.Sigmoid() if act == "sigmoid" else nn.Softplus()
        return activation(act)

    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 12), make(), nn.Linear(12, 12), make(), nn.Linear(12, 2)).double()
    assert jet_supported(net) and not jet_supported(lambda y: net(y))
    x = torch.randn(9, 4, dtype=torch.float64)
    tangents = torch.randn(3, 9, 4, dtype=torch.float64)
    fast = along(net, x, tangents)
    slow = along(lambda y: net(y), x, tangents)  # a closure takes the torch.func path
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    lap_fast, lap_slow = laplacian(net, x), laplacian(lambda y: net(y), x)
    torch.testing.assert_close(lap_fast, lap_slow, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mlp_jet(net, x, tangents, summed=True)[2], slow[2].sum(0), rtol=1e-12, atol=1e-12)
    grads = []
    for lap in (lambda: laplacian(net, x), lambda: laplacian(lambda y: net(y), x)):
        net.zero_grad()
        lap().pow(2).sum().backward()
        # the Laplacian does not depend on the last bias: no gradient there on either path
        grads.append(torch.cat([p.grad.reshape(-1) for p in net.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_a_tanh_approximated_gelu_is_not_taken_by_the_jet():
    from torch import nn

    from sciml.pinn.derivatives import jet_supported

    assert not jet_supported(nn.Sequential(nn.Linear(2, 3), nn.GELU(approximate="tanh"), nn.Linear(3, 1)))
    assert not jet_supported(nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3), nn.Linear(3, 1)))
