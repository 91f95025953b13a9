"""The summary of one optimization run (CLI and notebooks): a before/after table, a JSON report
and a PNG plot of scores."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .autograd.text import word_count
from .program import get_params

logger = logging.getLogger(__name__)


def summarize(*, before: dict[str, Any], after: dict[str, Any], program: Any, wall_time: float) -> dict[str, Any]:
    """A JSON-friendly report of one optimization run."""
    details = program.detailed_results
    instructions = get_params(program)
    return {"before": before, "after": after, "wall_time_s": round(wall_time, 1),
            "spend": details["spend"], "faults": details["faults"], "stop_reason": details["stop_reason"],
            "steps": details["steps"], "best_step": details["best_step"], "budget": details["budget"],
            "instructions": instructions,
            "instruction_words": {k: word_count(v) for k, v in instructions.items()},
            "trial_logs": [{k: v for k, v in r.items() if k != "rollouts"} for r in program.trial_logs]}


def _cost(spend: dict[str, Any]) -> str:
    """The run's USD cost where litellm prices the models; "-" for local or unpriced models."""
    task, opt = spend.get("task_cost_usd"), spend.get("optimizer_cost_usd")
    if task is None and opt is None:
        return "-"
    return f"${(task or 0.0) + (opt or 0.0):.4f}"


def table(report: dict[str, Any]) -> str:
    """A plain-text before/after table."""
    spend, b, a = report["spend"], report["before"], report["after"]
    fmt = lambda v: "-" if v is None else f"{v:.1f}%"
    rows = [("validation score", fmt(b.get("val")), fmt(a.get("val"))),
            ("test score", fmt(b.get("test")), fmt(a.get("test"))),
            ("instruction words", str(b.get("words")), str(sum(report["instruction_words"].values()))),
            ("metric calls", "", str(spend["metric_calls"])),
            ("optimizer LM calls", "", str(spend["optimizer_calls"])),
            ("task tokens in/out", "", f"{spend['task_input_tokens']}/{spend['task_output_tokens']}"),
            ("optimizer tokens in/out", "", f"{spend['optimizer_input_tokens']}/{spend['optimizer_output_tokens']}"),
            ("cost (USD, task + optimizer)", "", _cost(spend)),
            ("wall time", "", f"{report['wall_time_s']:.0f} s"),
            ("steps (stop reason)", "", f"{report['steps']} ({report['stop_reason']})")]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':<{width}}  {'before':>12}  {'after':>14}"]
    lines += [f"{name:<{width}}  {x:>12}  {y:>14}" for name, x, y in rows]
    return "\n".join(lines)


def score_series(trial_logs: list[dict[str, Any]], initial: float | None) -> dict[str, list[tuple[int, float]]]:
    """The plot's points: the best-so-far line from the baseline (step -1), validated candidates,
    and unvalidated steps, drawn on the best-so-far line (they have no validation score of their own)."""
    return {"best": [(-1, initial)] + [(r["step"], r["best_score"]) for r in trial_logs],
            "validated": [(r["step"], r["val_score"]) for r in trial_logs if r.get("val_score") is not None],
            "unvalidated": [(r["step"], r["best_score"]) for r in trial_logs if r.get("val_score") is None]}


def plot_scores(trial_logs: list[dict[str, Any]], initial: float | None, path: Path) -> Path | None:
    """Save validation and best-so-far scores over steps as a PNG; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.info("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    series = score_series(trial_logs, initial)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.step(*zip(*series["best"]), where="post", label="best validation score")
    if series["validated"]:
        ax.scatter(*zip(*series["validated"]), marker="o", color="tab:orange", label="accepted candidate (validation)")
    if series["unvalidated"]:
        ax.scatter(*zip(*series["unvalidated"]), marker="x", color="grey", s=12,
                   label="not validated (rejected, skipped, moved)")
    ax.set_xlabel("step")
    ax.set_ylabel("validation accuracy (%)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
