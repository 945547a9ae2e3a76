from dataclasses import dataclass
from typing import Literal

import pytest

from sciml import ConfigError
from sciml.config import build_sections, from_dict, load_yaml, parse_overrides, to_dict


@dataclass(frozen=True)
class Model:
    modes: int = 12
    width: int = 32
    shape: tuple[int, ...] = (4, 4)
    seed: int = 0


@dataclass(frozen=True)
class Train:
    epochs: int = 10
    lr: float = 1e-3
    scheduler: Literal["cosine", "none"] = "cosine"
    seed: int = 0
    limit: float | None = None


def test_from_dict_converts_types_and_refuses_unknown_keys():
    cfg = from_dict(Train, {"epochs": 3.0, "lr": 1, "limit": None})
    assert cfg == Train(epochs=3, lr=1.0)
    assert isinstance(cfg.lr, float)
    with pytest.raises(ConfigError, match="unknown config key 'epoch'.*valid keys are epochs, lr"):
        from_dict(Train, {"epoch": 3})
    with pytest.raises(ConfigError, match="must be an integer"):
        from_dict(Train, {"epochs": "many"})
    with pytest.raises(ConfigError, match="must be one of 'cosine', 'none'"):
        from_dict(Train, {"scheduler": "linear"})


def test_overrides_parse_yaml_values():
    assert parse_overrides(["epochs=5", "lr=1e-3", "shape=[8, 8]", "flag=true"]) == {
        "epochs": 5, "lr": 1e-3, "shape": [8, 8], "flag": True}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["epochs"])


def test_sections_resolve_flat_and_dotted_keys():
    out = build_sections({"model": Model, "train": Train}, ("--set", {"modes": 8, "epochs": 2, "model.seed": 3,
                                                                      "train.seed": 4, "shape": [2, 2]}))
    assert out["model"] == Model(modes=8, seed=3, shape=(2, 2))
    assert out["train"] == Train(epochs=2, seed=4)
    assert to_dict(out["model"])["shape"] == [2, 2]
    with pytest.raises(ConfigError, match="ambiguous.*model.seed or train.seed"):
        build_sections({"model": Model, "train": Train}, ("--set", {"seed": 1}))
    with pytest.raises(ConfigError, match="unknown --set key 'epochz'"):
        build_sections({"model": Model, "train": Train}, ("--set", {"epochz": 1}))


def test_yaml_sections_and_later_layers_win(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("model:\n  modes: 6\ntrain:\n  epochs: 7\n")
    out = build_sections({"model": Model, "train": Train}, ("config", load_yaml(path)), ("--set", {"epochs": 9}))
    assert out["model"].modes == 6 and out["train"].epochs == 9
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_yaml(bad)
