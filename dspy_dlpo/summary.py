"""The summary of one optimization run (CLI and notebooks): a before/after table, a JSON report
and a PNG plot of scores."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .text import sentence_changes, word_count
from .program import get_params

logger = logging.getLogger(__name__)

TEST_OFFSET = 0.2  # the test points sit this far left of the baseline and right of the last step


def summarize(*, before: dict[str, Any], after: dict[str, Any], program: Any, wall_time: float) -> dict[str, Any]:
    """A JSON-friendly report of one optimization run."""
    details = program.detailed_results
    instructions = get_params(program)
    return {"before": before, "after": after, "wall_time_s": round(wall_time, 1),
            "spend": details["spend"], "faults": details["faults"], "stop_reason": details["stop_reason"],
            "steps": details["steps"], "best_step": details["best_step"], "budget": details["budget"],
            "instructions": instructions, "accepted_proposals": details["accepted_proposals"],
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


def accepted_proposals(trial_logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per accepted rewrite of a run (``program.trial_logs``), in step order: its step and
    predictor, validation score (None when it was accepted without a minibatch gain and so not
    validated), instruction words before and after, and the sentences added, removed and rewritten."""
    entries = []
    for r in trial_logs:
        if not r.get("accepted") or r.get("instruction_after") is None:
            continue
        before, after = r["instruction_before"], r["instruction_after"]
        entries.append({"step": r["step"], "param": r["param"], "val_score": r.get("val_score"),
                        "returned_to_best": bool(r.get("returned_to_best")),
                        "words_before": word_count(before), "words_after": word_count(after),
                        **sentence_changes(before, after)})
    return entries


def proposal_line(entry: dict[str, Any]) -> str:
    """One line of :func:`accepted_proposals`: step, validation score, words, what changed."""
    val = entry["val_score"]
    score = "not validated (no minibatch gain)" if val is None else f"validation {val:.1f}%"
    if entry["returned_to_best"]:
        score += " (below the best: left)"
    changed = ", ".join(f"{entry[k]} {k}" for k in ("added", "removed", "rewritten") if entry[k]) or "unchanged"
    return (f"step {entry['step']} [{entry['param']}]: {score}; {entry['words_before']} -> {entry['words_after']} "
            f"words; sentences {changed}")


def score_series(trial_logs: list[dict[str, Any]], initial: float | None) -> dict[str, list[tuple[int, float]]]:
    """The plot's points, in percent: the best-so-far line from the baseline (step -1), the validated
    candidates, and each step's minibatch score before and after its candidate (skipped steps have
    no after)."""
    pct = lambda v: 100.0 * v
    return {"best": [(-1, initial)] + [(r["step"], r["best_score"]) for r in trial_logs],
            "validated": [(r["step"], r["val_score"]) for r in trial_logs if r.get("val_score") is not None],
            "batch_before": [(r["step"], pct(r["batch_score_before"])) for r in trial_logs
                             if r.get("batch_score_before") is not None],
            "batch_after": [(r["step"], pct(r["batch_score_after"])) for r in trial_logs
                            if r.get("batch_score_after") is not None]}


def run_title(*, task: str, model: str, budget: int, optimizer_model: str | None = None) -> str:
    """The plot's title: task, model(s) and budget."""
    models = model if optimizer_model in (None, model) else f"{model} (optimizer {optimizer_model})"
    return f"{task} | {models} | budget {budget} metric calls"


def score_figure(trial_logs: list[dict[str, Any]], initial: float | None, *,
                 test: tuple[float | None, float | None] = (None, None), title: str | None = None) -> Any:
    """A matplotlib ``Figure`` of the run: minibatch scores before and after each step's candidate,
    the validated candidates, the best-so-far validation line and, when known, the test score
    before (at the baseline) and after (at the last step). Built without pyplot: no global state."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    series = score_series(trial_logs, initial)
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.step(*zip(*series["best"]), where="post", color="tab:blue", label="best validation score so far")
    if series["batch_after"]:
        before = dict(series["batch_before"])
        xs, ys = zip(*series["batch_after"])
        ax.vlines(xs, [before[x] for x in xs], ys, color="tab:green", alpha=0.4, linewidth=1)
        ax.scatter(xs, ys, marker="^", color="tab:green", s=18, label="minibatch score after (candidate)")
    if series["batch_before"]:
        ax.scatter(*zip(*series["batch_before"]), marker="o", facecolors="none", edgecolors="grey", s=18,
                   label="minibatch score before")
    if series["validated"]:
        ax.scatter(*zip(*series["validated"]), marker="o", color="tab:orange", zorder=3,
                   label="validated candidate")
    last = max((r["step"] for r in trial_logs), default=-1)
    # beside the baseline and the last step, so that they never hide a validation point
    for x, value, marker, label in ((-1 - TEST_OFFSET, test[0], "s", "test score before (baseline)"),
                                    (last + TEST_OFFSET, test[1], "D", "test score after (best program)")):
        if value is not None:
            ax.scatter([x], [value], marker=marker, color="tab:purple", zorder=4, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step (-1: the baseline)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-5, 105)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def plot_scores(trial_logs: list[dict[str, Any]], initial: float | None, path: Path, *,
                test: tuple[float | None, float | None] = (None, None), title: str | None = None) -> Path | None:
    """Save :func:`score_figure` as a PNG at ``path``; None without matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        logger.info("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    score_figure(trial_logs, initial, test=test, title=title).savefig(path, dpi=120)
    return path
