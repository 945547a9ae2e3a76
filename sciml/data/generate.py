"""Dataset generation: a PDE's reference solver writing the HDF5 store, atomically and resumably."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Callable

from sciml._errors import ConfigError
from sciml.data.pdes import resolve_pde
from sciml.data.store import StoreWriter

__all__ = ["generate_dataset"]


def generate_dataset(pde: str, out: str | os.PathLike, *, n: int, res: int, seed: int = 0,
                     params: dict[str, Any] | None = None, resume: bool = False, force: bool = False,
                     device: str | None = None, on_block: Callable[[int, int], None] | None = None) -> Path:
    """Generate ``n`` samples of ``pde`` at resolution ``res`` into the store ``out``.

    Parameters
    ----------
    pde : a name from :data:`sciml.data.pdes.PDES`
    params : the PDE's parameters (``--set key=value``); unknown keys are refused before any work
    resume : continue ``out.partial`` from the samples it holds
    force : overwrite an existing ``out`` or ``out.partial``
    device : run the solver there (``cpu``, ``cuda`` ...), for generators that take a device
        (burgers, navier-stokes, heat); the stored data do not depend on it beyond round-off
    on_block : called with ``(samples_done, n)`` after each block is flushed (progress reporting)

    Returns
    -------
    The path of the complete file.
    """
    module = resolve_pde(pde)
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"--n must be a positive integer, got {n!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {seed!r}")
    extra: dict[str, Any] = {}
    if device is not None:
        from sciml.runtime import resolve_device

        if "device" not in inspect.signature(module.generate).parameters:
            raise ConfigError(f"the {pde} generator runs on the CPU only; drop --device")
        extra["device"] = str(resolve_device(device))
    merged = module.check_params(res, dict(params or {}))
    with StoreWriter(out, n_samples=n, fields=module.fields(res, merged), pde=pde, params=merged,
                     generator=module.GENERATOR, seed=seed, coords=module.coords(res, merged),
                     resume=resume, force=force) as writer:
        if on_block is not None:
            on_block(writer.n_written, n)
        for block in module.generate(n, res, seed=seed, params=merged, start=writer.n_written, **extra):
            writer.write(block)
            if on_block is not None:
                on_block(writer.n_written, n)
    return Path(out)
