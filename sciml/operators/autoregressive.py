"""Autoregressive training and rollout of neural operators on trajectories.

A *block predictor* maps the last ``in_steps`` frames of a trajectory to the next ``out_steps``
frames. Rolled out, it predicts any horizon: each block is appended and the window slides on.
Two such models are built here, both the FNO paper's (Li et al., arXiv 2010.08895, section 5.3):

- :class:`RecurrentFNO` (``sciml train fno-rollout``): an FNO over space whose input channels are
  the ``in_steps`` past frames; the paper's FNO-2D predicts one frame per call (``out_steps=1``)
  and is trained unrolled over the whole horizon.
- :class:`SpaceTimeFNO` (``sciml train fno-space-time``): an FNO over space *and* time; the
  ``in_steps`` past frames are channels repeated along a time axis of ``out_steps`` points, and the
  output is the next ``out_steps`` frames at once (the paper's FNO-3D, one block for the horizon).

:class:`AutoregressiveMethod` trains either through :class:`sciml.train.Trainer`:

- ``train_mode="teacher_forcing"``: every block is predicted from the *true* previous frames;
- ``train_mode="rollout"``: the model is unrolled over the whole horizon from the true first
  window, with gradient through every step (how the paper trains its FNO-2D);
- ``train_mode="pushforward"``: one block from a random start frame per trajectory, after ``N``
  calls on the model's own output without gradient, ``N`` uniform in
  ``0 .. min(epoch // unroll_period, unrolling)``
  (the pushforward trick of MP-PDE, Brandstetter et al., arXiv 2202.03376; their FNO-PF baseline).
  Windows are drawn from the whole trajectory; ``first_frame`` places only the evaluation rollout.

In both modes the loss is the sum over blocks of the batch-mean relative L2 error of each block,
divided by the number of blocks (so it reads as a per-block error). Validation and
:func:`rollout_metrics` roll the model out over the whole horizon and report the paper's metric,
the relative L2 error of the whole predicted trajectory per sample, and the error per step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import nn

from sciml._errors import ConfigError, DataError
from sciml.operators.fno import FNO, FNOConfig
from sciml.train.losses import nrmse, relative_lp, rmse

__all__ = ["RolloutConfig", "SpaceTimeConfig", "RecurrentFNO", "SpaceTimeFNO", "AutoregressiveMethod", "rollout",
           "teacher_forced", "rollout_metrics", "complete_config", "prepare"]

TRAIN_MODES = ("teacher_forcing", "rollout", "pushforward")
NORMALIZATION_TRAJECTORIES = 32  # trajectories whose windows set the channel-wise normalisation


@dataclass(frozen=True)
class RolloutConfig:
    """Configuration of :class:`RecurrentFNO` and of its autoregressive training.

    Attributes
    ----------
    in_steps : past frames the model sees
    out_steps : frames predicted per call (1 for the paper's FNO-2D)
    horizon : frames predicted after the first window, in training and evaluation; 0 means "all
        frames the training data has after ``first_frame + in_steps``"
    first_frame : frames skipped at the start of each trajectory (the FNO paper's data begin at t = 1)
    train_mode : ``teacher_forcing`` (true windows), ``rollout`` (unrolled over the horizon) or
        ``pushforward`` (random windows, up to ``unrolling`` calls without gradient before the trained one)
    unrolling : the pushforward trick's largest number of calls without gradient
    unroll_period : epochs per step of the pushforward depth (epoch ``e`` unrolls up to
        ``min(e // unroll_period, unrolling)`` calls)
    pde : PDE of the training data (filled from it; evaluation on another PDE is refused)
    channels, n_dims : fields per frame and spatial dimensions; 0 means "take it from the data"
    modes, width, n_layers, lifting_ratio, projection_ratio, padding : the FNO's
        (see :class:`sciml.operators.fno.FNOConfig`; the paper's FNO-2D: 12 modes, width 20, 4 layers)
    """

    in_steps: int = 10
    out_steps: int = 1
    horizon: int = 0
    first_frame: int = 0
    train_mode: Literal["teacher_forcing", "rollout", "pushforward"] = "rollout"
    unrolling: int = 1
    unroll_period: int = 1
    pde: str = ""
    channels: int = 0
    n_dims: int = 0
    modes: int = 12
    width: int = 20
    n_layers: int = 4
    lifting_ratio: float = 2.0
    projection_ratio: float = 2.0
    padding: float = 0.0

    def __post_init__(self):
        if self.in_steps < 1:
            raise ValueError(f"in_steps must be at least 1, got {self.in_steps}")
        if self.out_steps < (0 if isinstance(self, SpaceTimeConfig) else 1):
            raise ValueError(f"out_steps must be at least 1, got {self.out_steps}")
        for name in ("horizon", "first_frame", "channels", "n_dims", "unrolling"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        if self.unroll_period < 1:
            raise ValueError(f"unroll_period must be at least 1, got {self.unroll_period}")
        if self.train_mode not in TRAIN_MODES:
            raise ValueError(f"train_mode must be one of {', '.join(TRAIN_MODES)}, got {self.train_mode!r}")
        FNOConfig(modes=self.modes, width=self.width, n_layers=self.n_layers, padding=self.padding)  # checks

    def fno_config(self) -> FNOConfig:
        """The configuration of the inner :class:`~sciml.operators.fno.FNO` over space."""
        return FNOConfig(in_channels=self.in_steps * self.channels, out_channels=self.out_steps * self.channels,
                         n_dims=self.n_dims, modes=self.modes, width=self.width, n_layers=self.n_layers,
                         lifting_ratio=self.lifting_ratio, projection_ratio=self.projection_ratio,
                         padding=self.padding)


@dataclass(frozen=True)
class SpaceTimeConfig(RolloutConfig):
    """Configuration of :class:`SpaceTimeFNO` (FNO over space and time).

    As :class:`RolloutConfig`, except: ``out_steps`` is the length of the predicted time axis,
    0 meaning the whole ``horizon`` in one block (the paper's FNO-3D); ``n_dims`` counts spatial
    axes only (1 or 2; the FNO runs over ``n_dims + 1`` axes); ``time_padding`` is the fraction of
    the time axis zero-padded at each end inside the Fourier layers (the time axis is not periodic;
    the paper pads it); the paper's FNO-3D has 8 modes and width 20.
    """

    out_steps: int = 0
    modes: int = 8
    time_padding: float = 0.15

    def __post_init__(self):
        super().__post_init__()
        if self.n_dims > 2:
            raise ValueError(f"a space-time FNO takes 1 or 2 spatial dimensions, got n_dims={self.n_dims}")
        if self.time_padding < 0:
            raise ValueError(f"time_padding must be non-negative, got {self.time_padding}")

    def fno_config(self) -> FNOConfig:
        """The configuration of the inner FNO over ``(*spatial, t)``."""
        return FNOConfig(in_channels=self.in_steps * self.channels, out_channels=self.channels,
                         n_dims=self.n_dims + 1, modes=self.modes, width=self.width, n_layers=self.n_layers,
                         lifting_ratio=self.lifting_ratio, projection_ratio=self.projection_ratio)


class _BlockPredictor(nn.Module):
    """Shared parts of the block predictors: checks, weights, normalisation entry point."""

    config: RolloutConfig

    def __init__(self, config: RolloutConfig):
        super().__init__()
        if min(config.channels, config.n_dims) < 1 or config.out_steps < 1:
            raise ConfigError(f"{type(self).__name__} needs channels, n_dims and out_steps set (non-zero); got "
                              f"channels={config.channels}, n_dims={config.n_dims}, out_steps={config.out_steps}")
        self.config = config
        self.fno = FNO(config.fno_config())

    @property
    def in_steps(self) -> int:
        return self.config.in_steps

    @property
    def out_steps(self) -> int:
        return self.config.out_steps

    def _check_window(self, window: torch.Tensor) -> None:
        c = self.config
        if window.ndim != c.n_dims + 3 or window.shape[1] != c.in_steps or window.shape[2] != c.channels:
            raise ConfigError(f"{type(self).__name__} expects a window (batch, {c.in_steps}, {c.channels}, "
                              f"{', '.join(['s'] * c.n_dims)}), got {tuple(window.shape)}")

    def weights(self) -> dict[str, torch.Tensor]:
        """The state dict without neuraloperator's pickled metadata (weights-only loadable)."""
        return {k: v for k, v in self.state_dict().items() if isinstance(v, torch.Tensor)}

    def __repr__(self) -> str:
        c = self.config
        return (f"{type(self).__name__}(in_steps={c.in_steps}, out_steps={c.out_steps}, channels={c.channels}, "
                f"n_dims={c.n_dims}, modes={c.modes}, width={c.width}, n_layers={c.n_layers})")


class RecurrentFNO(_BlockPredictor):
    """FNO over space mapping ``in_steps`` past frames (as channels) to the next ``out_steps`` frames.

    Parameters
    ----------
    config : :class:`RolloutConfig` with ``channels`` and ``n_dims`` set

    Shapes
    ------
    ``forward(window (batch, in_steps, C, *spatial))`` -> ``(batch, out_steps, C, *spatial)``, any grid size.
    """

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        self._check_window(window)
        batch, spatial = window.shape[0], window.shape[3:]
        out = self.fno(window.reshape(batch, -1, *spatial))
        return out.reshape(batch, self.config.out_steps, self.config.channels, *spatial)

    @torch.no_grad()
    def fit_normalization(self, window: torch.Tensor, target: torch.Tensor) -> None:
        """Channel-wise statistics from training windows ``(B, in_steps, C, *s)`` and targets ``(B, out_steps, C, *s)``."""
        self.fno.fit_normalization(window.flatten(1, 2), target.flatten(1, 2))


class SpaceTimeFNO(_BlockPredictor):
    """FNO over ``(*spatial, t)``: the past frames, repeated along ``t``, to the next ``out_steps`` frames.

    The inner FNO sees ``in_steps * C`` channels on a ``(*spatial, out_steps)`` grid plus the
    coordinates of that grid (``linspace(0, 1)`` per axis, so time is in units of the block), and
    outputs ``C`` channels on it. The time axis is zero-padded by ``time_padding`` of its length
    at each end inside the Fourier layers (neuraloperator's domain padding on that axis only).

    Parameters
    ----------
    config : :class:`SpaceTimeConfig` with ``channels``, ``n_dims`` and ``out_steps`` set

    Shapes
    ------
    ``forward(window (batch, in_steps, C, *spatial))`` -> ``(batch, out_steps, C, *spatial)``.
    """

    def __init__(self, config: SpaceTimeConfig):
        super().__init__(config)
        if config.time_padding > 0 or config.padding > 0:
            from neuralop.layers.padding import DomainPadding

            # neuraloperator pads every axis by one fraction; the time axis needs its own
            self.fno.net.domain_padding = DomainPadding([config.padding] * config.n_dims + [config.time_padding])

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        self._check_window(window)
        batch, spatial, steps = window.shape[0], window.shape[3:], self.config.out_steps
        x = window.reshape(batch, -1, *spatial, 1).expand(*([-1] * (len(spatial) + 2)), steps)
        out = self.fno(x)  # (batch, C, *spatial, steps)
        return out.movedim(-1, 1)

    @torch.no_grad()
    def fit_normalization(self, window: torch.Tensor, target: torch.Tensor) -> None:
        """Channel-wise statistics from training windows ``(B, in_steps, C, *s)`` and targets ``(B, out_steps, C, *s)``."""
        self.fno.fit_normalization(window.flatten(1, 2), target.movedim(1, -1))


# -- rollout ------------------------------------------------------------------------------------
def rollout(model: nn.Module, initial: torch.Tensor, steps: int) -> torch.Tensor:
    """Predict ``steps`` frames after ``initial`` by applying ``model`` to its own output.

    Each call predicts ``model.out_steps`` frames from the last ``model.in_steps`` frames (true at
    first, then predicted); the last block is cut to ``steps``. Differentiable (gradients flow
    through every step) unless called under ``torch.no_grad()``.

    Shapes
    ------
    ``initial (batch, in_steps, C, *spatial)`` -> ``(batch, steps, C, *spatial)``.
    """
    in_steps = _unwrap(model).in_steps
    if steps < 1:
        raise ConfigError(f"a rollout needs at least one step, got {steps}")
    if initial.shape[1] != in_steps:
        raise ConfigError(f"the initial window has {initial.shape[1]} frames, the model takes {in_steps}")
    window, blocks, produced = initial, [], 0
    while produced < steps:
        block = model(window)
        blocks.append(block)
        produced += block.shape[1]
        window = torch.cat([window, block], dim=1)[:, -in_steps:]
    return torch.cat(blocks, dim=1)[:, :steps]


def teacher_forced(model: nn.Module, trajectory: torch.Tensor, steps: int) -> torch.Tensor:
    """Predict frames ``in_steps .. in_steps + steps - 1`` of ``trajectory``, each block from the *true* frames before it.

    Shapes
    ------
    ``trajectory (batch, >= in_steps + steps, C, *spatial)`` -> ``(batch, steps, C, *spatial)``.
    """
    inner = _unwrap(model)
    in_steps, out_steps = inner.in_steps, inner.out_steps
    if trajectory.shape[1] < in_steps + steps:
        raise ConfigError(f"teacher forcing over {steps} steps needs {in_steps + steps} frames, "
                          f"got {trajectory.shape[1]}")
    blocks = []
    for start in range(0, steps, out_steps):
        blocks.append(model(trajectory[:, start:start + in_steps]))
    return torch.cat(blocks, dim=1)[:, :steps]


def _unwrap(model: nn.Module) -> nn.Module:
    """The model itself when DistributedDataParallel wraps it (its attributes live on ``.module``)."""
    return getattr(model, "module", model)


def _per_block_loss(pred: torch.Tensor, target: torch.Tensor, out_steps: int) -> torch.Tensor:
    """Mean over blocks of the batch-mean relative L2 error of each block of ``out_steps`` frames."""
    losses = [relative_lp(pred[:, k:k + out_steps], target[:, k:k + out_steps])
              for k in range(0, pred.shape[1], out_steps)]
    return torch.stack(losses).mean()


class AutoregressiveMethod:
    """Training method for block predictors on batches of trajectories (see the module docstring).

    Parameters
    ----------
    model : :class:`RecurrentFNO` or :class:`SpaceTimeFNO` (or any module with ``config``,
        ``in_steps``, ``out_steps`` and ``forward(window) -> block``)

    Shapes
    ------
    batch ``(B, nt, C, *spatial)`` with ``nt >= first_frame + in_steps + horizon``.
    """

    metric = "rel_l2"  # relative L2 of the whole rolled-out trajectory, the FNO paper's metric

    def __init__(self, model: nn.Module):
        self.model = model
        self.config = model.config
        self.epoch = 0
        if self.config.horizon < 1:
            raise ConfigError("the model configuration has no horizon; complete it from the data first "
                              "(complete_config)")

    def _split(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The trajectory used (``(B, in_steps + horizon, ...)``) and its targets after the first window."""
        c = self.config
        needed = c.first_frame + c.in_steps + c.horizon
        if batch.shape[1] < needed:
            raise DataError(f"trajectories have {batch.shape[1]} frames, the model needs first_frame + in_steps + "
                            f"horizon = {c.first_frame} + {c.in_steps} + {c.horizon} = {needed}")
        used = batch[:, c.first_frame:needed]
        return used, used[:, c.in_steps:]

    def set_epoch(self, epoch: int) -> None:
        """The pushforward depth grows with the epochs (at most ``min(epoch // unroll_period, unrolling)`` calls)."""
        self.epoch = int(epoch)

    def _pushforward(self, used: torch.Tensor) -> torch.Tensor:
        c = self.config
        inner = _unwrap(self.model)
        frames = used.shape[1]
        depth = min(self.epoch // c.unroll_period, c.unrolling)
        unrolled = int(torch.randint(0, depth + 1, ()))  # torch's generator: seeded and checkpointed
        last = frames - inner.out_steps * (1 + unrolled)  # the latest start that leaves room for the target
        if last < c.in_steps:
            raise DataError(f"pushforward training over {unrolled} unrolled call(s) needs in_steps + out_steps * "
                            f"(1 + unrolling) = {c.in_steps + inner.out_steps * (1 + unrolled)} frames, the "
                            f"trajectories have {frames}")
        b = used.shape[0]
        starts = torch.randint(c.in_steps, last + 1, (b,), device=used.device)
        rows = torch.arange(b, device=used.device)[:, None]
        window = used[rows, starts[:, None] - c.in_steps + torch.arange(c.in_steps, device=used.device)]
        with torch.no_grad():
            for _ in range(unrolled):
                window = torch.cat([window, self.model(window)], dim=1)[:, -c.in_steps:]
                starts = starts + inner.out_steps
        target = used[rows, starts[:, None] + torch.arange(inner.out_steps, device=used.device)]
        return relative_lp(self.model(window), target)

    def step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        if c.train_mode == "pushforward":  # windows anywhere in the trajectory; first_frame places the evaluation
            return {"loss": self._pushforward(batch)}
        used, target = self._split(batch)
        if c.train_mode == "rollout":
            pred = rollout(self.model, used[:, :c.in_steps], c.horizon)
        else:
            pred = teacher_forced(self.model, used, c.horizon)
        return {"loss": _per_block_loss(pred, target, c.out_steps)}

    @torch.no_grad()
    def evaluate(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-batch sums: rollout relative L2 of the whole trajectory, nRMSE, and the teacher-forced error."""
        c = self.config
        used, target = self._split(batch)
        pred = rollout(self.model, used[:, :c.in_steps], c.horizon)
        forced = teacher_forced(self.model, used, c.horizon)
        return {"rel_l2": relative_lp(pred, target, reduction="sum"),
                "nrmse": nrmse(pred.flatten(1, 2), target.flatten(1, 2), reduction="sum"),
                "teacher_forced_rel_l2": relative_lp(forced, target, reduction="sum")}


@torch.no_grad()
def rollout_metrics(model: nn.Module, data: Any, device: torch.device | str = "cpu", *, batch_size: int = 20,
                    horizon: int | None = None) -> dict[str, Any]:
    """Roll ``model`` out over every trajectory of ``data`` and measure its errors.

    Parameters
    ----------
    model : a trained block predictor (its ``config`` says ``first_frame``, ``in_steps``, ``horizon``)
    data : :class:`sciml.data.trajectories.TrajectoryDataset`; any grid size, same PDE and channels
    horizon : frames to predict (default: the model's ``horizon``)

    Returns
    -------
    ``rel_l2`` (mean over samples of the relative L2 error of the whole predicted trajectory, the
    FNO paper's metric), ``nrmse`` and ``rmse`` (same averaging, over all frames), ``per_step_rel_l2``
    (mean over samples of the error of each predicted frame, ``(horizon,)``), ``teacher_forced_rel_l2``
    (every block predicted from true frames), ``n_samples``, ``resolution``, ``horizon``, ``in_steps``,
    ``first_frame``, ``times`` (the predicted frames' ``t-coordinate`` when the store has one) and
    ``seconds_per_sample`` (rollout time, batched, on ``device``).

    Raises
    ------
    DataError
        When ``data`` is of another PDE, has another channel count or dimension, or has too few frames.
    """
    device = torch.device(device)
    c = model.config
    horizon = c.horizon if horizon is None else int(horizon)
    check_data(c, data, horizon=horizon, what="evaluated on")
    model = model.to(device).eval()
    sums = {"rel_l2": 0.0, "nrmse": 0.0, "rmse": 0.0, "teacher_forced_rel_l2": 0.0}
    per_step = torch.zeros(horizon, dtype=torch.float64)
    seconds = 0.0
    start_frame, stop = c.first_frame, c.first_frame + c.in_steps + horizon
    for first in range(0, len(data), batch_size):
        batch = data.read(list(range(first, min(len(data), first + batch_size))))[:, start_frame:stop].to(device)
        target = batch[:, c.in_steps:]
        tic = time.perf_counter()
        pred = rollout(model, batch[:, :c.in_steps], horizon)
        seconds += time.perf_counter() - tic
        forced = teacher_forced(model, batch, horizon)
        sums["rel_l2"] += float(relative_lp(pred, target, reduction="sum"))
        sums["nrmse"] += float(nrmse(pred.flatten(1, 2), target.flatten(1, 2), reduction="sum"))
        sums["rmse"] += float(rmse(pred, target, reduction="sum"))
        sums["teacher_forced_rel_l2"] += float(relative_lp(forced, target, reduction="sum"))
        per_step += relative_lp(pred.transpose(0, 1).flatten(0, 1), target.transpose(0, 1).flatten(0, 1),
                                reduction="none").view(horizon, -1).sum(1).double().cpu()
    n = len(data)
    times = None if data.times is None else data.times[c.first_frame + c.in_steps:stop].tolist()
    return {**{k: v / n for k, v in sums.items()}, "per_step_rel_l2": (per_step / n).tolist(), "n_samples": n,
            "resolution": list(data.spatial), "horizon": horizon, "in_steps": c.in_steps,
            "first_frame": c.first_frame, "times": times, "seconds_per_sample": seconds / n}


# -- data checks and the registry entries -------------------------------------------------------
def check_data(config: RolloutConfig, data: Any, *, horizon: int, what: str) -> None:
    """Refuse ``data`` that a model with ``config`` cannot be trained or evaluated on, with one clear sentence."""
    where = getattr(data, "path", "the data")
    if config.pde and data.pde != config.pde:
        raise DataError(f"the model was trained on {config.pde!r} data but is {what} {where}, which holds "
                        f"{data.pde!r} data")
    if config.channels and data.channels != config.channels:
        raise DataError(f"{where} has {data.channels} field(s) per frame, the model takes {config.channels}")
    if config.n_dims and len(data.spatial) != config.n_dims:
        raise DataError(f"{where} is {len(data.spatial)}-dimensional (grid {data.spatial}), the model is "
                        f"{config.n_dims}-dimensional")
    needed = config.first_frame + config.in_steps + max(horizon, 1)
    if data.n_times < needed:
        raise DataError(f"{where} has {data.n_times} frames per trajectory, fewer than first_frame + in_steps + "
                        f"horizon = {config.first_frame} + {config.in_steps} + {max(horizon, 1)} = {needed}")


def complete_config(config: RolloutConfig, data: Any) -> RolloutConfig:
    """Fill ``pde``, ``channels``, ``n_dims``, ``horizon`` (and a space-time ``out_steps``) from ``data``.

    Values already set must agree with the data; the data must hold ``first_frame + in_steps + horizon``
    frames per trajectory.
    """
    for key, value in (("channels", data.channels), ("n_dims", len(data.spatial))):
        given = getattr(config, key)
        if given and given != value:
            raise DataError(f"model config {key}={given} but {data.path} has {key}={value} "
                            f"({data.channels} field(s) per frame on a grid {data.spatial})")
    if isinstance(config, SpaceTimeConfig) and len(data.spatial) > 2:
        raise DataError(f"{data.path} has {len(data.spatial)} spatial dimensions; a space-time FNO takes 1 or 2")
    horizon = config.horizon or data.n_times - config.first_frame - config.in_steps
    if horizon < 1:
        raise DataError(f"{data.path} has {data.n_times} frames per trajectory, fewer than first_frame + in_steps "
                        f"+ 1 = {config.first_frame + config.in_steps + 1}: nothing is left to predict")
    check_data(replace(config, pde=""), data, horizon=horizon, what="trained on")
    out_steps = config.out_steps or horizon
    if config.train_mode == "pushforward" and config.in_steps + out_steps * (1 + config.unrolling) > data.n_times:
        raise DataError(f"{data.path} has {data.n_times} frames per trajectory; pushforward training needs in_steps + "
                        f"out_steps * (1 + unrolling) = {config.in_steps + out_steps * (1 + config.unrolling)}")
    return replace(config, pde=config.pde or data.pde, channels=data.channels, n_dims=len(data.spatial),
                   horizon=horizon, out_steps=out_steps)


def prepare(model: nn.Module, data: Any) -> None:
    """Set the model's channel-wise normalisation from the teacher-forcing windows of the first trajectories."""
    c = model.config
    trajectories = data.read(list(range(min(len(data), NORMALIZATION_TRAJECTORIES))))
    used = trajectories[:, c.first_frame:c.first_frame + c.in_steps + c.horizon]
    starts = range(0, c.horizon - c.out_steps + 1, c.out_steps) if c.horizon >= c.out_steps else [0]
    windows = torch.cat([used[:, s:s + c.in_steps] for s in starts])
    targets = torch.cat([used[:, s + c.in_steps:s + c.in_steps + c.out_steps] for s in starts])
    model.fit_normalization(windows, targets)
