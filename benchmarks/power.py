"""The pilot's power arithmetic (issue 32, item 4): how many task-seed units a grid needs to detect a
given mean difference between two optimizers.

From the pilot's cells, each (task, seed) gives one difference: optimizer A's test score minus B's (both
scored on the same test rows). Their spread around each task's own mean is the seed-level noise the grid
averages away (tasks are fixed, chosen by the headroom table, so the spread between tasks is not noise).
At a two-sided level ``alpha`` and power ``power``, a mean difference ``delta`` needs

    n = ((z(1 - alpha/2) + z(power)) * sd / delta) ** 2   task-seed units,

and a grid of n units detects ``(z(1 - alpha/2) + z(power)) * sd / sqrt(n)``.

That counts the seeds' noise only. The report's two-level interval also resamples the test examples, and a
task has a fixed, finite test split (100 rows on BBH), so its examples add a term that more seeds cannot
remove. With ``v`` the variance across test examples of the per-example difference (each example's score
difference averaged over the pilot's seeds), the average difference over T tasks, S seeds and N test rows per
task has standard error

    se = sqrt((sd**2 / S + v / N) / T)

(slightly conservative: the per-example noise of one seed is counted in both terms), a grid detects
``(z(1 - alpha/2) + z(power)) * se``, and 3 points need T = z**2 * (sd**2 / S + v / N) / 3**2 tasks.

    python -m benchmarks.power --results-dir benchmarks/results/pilot --a dlpo --b gepa
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # allow ``python benchmarks/power.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from .harness import load_results  # noqa: E402

Z = {0.975: 1.959964, 0.8: 0.841621, 0.9: 1.281552}  # standard normal quantiles used here


def differences(records: list[dict[str, Any]], a: str, b: str) -> dict[str, dict[int, float]]:
    """task -> seed -> test score of ``a`` minus ``b`` (percent points), for seeds where both finished."""
    scores: dict[tuple[str, str, int], float] = {}
    for r in records:
        if r.get("status") == "ok" and r["optimizer"] in (a, b):
            scores[(r["task"], r["optimizer"], r["seed"])] = float(r["test"]["score"])
    out: dict[str, dict[int, float]] = defaultdict(dict)
    for (task, opt, seed), score in scores.items():
        if opt == a and (task, b, seed) in scores:
            out[task][seed] = score - scores[(task, b, seed)]
    return dict(out)


def example_variance(records: list[dict[str, Any]], a: str, b: str) -> tuple[float, int]:
    """The variance (points squared) across test examples of ``a`` minus ``b`` per example, each example's
    difference averaged over the seeds both finished, pooled over tasks; and the smallest test split."""
    rows: dict[tuple[str, str, int], list[float]] = {}
    for r in records:
        if r.get("status") == "ok" and r["optimizer"] in (a, b) and (r.get("test") or {}).get("per_example"):
            rows[(r["task"], r["optimizer"], r["seed"])] = [100.0 * float(v) for v in r["test"]["per_example"]]
    variances, sizes = [], []
    for task in sorted({t for (t, _, _) in rows}):
        seeds = sorted(s for (t, o, s) in rows if t == task and o == a and (task, b, s) in rows)
        if not seeds:
            continue
        per_seed = [[x - y for x, y in zip(rows[(task, a, s)], rows[(task, b, s)], strict=True)] for s in seeds]
        mean_diff = [sum(col) / len(seeds) for col in zip(*per_seed)]
        centre = sum(mean_diff) / len(mean_diff)
        variances.append(sum((d - centre) ** 2 for d in mean_diff) / (len(mean_diff) - 1))
        sizes.append(len(mean_diff))
    if not variances:
        raise ValueError(f"no task has per-example test scores of both {a} and {b}")
    return sum(variances) / len(variances), min(sizes)


def grid_se(sd: float, v: float, *, tasks: int, seeds: int, n_test: int) -> float:
    """Standard error of the average difference over ``tasks`` tasks (module docstring)."""
    return math.sqrt((sd ** 2 / seeds + v / n_test) / tasks)


def tasks_needed(sd: float, v: float, delta: float, *, seeds: int, n_test: int, alpha: float = 0.05,
                 power: float = 0.8) -> int:
    z = Z[round(1 - alpha / 2, 3)] + Z[power]
    return max(1, math.ceil(z ** 2 * (sd ** 2 / seeds + v / n_test) / delta ** 2))


def sd_lower_bound(sd: float, df: int) -> float:
    """The lower end of the two-sided 95% interval of an SD estimated on ``df`` degrees of freedom
    (sd * sqrt(df / chi2_0.975(df)), the chi-square quantile by the Wilson-Hilferty approximation, within 0.2%
    of the exact one from 2 degrees of freedom up)."""
    a = 2.0 / (9.0 * df)
    chi2 = df * (1.0 - a + Z[0.975] * math.sqrt(a)) ** 3
    return sd * math.sqrt(df / chi2)


def within_task_sd(diffs: dict[str, dict[int, float]]) -> tuple[float, int]:
    """The pooled SD of the differences around their task's mean, and its degrees of freedom."""
    ss, df = 0.0, 0
    for per_seed in diffs.values():
        values = list(per_seed.values())
        if len(values) >= 2:
            mean = sum(values) / len(values)
            ss += sum((v - mean) ** 2 for v in values)
            df += len(values) - 1
    if df == 0:
        raise ValueError("need at least one task with two seeds of both optimizers")
    return math.sqrt(ss / df), df


def units_needed(sd: float, delta: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    z = Z[round(1 - alpha / 2, 3)] + Z[power]
    return max(1, math.ceil((z * sd / delta) ** 2))


def detectable(sd: float, units: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    return (Z[round(1 - alpha / 2, 3)] + Z[power]) * sd / math.sqrt(units)


def report(results_dir: Path, a: str, b: str, delta: float = 3.0) -> str:
    records = load_results(results_dir)
    diffs = differences(records, a, b)
    sd, df = within_task_sd(diffs)
    units = sum(len(v) for v in diffs.values())
    lines = [f"{a} minus {b}, test points per (task, seed):"]
    for task, per_seed in sorted(diffs.items()):
        values = ", ".join(f"seed {s}: {d:+.1f}" for s, d in sorted(per_seed.items()))
        lines.append(f"- {task}: {values} (mean {sum(per_seed.values()) / len(per_seed):+.1f})")
    needed = units_needed(sd, delta)
    lines += [f"Within-task SD of the differences: {sd:.1f} points ({df} degrees of freedom).",
              f"80% power at a two-sided 5% level for a mean difference of {delta:g} points needs "
              f"{needed} task-seed units (e.g. {math.ceil(needed / 3)} tasks x 3 seeds).",
              f"These {units} units detect {detectable(sd, units):.1f} points; 6 tasks x 3 seeds detect "
              f"{detectable(sd, 18):.1f}, 6 tasks x 5 seeds {detectable(sd, 30):.1f}."]
    v, n = example_variance(records, a, b)
    low = sd_lower_bound(sd, df)
    z = Z[0.975] + Z[0.8]
    lines += [f"With the test examples resampled too (as the report's two-level interval does): variance across "
              f"examples of the seed-averaged per-example difference {v:.0f} (SD {math.sqrt(v):.1f}), "
              f"{n} test rows per task.",
              *(f"- {t} tasks x {s} seeds x {n} rows: standard error {se:.2f}, detects {z * se:.1f} points"
                for t, s in ((2, 3), (6, 3), (6, 5), (12, 3)) for se in [grid_se(sd, v, tasks=t, seeds=s, n_test=n)]),
              f"{delta:g} points at 80% power need {tasks_needed(sd, v, delta, seeds=3, n_test=n)} tasks at 3 seeds, "
              f"{tasks_needed(sd, v, delta, seeds=5, n_test=n)} at 5 seeds, and at least "
              f"{tasks_needed(0.0, v, delta, seeds=1, n_test=n)} with any number of seeds (the examples' term alone).",
              f"The SD rests on {df} degrees of freedom; at the low end of its 95% interval "
              f"({low:.1f}) {delta:g} points still need {tasks_needed(low, v, delta, seeds=3, n_test=n)} tasks at 3 seeds."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results-dir", type=Path, required=True)
    p.add_argument("--a", default="dlpo")
    p.add_argument("--b", default="gepa")
    p.add_argument("--delta", type=float, default=3.0, help="the mean difference to detect, in points")
    args = p.parse_args(argv)
    try:
        print(report(args.results_dir, args.a, args.b, args.delta), end="")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
