"""The package structure: no import circle, lower layers know no method package, the registry's
entries resolve, and every part imports alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import sciml
from sciml import registry

PACKAGE = Path(sciml.__file__).parent

# Layers, lowest first: a part may import its own layer's parts (if no circle forms) and lower ones,
# never a higher one. A new top-level module or subpackage must be placed here.
LAYERS = {
    "_errors": 0, "_version": 0, "_layout": 0,
    "config": 1, "io": 1, "runtime": 1,
    "linalg": 2,
    "data": 3,
    "gallery": 4, "geometry": 4,
    "train": 5,
    "operators": 6, "learned": 6, "graph": 6, "pinn": 6, "wos": 6, "teng": 6,  # the method packages
    "registry": 7,
    "runs": 8, "trained": 8,
    "experiments": 9, "bench": 9,
    "demo": 10,
    "cli": 11, "__main__": 12, "__init__": 12,
}
METHOD_PACKAGES = {name for name, layer in LAYERS.items() if layer == 6}


def _unit(module: str) -> str | None:
    """The top-level part of ``sciml`` that ``module`` belongs to (``sciml.data.store`` -> ``data``)."""
    parts = module.split(".")
    if parts[0] != "sciml":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    """Every sciml module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text())
    package = ".".join(("sciml", *path.relative_to(PACKAGE).with_suffix("").parts))
    if path.name == "__init__.py":
        package = package.removesuffix(".__init__")
    else:
        package = package.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "sciml":  # from sciml import X: X is a part or a re-export of the root package
                found.update(f"sciml.{alias.name}" if (PACKAGE / alias.name).exists()
                             or (PACKAGE / f"{alias.name}.py").exists() else "sciml" for alias in node.names)
            else:
                found.add(module)
    return {m for m in found if m.split(".")[0] == "sciml"}


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "_shipped" in path.parts:
            continue
        rel = path.relative_to(PACKAGE)
        source = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.name != "__init__.py" else "__init__"
        for module in _imports(path):
            target = _unit(module)
            if target is not None and target != source:
                edges.setdefault(source, set()).add(target)
    return edges


def test_every_part_has_a_layer():
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert parts - set(LAYERS) == set(), "place the new part in LAYERS (tests/test_structure.py)"


def test_no_part_imports_a_higher_layer():
    upward = [f"{source} -> {target}" for source, targets in _graph().items() for target in targets
              if LAYERS.get(target, 99) > LAYERS.get(source, -1)]
    assert upward == [], f"imports against the layering: {upward}"


def _find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle of the part graph (``[a, b, ..., a]``), or ``[]`` when there is none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_import_graph_has_no_cycle():
    cycle = _find_cycle(_graph())
    assert cycle == [], f"import cycle: {' -> '.join(cycle)}"


def test_the_detector_finds_a_planted_cycle_and_an_upward_import(tmp_path, monkeypatch):
    fake = tmp_path / "sciml"
    (fake / "train").mkdir(parents=True)
    (fake / "learned").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "train" / "__init__.py").write_text("def f():\n    from sciml.learned import x\n")
    (fake / "learned" / "__init__.py").write_text("from sciml.train import f\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    edges = _graph()
    assert edges == {"train": {"learned"}, "learned": {"train"}}
    assert _find_cycle(edges) == ["learned", "train", "learned"]
    with pytest.raises(AssertionError, match="import cycle: learned -> train -> learned"):
        test_the_import_graph_has_no_cycle()
    with pytest.raises(AssertionError, match="train -> learned"):
        test_no_part_imports_a_higher_layer()


_ALONE = """
import importlib, sys
module = sys.argv[1]
importlib.import_module(module)
methods = sorted(m for m in sys.modules if m.split(".")[:2][-1] in {methods!r} and m.startswith("sciml."))
print("LOADED", " ".join(methods))
"""


def test_each_part_imports_alone_and_the_lower_layers_load_no_method_package():
    parts = sorted(name for name in LAYERS if name not in ("__main__", "__init__") and
                   ((PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists()))
    script = _ALONE.replace("{methods!r}", repr(METHOD_PACKAGES))
    procs = {name: subprocess.Popen([sys.executable, "-c", script, f"sciml.{name}"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name in parts}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"import sciml.{name} alone failed:\n{err[-2000:]}"
        loaded = out.split("LOADED", 1)[1].split()
        if LAYERS[name] < 6:
            assert loaded == [], f"import sciml.{name} loaded method packages {loaded}"


def test_every_registered_entry_resolves_to_itself():
    for name in registry.MODELS:
        spec = registry.resolve_model(name)
        assert spec.name == name and "arXiv" in spec.paper and spec.summary
    for name in registry.EXPERIMENTS:
        experiment = registry.resolve_experiment(name)
        assert experiment.name == name and "arXiv" in experiment.paper and experiment.claim


def test_unknown_names_list_the_choices():
    with pytest.raises(sciml.ConfigError, match="unknown model 'fnoo'; choose one of fno, "):
        registry.resolve_model("fnoo")
    with pytest.raises(sciml.ConfigError, match="unknown experiment 'x'; choose one of fno-burgers, "):
        registry.resolve_experiment("x")
