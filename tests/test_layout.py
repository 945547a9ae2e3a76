"""The top-level layout: experiments/NAME/{README.md, config.yaml} for every registered experiment
(--config lays a YAML over it), datasets/*.yaml recipes (--recipe), and a non-editable install that
still finds both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sciml import ConfigError
from sciml.cli import main
from sciml.data import open_store
from sciml.data.recipes import load_recipe, recipe_files
from sciml.experiments import SCALES, default_config, experiment_config
from sciml.registry import EXPERIMENTS

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_has_a_readme_and_a_config_for_every_scale(name):
    folder = REPO / "experiments" / name
    readme = (folder / "README.md").read_text()
    for heading in ("**Paper.**", "**Claim.**", "**The paper's numbers**", "## Run it", "## Our latest result"):
        assert heading in readme, f"{name}/README.md lacks {heading}"
    for scale in SCALES:
        assert f"--scale {scale}" in readme
    config = default_config(name)
    assert set(config) == set(SCALES) and all(isinstance(config[s], dict) and config[s] for s in SCALES)


def test_no_experiment_folder_without_a_registered_experiment():
    folders = {p.name for p in (REPO / "experiments").iterdir() if p.is_dir()}
    assert folders == set(EXPERIMENTS)


def test_a_config_file_overrides_some_keys_and_keeps_the_rest(tmp_path):
    base = experiment_config("fno-darcy", "smoke")
    sectioned = tmp_path / "sectioned.yaml"
    sectioned.write_text("smoke:\n  n_train: 12\n  train: {epochs: 1, step_size: 5}\n")
    merged = experiment_config("fno-darcy", "smoke", sectioned)
    assert merged["n_train"] == 12 and merged["train"]["epochs"] == 1 and merged["train"]["step_size"] == 5
    assert merged["train"]["lr"] == base["train"]["lr"] and merged["model"] == base["model"]
    flat = tmp_path / "flat.yaml"
    flat.write_text("n_test: 3\nmodel: {width: 4}\n")
    merged = experiment_config("fno-darcy", "smoke", flat)
    assert merged["n_test"] == 3 and merged["model"]["width"] == 4 and merged["model"]["modes"] == 4
    assert experiment_config("fno-darcy", "smoke") == base  # the shipped defaults are untouched


@pytest.mark.parametrize("text, message", [
    ("smoke:\n  n_trian: 3\n", r"unknown key sectioned.yaml:smoke.n_trian; known keys there: fine, train_res"),
    ("smoke:\n  model: {modez: 3}\n", r"unknown key sectioned.yaml:smoke.model.modez"),
    ("smoke:\n  n_train: many\n", r"sectioned.yaml:smoke.n_train must be a number, got 'many'"),
    ("smoke:\n  model: 3\n", r"sectioned.yaml:smoke.model must be a mapping"),
    ("small:\n  n_train: 3\n", r"has no 'smoke' section \(it has small\)"),
    ("smoke: {}\nn_train: 3\n", r"mixes scale sections with other keys \(n_train\)"),
])
def test_bad_config_files_are_refused_with_the_key(tmp_path, text, message):
    path = tmp_path / "sectioned.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        experiment_config("fno-darcy", "smoke", path)


def test_reproduce_with_a_config_file_runs_it_and_records_it(tmp_path, capsys):
    config = tmp_path / "short.yaml"
    config.write_text("smoke:\n  systems: 30\n  paper_systems: 10\n")
    out = tmp_path / "relax"
    assert main(["--quiet", "reproduce", "relax-sor-sequence", "--scale", "smoke", "--config", str(config),
                 "--out", str(out)]) == 0
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["systems"] == 30 and saved["config"]["m"] == 6
    assert saved["config_file"] == str(config.resolve())
    bad = tmp_path / "bad.yaml"
    bad.write_text("smoke:\n  sistems: 30\n")
    capsys.readouterr()
    assert main(["reproduce", "relax-sor-sequence", "--scale", "smoke", "--config", str(bad),
                 "--out", str(tmp_path / "never")]) == 2
    assert "unknown key bad.yaml:smoke.sistems" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_every_shipped_recipe_loads_and_names_its_paper():
    files = recipe_files()
    assert len(files) >= 10
    for path in files:
        recipe = load_recipe(path)
        assert recipe.name == path.stem and "arXiv" in recipe.paper and recipe.splits
    table = (REPO / "datasets" / "README.md").read_text()
    for path in files:
        assert f"[{path.stem}]({path.name})" in table, f"datasets/README.md has no row for {path.name}"


def test_generate_from_a_recipe_writes_each_split_with_its_provenance(tmp_path, capsys):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text("name: tiny\npaper: a test, arXiv 0000.00000\npde: darcy\nres: 9\nparams: {refine: 2}\n"
                      "splits:\n  train: {n: 3, seed: 0}\n  fine: {n: 2, seed: 1, res: 17, params: {refine: 1}}\n")
    out = tmp_path / "data"
    assert main(["--quiet", "data", "generate", "--recipe", str(recipe), "--out", str(out)]) == 0
    with open_store(out / "train.h5") as store:
        assert store.n_samples == 3 and int(store.attrs["seed"]) == 0 and store.attrs["params"]["refine"] == 2
    with open_store(out / "fine.h5") as store:
        assert store.n_samples == 2 and int(store.attrs["seed"]) == 1 and store.fields["input"][0][-1] == 17
    before = (out / "train.h5").read_bytes()
    capsys.readouterr()
    assert main(["data", "generate", "--recipe", str(recipe), "--out", str(out)]) == 2
    assert "already exists; pass --resume" in capsys.readouterr().err and (out / "train.h5").read_bytes() == before
    assert main(["--quiet", "data", "generate", "--recipe", str(recipe), "--out", str(out), "--split", "fine",
                 "--n", "1", "--force"]) == 0
    with open_store(out / "fine.h5") as store:
        assert store.n_samples == 1
    assert (out / "train.h5").read_bytes() == before


@pytest.mark.parametrize("text, args, message", [
    ("name: x\npde: darcy\nres: 9\nsplits: {train: {n: 2, seed: 0}}\nseeds: 3\n", [], "unknown key seeds"),
    ("name: x\npde: darsy\nres: 9\nsplits: {train: {n: 2, seed: 0}}\n", [], "unknown PDE 'darsy'"),
    ("name: x\npde: darcy\nres: 9\nparams: {refin: 2}\nsplits: {train: {n: 2, seed: 0}}\n", [],
     "unknown darcy parameter refin"),
    ("name: x\npde: darcy\nres: 9\nsplits: {train: {n: 0, seed: 0}}\n", [], r"splits.train.n must be an integer >= 1"),
    ("name: x\npde: darcy\nres: 9\n", [], "has no 'splits'"),
    ("name: x\npde: darcy\nres: 9\nsplits: {train: {n: 2}}\n", [], "splits.train has no seed"),
    ("name: x\npde: darcy\nres: 9\nsplits: {train: {n: 2, seed: 0}, test: {n: 1, seed: 0}}\n", [],
     "splits.test has the seed, resolution and parameters of split 'train'"),
    ("name: x\npde: darcy\nres: 9\nsplits: {train: {n: 2, seed: 0}}\n", ["--split", "test"], "has no split 'test'"),
    ("name: x\npde: darcy\nres: 9\nsplits: {train: {n: 2, seed: 0}}\n", ["--res", "17"], "fixes --res; drop it"),
])
def test_bad_recipes_are_refused_before_any_file(tmp_path, capsys, text, args, message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    out = tmp_path / "out"
    assert main(["data", "generate", "--recipe", str(recipe), "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_non_editable_install_finds_its_experiments_and_recipes(tmp_path):
    """Built and installed (no dependencies: the test environment has them) into a folder that shadows the
    source tree, run from elsewhere: the experiments' configs and the recipes come from inside the package."""
    target = tmp_path / "site"
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "*.egg-info", "build",
                                                                  "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True)
    shutil.rmtree(source)  # nothing may come from the source tree any more
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}
    probe = ("import sciml, sciml.experiments as e, sciml.data.recipes as r; "
             "print(sciml.__file__); print(e.config_path('fno-darcy')); print(len(r.recipe_files()))")
    found = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    assert found[0].startswith(str(target)) and found[1].startswith(str(target / "sciml" / "_shipped"))
    assert int(found[2]) == len(recipe_files())
    run = subprocess.run([sys.executable, "-m", "sciml", "--quiet", "reproduce", "relax-sor-sequence", "--scale",
                          "smoke", "--out", str(tmp_path / "relax")], cwd=tmp_path, env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    listing = subprocess.run([sys.executable, "-m", "sciml", "reproduce", "--list"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, check=True).stdout
    assert all(name in listing for name in EXPERIMENTS)
