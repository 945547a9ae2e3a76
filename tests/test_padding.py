"""SmoothPadding: the FNO's mirror padding tapered to zero at the periodic seam."""

import math

import pytest
import torch

from sciml.operators._padding import SmoothPadding
from sciml.operators.fno import FNO, FNOConfig


def smooth_field(n: int, dims: int = 2) -> torch.Tensor:
    axes = [torch.linspace(0.0, 1.0, n, dtype=torch.float64)] * dims
    grids = torch.meshgrid(*axes, indexing="ij")
    value = 1.0 + sum(torch.sin(2.0 * math.pi * (k + 1) * g + 0.3 * k) for k, g in enumerate(grids))
    return value[None, None]


@pytest.mark.parametrize("shape", [(17,), (43, 85), (9, 12, 20)])
def test_unpad_inverts_pad_and_the_pad_is_the_mirror_image_near_the_boundary(shape):
    pad = SmoothPadding(0.1)
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    y = pad.pad(x)
    lengths = [max(n, round(1.2 * (n - 1))) for n in shape]
    assert y.shape[2:] == tuple(lengths)
    torch.testing.assert_close(pad.unpad(y), x, rtol=0, atol=0)
    # next to the boundary node the pad is the mirror image scaled by the taper's first weight
    before = [(length - n) // 2 for n, length in zip(shape, lengths)]
    last, gap = shape[-1], lengths[-1] - shape[-1] + 1
    first_weight = math.cos(math.pi / gap) ** 2
    index = (slice(None), slice(None), *(slice(b, b + n) for b, n in zip(before[:-1], shape[:-1])), before[-1] + last)
    torch.testing.assert_close(y[index], first_weight * x[..., last - 2], rtol=1e-12, atol=1e-12)


def test_the_padded_period_is_the_same_on_nested_grids():
    pad = SmoothPadding(1 / 12)
    # 42, 84, 168 cells: padded periods 49/42 = 98/84 = 196/168 = 7/6 exactly
    assert [pad.padded_length(n) for n in (43, 85, 169)] == [49, 98, 196]
    # the taper is a function of the physical position: on the nested grid it holds the same values
    coarse = pad.pad(torch.ones(1, 1, 43, dtype=torch.float64))[0, 0]
    fine = pad.pad(torch.ones(1, 1, 85, dtype=torch.float64))[0, 0]
    start_coarse, start_fine = (49 - 43) // 2, (98 - 85) // 2
    # the coarse node at x = j / 42 is the fine node at x = 2 j / 84, for j in the pads too
    for j in range(-start_coarse, 43 + (49 - 43 - start_coarse)):
        assert float(coarse[start_coarse + j]) == pytest.approx(float(fine[start_fine + 2 * j]), abs=1e-12), j


def test_the_padded_field_is_continuous_across_the_seam_where_zero_padding_jumps():
    pad = SmoothPadding(0.1)
    jumps = []
    for n in (41, 81, 161):
        x = smooth_field(n, dims=1)
        y = pad.pad(x)
        steps = (y.roll(-1, dims=-1) - y).abs()  # periodic first differences, the seam included
        jumps.append(float(steps.max()))
        zero = torch.nn.functional.pad(x, (round(0.1 * n),) * 2)  # neuraloperator's zero padding
        assert float((zero.roll(-1, dims=-1) - zero).abs().max()) >= float(x[..., 0].abs()) - 1e-12
    # Lipschitz: the largest step halves with the grid spacing (a jump would not shrink)
    assert jumps[1] < 0.6 * jumps[0] and jumps[2] < 0.6 * jumps[1], jumps


def test_bad_padding_is_refused():
    with pytest.raises(ValueError, match="padding fraction must be positive, got 0.0"):
        SmoothPadding(0.0)
    with pytest.raises(ValueError, match="padding of 4 points needs an axis longer than 4, got 3"):
        SmoothPadding(2.0).pad(torch.zeros(1, 1, 3))  # a mirror image cannot be longer than the axis
    pad = SmoothPadding(1 / 12)
    lengths = {pad.padded_length(n) for n in range(2, 200)}
    skipped = min(set(range(10, 200)) - lengths)  # the padded length grows by 7/6 a point: some are skipped
    with pytest.raises(ValueError, match=f"an axis of {skipped} points is not a padded axis"):
        pad.unpad(torch.zeros(1, 1, skipped))
    with pytest.raises(ValueError, match="padding_mode must be 'zeros' or 'smooth', got 'mirror'"):
        FNOConfig(padding=0.1, padding_mode="mirror")


def test_fno_with_smooth_padding_runs_on_any_grid_and_keeps_its_weights_layout():
    config = dict(in_channels=1, out_channels=1, n_dims=2, modes=4, width=8, n_layers=2, padding=0.1)
    smooth = FNO(FNOConfig(**config, padding_mode="smooth"))
    zeros = FNO(FNOConfig(**config))
    assert isinstance(smooth.net.domain_padding, SmoothPadding)
    assert smooth.weights().keys() == zeros.weights().keys()  # checkpoints load into either
    for n in (20, 41):
        assert smooth(torch.randn(2, 1, n, n)).shape == (2, 1, n, n)
