"""How often each DLPO strategy acted in a run, read from its trial logs.

"Acted" means the strategy changed what the step did, not merely that it was switched on:

* learning_rate: a rewrite broke the edit bound (re-asked or clipped);
* dropout: sentences were frozen in the step;
* annealing: a drop was put to the draw (``accept_draw`` recorded), and separately how many of
  those draws accepted the drop;
* momentum: earlier critiques were shown in the rewrite prompt;
* contrastive: better/worse instructions or a run pair were shown;
* regularization: the length penalty decided a step (a tie rejected for being longer, or a
  shorter tie accepted), or a rewrite broke ``max_words``.

Steps that never reached a rewrite (minibatch solved, no critique) count in ``steps`` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

ACTS = ("learning_rate", "dropout", "annealing_draws", "annealing_accepted", "momentum", "contrastive",
        "regularization")


def _contrast_shown(shown: dict[str, Any]) -> bool:
    contrast = shown.get("contrast") or {}
    return bool(contrast.get("better") or contrast.get("worse") or contrast.get("pair"))


def step_acts(record: dict[str, Any]) -> dict[str, bool]:
    """Which strategies acted in one trial-log record (see the module docstring)."""
    problems = " ".join(record.get("problems") or [])
    shown = record.get("shown") or {}
    reason = str(record.get("reason") or "")
    drew = record.get("accept_draw") is not None
    return {
        "learning_rate": "sentences but at most" in problems or bool(record.get("clipped")),
        "dropout": bool(record.get("frozen")),
        "annealing_draws": drew,
        "annealing_accepted": drew and bool(record.get("accepted")),
        "momentum": bool((shown.get("earlier_critiques") or {}).get("count")),
        "contrastive": _contrast_shown(shown),
        "regularization": "but longer" in reason or "shorter (penalty" in reason or "the limit is" in problems,
    }


def activity(logs: Iterable[dict[str, Any]]) -> dict[str, int]:
    """``{"steps": n, <act>: steps where it acted}`` over ``logs``."""
    counts = {"steps": 0, **{act: 0 for act in ACTS}}
    for record in logs:
        counts["steps"] += 1
        for act, did in step_acts(record).items():
            counts[act] += did
    return counts


def activity_table(cells: list[dict[str, Any]]) -> str | None:
    """A markdown table of strategy activity per optimizer over the DLPO-family ``cells`` given
    (their ``details.trial_logs``); None when no cell has trial logs."""
    per_optimizer: dict[str, dict[str, int]] = {}
    for cell in cells:
        logs = (cell.get("details") or {}).get("trial_logs")
        if not logs:
            continue
        counts = activity(logs)
        total = per_optimizer.setdefault(cell["optimizer"], {k: 0 for k in counts})
        for key, value in counts.items():
            total[key] += value
    if not per_optimizer:
        return None
    header = "| optimizer | steps | " + " | ".join(a.replace("_", " ") for a in ACTS) + " |"
    rows = [header, "|" + "---|" * (len(ACTS) + 2)]
    for name in sorted(per_optimizer):
        counts = per_optimizer[name]
        rows.append(f"| {name} | {counts['steps']} | " + " | ".join(str(counts[a]) for a in ACTS) + " |")
    return "\n".join(rows)
