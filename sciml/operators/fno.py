"""Fourier neural operator (Li et al., arXiv 2010.08895) through neuraloperator, with sciml's glue.

:class:`FNO` wraps ``neuralop.models.FNO`` with what a saved model must carry to be used alone:
channel-wise normalisation of inputs and outputs (stored as buffers, so they travel in the
checkpoint) and node coordinates appended as input channels (``linspace(0, 1)`` per axis, so the
same model evaluates at any resolution: zero-shot super-resolution).

Mode counting: ``modes`` is the paper's count, Fourier modes kept per direction (``k = 0 .. modes-1``
and their negatives on full axes, ``k = 0 .. modes-1`` on the last, half-spectrum axis).
neuraloperator's ``n_modes`` counts the retained frequencies of an axis and keeps
``n_modes // 2 + 1`` on the last one, so it receives ``2 * modes`` and ``2 * modes - 1`` there.

The spectral layers are :class:`sciml.operators._spectral.SpectralConvND`, which fixes
neuraloperator 2.0.0's handling of odd grid sizes (see that module).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sciml._errors import ConfigError

__all__ = ["FNOConfig", "FNO", "DEFAULT_MODES", "modes_for_grid"]

DEFAULT_MODES = 12  # the FNO paper's count for Darcy and Navier-Stokes


def modes_for_grid(spatial: tuple[int, ...], default: int = DEFAULT_MODES) -> int:
    """The default mode count on a training grid: ``default``, at most ``min(spatial) // 2``, the most
    Fourier modes per direction that grid resolves."""
    return max(1, min(default, min(spatial) // 2))


@dataclass(frozen=True)
class FNOConfig:
    """Configuration of :class:`FNO`.

    Attributes
    ----------
    in_channels, out_channels : data channels (coordinates are appended internally); 0 means
        "take it from the training data"
    n_dims : spatial dimensions (1, 2 or 3); 0 means "take it from the training data"
    modes : Fourier modes per direction, counted as in the paper; 0 (the default) means "from the
        training grid": ``DEFAULT_MODES`` (12, the paper's), at most what the grid resolves
        (``min(spatial) // 2``), recorded in the completed config
    width : hidden channels of the Fourier layers
    n_layers : Fourier layers
    lifting_ratio, projection_ratio : widths of the lifting and projection MLPs relative to ``width``
    padding : domain padding as a fraction of each axis (helps non-periodic problems)
    padding_mode : ``"zeros"`` (neuraloperator's) or ``"smooth"`` (mirror image tapered to zero at
        the periodic seam, :class:`sciml.operators._padding.SmoothPadding`: the hidden field stays
        continuous, so the model is far more consistent across resolutions)
    """

    in_channels: int = 0
    out_channels: int = 0
    n_dims: int = 0
    modes: int = 0
    width: int = 32
    n_layers: int = 4
    lifting_ratio: float = 2.0
    projection_ratio: float = 2.0
    padding: float = 0.0
    padding_mode: str = "zeros"

    def __post_init__(self):
        if self.modes < 0:
            raise ValueError(f"modes must be at least 1 (or 0: from the training grid), got {self.modes}")
        for name in ("width", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_dims not in (0, 1, 2, 3):
            raise ValueError(f"n_dims must be 1, 2 or 3, got {self.n_dims}")
        if self.padding < 0:
            raise ValueError(f"padding must be non-negative, got {self.padding}")
        if self.padding_mode not in ("zeros", "smooth"):
            raise ValueError(f"padding_mode must be 'zeros' or 'smooth', got {self.padding_mode!r}")


class FNO(nn.Module):
    """FNO with normalisation and coordinate channels.

    Parameters
    ----------
    config : :class:`FNOConfig` with ``in_channels``, ``out_channels`` and ``n_dims`` set (non-zero)

    Shapes
    ------
    input ``(batch, in_channels, *spatial)`` -> output ``(batch, out_channels, *spatial)``, any grid size.
    """

    def __init__(self, config: FNOConfig):
        super().__init__()
        if min(config.in_channels, config.out_channels, config.n_dims, config.modes) < 1:
            raise ConfigError("FNO needs in_channels, out_channels, n_dims and modes set (the trainer fills "
                              f"them from the data); got {config.in_channels}, {config.out_channels}, "
                              f"{config.n_dims}, {config.modes}")
        from neuralop.models import FNO as _NeuralopFNO

        from sciml.operators._spectral import SpectralConvND

        self.config = config
        self.net = _NeuralopFNO(
            # full axes keep frequencies -modes .. modes-1 (2*modes values); neuraloperator keeps
            # n//2 + 1 on the last, half-spectrum axis, so 2*modes - 1 gives 0 .. modes-1 there
            n_modes=(2 * config.modes,) * (config.n_dims - 1) + (2 * config.modes - 1,),
            in_channels=config.in_channels + config.n_dims,
            out_channels=config.out_channels,
            hidden_channels=config.width,
            n_layers=config.n_layers,
            lifting_channel_ratio=config.lifting_ratio,
            projection_channel_ratio=config.projection_ratio,
            positional_embedding=None,
            domain_padding=config.padding if config.padding > 0 else None,
            conv_module=SpectralConvND,
        )
        if config.padding > 0 and config.padding_mode == "smooth":
            from sciml.operators._padding import SmoothPadding

            self.net.domain_padding = SmoothPadding(config.padding)
        self.register_buffer("in_mean", torch.zeros(config.in_channels))
        self.register_buffer("in_std", torch.ones(config.in_channels))
        self.register_buffer("out_mean", torch.zeros(config.out_channels))
        self.register_buffer("out_std", torch.ones(config.out_channels))

    @torch.no_grad()
    def fit_normalization(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Set channel-wise means and standard deviations from training inputs ``x`` and outputs ``y``."""
        def stats(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            flat = t.transpose(0, 1).reshape(t.shape[1], -1).double()
            return flat.mean(1), flat.std(1).clamp_min(1e-8)

        for (mean, std), prefix in ((stats(x), "in"), (stats(y), "out")):
            getattr(self, f"{prefix}_mean").copy_(mean)
            getattr(self, f"{prefix}_std").copy_(std)

    def _coordinates(self, x: torch.Tensor) -> torch.Tensor:
        spatial = x.shape[2:]
        axes = [torch.linspace(0.0, 1.0, n, device=x.device, dtype=x.dtype) for n in spatial]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=0)
        return grid.unsqueeze(0).expand(x.shape[0], *grid.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != self.config.n_dims + 2 or x.shape[1] != self.config.in_channels:
            raise ConfigError(f"FNO expects input (batch, {self.config.in_channels}, "
                              f"{', '.join(['s'] * self.config.n_dims)}), got {tuple(x.shape)}")
        view = (1, -1) + (1,) * self.config.n_dims
        z = (x - self.in_mean.view(view).to(x.dtype)) / self.in_std.view(view).to(x.dtype)
        out = self.net(torch.cat([z, self._coordinates(x)], dim=1))
        return out * self.out_std.view(view).to(out.dtype) + self.out_mean.view(view).to(out.dtype)

    def weights(self) -> dict[str, torch.Tensor]:
        """The state dict without neuraloperator's pickled ``_metadata`` (weights-only loadable)."""
        return {k: v for k, v in self.state_dict().items() if isinstance(v, torch.Tensor)}

    def __repr__(self) -> str:
        c = self.config
        return (f"FNO(in_channels={c.in_channels}, out_channels={c.out_channels}, n_dims={c.n_dims}, "
                f"modes={c.modes}, width={c.width}, n_layers={c.n_layers})")
