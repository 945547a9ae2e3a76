"""The HDF5 dataset format: atomic, resumable writing; validation on open; lazy reading.

One file per dataset split. Per-sample fields have the sample index first and are listed in
the root attribute ``sample_fields``; PDEBench-compatible names are used where they apply:

- time-dependent data: ``tensor (N, Nt, *spatial)`` or ``(N, Nt, C, *spatial)``,
  ``t-coordinate (Nt,)``, ``x-coordinate``, ``y-coordinate`` ...;
- input-to-output maps (Darcy, Poisson): ``input (N, C_in, *spatial)``, ``output (N, C_out, *spatial)``.

Root attributes: ``pde``, ``params`` (JSON), ``generator`` (name and version), ``seed``,
``created``, ``sciml_version``, ``n_written`` and ``complete`` (set last). A file is written under
``NAME.partial`` and renamed to ``NAME`` only when complete, so a file at the final name that lacks
``complete`` was not made by this writer, and a generation that was killed leaves only a
``.partial`` file, which :class:`StoreWriter` can resume.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from sciml._errors import DataError

__all__ = ["StoreWriter", "Store", "open_store", "partial_path", "REQUIRED_ATTRS", "summarize"]

REQUIRED_ATTRS = ("pde", "params", "generator", "seed", "created", "sciml_version", "complete")


def partial_path(path: str | os.PathLike) -> Path:
    """The temporary name a store is written under before it is complete."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def _created() -> str:
    # SOURCE_DATE_EPOCH pins the timestamp so that the same seed can give byte-identical files.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch
            else _dt.datetime.now(_dt.timezone.utc))
    return when.isoformat(timespec="seconds")


class StoreWriter:
    """Write a dataset file sample block by sample block; atomic and resumable.

    Parameters
    ----------
    path : path of the final file
    n_samples : total number of samples N
    fields : ``{name: (per-sample shape, dtype)}`` for the per-sample fields
    pde : the PDE's name (root attribute ``pde``)
    params : JSON-serialisable parameters of the generator (root attribute ``params``)
    generator : generator name and version, e.g. ``"sciml.data.pdes.darcy 1"``
    seed : the seed the samples were drawn with
    coords : fields without a sample axis (``x-coordinate`` ...), written once
    attrs : more root attributes (strings, numbers; a layout's own, such as ``layout`` and
        ``coordinate_names`` of a point set)
    resume : continue an existing ``.partial`` file made with the same settings
    force : overwrite an existing final file or partial file

    Notes
    -----
    Use as a context manager; :meth:`write` appends a block at :attr:`n_written`. Leaving the
    block normally after all samples are written sets ``complete`` and renames the file; leaving
    it early (an exception, Ctrl-C) keeps the ``.partial`` file for ``resume=True``.
    """

    def __init__(self, path: str | os.PathLike, *, n_samples: int, fields: Mapping[str, tuple[tuple[int, ...], Any]],
                 pde: str, params: Mapping[str, Any], generator: str, seed: int,
                 coords: Mapping[str, np.ndarray] | None = None, attrs: Mapping[str, Any] | None = None,
                 resume: bool = False, force: bool = False):
        from sciml._version import __version__

        extra_attrs = attrs
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.n_samples = int(n_samples)
        if self.n_samples < 1:
            raise DataError(f"a dataset needs at least one sample, got n={n_samples}")
        if self.path.exists() and not force:
            raise DataError(f"{self.path} already exists; pass --force to overwrite it")
        params_json = json.dumps(dict(params), sort_keys=True)
        identity = {"pde": pde, "params": params_json, "seed": int(seed), "n_samples": self.n_samples,
                    "fields": json.dumps({k: [list(s), np.dtype(d).str] for k, (s, d) in fields.items()})}
        if self.partial.exists() and resume and not force:
            try:
                self._file = h5py.File(self.partial, "r+")
            except OSError as exc:
                raise DataError(f"{self.partial} is a damaged partial file and cannot be resumed ({exc}); "
                                f"pass --force to start again") from exc
            stored = {k: self._file.attrs.get(k) for k in identity}
            stored = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in stored.items()}
            if stored != identity:
                diff = [k for k in identity if stored.get(k) != identity[k]]
                self._file.close()
                raise DataError(f"{self.partial} was started with different settings ({', '.join(diff)} differ); "
                                f"pass --force to start again")
            return
        if self.partial.exists() and not force:
            raise DataError(f"{self.partial} holds an unfinished generation; pass --resume to continue it "
                            f"or --force to start again")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self.partial, "w", track_order=True)
        attrs = self._file.attrs
        attrs["pde"] = pde
        attrs["params"] = params_json
        attrs["generator"] = generator
        attrs["seed"] = int(seed)
        attrs["created"] = _created()
        attrs["sciml_version"] = __version__
        attrs["sample_fields"] = json.dumps(list(fields))
        attrs["n_samples"] = self.n_samples
        attrs["fields"] = identity["fields"]
        attrs["n_written"] = 0
        attrs["complete"] = False
        for key, value in (extra_attrs or {}).items():
            if key in attrs:
                raise DataError(f"attribute {key!r} is the store's own; choose another name")
            attrs[key] = value
        for name, (shape, dtype) in fields.items():
            shape = tuple(int(s) for s in shape)
            per = int(np.prod(shape)) * np.dtype(dtype).itemsize
            chunk_n = max(1, min(self.n_samples, (1 << 20) // max(per, 1)))
            self._file.create_dataset(name, shape=(self.n_samples, *shape), dtype=dtype,
                                      chunks=(chunk_n, *shape), track_times=False)
        for name, values in (coords or {}).items():
            self._file.create_dataset(name, data=np.asarray(values), track_times=False)
        self._file.flush()

    @property
    def n_written(self) -> int:
        """Samples already written (and flushed) to the file."""
        return int(self._file.attrs["n_written"])

    def write(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Append one block of samples (each array ``(B, *per-sample shape)``) at :attr:`n_written`."""
        start = self.n_written
        sizes = {name: len(a) for name, a in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise DataError(f"block fields have different sample counts: {sizes}")
        fields = json.loads(self._file.attrs["sample_fields"])
        if sorted(arrays) != sorted(fields):
            raise DataError(f"block has fields {sorted(arrays)}, the file expects {sorted(fields)}")
        count = next(iter(sizes.values()))
        if start + count > self.n_samples:
            raise DataError(f"block of {count} samples at {start} overruns the file's {self.n_samples} samples")
        for name, values in arrays.items():
            values = np.asarray(values)
            if not np.all(np.isfinite(values)):
                raise DataError(f"refusing to store non-finite values in field {name!r} "
                                f"(samples {start}..{start + count - 1})")
            self._file[name][start:start + count] = values
        self._file.flush()
        self._file.attrs["n_written"] = start + count
        self._file.flush()

    def close(self) -> Path | None:
        """Finish: mark complete and rename if every sample is written; otherwise keep the partial file."""
        if self._file is None:
            return None
        done = self.n_written == self.n_samples
        if done:
            self._file.attrs["complete"] = True
        self._file.close()
        self._file = None
        if done:
            os.replace(self.partial, self.path)
            return self.path
        return None

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if self.n_written != self.n_samples:
                self.close()
                raise DataError(f"{self.partial}: only {self.n_written} of {self.n_samples} samples were written")
            self.close()
        elif self._file is not None:
            self._file.close()
            self._file = None


class Store:
    """A validated, read-only dataset file. Fields are read lazily, sample by sample or in blocks.

    Attributes
    ----------
    path : Path
    attrs : dict of root attributes (``params`` decoded from JSON)
    fields : dict ``{name: (shape, dtype)}`` of per-sample fields, shape including the sample axis
    coords : names of the fields without a sample axis
    n_samples : int
    """

    def __init__(self, path: Path, handle: h5py.File):
        self.path = path
        self._file = handle
        self.attrs = {k: _plain(v) for k, v in handle.attrs.items()}
        self.attrs["params"] = json.loads(self.attrs["params"])
        names = json.loads(self.attrs.get("sample_fields", "[]"))
        self.fields = {n: (tuple(handle[n].shape), handle[n].dtype) for n in names}
        self.coords = [n for n in handle.keys() if n not in self.fields]
        self.n_samples = next(iter(self.fields.values()))[0][0] if self.fields else 0

    def read(self, name: str, index: int | slice | np.ndarray | list[int] = slice(None)) -> np.ndarray:
        """Read field ``name`` at ``index`` (int, slice, or increasing list of ints)."""
        if name not in self._file:
            raise DataError(f"{self.path} has no field {name!r}; it has {', '.join(self._file.keys())}")
        try:
            dataset = self._file[name]
            if dataset.shape == ():  # a scalar entry (a mesh store's cell_type)
                return dataset[()]
            if isinstance(index, (list, np.ndarray)) and len(index) > 0:
                # h5py's point selection is ~20x slower than reading the contiguous runs as slices
                index = np.asarray(index, dtype=np.int64)
                breaks = np.flatnonzero(np.diff(index) != 1) + 1
                runs = np.split(index, breaks)
                return np.concatenate([dataset[int(run[0]):int(run[-1]) + 1] for run in runs], axis=0)
            return dataset[index]
        except OSError as exc:
            raise DataError(f"{self.path}: field {name!r} cannot be read ({exc}); the file is damaged") from exc

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}{tuple(s)}" for n, (s, _) in self.fields.items())
        return f"Store({str(self.path)!r}, pde={self.attrs.get('pde')!r}, {fields})"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


def _check_finite(store: Store, name: str, index: int) -> None:
    values = store.read(name, index)
    if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
        raise DataError(f"{store.path}: field {name!r} sample {index} contains NaN or Inf")


def open_store(path: str | os.PathLike, *, required: tuple[str, ...] = ()) -> Store:
    """Open and validate a dataset file.

    Checks that the file exists, is readable HDF5, is complete, carries the required root
    attributes, that its per-sample fields agree on the sample count and have numeric dtypes,
    that the first and last samples are finite, and that ``required`` fields are present.

    Raises
    ------
    DataError
        With one sentence naming the file and what is wrong.
    """
    path = Path(path)
    if not path.exists():
        hint = ""
        if partial_path(path).exists():
            hint = f"; {partial_path(path).name} is an unfinished generation (continue it with --resume)"
        raise DataError(f"dataset {path} does not exist{hint}")
    if path.is_dir():
        raise DataError(f"dataset {path} is a directory, expected an HDF5 file")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path} is not a readable HDF5 file (corrupt or truncated): {exc}") from exc
    try:
        missing = [k for k in REQUIRED_ATTRS if k not in handle.attrs]
        if "complete" in missing:
            raise DataError(f"{path} has no 'complete' attribute: it was not written by sciml, or its writer "
                            f"did not finish")
        if not bool(handle.attrs["complete"]):
            raise DataError(f"{path} is incomplete: its writer stopped after "
                            f"{int(handle.attrs.get('n_written', 0))} samples")
        if missing:
            raise DataError(f"{path} lacks the root attribute{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        try:
            json.loads(handle.attrs["params"])
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: root attribute 'params' is not valid JSON") from exc
        try:
            names = json.loads(handle.attrs.get("sample_fields", "[]"))
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: root attribute 'sample_fields' is not valid JSON") from exc
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DataError(f"{path}: root attribute 'sample_fields' must be a JSON list of field names")
        absent = [n for n in names if n not in handle or not isinstance(handle[n], h5py.Dataset)]
        if absent:
            raise DataError(f"{path} lists per-sample field{'s' if len(absent) > 1 else ''} {', '.join(absent)} "
                            f"in 'sample_fields' but has no such dataset")
        store = Store(path, handle)
        if not store.fields:
            raise DataError(f"{path} lists no per-sample fields (root attribute 'sample_fields')")
        counts = {n: s[0] for n, (s, _) in store.fields.items()}
        if len(set(counts.values())) != 1:
            raise DataError(f"{path}: fields disagree on the number of samples: {counts}")
        for name, (shape, dtype) in store.fields.items():
            if dtype.kind not in "biuf":
                raise DataError(f"{path}: field {name!r} has dtype {dtype}, expected a numeric or bool dtype")
            if shape[0] < 1:
                raise DataError(f"{path}: field {name!r} has no samples")
        for name in required:
            if name not in store.fields:
                raise DataError(f"{path} has no per-sample field {name!r}; it has {', '.join(store.fields)}")
        for name in store.fields:
            _check_finite(store, name, 0)
            _check_finite(store, name, store.n_samples - 1)
        return store
    except BaseException:
        handle.close()
        raise


def summarize(store: Store, *, full_check: bool = True, block: int = 256) -> dict[str, Any]:
    """A JSON-ready summary of a store; ``full_check`` also scans every sample for NaN/Inf."""
    out: dict[str, Any] = {
        "path": str(store.path),
        "pde": store.attrs.get("pde"),
        "n_samples": store.n_samples,
        "params": store.attrs["params"],
        "generator": store.attrs.get("generator"),
        "seed": store.attrs.get("seed"),
        "created": store.attrs.get("created"),
        "sciml_version": store.attrs.get("sciml_version"),
        "fields": {},
        "coords": {n: list(store._file[n].shape) for n in store.coords},
    }
    from sciml.data.layouts import detect_layout

    out["layout"] = detect_layout(store)
    if out["layout"] == "points":
        from sciml.data.points import check_point_store, point_bounds

        check_point_store(store)
        out["coordinate_names"] = json.loads(store.attrs["coordinate_names"])
        counts = store.read("num_points") if "num_points" in store.fields else None
        lower, upper = point_bounds(store.read("points"), counts)
        out["bounds"] = [lower.tolist(), upper.tolist()]
    for name, (shape, dtype) in store.fields.items():
        stats = {"shape": list(shape), "dtype": str(dtype)}
        if full_check:
            lo, hi, total, count = np.inf, -np.inf, 0.0, 0
            for start in range(0, store.n_samples, block):
                values = store.read(name, slice(start, start + block)).astype(np.float64)
                bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
                if bad.any():
                    raise DataError(f"{store.path}: field {name!r} sample {start + int(np.argmax(bad))} "
                                    f"contains NaN or Inf")
                lo, hi = min(lo, values.min()), max(hi, values.max())
                total, count = total + values.sum(), count + values.size
            stats.update(min=float(lo), max=float(hi), mean=total / count)
        out["fields"][name] = stats
    return out
