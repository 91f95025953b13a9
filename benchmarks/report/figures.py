"""The report's plots (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .cells import aggregate


def plot_score_vs_calls(agg: dict[tuple[str, str], dict[str, Any]], tasks: list[str], optimizers: list[str],
                        path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = min(2, max(1, len(tasks)))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4.2 * rows), squeeze=False)
    markers = "osD^v<>P*X"
    for ax, task in zip(axes.flat, tasks):
        for i, opt in enumerate(o for o in optimizers if not o.startswith("dlpo-")):
            a = agg.get((task, opt))
            if a is None:
                continue
            ax.errorbar([a["metric_calls"]], [a["test"]], yerr=[[a["test"] - a["ci"][0]], [a["ci"][1] - a["test"]]],
                        fmt=markers[i % len(markers)], capsize=4, label=opt)
        ax.set_title(task)
        ax.set_xlabel("metric calls spent in optimization")
        ax.set_ylabel("test accuracy % (95% bootstrap CI)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_ablation(records: list[dict[str, Any]], tasks: list[str], path: Path) -> bool:
    """Test and val bars of TGD, the ``dlpo-only-*`` variants, DLPO and the ``dlpo-minus-*`` variants per task,
    each averaged over the seeds that all of them ran (named in the title), so no bar mixes other seeds in."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ok = [r for r in records if r.get("status") == "ok" and r.get("test")]
    is_variant = lambda o: o.startswith(("dlpo-only-", "dlpo-minus-"))  # noqa: E731
    tasks = [t for t in tasks if any(r["task"] == t and is_variant(r["optimizer"]) for r in ok)]
    if not tasks:
        return False
    fig, axes = plt.subplots(len(tasks), 1, figsize=(11, 4.5 * len(tasks)), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        present = {r["optimizer"] for r in ok if r["task"] == task}
        names = ["tgd"] + sorted(o for o in present if o.startswith("dlpo-only-")) + \
                ["dlpo"] + sorted(o for o in present if o.startswith("dlpo-minus-"))
        names = [n for n in names if n in present]
        seeds = set.intersection(*({r["seed"] for r in ok if r["task"] == task and r["optimizer"] == n}
                                   for n in names))
        agg = aggregate([r for r in ok if r["task"] == task and r["seed"] in seeds and r["optimizer"] in names])
        names = [n for n in names if (task, n) in agg]
        tests = [agg[(task, n)]["test"] for n in names]
        vals = [agg[(task, n)]["val"] for n in names]
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], tests, width=0.4, label="test")
        ax.bar([i + 0.2 for i in x], vals, width=0.4, label="val")
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("accuracy %")
        ax.set_title(f"{task}, seeds {','.join(map(str, sorted(seeds))) or 'none in common'}: add-one "
                     "(dlpo-only-*, vs tgd) and remove-one (dlpo-minus-*, vs dlpo)")
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(0, max([*tests, *vals, 1.0]) * 1.3)  # headroom: the legend must not cover a bar
        ax.legend(loc="upper right", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
