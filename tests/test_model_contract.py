"""The trained-model contract, held over every registered model kind: train at smoke scale, load with
weights_only, predict on the kind's natural input and on a file from its own generator, `sciml eval` and
`sciml predict` from the command line (with a ParaView export), and refuse a file of a wrong layout with
one sentence. A new kind that does not meet the contract fails here."""

from __future__ import annotations

import json
import subprocess
import sys

import meshio
import numpy as np
import pytest
import torch

import sciml
from sciml.cli import main
from sciml.data import open_store
from sciml.data.layouts import LAYOUTS, detect_layout
from sciml.registry import MODELS, resolve_model

KINDS = list(MODELS)


def _generate(example: dict, path) -> None:
    if "points" in example:  # a kind without training data: its evaluation file
        points = example["points"]
        if "writer" in points:  # a writer of the kind's own (dimensions beyond --expr's x, y, z)
            from sciml.registry import _import

            _import(points["writer"])(path, **points["kwargs"])
            return
        args = ["--quiet", "data", "points", "--out", str(path)]
        for key in ("expr", "box", "time", "n", "points", "seed"):
            if key in points:
                args += [f"--{key}", str(points[key])]
        assert main(args) == 0
        return
    args = ["--quiet", "data", "generate", example["pde"], "--out", str(path), "--n", str(example["n"]),
            "--res", str(example["res"])]
    for key, value in example.get("params", {}).items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Every kind trained once on its own example data: {kind: (run dir, data file)}."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("contract")
    runs = {}
    for kind in KINDS:
        spec = resolve_model(kind)
        assert spec.example is not None, f"{kind}: ModelSpec.example is missing (the smoke case of this test)"
        assert spec.inference is not None, f"{kind}: ModelSpec.inference is missing (the inference contract)"
        data = root / f"{kind}.h5"
        if not data.exists():
            _generate(spec.example, data)
        run = root / f"run-{kind}"
        args = ["--quiet", "train", kind, "--out", str(run)] + (["--data", str(data)] if spec.needs_data else [])
        for key, value in spec.example["overrides"].items():
            args += ["--set", f"{key}={value}"]
        assert main(args) == 0, kind
        runs[kind] = (run, data)
    return runs


@pytest.mark.parametrize("kind", KINDS)
def test_load_gives_the_model_its_config_metadata_and_a_natural_prediction(trained, kind):
    run, data_path = trained[kind]
    torch.load(run / "best.pt", weights_only=True)  # the file is data: weights-only loadable
    model = sciml.load(run)
    assert model.name == kind and model.config == model.module.config and not model.module.training
    assert model.metadata["epoch"] >= 1
    if model.spec.needs_data:
        assert model.metadata["data"]["train"].endswith(data_path.name)
    else:  # it drew its own points: the run records its problem and the box of its domain
        assert model.metadata["data"]["problem"] and model.metadata["data"]["domain"]["lower"]
    assert model.layouts and all(layout in LAYOUTS for layout in model.layouts) and model.signature
    data = model.open(data_path)
    args, kwargs = model.inference.natural_example(model.module, data)
    out = model.predict(*args, **kwargs)
    values = out if isinstance(out, torch.Tensor) else getattr(out, "x", None)
    if values is None:  # a preconditioner: it applies itself to a vector of the matrix's size
        values = out.apply(torch.ones(args[0].shape[0], dtype=torch.float64))
    assert values.numel() > 0 and bool(torch.isfinite(values).all())
    assert isinstance(model.normalization, dict)


@pytest.mark.parametrize("kind", KINDS)
def test_eval_and_predict_from_the_command_line_on_its_own_generator(trained, kind, tmp_path, capsys):
    run, data_path = trained[kind]
    with open_store(data_path) as store:
        n = store.n_samples
        source_fields = set(store.fields)
    capsys.readouterr()
    assert main(["--quiet", "eval", str(run), "--data", str(data_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for metric in ("rel_l2", "nrmse", "rmse", "max_error"):
        values = result["per_sample"][metric]
        assert len(values) == n and all(np.isfinite(values)), (kind, metric)
        assert result["overall"][metric] == pytest.approx(max(values) if metric == "max_error" else np.mean(values))
    out, vtk = tmp_path / "pred.h5", tmp_path / "vtk"
    assert main(["--quiet", "predict", str(run), "--data", str(data_path), "--out", str(out), "--vtk", str(vtk)]) == 0
    with open_store(out) as store:
        assert store.n_samples == n and source_fields < set(store.fields) and "prediction" in store.fields
        assert json.loads(store.attrs["predicted_by"])["model_name"] == kind
        assert detect_layout(store) == resolve_model(kind).inference.layouts[0]
    files = sorted(vtk.iterdir())
    assert len(files) == n
    if files[0].suffix == ".xdmf":  # a time series
        with meshio.xdmf.TimeSeriesReader(files[0]) as reader:
            points, _ = reader.read_points_cells()
            frames = [reader.read_data(k)[1] for k in range(reader.num_steps)]
        with open_store(data_path) as store:
            assert len(frames) == store.fields["tensor"][0][1]
        point_data = frames[-1]
    else:
        mesh = meshio.read(files[0])
        points, point_data = mesh.points, mesh.point_data
    names = set(point_data)
    assert {"prediction", "reference", "error"} <= {name.split("_")[0] for name in names}, names
    for name, values in point_data.items():
        assert len(values) == len(points) and np.all(np.isfinite(values)), name
    # predict writes nothing over an existing file without --force
    before = out.read_bytes()
    assert main(["predict", str(run), "--data", str(data_path), "--out", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err and out.read_bytes() == before


@pytest.mark.parametrize("kind", KINDS)
def test_text_eval_prints_the_kinds_figures_and_the_per_sample_summary(trained, kind, capsys):
    run, data_path = trained[kind]
    capsys.readouterr()
    assert main(["--quiet", "eval", str(run), "--data", str(data_path)]) == 0
    out = capsys.readouterr().out
    assert "per sample (mean over" in out and "max error" in out


def test_mesh_systems_predict_and_export_on_the_mesh(tmp_path, one_thread):
    """neural-pcg on unstructured-mesh systems (padded per-sample patterns): solutions at the mesh nodes."""
    data = tmp_path / "heat.h5"
    assert main(["--quiet", "data", "generate", "heat-mesh-systems", "--out", str(data), "--n", "3", "--res", "6"]) == 0
    run = tmp_path / "run"
    assert main(["--quiet", "train", "neural-pcg", "--data", str(data), "--out", str(run), "--set", "epochs=1",
                 "--set", "hidden=8", "--set", "layers=1", "--set", "batch_size=3"]) == 0
    out, vtk = tmp_path / "pred.h5", tmp_path / "vtk"
    assert main(["--quiet", "predict", str(run), "--data", str(data), "--out", str(out), "--vtk", str(vtk)]) == 0
    with open_store(out) as store, open_store(data) as source:
        assert store.read("cell_type") == source.read("cell_type")
        rows = source.read("num_rows")
        pred, ref = store.read("prediction"), source.read("solution")
        for k, n in enumerate(rows):
            assert np.linalg.norm(pred[k, :n] - ref[k, :n]) <= 1e-6 * np.linalg.norm(ref[k, :n])
    mesh = meshio.read(sorted(vtk.iterdir())[0])
    with open_store(data) as source:
        assert len(mesh.points) == int(source.read("num_nodes", 0)) and mesh.cells[0].type == "triangle"
    assert {"prediction", "reference", "error"} <= set(mesh.point_data)


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_of_a_layout_the_kind_does_not_read_is_refused_with_one_sentence(trained, kind, tmp_path, capsys):
    run, _ = trained[kind]
    readable = resolve_model(kind).inference.layouts
    other = next(path for k, (_, path) in trained.items() if resolve_model(k).inference.layouts[0] not in readable)
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"; a {kind} model reads " in err[0] and str(other) in err[0], err
    out = tmp_path / "never.h5"
    assert main(["predict", str(run), "--data", str(other), "--out", str(out)]) == 2
    assert not out.exists() and not (tmp_path / "never.h5.partial").exists()


def test_eval_needs_a_reference_and_predict_does_not(trained, tmp_path, capsys):
    run, data_path = trained["fno"]
    inputs_only = tmp_path / "inputs.h5"
    with open_store(data_path) as store:
        x = store.read("input")
    from sciml.data import StoreWriter

    with StoreWriter(inputs_only, n_samples=len(x), fields={"input": (x.shape[1:], "float32")}, pde="darcy",
                     params={}, generator="test", seed=0) as writer:
        writer.write({"input": x})
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(inputs_only)]) == 2
    assert "has no reference field 'output' to evaluate against; sciml predict works without it" in \
        capsys.readouterr().err
    out = tmp_path / "p.h5"
    assert main(["--quiet", "predict", str(run), "--data", str(inputs_only), "--out", str(out)]) == 0
    with open_store(out) as store:
        assert store.fields["prediction"][0] == (len(x), 1, 16, 16)


def test_predictions_in_the_file_equal_the_python_ones(trained, tmp_path):
    run, data_path = trained["fno"]
    out = tmp_path / "p.h5"
    assert main(["--quiet", "predict", str(run), "--data", str(data_path), "--out", str(out), "--batch-size", "3"]) == 0
    model = sciml.load(run)
    with open_store(out) as store:
        stored, x = store.read("prediction"), store.read("input")
    torch.testing.assert_close(torch.from_numpy(stored), model.predict(torch.from_numpy(x)).float(), rtol=1e-5,
                               atol=1e-7)


_FRESH = """
import sys, json, sciml
runs = json.loads(sys.argv[1])
for kind, (run, data) in runs.items():
    model = sciml.load(run)
    args, kwargs = model.inference.natural_example(model.module, model.open(data))
    model.predict(*args, **kwargs)
print(json.dumps(sorted(m for m in sys.modules if m in ("sciml.train.trainer", "sciml.runs"))))
"""


def test_loading_and_predicting_import_no_training_code(trained):
    runs = {kind: [str(run), str(data)] for kind, (run, data) in trained.items()}
    found = subprocess.run([sys.executable, "-c", _FRESH, json.dumps(runs)], capture_output=True, text=True,
                           check=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}).stdout
    assert json.loads(found.strip().splitlines()[-1]) == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_predictions_match_the_cpu_ones(trained, kind, tmp_path):
    run, data_path = trained[kind]
    files = {}
    for device in ("cpu", "cuda"):
        files[device] = tmp_path / f"{device}.h5"
        assert main(["--quiet", "predict", str(run), "--data", str(data_path), "--out", str(files[device]),
                     "--device", device]) == 0
    with open_store(files["cpu"]) as cpu, open_store(files["cuda"]) as cuda:
        a, b = cpu.read("prediction"), cuda.read("prediction")
    assert np.linalg.norm(a - b) <= 1e-4 * max(np.linalg.norm(a), 1e-12), kind


def test_bad_predict_options_are_refused_before_anything_is_written(trained, tmp_path, capsys):
    run, data_path = trained["fno"]
    out = tmp_path / "p.h5"
    assert main(["predict", str(run), "--data", str(data_path), "--out", str(out), "--batch-size", "0"]) == 2
    assert "--batch-size must be a positive integer, got 0" in capsys.readouterr().err
    (tmp_path / "file.vtk").write_text("mine")
    assert main(["predict", str(run), "--data", str(data_path), "--out", str(out), "--vtk",
                 str(tmp_path / "file.vtk")]) == 2
    assert "is a file; it names a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.vtk"]
