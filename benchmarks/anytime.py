"""Anytime curves (issue 32, item 3): the program each optimizer would have returned had its budget been
25%, 50%, 75% or 100% of what it was given.

Every optimizer of the powered grid validates whole programs on the valset and returns the best of them
by its own rule, so its best program at any earlier spend can be recovered from the record of its
validations. Each record is ``(calls, instructions, val_scores)``: the metric calls spent when the
validation was complete (the optimizer's own counts plus the validation itself where it counts before),
the program's instructions and its per-example validation scores. The rules:

* DLPO and its variants (``tgd``, ``dlpo-*``): the first validated program is the best; a later one
  replaces it only when its summed validation scores exceed the incumbent's by more than
  :data:`dspy_dlpo.trainer.NEW_BEST_MARGIN` (the trainer's rule, replayed).
* GEPA: the highest mean validation score, the earliest on ties (``best_idx``, an argmax).
* MIPROv2: the highest full-evaluation score, the earliest on ties (it replaces its best only on a
  strictly higher score).
* The reference rows (the unoptimized program, the hand-written line): their program at every fraction.

The program at 100% is the one returned when the optimizer stayed within its budget; an optimizer that
overspent (GEPA checks its budget between iterations) is cut at the budget, and the cell records both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dspy_dlpo.trainer import NEW_BEST_MARGIN

from .optimizers import REFERENCE_ROWS

FRACTIONS = (0.25, 0.5, 0.75, 1.0)
MARGIN_RULE = ("dlpo", "tgd")  # names (or prefixes ``dlpo-``) whose best follows the DLPO trainer's rule


@dataclass(frozen=True)
class Validation:
    """One validated program: complete after ``calls`` metric calls."""

    calls: int
    instructions: dict[str, str]
    scores: tuple[float, ...]

    @property
    def total(self) -> float:
        return float(sum(self.scores))


def validations(optimizer: str, details: dict[str, Any], n_val: int) -> list[Validation] | None:
    """The validated programs of a cell in the order they were validated, or None when the optimizer's
    record holds none (COPRO, or a record written before anytime curves)."""
    if optimizer in REFERENCE_ROWS:  # no search: their program at every fraction
        return []
    if "full_evals" in details:  # MIPROv2 (benchmarks.peers.BudgetedMIPROv2): our counts, after each eval
        return [Validation(int(e["calls"]), dict(e["instructions"]), tuple(e["scores"])) for e in details["full_evals"]]
    cands, counts, subs = (details.get(k) for k in ("candidates", "discovery_eval_counts", "val_subscores"))
    if not (cands and counts and subs) or not isinstance(cands[0], dict):
        return None
    # DLPO and GEPA count a candidate's discovery before its validation
    return [Validation(int(c or 0) + n_val, dict(instr), per_example(s)) for instr, c, s in zip(cands, counts, subs)]


def per_example(scores: Any) -> tuple[float, ...]:
    """Per-example validation scores from a list (DLPO) or a ``{val_id: score}`` dict (GEPA)."""
    if isinstance(scores, dict):
        return tuple(float(scores[k]) for k in sorted(scores))
    return tuple(float(s) for s in scores)


def uses_margin_rule(optimizer: str) -> bool:
    return optimizer in MARGIN_RULE or optimizer.startswith("dlpo-") or optimizer.startswith("dlpo+")


def best_at(optimizer: str, history: list[Validation], calls: int) -> Validation | None:
    """The program ``optimizer`` would return after ``calls`` metric calls (None before any validation)."""
    best: Validation | None = None
    margin = uses_margin_rule(optimizer)
    for v in history:
        if v.calls > calls:
            continue
        if best is None or (v.total - best.total > NEW_BEST_MARGIN if margin else v.total > best.total):
            best = v
    return best


def anytime_points(optimizer: str, details: dict[str, Any], *, budget: int, n_val: int,
                   seed_instructions: dict[str, str]) -> list[dict[str, Any]] | None:
    """One point per fraction of ``budget``: ``fraction``, ``calls`` and the ``instructions`` of the best
    program by then (the seed program before any validation), with its validation score (percent)."""
    history = validations(optimizer, details, n_val)
    if history is None:
        return None
    points = []
    for fraction in FRACTIONS:
        calls = int(round(fraction * budget))
        best = best_at(optimizer, history, calls)
        points.append({"fraction": fraction, "calls": calls,
                       "instructions": dict(best.instructions) if best else dict(seed_instructions),
                       "val": round(100.0 * best.total / len(best.scores), 2) if best and best.scores else None})
    return points
