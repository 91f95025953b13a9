"""How often each DLPO strategy acted in a run, read from its trial logs.

"Acted" means the strategy changed what the step did, not merely that it was switched on:

* learning_rate: a rewrite broke the edit bound (``refused`` names it) or was clipped;
* dropout: sentences were frozen in the step;
* annealing: a drop was put to the draw, and separately how many of those draws accepted the drop;
* momentum: earlier critiques were shown in the rewrite prompt;
* contrastive: better/worse instructions or a run pair were shown;
* regularization: the length penalty decided a tie (``score_delta`` 0 and a ``penalty``: a longer
  tie rejected, a shorter one accepted), or a rewrite broke ``max_words`` (``refused`` names it).

Everything is read from structured fields of the trial record (:class:`dspy_dlpo.record.StepRecord`),
never from the wording of a message: dropout, annealing, momentum and contrastive from ``acted``, where
each strategy notes what it did; records written before ``acted`` existed from ``frozen``,
``accept_draw`` and ``shown``. Steps that never reached a rewrite (minibatch solved, no critique) count
in ``steps`` only.

:func:`field_invention_table` counts a failure of the rewrite rather than a strategy: rewrites that name a
field the program does not have (a backticked name absent from the run's seed instruction, which for DSPy's
default instruction lists every field), split by whether the update prompt showed the contrast section.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dspy_dlpo.record import ABSENT, StepRecord

from .proposals import step_proposals

ACTS = ("learning_rate", "dropout", "annealing_draws", "annealing_accepted", "momentum", "contrastive",
        "regularization")


def _contrast_shown(shown: dict[str, Any]) -> bool:
    contrast = shown.get("contrast") or {}
    return bool(contrast.get("better") or contrast.get("worse") or contrast.get("pair"))


def _noted(record: StepRecord) -> dict[str, bool]:
    """Dropout, annealing draws, momentum and contrastive: from ``acted``, or for a record written before
    ``acted`` existed, from the fields that recorded the same facts."""
    if record.acted is not ABSENT:
        return {name: name in record.acted for name in ("dropout", "annealing", "momentum", "contrastive")}
    shown = record.shown or {}
    return {"dropout": bool(record.frozen), "annealing": record.accept_draw not in (None, ABSENT),
            "momentum": bool((shown.get("earlier_critiques") or {}).get("count")),
            "contrastive": _contrast_shown(shown)}


def step_acts(entry: dict[str, Any]) -> dict[str, bool]:
    """Which strategies acted in one trial-log record (see the module docstring)."""
    record = StepRecord.from_json(entry)
    refused, noted = record.refused or [], _noted(record)
    length_tie = record.score_delta == 0 and bool(record.penalty)
    return {
        "learning_rate": "learning_rate" in refused or bool(record.clipped),
        "dropout": noted["dropout"],
        "annealing_draws": noted["annealing"],
        "annealing_accepted": noted["annealing"] and bool(record.accepted),
        "momentum": noted["momentum"],
        "contrastive": noted["contrastive"],
        "regularization": "regularization" in refused or length_tie,
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


_BACKTICKED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def backticked_names(text: str) -> set[str]:
    """The identifiers written in backticks in ``text`` (how DSPy's instructions name fields)."""
    return set(_BACKTICKED.findall(text or ""))


def candidate_texts(record: dict[str, Any]) -> list[str]:
    """The rewrites a trial-log record proposed: every proposal of a step that made several, else its
    ``instruction_after`` when that differs from ``instruction_before``."""
    several = step_proposals(record)
    if several is not None:
        return several
    after = record.get("instruction_after")
    return [after] if after and after != record.get("instruction_before") else []


def field_invention(logs: list[dict[str, Any]]) -> dict[str, int]:
    """Over one run's ``logs``: rewrites proposed from an instruction that names only real fields, and how many
    of them name a field the program lacks, apart for update prompts with and without the contrast section.
    Real fields are the backticked names of the run's seed instruction (the first log's ``instruction_before``)."""
    counts = {"with_contrast": 0, "invented_with_contrast": 0, "without_contrast": 0, "invented_without_contrast": 0}
    if not logs:
        return counts
    known = backticked_names(logs[0].get("instruction_before") or "")
    for record in logs:
        if backticked_names(record.get("instruction_before") or "") - known:
            continue  # the step started from an instruction that already named a field the program lacks
        side = "with_contrast" if _contrast_shown(record.get("shown") or {}) else "without_contrast"
        for text in candidate_texts(record):
            counts[side] += 1
            counts["invented_" + side] += bool(backticked_names(text) - known)
    return counts


def field_invention_table(cells: list[dict[str, Any]]) -> str | None:
    """A markdown table, per optimizer and summed, of :func:`field_invention` over the ``cells`` given (their
    ``details.trial_logs``); None when no cell proposed a rewrite."""
    per_optimizer: dict[str, dict[str, int]] = {}
    for cell in cells:
        counts = field_invention((cell.get("details") or {}).get("trial_logs") or [])
        total = per_optimizer.setdefault(cell["optimizer"], dict.fromkeys(counts, 0))
        for key, value in counts.items():
            total[key] += value
    if not any(c["with_contrast"] + c["without_contrast"] for c in per_optimizer.values()):
        return None
    all_rows = {key: sum(c[key] for c in per_optimizer.values()) for key in next(iter(per_optimizer.values()))}

    def share(invented: int, n: int) -> str:
        return f"{invented} of {n} ({100 * invented / n:.0f}%)" if n else "-"

    rows = ["| optimizer | contrast shown: rewrites naming a missing field | contrast not shown |", "|---|---|---|"]
    for name, c in [*sorted(per_optimizer.items()), ("all", all_rows)]:
        rows.append(f"| {name} | {share(c['invented_with_contrast'], c['with_contrast'])} | "
                    f"{share(c['invented_without_contrast'], c['without_contrast'])} |")
    return "\n".join(rows)
