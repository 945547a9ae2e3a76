import json
import shutil

import h5py
import numpy as np
import pytest
import torch

from sciml import DataError
from sciml.data import PairDataset, StoreWriter, generate_dataset, open_store, summarize
from sciml.data.store import partial_path


def _write(path, n=4, values=None, **kw):
    values = np.arange(n * 2 * 3 * 3, dtype=np.float32).reshape(n, 2, 3, 3) if values is None else values
    with StoreWriter(path, n_samples=n, fields={"input": ((2, 3, 3), "float32"), "output": ((1, 3, 3), "float32")},
                     pde="test", params={"a": 1}, generator="test 1", seed=7,
                     coords={"x-coordinate": np.linspace(0, 1, 3)}, **kw) as writer:
        for start in range(writer.n_written, n, 2):
            writer.write({"input": values[start:start + 2], "output": values[start:start + 2, :1]})
    return values


def test_round_trip_attributes_and_lazy_dataset(tmp_path):
    path = tmp_path / "s.h5"
    values = _write(path)
    assert not partial_path(path).exists()
    with open_store(path) as store:
        assert store.n_samples == 4 and store.attrs["pde"] == "test" and store.attrs["params"] == {"a": 1}
        assert store.attrs["complete"] is True and store.attrs["seed"] == 7
        assert set(store.fields) == {"input", "output"} and store.coords == ["x-coordinate"]
        for key in ("generator", "created", "sciml_version"):
            assert store.attrs[key]
        np.testing.assert_array_equal(store.read("input", 2), values[2])
        summary = summarize(store)
        assert summary["fields"]["input"]["max"] == values.max()
    data = PairDataset(path)
    assert (data.in_channels, data.out_channels, data.spatial) == (2, 1, (3, 3))
    x, y = data[3]
    torch.testing.assert_close(x, torch.from_numpy(values[3]))
    batch = data.__getitems__([3, 0, 3])
    torch.testing.assert_close(torch.stack([b[0] for b in batch]), torch.from_numpy(values[[3, 0, 3]]))


def test_existing_file_is_not_overwritten_without_force(tmp_path):
    path = tmp_path / "s.h5"
    _write(path)
    before = path.read_bytes()
    with pytest.raises(DataError, match="already exists; pass --force"):
        _write(path, values=np.zeros((4, 2, 3, 3), np.float32))
    assert path.read_bytes() == before
    _write(path, values=np.ones((4, 2, 3, 3), np.float32), force=True)
    with open_store(path) as store:
        assert store.read("input").max() == 1


def test_interrupted_generation_leaves_only_a_partial_file_and_resumes_identically(tmp_path):
    full = tmp_path / "full.h5"
    generate_dataset("darcy", full, n=5, res=9, seed=3, params={"refine": 2})
    path = tmp_path / "cut.h5"

    calls = []

    def stop_after_first_block(done, total):
        calls.append(done)
        if done >= 2:
            raise KeyboardInterrupt

    import sciml.data.pdes.darcy as darcy

    original = darcy.generate
    darcy.generate = lambda *a, **k: original(*a, **{**k, "block": 2})
    try:
        with pytest.raises(KeyboardInterrupt):
            generate_dataset("darcy", path, n=5, res=9, seed=3, params={"refine": 2}, on_block=stop_after_first_block)
        assert not path.exists() and partial_path(path).exists()
        with pytest.raises(DataError, match="does not exist; cut.h5.partial is an unfinished generation"):
            open_store(path)
        with pytest.raises(DataError, match="pass --resume to continue it"):
            generate_dataset("darcy", path, n=5, res=9, seed=3, params={"refine": 2})
        with pytest.raises(DataError, match="different settings \\(seed"):
            generate_dataset("darcy", path, n=5, res=9, seed=4, params={"refine": 2}, resume=True)
        seen = []
        generate_dataset("darcy", path, n=5, res=9, seed=3, params={"refine": 2}, resume=True,
                         on_block=lambda done, total: seen.append(done))
    finally:
        darcy.generate = original
    assert seen[0] == 2  # resumed from the samples already written
    with open_store(path) as a, open_store(full) as b:
        np.testing.assert_array_equal(a.read("input"), b.read("input"))
        np.testing.assert_array_equal(a.read("output"), b.read("output"))


def test_incomplete_file_is_refused(tmp_path):
    path = tmp_path / "s.h5"
    _write(path)
    with h5py.File(path, "r+") as f:
        f.attrs["complete"] = False
    with pytest.raises(DataError, match="is incomplete"):
        open_store(path)
    with h5py.File(path, "r+") as f:
        del f.attrs["complete"]
    with pytest.raises(DataError, match="no 'complete' attribute"):
        open_store(path)


def test_truncated_and_corrupt_files_are_refused(tmp_path):
    path = tmp_path / "s.h5"
    _write(path, n=40, values=np.random.default_rng(0).standard_normal((40, 2, 3, 3)).astype(np.float32))
    data = path.read_bytes()
    truncated = tmp_path / "t.h5"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        open_store(truncated)
    garbage = tmp_path / "g.h5"
    garbage.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        open_store(garbage)
    with pytest.raises(DataError, match="does not exist"):
        open_store(tmp_path / "missing.h5")


def test_non_finite_values_are_found(tmp_path):
    path = tmp_path / "s.h5"
    _write(path)
    with h5py.File(path, "r+") as f:
        f["output"][0, 0, 1, 1] = np.nan
    with pytest.raises(DataError, match="'output' sample 0 contains NaN or Inf"):
        open_store(path)
    shutil.copy(path, tmp_path / "t.h5")
    with h5py.File(tmp_path / "t.h5", "r+") as f:
        f["output"][0, 0, 1, 1] = 0.0
        f["input"][2, 1, 0, 0] = np.inf
    with open_store(tmp_path / "t.h5") as store:  # first and last samples are fine
        with pytest.raises(DataError, match="'input' sample 2 contains NaN or Inf"):
            summarize(store)
    with pytest.raises(DataError, match="'input' sample 2 contains NaN or Inf"):
        PairDataset(tmp_path / "t.h5").__getitems__([1, 2])
    with pytest.raises(DataError, match="non-finite"):
        _write(tmp_path / "n.h5", values=np.full((4, 2, 3, 3), np.nan, np.float32))


def test_inconsistent_fields_are_refused(tmp_path):
    path = tmp_path / "s.h5"
    _write(path)
    with h5py.File(path, "r+") as f:
        del f["output"]
        f.create_dataset("output", data=np.zeros((3, 1, 3, 3), np.float32))
    with pytest.raises(DataError, match="disagree on the number of samples"):
        open_store(path)
    with h5py.File(path, "r+") as f:
        f.attrs["sample_fields"] = json.dumps(["input"])
    with pytest.raises(DataError, match="no per-sample field 'output'"):
        PairDataset(path)


def test_same_seed_gives_byte_identical_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    for name in ("a.h5", "b.h5"):
        generate_dataset("darcy", tmp_path / name, n=3, res=9, seed=2, params={"refine": 2})
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()


def test_device_is_refused_for_cpu_only_generators(tmp_path):
    from sciml import ConfigError

    with pytest.raises(ConfigError, match="darcy generator runs on the CPU only"):
        generate_dataset("darcy", tmp_path / "a.h5", n=1, res=9, device="cpu")
    generate_dataset("heat", tmp_path / "h.h5", n=2, res=64, device="cpu")
    with open_store(tmp_path / "h.h5") as store:
        assert store.fields["tensor"][0] == (2, 11, 64)
