"""The step study of issue 31: the new step against the old one and against TGD on the development rows.

Reads the new step's DLPO cells (``--new``, default ``benchmarks/results/step``) and the fair grid's cells
of the old step (``--old``, default ``benchmarks/results/fair``: DLPO and TGD on commit a15001a), pairs
them by row and seed on the same 100 test examples, and writes a markdown report: test scores per seed,
the differences with a two-level paired bootstrap (seeds and examples), spend, proposals, and per run what
each change of the new step did (counted from its trial logs: critiques re-asked for missing the
dominant failure pattern, rewrites refused for an invented field, ties validated, end-of-budget
validations, what each strategy did).

    python -m benchmarks.step_study > benchmarks/results/step/README.md
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from .harness import RESULTS_DIR, load_results  # noqa: E402
from .stats import average_difference, paired_difference  # noqa: E402

ROWS = ("bbh/logical_deduction_three_objects@predict", "bbh/object_counting@predict",
        "bbh/tracking_shuffled_objects_three_objects@predict")


def cells(results_dir: Path, optimizer: str) -> dict[tuple[str, int], dict[str, Any]]:
    """``(task, seed) -> record`` of the finished cells of ``optimizer`` in ``results_dir``."""
    return {(r["task"], r["seed"]): r for r in load_results(results_dir)
            if r.get("optimizer") == optimizer and r.get("status") == "ok"}


def run_counts(record: dict[str, Any]) -> dict[str, int]:
    """What the new step's changes did in one run, from its trial log."""
    logs = (record.get("details") or {}).get("trial_logs") or []
    counts: Counter = Counter()
    for log in logs:
        diagnosis = log.get("diagnosis") or {}
        counts["steps"] += log.get("outcome") != "validated"
        counts["pattern found"] += bool(diagnosis.get("patterns"))
        counts["critique re-asked"] += bool(diagnosis.get("reasked"))
        counts["critique addressed it"] += diagnosis.get("addressed") is True
        counts["field guard"] += sum("as a field" in p for p in log.get("problems") or [])
        counts["proposals scored"] += len(log.get("candidate_batch_scores") or
                                          ([1] if log.get("batch_score_after") is not None else []))
        counts["tie validated"] += log.get("score_delta") == 0 and log.get("val_score") is not None
        counts["end validation"] += log.get("outcome") == "validated"
        for name in log.get("acted") or {}:
            counts[f"acted: {name}"] += 1
    return dict(counts)


def _scores(record: dict[str, Any]) -> list[float]:
    return list(record["test"]["per_example"])


def report(new_dir: Path, old_dir: Path) -> str:
    new, old, tgd = cells(new_dir, "dlpo"), cells(old_dir, "dlpo"), cells(old_dir, "tgd")
    lines = ["# The step of issue 31 on the development rows", "",
             "New step: `benchmarks/results/step` (DLPO, budget 60, 20 train / 10 val / 100 test, seeds 0-2, the "
             "fair grid's settings). Old step and TGD: the fair grid's cells on commit a15001a "
             "(`benchmarks/results/fair`). Test % on the same 100 examples per row; differences with a two-level "
             "paired bootstrap (seeds, then examples).", "",
             "Regenerate: `python -m benchmarks.step_study > benchmarks/results/step/README.md`", "",
             "| row | new DLPO (seeds) | old DLPO | old TGD | new - old DLPO | new - TGD |",
             "|---|---|---|---|---|---|"]
    parts_old, parts_tgd = [], []
    for row in ROWS:
        seeds = sorted(s for (t, s) in new if t == row)
        if not seeds:
            continue
        fmt = lambda recs: " ".join(f"{recs[(row, s)]['test']['score']:.0f}" if (row, s) in recs else "-"
                                    for s in seeds)
        mean = lambda recs: sum(recs[(row, s)]["test"]["score"] for s in seeds) / len(seeds)
        diffs = []
        for ref, parts in ((old, parts_old), (tgd, parts_tgd)):
            if all((row, s) in ref for s in seeds):
                d = paired_difference([_scores(new[(row, s)]) for s in seeds], [_scores(ref[(row, s)]) for s in seeds])
                parts.append(d)
                diffs.append(f"{d.diff:+.1f} [{d.lo:+.1f}, {d.hi:+.1f}]")
            else:
                diffs.append("-")
        lines.append(f"| {row.removeprefix('bbh/')} | {mean(new):.1f} ({fmt(new)}) | {mean(old):.1f} ({fmt(old)}) | "
                     f"{mean(tgd):.1f} ({fmt(tgd)}) | {diffs[0]} | {diffs[1]} |")
    if len(parts_old) > 1:
        a, b = average_difference(parts_old), average_difference(parts_tgd) if parts_tgd else None
        lines.append(f"| **average** | | | | {a.diff:+.1f} [{a.lo:+.1f}, {a.hi:+.1f}] | "
                     + (f"{b.diff:+.1f} [{b.lo:+.1f}, {b.hi:+.1f}] |" if b else "- |"))
    lines += ["", "## Spend and proposals per run", "",
              "| row | seed | step | metric calls / budget | optimizer calls | distinct proposals | val % | test % |",
              "|---|---|---|---|---|---|---|---|"]
    for (row, seed), rec in sorted(new.items()):
        for label, ref in (("new", new), ("old", old)):
            r = ref.get((row, seed))
            if r is None:
                continue
            d = r.get("details") or {}
            lines.append(f"| {row.removeprefix('bbh/')} | {seed} | {label} | {r['spend']['metric_calls']} / "
                         f"{r['config']['budget']} | {r['spend']['optimizer_calls']} | "
                         f"{d.get('distinct_proposals', '-')} | {r['val']['score']:.0f} | {r['test']['score']:.0f} |")
    keys = sorted({k for rec in new.values() for k in run_counts(rec)})
    lines += ["", "## What each change did, per run of the new step", "",
              "| row | seed | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for (row, seed), rec in sorted(new.items()):
        counts = run_counts(rec)
        values = " | ".join(str(counts.get(k, 0)) for k in keys)
        lines.append(f"| {row.removeprefix('bbh/')} | {seed} | {values} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--new", type=Path, default=RESULTS_DIR / "step")
    p.add_argument("--old", type=Path, default=RESULTS_DIR / "fair")
    args = p.parse_args(argv)
    sys.stdout.write(report(args.new, args.old))
    return 0


if __name__ == "__main__":
    sys.exit(main())
