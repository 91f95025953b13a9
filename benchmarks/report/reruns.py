"""Reruns that supersede an optimizer's cells of a grid (``<results-dir>/reruns.json``).

A grid's cells are never edited. When an optimizer's cells turn out to be wrong (COPRO's three seeds of
the fair grid were one run: the local engine's sampler ignored the seed, issue 31), its cells are rerun
into another folder and the grid's folder gets a ``reruns.json``::

    [{"optimizer": "copro", "folder": "../copro-seeded", "why": "..."}]

The report then shows the grid's cells and the rerun side by side, and the subject (DLPO) minus the
rerun, paired on shared seeds with the two-level bootstrap and Holm's correction over the rows. The rerun
ran on another commit than the grid: the section names both, and says that it pairs them anyway.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import stats
from ..harness import load_results
from .fair import DEVELOPMENT_ROWS, SUBJECT, cells_of, matrix, ok_cells
from .provenance import project_relative

RERUNS_FILE = "reruns.json"


def _scores(cells: dict[int, dict[str, Any]]) -> str:
    return ", ".join(f"{cells[s]['test']['score']:.0f}" for s in sorted(cells)) or "-"


def rerun_table(records: list[dict[str, Any]], rerun: list[dict[str, Any]], optimizer: str) -> str:
    """Per task: the grid's and the rerun's per-seed test scores, the rerun's mean, DLPO minus the rerun; and
    the difference averaged over the rows DLPO was never tuned on (Holm's correction over every row)."""
    rows, comps = [], []
    for task in sorted({r["task"] for r in ok_cells(rerun) if r["optimizer"] == optimizer}):
        old, new, mine = (cells_of(records, task, optimizer), cells_of(rerun, task, optimizer),
                          cells_of(records, task, SUBJECT))
        seeds = sorted(set(new) & set(mine))
        mean, lo, hi = stats.mean_ci(matrix(new, sorted(new)))
        row = {"task": task, "old": _scores(old), "new": _scores(new), "mean": f"{mean:.1f} [{lo:.1f}, {hi:.1f}]"}
        if seeds:
            d = stats.paired_difference(matrix(mine, seeds), matrix(new, seeds), seed=stats.RNG_SEED + len(comps))
            row.update(diff=d.diff, ci=(d.lo, d.hi), p=d.p, result=d)
            comps.append(row)
        rows.append(row)
    held = [c for c in comps if c["task"] not in DEVELOPMENT_ROWS]
    if len(held) >= 2:  # averaged as the fair report averages: each row resampled on its own
        d = stats.average_difference([c["result"] for c in held])
        average = {"task": f"average of the {len(held)} rows DLPO was never tuned on", "old": "", "new": "",
                   "mean": "", "diff": d.diff, "ci": (d.lo, d.hi), "p": d.p}
        comps.append(average)
        rows.append(average)
    adjusted = stats.holm({c["task"]: c["p"] for c in comps}) if comps else {}
    lines = [f"| task | {optimizer} per seed, grid | {optimizer} per seed, rerun | rerun's mean [95% CI, seeds and "
             f"examples] | {SUBJECT} minus the rerun [95% CI] | p / Holm p |", "|---|---|---|---|---|---|"]
    for row in rows:
        diff = (f"{row['diff']:+.1f} [{row['ci'][0]:+.1f}, {row['ci'][1]:+.1f}] | {row['p']:.3f} / "
                f"{adjusted[row['task']]:.3f}") if "diff" in row else "- | -"
        lines.append(f"| {row['task']} | {row['old']} | {row['new']} | {row['mean']} | {diff} |")
    return "\n".join(lines)


def rerun_sections(records: list[dict[str, Any]], results_dir: Path) -> list[str]:
    """The README section for every entry of ``reruns.json``; nothing when the file is absent."""
    path = Path(results_dir) / RERUNS_FILE
    if not path.exists():
        return []
    parts = ["## Reruns that supersede cells of this grid", ""]
    for entry in json.loads(path.read_text()):
        optimizer, folder = entry["optimizer"], (Path(results_dir) / entry["folder"]).resolve()
        rerun = [r for r in load_results(folder) if r["optimizer"] == optimizer]
        versions = sorted({str(r.get("code_version")) for r in ok_cells(rerun)})
        grid_versions = sorted({str(r.get("code_version")) for r in ok_cells(records) if r["optimizer"] == SUBJECT})
        parts += [f"### {optimizer}: rerun in `{project_relative(folder)}`", "", entry["why"], "",
                  f"The rerun ran on {', '.join(versions)}; this grid's {SUBJECT} cells on "
                  f"{', '.join(grid_versions)}. The difference is paired across those commits (each side's own "
                  f"cells unchanged); it supersedes the {optimizer} rows of the tables above.", "",
                  rerun_table(records, rerun, optimizer), ""]
    return parts
