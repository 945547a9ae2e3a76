"""Where the project's top-level folders are: ``experiments/`` (one folder per registered experiment,
its README and ``config.yaml``) and ``datasets/`` (one YAML recipe per benchmark dataset).

In a source checkout (and an editable install) they sit beside the ``sciml`` package; a built
wheel carries them inside it as ``sciml/_shipped/experiments`` and ``sciml/_shipped/datasets``
(``setup.py`` maps them there), so an installed copy finds them too.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["layout_dir"]

_PACKAGE = Path(__file__).resolve().parent


def layout_dir(kind: str) -> Path:
    """The folder ``kind`` (``experiments`` or ``datasets``), installed or in the source tree."""
    if kind not in ("experiments", "datasets"):
        raise ValueError(f"unknown layout folder {kind!r}; choose experiments or datasets")
    for candidate in (_PACKAGE / "_shipped" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"sciml's {kind}/ folder is missing: looked in {_PACKAGE / '_shipped' / kind} "
                            f"(installed copy) and {_PACKAGE.parent / kind} (source tree)")
