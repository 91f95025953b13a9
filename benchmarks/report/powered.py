"""The powered grid's own sections (issue 32): anytime curves, the efficiency claim, and how much of the
hand-written instruction's gain each optimizer reaches.

Every number comes from the cells' ``anytime`` blocks (:mod:`benchmarks.anytime`: the best validated
program at 25/50/75/100% of the budget, with its per-example test scores) and their ``test`` blocks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import stats
from ..anytime import FRACTIONS
from ..optimizers import REFERENCE_ROWS
from .cells import mean_of, order_optimizers
from .fair import SUBJECT, average_over, compare, ok_cells

GOAL_MARGIN = 3.0  # issue 32: at least 3 points above the best peer on average, with an interval excluding 0


def with_curves(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in ok_cells(records) if r.get("anytime")]


def shared_tasks(cells: list[dict[str, Any]]) -> list[str]:
    """The tasks every optimizer of ``cells`` has a cell on."""
    per_optimizer = [{r["task"] for r in cells if r["optimizer"] == o} for o in {r["optimizer"] for r in cells}]
    return sorted(set.intersection(*per_optimizer)) if per_optimizer else []


def curve_means(records: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Optimizer -> mean test % at each fraction, averaged over seeds within a task and then over the tasks
    that every optimizer has a curve on (so that the rows average the same tasks)."""
    cells = with_curves(records)
    optimizers = order_optimizers({r["optimizer"] for r in cells})
    tasks = shared_tasks(cells)
    out: dict[str, list[float]] = {}
    if not tasks:
        return out
    for opt in optimizers:
        per_task = [[mean_of(p["test"] for r in cells if r["task"] == t and r["optimizer"] == opt
                             for p in r["anytime"] if p["fraction"] == f) for f in FRACTIONS] for t in tasks]
        out[opt] = [mean_of(row[i] for row in per_task) for i in range(len(FRACTIONS))]
    return out


def anytime_table(records: list[dict[str, Any]]) -> str | None:
    means = curve_means(records)
    if not means:
        return None
    cells = with_curves(records)
    budgets = sorted({r["config"]["budget"] for r in cells})
    shared = shared_tasks(cells)
    head = "| optimizer | " + " | ".join(f"{int(f * 100)}% of the budget" for f in FRACTIONS) + " |"
    lines = [head, "|---|" + "---|" * len(FRACTIONS)]
    lines += [f"| {opt} | " + " | ".join(f"{v:.1f}" for v in row) + " |" for opt, row in means.items()]
    return (f"Mean test % of the best validated program at each fraction of the budget ({', '.join(map(str, budgets))} "
            f"metric calls), averaged over seeds and then over the {len(shared)} task(s) every row has: "
            f"{', '.join(shared)}:\n\n" + "\n".join(lines))


def _point(cell: dict[str, Any], fraction: float) -> list[float]:
    return next(p["test_per_example"] for p in cell["anytime"] if p["fraction"] == fraction)


def efficiency_table(records: list[dict[str, Any]], peer: str = "gepa", fraction: float = 0.5) -> str | None:
    """DLPO at ``fraction`` of the budget minus ``peer`` at the whole budget, per task (paired on shared seeds,
    two-level bootstrap) and averaged over the tasks."""
    cells = with_curves(records)
    parts, lines = [], []
    for i, task in enumerate(sorted({r["task"] for r in cells})):
        mine = {r["seed"]: r for r in cells if r["task"] == task and r["optimizer"] == SUBJECT}
        other = {r["seed"]: r for r in cells if r["task"] == task and r["optimizer"] == peer}
        seeds = sorted(set(mine) & set(other))
        if not seeds:
            continue
        d = stats.paired_difference([_point(mine[s], fraction) for s in seeds], [_point(other[s], 1.0) for s in seeds],
                                    seed=stats.RNG_SEED + i)
        parts.append(d)
        lines.append(f"| {task} | {','.join(map(str, seeds))} | {d.diff:+.1f} [{d.lo:+.1f}, {d.hi:+.1f}] | {d.p:.3f} |")
    if not parts:
        return None
    if len(parts) > 1:
        avg = stats.average_difference(parts)
        lines.append(f"| average | | {avg.diff:+.1f} [{avg.lo:+.1f}, {avg.hi:+.1f}] | {avg.p:.3f} |")
    return (f"| task | seeds | {SUBJECT} at {int(fraction * 100)}% minus {peer} at 100% [95% CI, seeds and examples] "
            "| p |\n|---|---|---|---|\n" + "\n".join(lines))


def hand_share_table(records: list[dict[str, Any]]) -> str | None:
    """Per task and on average: the unoptimized and hand-written programs' test %, and each optimizer's
    share of the gap between them ((optimizer - unoptimized) / (hand - unoptimized))."""
    cells = ok_cells(records)
    mean = {}
    for r in cells:
        mean.setdefault((r["task"], r["optimizer"]), []).append(r["test"]["score"])
    mean = {k: mean_of(v) for k, v in mean.items()}
    tasks = sorted({t for (t, o) in mean if o == "hand" and (t, "baseline") in mean})
    if not tasks:
        return None
    optimizers = [o for o in order_optimizers({o for (_, o) in mean}) if o not in REFERENCE_ROWS]
    head = "| task | unoptimized % | hand-written % | " + " | ".join(f"{o} share" for o in optimizers) + " |"
    lines = [head, "|---|---|---|" + "---|" * len(optimizers)]

    def share(opt_mean: float, base: float, hand: float) -> str:
        return f"{(opt_mean - base) / (hand - base):.2f}" if hand - base > 0 and opt_mean == opt_mean else "-"

    for task in tasks:
        base, hand = mean[(task, "baseline")], mean[(task, "hand")]
        lines.append(f"| {task} | {base:.1f} | {hand:.1f} | " +
                     " | ".join(share(mean.get((task, o), float("nan")), base, hand) for o in optimizers) + " |")
    base, hand = mean_of(mean[(t, "baseline")] for t in tasks), mean_of(mean[(t, "hand")] for t in tasks)
    avg = [share(mean_of(mean[(t, o)] for t in tasks) if all((t, o) in mean for t in tasks) else float("nan"),
                 base, hand) for o in optimizers]
    lines.append(f"| average | {base:.1f} | {hand:.1f} | " + " | ".join(avg) + " |")
    return "\n".join(lines)


def goal_check(records: list[dict[str, Any]]) -> str | None:
    """Issue 32's goal, read off the cells: DLPO at or above every peer on every task (means over shared
    seeds), at least GOAL_MARGIN points above the best peer on average with a 95% interval excluding 0, and at
    or above the hand-written instruction on average. Only tasks where every optimizer of the folder has a
    paired comparison with DLPO count, so that the averages are over one set of tasks."""
    cells = ok_cells(records)
    optimizers = {r["optimizer"] for r in cells}
    if SUBJECT not in optimizers:
        return None
    peers = [o for o in order_optimizers(optimizers) if o not in (SUBJECT, "baseline")]
    tasks = sorted({r["task"] for r in cells})
    comps = {(t, p): compare(records, t, p) for t in tasks for p in peers}
    full = [t for t in tasks if all(comps[(t, p)] is not None and "result" in comps[(t, p)] for p in peers)]
    if not full or not peers:
        return None
    lines = [f"Over the {len(full)} task(s) where every optimizer has paired seeds with {SUBJECT} "
             f"({', '.join(full)}):", ""]
    below = [f"{p} on {t} ({comps[(t, p)]['diff']:+.1f})" for t in full for p in peers if comps[(t, p)]["diff"] < 0]
    lines.append(f"- {SUBJECT} at or above every peer on every task (point estimates): "
                 + ("**met**" if not below else "**not met**: below " + "; ".join(below)))
    if len(full) < 2:
        lines.append("- averages need at least two tasks")
        return "\n".join(lines)
    averages = {p: average_over(records, full, p) for p in peers}
    optimizer_peers = [p for p in peers if p not in REFERENCE_ROWS and averages[p]]
    if optimizer_peers:
        best = max(optimizer_peers, key=lambda p: averages[p][1])
        d, mean = averages[best]
        met = d.diff >= GOAL_MARGIN and d.lo > 0
        lines.append(f"- at least {GOAL_MARGIN:g} points above the best peer on average, interval excluding 0: the "
                     f"best peer is {best} (mean {mean:.1f}); {SUBJECT} minus it {d.diff:+.1f} [{d.lo:+.1f}, "
                     f"{d.hi:+.1f}]: " + ("**met**" if met else "**not met**"))
    if "hand" in averages and averages["hand"]:
        d, mean = averages["hand"]
        lines.append(f"- at or above the hand-written instruction on average (mean {mean:.1f}): {SUBJECT} minus it "
                     f"{d.diff:+.1f} [{d.lo:+.1f}, {d.hi:+.1f}]: " + ("**met**" if d.diff >= 0 else "**not met**"))
    return "\n".join(lines)


def cost_table(records: list[dict[str, Any]]) -> str | None:
    """Per optimizer, means per cell over the grid: metric calls, optimizer-LM calls and tokens, and the
    wall time of the optimization (the final test scoring apart)."""
    cells_all = ok_cells(records)
    optimizers = [o for o in order_optimizers({r["optimizer"] for r in cells_all}) if o not in REFERENCE_ROWS]
    if not optimizers:
        return None
    lines = ["| optimizer | cells | metric calls | optimizer-LM calls | optimizer tokens | optimization wall time (min) |",
             "|---|---|---|---|---|---|"]
    for opt in optimizers:
        cells = [c for c in cells_all if c["optimizer"] == opt]
        spend = lambda k: mean_of(c["spend"].get(k, 0) for c in cells)  # noqa: E731
        tokens = spend("optimizer_input_tokens") + spend("optimizer_output_tokens")
        lines.append(f"| {opt} | {len(cells)} | {spend('metric_calls'):.0f} | {spend('optimizer_calls'):.0f} "
                     f"| {tokens:,.0f} | {mean_of(c['wall_time_s'] for c in cells) / 60:.1f} |")
    return "\n".join(lines)


def plot_anytime(records: list[dict[str, Any]], path: Path) -> bool:
    """Mean test % against metric calls per optimizer (the reference rows as flat lines)."""
    means = curve_means(records)
    if not means:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    budget = max(r["config"]["budget"] for r in with_curves(records))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for opt, row in means.items():
        style = {"linestyle": "--"} if opt in REFERENCE_ROWS else {"marker": "o"}
        ax.plot([f * budget for f in FRACTIONS], row, label=opt, **style)
    ax.set_xlabel("metric calls (budget fraction)")
    ax.set_ylabel("mean test accuracy %")
    ax.set_title("Best validated program by spend, averaged over tasks and seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
