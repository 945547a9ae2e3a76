"""The one training loop of sciml.

A method supplies ``model`` (an ``nn.Module``), ``step(batch) -> {"loss": tensor, ...}`` and
optionally ``evaluate(batch) -> {metric: per-batch sum}`` with a ``metric`` attribute naming the
validation metric (lower is better) that selects the best model. The trainer owns everything else:
data loading and sharding, the optimiser and schedule, a progress bar, ``metrics.jsonl``, atomic
checkpoints with RNG states, exact resume, best-model tracking, and torchrun/DDP.

Two kinds of method use it alike:

* dataset-driven: batches come from ``train_data`` (a torch Dataset), one pass per epoch;
* sampler-driven (PINNs, walk-on-spheres targets): ``train_data`` is ``None`` and the method draws a
  fresh batch with ``sample(generator) -> batch``, ``TrainConfig.steps_per_epoch`` times per epoch.
  The generator is seeded from (seed, epoch, step, rank), so a resumed run draws what an unbroken
  one would have drawn.

Optimiser phases: AdamW for the first ``epochs - lbfgs_epochs`` epochs, then L-BFGS with a
strong-Wolfe line search (``torch.optim.LBFGS``; each step re-evaluates ``method.step`` on one batch
in its closure). The phase is stored in the checkpoint, so a run killed in either phase resumes in it.
A method with ``set_epoch(epoch)`` is told each epoch before it starts (MP-PDE deepens its pushforward).
Every term a step returns besides ``loss`` (``residual``, ``boundary`` ...) is averaged per epoch into
``metrics.jsonl`` as ``train_<term>``; a non-finite loss stops the run naming the term and the step.

Run directory::

    config.yaml      the model and training configuration and the data paths
    checkpoint.pt    latest training state (model, optimiser, epoch, RNG, best)
    best.pt          model with the lowest validation metric (or the last, without validation)
    model.pt         model after the last epoch
    metrics.jsonl    one JSON line per completed epoch
    summary.json     written when training ends
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, SequentialSampler

from sciml._version import __version__
from sciml._errors import ConfigError, SciMLError
from sciml.config import to_dict
from sciml.io import atomic_write_text, load_checkpoint, save_checkpoint, write_json
from sciml.runtime import progress, resolve_device, rng_state, set_rng_state

__all__ = ["Trainer", "TrainConfig", "TrainingError", "DistributedContext", "distributed_context"]

log = logging.getLogger("sciml.train")


class TrainingError(RuntimeError):
    """Training failed (a non-finite loss, for example); the run directory keeps its last checkpoint."""


class _TrialNotFinite(Exception):
    """A point tried by the L-BFGS line search gave a non-finite loss."""


@dataclass(frozen=True)
class TrainConfig:
    """Training settings shared by every model.

    Attributes
    ----------
    epochs : total epochs (a resumed run continues up to this count)
    batch_size : global batch size (split evenly over DDP processes)
    lr, weight_decay : AdamW learning rate and weight decay
    scheduler : ``cosine`` or ``linear`` (to zero over ``epochs``), ``step`` (times ``gamma`` every ``step_size``
        epochs), ``none``;
        the learning rate of epoch ``e`` is set in closed form from these, so a resumed run may
        change ``lr``, ``epochs`` (extending a cosine schedule stretches it) and the schedule
    checkpoint_every : epochs between checkpoints (the last epoch is always saved)
    seed : seeds initialisation and the per-epoch shuffling
    num_workers : DataLoader worker processes
    device : ``auto``, ``cpu``, ``cuda`` or ``cuda:N``
    steps_per_epoch : steps of a sampler-driven method per epoch (``0``: one pass over the dataset,
        the only choice for dataset-driven methods)
    lbfgs_epochs : the last ``lbfgs_epochs`` of ``epochs`` run L-BFGS (strong-Wolfe line search) instead of
        AdamW; ``lbfgs_lr``, ``lbfgs_max_iter`` (iterations per step) and ``lbfgs_history`` set it up
    """

    epochs: int = 100
    batch_size: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-4
    scheduler: Literal["cosine", "linear", "step", "none"] = "cosine"
    step_size: int = 50
    gamma: float = 0.5
    checkpoint_every: int = 1
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"
    steps_per_epoch: int = 0
    lbfgs_epochs: int = 0
    lbfgs_lr: float = 1.0
    lbfgs_max_iter: int = 20
    lbfgs_history: int = 50

    def __post_init__(self):
        for name in ("epochs", "batch_size", "checkpoint_every", "step_size", "lbfgs_max_iter", "lbfgs_history"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0 or not self.lbfgs_lr > 0:
            raise ValueError(f"lr and lbfgs_lr must be positive, got {self.lr} and {self.lbfgs_lr}")
        if self.weight_decay < 0 or self.num_workers < 0 or self.seed < 0 or self.steps_per_epoch < 0:
            raise ValueError("weight_decay, num_workers, seed and steps_per_epoch must be non-negative")
        if not 0 <= self.lbfgs_epochs <= self.epochs:
            raise ValueError(f"lbfgs_epochs must be between 0 and epochs ({self.epochs}), got {self.lbfgs_epochs}")

    def phase(self, epoch: int) -> str:
        """The optimiser of epoch ``epoch`` (0-based): ``adamw`` or ``lbfgs``."""
        return "lbfgs" if epoch >= self.epochs - self.lbfgs_epochs else "adamw"


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a torchrun job (``world_size == 1`` without one)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def distributed_context(device: torch.device) -> DistributedContext:
    """Join the torchrun process group when ``WORLD_SIZE > 1`` (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistributedContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistributedContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                              local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if callable(getattr(batch, "to", None)):  # torch_geometric Batch and other device-aware containers
        return batch.to(device)
    return batch


def _batch_size(batch: Any) -> int:
    while isinstance(batch, (list, tuple)):
        batch = batch[0]
    if isinstance(batch, dict):
        batch = next(iter(batch.values()))
    return int(batch.shape[0]) if hasattr(batch, "shape") else int(getattr(batch, "num_graphs", 1))


RUN_FILES = ("checkpoint.pt", "best.pt", "model.pt", "config.yaml", "metrics.jsonl", "summary.json", "eval")


def _holds_run(directory: Path) -> bool:
    """Whether ``directory`` holds a sciml training run: a checkpoint or metrics of one, or its config.yaml
    (which records ``sciml_version``; a user's own config.yaml does not make a run)."""
    if (directory / "checkpoint.pt").exists() or (directory / "metrics.jsonl").exists():
        return True
    config = directory / "config.yaml"
    if not config.is_file():
        return False
    try:
        import yaml

        return "sciml_version" in (yaml.safe_load(config.read_text()) or {})
    except (yaml.YAMLError, OSError, UnicodeDecodeError, AttributeError, TypeError):
        return False


class Trainer:
    """Train ``method.model`` with ``method.step`` and record everything in ``run_dir``.

    Parameters
    ----------
    method : object with ``model``, ``step(batch)`` and optionally ``evaluate(batch)`` and ``metric``;
        a sampler-driven method also has ``sample(generator) -> batch``; a method with a running state of its
        own (wos-no's walk-on-spheres means) has ``state_dict()`` / ``load_state_dict(state)``, saved in
        ``checkpoint.pt`` and restored on resume
    train_data : a torch Dataset, or ``None`` for a sampler-driven method
    config : :class:`TrainConfig`
    run_dir : output directory; new or empty, unless ``resume`` (continue the run there) or ``force``
        (replace the run there, or write beside the files of a directory that is not a run; only the
        run's own files are ever deleted)
    model_name : registry name stored in checkpoints so that ``load_model`` can rebuild the model
    model_config : the model's config dataclass, stored in checkpoints
    val_data : optional validation Dataset; the best model is chosen on ``method.metric``
    extra_config : more entries for ``config.yaml`` (data paths, for example)
    show_progress : ``None`` shows a bar when stderr is a terminal
    """

    def __init__(self, method: Any, train_data: Dataset | None, *, config: TrainConfig, run_dir: str | os.PathLike,
                 model_name: str, model_config: Any, val_data: Dataset | None = None, resume: bool = False,
                 force: bool = False, extra_config: dict[str, Any] | None = None, show_progress: bool | None = None):
        self.method = method
        self.train_data, self.val_data = train_data, val_data
        self.config = config
        self.run_dir = Path(run_dir)
        self.model_name, self.model_config = model_name, model_config
        self.extra_config = dict(extra_config or {})
        self.show_progress = show_progress
        self.device = resolve_device(config.device)
        self.dist = distributed_context(self.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        if config.batch_size % self.dist.world_size:
            raise ConfigError(f"batch_size {config.batch_size} must be divisible by the {self.dist.world_size} "
                              f"DDP processes")
        if train_data is None:
            if not callable(getattr(method, "sample", None)):
                raise ConfigError("a method without training data must draw its own batches (sample(generator))")
            if config.steps_per_epoch < 1:
                raise ConfigError("a sampler-driven method needs steps_per_epoch >= 1 (--set steps_per_epoch=N)")
        elif config.steps_per_epoch:
            raise ConfigError("steps_per_epoch is for methods that draw their own points; a dataset-driven run "
                              "makes one pass over its data per epoch (leave steps_per_epoch at 0)")
        if config.lbfgs_epochs and self.dist.enabled:
            raise ConfigError("the L-BFGS phase (lbfgs_epochs) runs in one process; set lbfgs_epochs=0 under torchrun")
        self.resume = resume
        self._check_run_dir(resume, force)
        self.module = method.model.to(self.device)
        self.phase = config.phase(0)
        self.optimizer = self._make_optimizer(self.phase)
        self.start_epoch = 0
        self.saved_epoch = 0  # epochs contained in checkpoint.pt
        self.best: dict[str, Any] = {"value": math.inf, "epoch": 0}
        if resume:
            self._load_state()

    # -- set-up ---------------------------------------------------------------------------------
    def _check_run_dir(self, resume: bool, force: bool) -> None:
        checkpoint = self.run_dir / "checkpoint.pt"
        holds_run = _holds_run(self.run_dir)
        if resume:
            if not checkpoint.exists():
                raise SciMLError(f"cannot resume: {checkpoint} does not exist")
            return
        if holds_run and not force:
            raise SciMLError(f"{self.run_dir} already holds a run; pass --resume to continue it or --force "
                             f"to start over (its files will be replaced)")
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise SciMLError(f"--out {self.run_dir} is a file, not a directory; choose a run directory")
        if not holds_run and self.run_dir.is_dir():
            others = sorted(p.name for p in self.run_dir.iterdir())
            clash = [name for name in others if name in RUN_FILES]
            if clash:  # --force writes beside a user's files, never over them
                raise SciMLError(f"{self.run_dir} is not a sciml run but holds {', '.join(clash)}, which a run "
                                 f"writes; move {'them' if len(clash) > 1 else 'it'} away or choose another --out")
            if others and not force:
                shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
                raise SciMLError(f"{self.run_dir} is not a sciml run and is not empty ({shown}); choose a new or "
                                 f"empty --out, or pass --force to write the run beside those files (they are kept)")
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if force:
                for name in ("checkpoint.pt", "best.pt", "model.pt", "metrics.jsonl", "summary.json"):
                    if holds_run:  # a run's own files; a directory that is not a run holds none (checked above)
                        (self.run_dir / name).unlink(missing_ok=True)
        self._barrier()

    def _make_optimizer(self, phase: str) -> torch.optim.Optimizer:
        c = self.config
        if phase == "lbfgs":
            return torch.optim.LBFGS(self.module.parameters(), lr=c.lbfgs_lr, max_iter=c.lbfgs_max_iter,
                                     history_size=c.lbfgs_history, line_search_fn="strong_wolfe")
        return torch.optim.AdamW(self.module.parameters(), lr=c.lr, weight_decay=c.weight_decay)

    def _enter_phase(self, epoch: int) -> None:
        phase = self.config.phase(epoch)
        if phase != self.phase:
            self.phase, self.optimizer = phase, self._make_optimizer(phase)
            log.info("epoch %d: switching to %s", epoch + 1, phase)

    def lr_at(self, epoch: int) -> float:
        """Learning rate of epoch ``epoch`` (0-based) under the configured schedule."""
        c = self.config
        if c.scheduler == "cosine":
            return c.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / c.epochs))
        if c.scheduler == "linear":
            return c.lr * (1.0 - epoch / c.epochs)
        if c.scheduler == "step":
            return c.lr * c.gamma ** (epoch // c.step_size)
        return c.lr

    def _set_epoch_hyperparameters(self, epoch: int) -> None:
        if self.phase == "lbfgs":
            return  # L-BFGS keeps lbfgs_lr; its line search sets the step
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(epoch)
            group["weight_decay"] = self.config.weight_decay

    def _load_state(self) -> None:
        state = load_checkpoint(self.run_dir / "checkpoint.pt", map_location=self.device)
        if state.get("model_name") != self.model_name:
            raise SciMLError(f"{self.run_dir}/checkpoint.pt holds a {state.get('model_name')!r} run, "
                             f"not {self.model_name!r}")
        self.module.load_state_dict(state["model"])
        self.start_epoch = self.saved_epoch = int(state["epoch"])
        if self.config.epochs < self.start_epoch:
            raise ConfigError(f"{self.run_dir} already holds {self.start_epoch} epochs; --set epochs to at least "
                              f"that to resume (more to extend it)")
        self.phase = self.config.phase(min(self.start_epoch, self.config.epochs - 1))
        self.optimizer = self._make_optimizer(self.phase)
        if state.get("phase", "adamw") == self.phase:  # a phase that starts now starts with a fresh optimiser
            self.optimizer.load_state_dict(state["optimizer"])
        self.best = dict(state["best"])
        if "method_state" in state and callable(getattr(self.method, "load_state_dict", None)):
            self.method.load_state_dict(state["method_state"])  # a method's own running state (wos-no's targets)
        set_rng_state(state["rng"])
        if self.dist.is_main:
            self._truncate_metrics(self.start_epoch)

    def _truncate_metrics(self, epochs_done: int) -> None:
        """Drop metric lines of epochs that the checkpoint does not contain (they will be redone)."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)["epoch"] <= epochs_done:
                    kept.append(line)
            except (ValueError, KeyError):
                continue  # a line cut short by the kill
        atomic_write_text(path, "".join(k + "\n" for k in kept))

    def _loader(self, data: Dataset, *, train: bool, epoch: int) -> DataLoader:
        per_rank = self.config.batch_size // self.dist.world_size
        if self.dist.enabled:
            sampler = DistributedSampler(data, num_replicas=self.dist.world_size, rank=self.dist.rank,
                                         shuffle=train, seed=self.config.seed, drop_last=False)
            sampler.set_epoch(epoch)
        elif train:
            # the order depends on (seed, epoch) only, so a resumed run sees what an unbroken one saw
            sampler = RandomSampler(data, generator=torch.Generator().manual_seed(self.config.seed * 100003 + epoch))
        else:
            sampler = SequentialSampler(data)
        # a dataset of graphs batches its own items (``collate``: torch_geometric's Batch.from_data_list)
        return DataLoader(data, batch_size=per_rank, sampler=sampler, num_workers=self.config.num_workers,
                          pin_memory=self.device.type == "cuda", collate_fn=getattr(data, "collate", None))

    def _barrier(self) -> None:
        if self.dist.enabled:
            dist.barrier()

    # -- saving ---------------------------------------------------------------------------------
    def _model_payload(self, epoch: int, metrics: dict[str, Any]) -> dict[str, Any]:
        weights = getattr(self.module, "weights", self.module.state_dict)()
        return {"format": "sciml-model", "sciml_version": __version__, "model_name": self.model_name,
                "model_config": to_dict(self.model_config), "model": weights, "epoch": epoch,
                "metrics": metrics}

    def _save_checkpoint(self, epoch: int) -> None:
        weights = getattr(self.module, "weights", self.module.state_dict)()
        save_checkpoint(self.run_dir / "checkpoint.pt", {
            "format": "sciml-checkpoint", "sciml_version": __version__, "model_name": self.model_name,
            "model_config": to_dict(self.model_config), "train_config": to_dict(self.config),
            "model": weights, "optimizer": self.optimizer.state_dict(), "phase": self.phase,
            "epoch": epoch, "rng": rng_state(), "best": self.best, "world_size": self.dist.world_size,
            **({"method_state": self.method.state_dict()} if callable(getattr(self.method, "state_dict", None))
               else {})})

    def _write_config(self) -> None:
        import yaml

        text = yaml.safe_dump({"model_name": self.model_name, "model": to_dict(self.model_config),
                               "train": to_dict(self.config), **self.extra_config,
                               "sciml_version": __version__}, sort_keys=False)
        atomic_write_text(self.run_dir / "config.yaml", text)

    # -- the loop -------------------------------------------------------------------------------
    def _validate(self) -> dict[str, float]:
        evaluate = getattr(self.method, "evaluate", None)
        if self.val_data is None or evaluate is None:
            return {}
        self.module.eval()
        totals: dict[str, torch.Tensor] = {}
        count = torch.zeros((), dtype=torch.float64)
        # every rank evaluates its shard (DistributedSampler pads with repeats; the sums are exact
        # only up to those few repeats), then the sums are added up
        for batch in self._loader(self.val_data, train=False, epoch=0):
            batch = _to_device(batch, self.device)
            for name, value in evaluate(batch).items():
                totals[name] = totals.get(name, torch.zeros((), dtype=torch.float64)) + value.detach().double().cpu()
            count += _batch_size(batch)
        if self.dist.enabled:
            packed = torch.stack([count] + [totals[k] for k in sorted(totals)]).to(self.device)
            dist.all_reduce(packed)
            packed = packed.cpu()
            count, totals = packed[0], {k: packed[i + 1] for i, k in enumerate(sorted(totals))}
        return {f"val_{k}": float(v / count) for k, v in totals.items()}

    def _batches(self, epoch: int):
        if self.train_data is not None:
            yield from self._loader(self.train_data, train=True, epoch=epoch)
            return
        for step in range(self.config.steps_per_epoch):
            # fresh points, a function of (seed, epoch, step, rank) only: exact resume, distinct ranks
            seed = ((self.config.seed * 1_000_003 + epoch) * 100_003 + step) * 131 + self.dist.rank
            yield self.method.sample(torch.Generator().manual_seed(seed % (2 ** 63)))

    def _check_finite(self, losses: dict[str, torch.Tensor], epoch: int, step: int) -> None:
        loss = losses["loss"]
        if torch.isfinite(loss):
            return
        bad = [k for k, v in losses.items() if k != "loss" and torch.is_tensor(v) and not bool(torch.isfinite(v).all())]
        term = f" (term {bad[0]} = {float(losses[bad[0]].detach().reshape(-1)[0])})" if bad else ""
        raise TrainingError(f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}{term}; "
                            f"{self.run_dir / 'checkpoint.pt'} holds epoch {self.saved_epoch}; "
                            f"try a smaller lr (now {self.config.lr})")

    def _lbfgs_step(self, batch, epoch: int, step: int) -> dict[str, torch.Tensor]:
        """One L-BFGS step. A non-finite loss at the current weights stops the run (:meth:`_check_finite`);
        one at a point the line search tries undoes the step: the weights come back, the optimiser
        restarts with half its learning rate (kept in its state, so a resumed run continues alike)."""
        last: dict[str, torch.Tensor] = {}
        calls = [0]

        def closure():
            self.optimizer.zero_grad(set_to_none=True)
            losses = self.method.step(batch)
            if calls[0] == 0:
                self._check_finite(losses, epoch, step)
            elif not torch.isfinite(losses["loss"]):
                raise _TrialNotFinite
            calls[0] += 1
            losses["loss"].backward()
            last.clear()
            last.update(losses)
            return losses["loss"]

        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        saved = [p.detach().clone() for p in params]
        try:
            self.optimizer.step(closure)
        except _TrialNotFinite:
            with torch.no_grad():
                for p, v in zip(params, saved):
                    p.copy_(v)
            lr = self.optimizer.param_groups[0]["lr"] / 2
            self.optimizer = self._make_optimizer("lbfgs")
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            log.warning("epoch %d, step %d: the L-BFGS line search met a non-finite loss; step undone, "
                        "L-BFGS restarts with lr %g", epoch + 1, step + 1, lr)
            last = {k: v.detach() if torch.is_tensor(v) else v for k, v in self.method.step(batch).items()}
        return last

    def _train_epoch(self, epoch: int) -> tuple[dict[str, float], int]:
        """One epoch of the current phase: per-term sums (weighted by batch size) and the samples seen."""
        sums: dict[str, float] = {}
        seen = 0
        for step, batch in enumerate(self._batches(epoch)):
            batch = _to_device(batch, self.device)
            if self.phase == "lbfgs":
                losses = self._lbfgs_step(batch, epoch, step)
            else:
                losses = self.method.step(batch)
                self._check_finite(losses, epoch, step)
                self.optimizer.zero_grad(set_to_none=True)
                losses["loss"].backward()
                self.optimizer.step()
            n = _batch_size(batch)
            for name, value in losses.items():
                if torch.is_tensor(value) and value.numel() == 1:
                    sums[name] = sums.get(name, 0.0) + float(value.detach()) * n
            seen += n
        if not seen:
            raise SciMLError("the training data gave no batch")
        return sums, seen

    def fit(self) -> dict[str, Any]:
        """Train from the current epoch to ``config.epochs``; returns the summary written to ``summary.json``."""
        c = self.config
        main = self.dist.is_main
        if self.resume and self.start_epoch >= c.epochs:
            # already complete: leave model.pt and summary.json as they are
            summary_file = self.run_dir / "summary.json"
            if summary_file.exists():
                return json.loads(summary_file.read_text())
        if self.start_epoch == 0:
            torch.manual_seed(c.seed)
        if main:
            self._write_config()
        train_model = self.module
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            train_model = DistributedDataParallel(self.module, device_ids=[self.device] if self.device.type == "cuda" else None)
        self.method.model = train_model
        metric = getattr(self.method, "metric", None)
        bar = progress(total=c.epochs, desc=f"train {self.model_name}", unit="epoch",
                       enabled=(self.show_progress if main else False), initial=self.start_epoch)
        last_record: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            for epoch in range(self.start_epoch, c.epochs):
                self.module.train()
                self._enter_phase(epoch)
                self._set_epoch_hyperparameters(epoch)
                if hasattr(self.method, "set_epoch"):  # methods whose training changes with the epoch
                    self.method.set_epoch(epoch)
                tic = time.perf_counter()
                sums, seen = self._train_epoch(epoch)
                train_seconds = time.perf_counter() - tic
                names = sorted(sums)
                stats = torch.tensor([float(seen)] + [sums[k] for k in names], dtype=torch.float64)
                if self.dist.enabled:  # NCCL reduces device tensors only
                    stats = stats.to(self.device)
                    dist.all_reduce(stats)
                    stats = stats.cpu()
                means = {k: float(stats[i + 1] / stats[0]) for i, k in enumerate(names)}
                record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": means.pop("loss"),
                                          **{f"train_{k}": v for k, v in means.items()},
                                          "lr": self.optimizer.param_groups[0]["lr"], "phase": self.phase}
                record.update(self._validate())
                record.update({"epoch_seconds": train_seconds,
                               "samples_per_s": float(stats[0]) / max(train_seconds, 1e-9),
                               "world_size": self.dist.world_size})
                value = record.get(f"val_{metric}", record["train_loss"]) if metric else record["train_loss"]
                improved = value < self.best["value"]
                if improved:
                    self.best = {"value": float(value), "epoch": epoch + 1,
                                 "metric": f"val_{metric}" if f"val_{metric}" in record else "train_loss"}
                if main:
                    if improved:
                        save_checkpoint(self.run_dir / "best.pt", self._model_payload(epoch + 1, record))
                    with open(self.run_dir / "metrics.jsonl", "a") as fh:
                        fh.write(json.dumps(record) + "\n")
                    if (epoch + 1) % c.checkpoint_every == 0 or epoch + 1 == c.epochs:
                        self._save_checkpoint(epoch + 1)
                        self.saved_epoch = epoch + 1
                    bar.update(1)
                    shown = {"loss": f"{record['train_loss']:.4g}", "samples/s": f"{record['samples_per_s']:.0f}"}
                    if metric and f"val_{metric}" in record:
                        shown[metric] = f"{record[f'val_{metric}']:.4g}"
                    bar.set_postfix(shown)
                    if bar.disable:
                        log.info("epoch %d/%d %s", epoch + 1, c.epochs, " ".join(f"{k}={v}" for k, v in shown.items()))
                self._barrier()
                last_record = record
        finally:
            bar.close()
            self.method.model = self.module
        summary = {"model_name": self.model_name, "epochs": c.epochs, "best": self.best, "last": last_record,
                   "seconds_this_session": time.perf_counter() - started, "world_size": self.dist.world_size}
        if main:
            save_checkpoint(self.run_dir / "model.pt", self._model_payload(c.epochs, last_record))
            write_json(self.run_dir / "summary.json", summary)
        self._barrier()
        return summary
