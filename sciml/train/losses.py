"""Losses and error metrics for fields on grids.

All reduce over every non-batch axis (channels and space) of ``(batch, channels, *spatial)``
tensors, so one function serves 1D, 2D and 3D data: the relative L2 error of a 2D field is the
same number however the grid is flattened (neuraloperator needs ``LpLoss(d=2)`` for that).

Fourier-band errors follow PDEBench (Takamoto et al., arXiv 2210.07182, ``metric_func``): the
error ``pred - target`` is Fourier transformed over space, its squared magnitudes are summed over
shells of integer radial wavenumber ``k = floor(|kappa|)``, averaged over samples, square-rooted
and divided by the number of grid points; the low, mid and high band errors are the means of that
spectrum over ``k < 4``, ``4 <= k < 12`` and ``12 <= k <= min(spatial) // 2`` (PDEBench's
``iLow = 4``, ``iHigh = 12``). One difference: the shells here hold every bin of the full
spectrum, positive and negative frequencies on every axis, so the shell energies add up to the mean
squared error (Parseval) in any dimension; PDEBench sums the half spectrum in 1D (its band values
for ``k > 0`` are ours divided by sqrt(2)) and the non-negative quadrant in 2D.
"""

from __future__ import annotations

import torch

__all__ = ["relative_lp", "nrmse", "rmse", "FOURIER_BANDS", "error_spectrum", "fourier_band_rmse",
           "fourier_band_errors"]

FOURIER_BANDS = (4, 12)  # PDEBench's iLow, iHigh: low k < 4, mid 4 <= k < 12, high k >= 12


def relative_lp(pred: torch.Tensor, target: torch.Tensor, *, p: float = 2.0, reduction: str = "mean",
                eps: float = 1e-12) -> torch.Tensor:
    """Relative Lp error ``||pred - target||_p / ||target||_p`` per sample, then reduced.

    Shapes
    ------
    pred, target ``(batch, ...)``; returns a scalar (``"mean"``, ``"sum"``) or ``(batch,)`` (``"none"``).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}")
    diff = torch.linalg.vector_norm((pred - target).flatten(1), ord=p, dim=1)
    norm = torch.linalg.vector_norm(target.flatten(1), ord=p, dim=1)
    errors = diff / norm.clamp_min(eps)
    return _reduce(errors, reduction)


def nrmse(pred: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean", eps: float = 1e-12) -> torch.Tensor:
    """PDEBench's normalised RMSE: per sample and channel ``RMSE / RMS(target)``, averaged over channels.

    Shapes
    ------
    pred, target ``(batch, channels, *spatial)``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}")
    err = (pred - target).flatten(2).pow(2).mean(-1).sqrt()
    scale = target.flatten(2).pow(2).mean(-1).sqrt().clamp_min(eps)
    return _reduce((err / scale).mean(1), reduction)


def rmse(pred: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Root-mean-square error per sample over all non-batch axes."""
    return _reduce((pred - target).flatten(1).pow(2).mean(-1).sqrt(), reduction)


def _shell_index(spatial: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, int]:
    """Radial shell ``floor(|kappa|)`` of every FFT bin over ``spatial`` and the shell count."""
    axes = [torch.fft.fftfreq(n, d=1.0 / n, device=device, dtype=torch.float64) for n in spatial]
    grids = torch.meshgrid(*axes, indexing="ij")
    radius = torch.sqrt(sum(g * g for g in grids))
    return torch.floor(radius + 1e-9).long().flatten(), min(spatial) // 2 + 1


def error_spectrum(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Energy of the error per radial wavenumber shell, per sample and channel.

    ``E[b, c, k] = sum over FFT bins with floor(|kappa|) = k of |FFT(pred - target)[b, c]|^2 / N^2``,
    ``N`` the number of grid points, over the full spectrum; shells ``k = 0 .. min(spatial) // 2``
    (bins in the corners beyond are left out). The shells add up to the mean squared error when no
    bin is left out: a unit-amplitude ``cos(2 pi kappa . x)`` error gives ``E[floor(|kappa|)] = 1/2``
    in any dimension (``1`` at the Nyquist frequency), a constant error ``c`` gives ``E[0] = c^2``.

    Shapes
    ------
    pred, target ``(batch, channels, *spatial)`` -> ``(batch, channels, min(spatial) // 2 + 1)``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}")
    if pred.ndim < 3:
        raise ValueError(f"pred and target must be (batch, channels, *spatial), got shape {tuple(pred.shape)}")
    spatial = tuple(pred.shape[2:])
    dims = tuple(range(2, pred.ndim))
    coefficients = torch.fft.fftn((pred - target).double(), dim=dims)
    energy = coefficients.abs().pow(2).flatten(2) / float(torch.tensor(spatial).prod()) ** 2
    shells, n_shells = _shell_index(spatial, pred.device)
    keep = shells < n_shells
    out = torch.zeros(*energy.shape[:2], n_shells, dtype=energy.dtype, device=energy.device)
    return out.index_add_(2, shells[keep], energy[:, :, keep])


def fourier_band_rmse(mean_spectrum: torch.Tensor, *, bands: tuple[int, int] = FOURIER_BANDS
                      ) -> dict[str, float | None]:
    """PDEBench's low / mid / high Fourier-band RMSE from a sample-averaged :func:`error_spectrum`.

    Each band error is the mean over its shells of ``sqrt(E[k])``, averaged over channels; a band
    with no shell on this grid (``high`` on a grid of fewer than ``2 * bands[1]`` points) is ``None``.

    Shapes
    ------
    mean_spectrum ``(channels, n_shells)``, the mean of :func:`error_spectrum` over samples.
    """
    low, high = bands
    if not 0 < low < high:
        raise ValueError(f"bands must be two increasing positive wavenumbers, got {bands}")
    amplitude = mean_spectrum.clamp_min(0).sqrt()
    out: dict[str, float | None] = {}
    for name, part in (("low", amplitude[:, :low]), ("mid", amplitude[:, low:high]), ("high", amplitude[:, high:])):
        out[name] = float(part.mean(1).mean()) if part.shape[1] else None
    return out


def fourier_band_errors(pred: torch.Tensor, target: torch.Tensor, *, bands: tuple[int, int] = FOURIER_BANDS
                        ) -> dict[str, float | None]:
    """Low / mid / high Fourier-band RMSE of a batch (PDEBench's ``fRMSE``); see :func:`fourier_band_rmse`.

    Shapes
    ------
    pred, target ``(batch, channels, *spatial)``.
    """
    return fourier_band_rmse(error_spectrum(pred, target).mean(0), bands=bands)


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"unknown reduction {reduction!r}; choose one of mean, sum, none")
