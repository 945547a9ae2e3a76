import math

import numpy as np
import torch

from sciml.data.grf import cosine_grf, periodic_grf


def test_cosine_grf_pointwise_variance_matches_the_covariance():
    # Var z(x) = sum_k amplitude_k^2 phi_k(x)^2: compare 4000 samples with the exact series at three points
    alpha, tau, modes, size = 2.0, 3.0, 24, 9
    rng = np.random.default_rng(0)
    z = cosine_grf(rng.standard_normal((4000, modes, modes)), size, alpha=alpha, tau=tau)
    k = np.arange(modes)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    amp2 = tau ** (2 * (alpha - 1)) * (math.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha)
    amp2[0, 0] = 0
    norm = np.where(k == 0, 1.0, 2.0)
    x = np.linspace(0, 1, size)
    for i, j in [(0, 0), (4, 2), (8, 8)]:
        phi2 = np.outer(norm * np.cos(math.pi * k * x[i]) ** 2, norm * np.cos(math.pi * k * x[j]) ** 2)
        exact = float((amp2 * phi2).sum())
        # standard error of a variance estimate from 4000 Gaussian samples is about 2.2%
        assert abs(z[:, i, j].var() / exact - 1) < 0.1
    assert abs(z.mean()) < 0.05 * z.std()


def test_periodic_grf_variance_and_zero_mean():
    alpha, tau, sigma, n = 2.0, 5.0, 25.0, 64
    white = torch.randn(3000, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = periodic_grf(white, alpha=alpha, tau=tau, sigma=sigma)
    k = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)
    amp2 = sigma**2 * (4 * math.pi**2 * k**2 + tau**2) ** (-alpha)
    amp2[0] = 0
    exact = float(amp2.sum())  # |exp(2 pi i k x)|^2 = 1
    assert abs(float(z.var(dim=0).mean()) / exact - 1) < 0.05
    torch.testing.assert_close(z.mean(dim=1), torch.zeros(3000, dtype=torch.float64), atol=1e-12, rtol=0)
    assert z.shape == white.shape and z.dtype == white.dtype
