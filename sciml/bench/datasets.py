"""The datasets suite: what each shipped recipe (``datasets/*.yaml``) costs to generate here.

For every recipe and every distinct (resolution, parameters) among its splits, the generator runs
exactly as ``sciml data generate --recipe`` does (``module.generate`` over its default blocks, no
file written) on the first ``samples`` samples of that split, and the seconds per sample are
multiplied by the split's sample count. Generators whose cost grows linearly with the simulated
time (Navier-Stokes: a fixed step) are measured over a shorter horizon and scaled by ``T``; the
row says so. The table is the ``datasets/README.md`` table. Threads: as set by ``sciml --threads``.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["run", "SAMPLES", "SHORT_HORIZON"]

SAMPLES = {"darcy": 3, "navier-stokes": 2, "combined": 8, "poisson-mesh": 4, "heat-mesh-systems": 4,
           "poisson-mesh-systems": 4}  # samples timed per split; others 8
SHORT_HORIZON = {"navier-stokes": 0.2}  # simulated time actually run, then scaled to the recipe's T


def _time_split(pde: str, res: int, params: dict[str, Any], samples: int, quick: bool) -> dict[str, Any]:
    from sciml.data.pdes import resolve_pde

    module = resolve_pde(pde)
    params = dict(params)
    scale = 1.0
    if pde in SHORT_HORIZON:
        full = module.check_params(res, dict(params))["T"]
        short = min(full, 0.02 if quick else SHORT_HORIZON[pde])
        params.update(T=short, record_every=short)
        scale = full / short
    merged = module.check_params(res, params)
    tic = time.perf_counter()
    for _ in module.generate(samples, res, seed=0, params=merged):
        pass
    seconds = (time.perf_counter() - tic) / samples
    return {"seconds_per_sample": seconds * scale, "timed_samples": samples,
            "scaled_from_horizon": params["T"] if scale != 1.0 else None}


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.0f} MB" if n_bytes >= 1e7 else f"{n_bytes / 1e6:.1f} MB"


def run(*, quick: bool = False, workdir=None) -> dict[str, Any]:
    from sciml.data.recipes import load_recipe, recipe_files, split_bytes

    rows = []
    for path in recipe_files():
        recipe = load_recipe(path)
        timed: dict[str, dict[str, Any]] = {}
        total_seconds, total_bytes, splits = 0.0, 0, []
        for split in recipe.splits:
            key = repr((split.res, sorted(split.params.items())))
            if key not in timed:
                samples = 1 if quick else min(split.n, SAMPLES.get(recipe.pde, 8))
                timed[key] = _time_split(recipe.pde, split.res, split.params, samples, quick)
            per = timed[key]
            total_seconds += per["seconds_per_sample"] * split.n
            total_bytes += split_bytes(recipe, split)
            splits.append({"split": split.name, "n": split.n, "res": split.res, **per})
        horizons = [s["scaled_from_horizon"] for s in splits if s["scaled_from_horizon"]]
        rows.append({"recipe": recipe.name, "file": path.name, "pde": recipe.pde, "paper": recipe.paper,
                     "splits": splits, "samples": sum(s.n for s in recipe.splits), "bytes": total_bytes,
                     "seconds": total_seconds,
                     "note": (f"timed over T = {horizons[0]:g} and scaled by the recipe's T" if horizons else "")})
    return {"rows": rows, "table": table(rows),
            "summary": {r["recipe"]: _duration(r["seconds"]) for r in rows}}


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of ``datasets/README.md``."""
    lines = ["| recipe | paper (arXiv) | PDE | splits (samples @ resolution) | size | generation here | note |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        arxiv = next((w for w in r["paper"].replace(",", " ").split() if w[:4].isdigit() and "." in w), "-")
        splits = ", ".join(f"{s['split']} {s['n']} @ {s['res']}" for s in r["splits"])
        per = ", ".join(sorted({f"{s['seconds_per_sample']:.3g}" for s in r["splits"]}, key=float))
        lines.append(f"| [{r['recipe']}]({r['file']}) | {arxiv} | {r['pde']} | {splits} | {_megabytes(r['bytes'])} | "
                     f"{_duration(r['seconds'])} ({per} s/sample) | {r['note']} |")
    return "\n".join(lines)

