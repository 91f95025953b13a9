"""Textual loss: one paragraph per rollout that shows the example whole, within a per-example budget.

A loss shows every input field, the expected answer, every output field (the fields graded against
the expected answer first, so that a long ``reasoning`` never pushes the answer out) and the
feedback. Nothing is cut while the example fits in ``max_chars``; beyond it, fields are trimmed in
the MIDDLE (their beginning and end stay), short fields are kept whole and the long ones share the
rest, and the inputs, answers and feedback are served before reasoning and trace fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .prompts import LOSS, STEP_IO, render
from ..text import trim_middle, truncate

# Per-example budget. BBH inputs run to ~950 characters (1,580 for salient translation), GSM8K
# questions to ~1,000: 2,000 shows every such question whole next to its answer and feedback. A
# minibatch of 5 is then at most 10,000 characters (~2,700 tokens), which with the ~1,000-character
# template and a 512-token reply fits the 4,096-token context of the embedded 1.5B model.
DEFAULT_MAX_LOSS_CHARS = 2000
MIN_LOSS_CHARS = 400  # below this even a short question, its answer and the feedback do not fit
_NOTHING = "(nothing)"


def ordered_outputs(outputs: Mapping[str, Any], gold: Mapping[str, Any] | None) -> dict[str, Any]:
    """``outputs`` with the fields that the expected answer also has (the graded ones) first."""
    graded = [k for k in outputs if gold and k in gold]
    return {**{k: outputs[k] for k in graded}, **{k: v for k, v in outputs.items() if k not in graded}}


def fair_shares(lengths: list[int], budget: int) -> list[int]:
    """Water-filling: fields shorter than an equal share stay whole, the longer ones split the rest."""
    shares = [0] * len(lengths)
    remaining = max(0, budget)
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    for position, i in enumerate(order):
        shares[i] = min(lengths[i], remaining // (len(order) - position))
        remaining -= shares[i]
    return shares


def field_lines(mapping: Mapping[str, Any] | None, limits: list[int] | int | None = None) -> str:
    """``name: value`` lines of ``mapping``, each value trimmed in the middle to its limit."""
    if not mapping:
        return _NOTHING
    items = list(mapping.items())
    caps = limits if isinstance(limits, list) else [limits] * len(items)
    return "\n".join(f"{k}: {trim_middle(str(v), cap) if cap is not None else v}" for (k, v), cap in zip(items, caps))


def _parts(rollout: Any, param: str, multi_predictor: bool) -> list[tuple[str, dict[str, Any], bool]]:
    """``(part, fields, essential)`` of a loss, in reading order; essential parts are served first."""
    outputs = rollout.outputs if rollout.outputs is not None else {"failed": rollout.error}
    ordered = ordered_outputs(outputs, rollout.gold)
    graded = {k: v for k, v in ordered.items() if rollout.gold and k in rollout.gold}
    others = {k: v for k, v in ordered.items() if k not in graded}
    if not graded:  # nothing matches the expected fields: the first output field is the answer
        first = next(iter(others), None)
        graded = {first: others.pop(first)} if first is not None else {}
    parts = [("inputs", dict(rollout.inputs or {}), True), ("expected", dict(rollout.gold or {}), True),
             ("answer", graded, True), ("others", others, False)]
    entries = rollout.traces.get(param) or [] if multi_predictor else []
    if entries:
        parts += [("saw", dict(entries[-1]["inputs"]), False), ("wrote", dict(entries[-1]["outputs"]), False)]
    parts.append(("feedback", {"": rollout.feedback or "(none)"}, True))
    return parts


def _allocate(parts: list[tuple[str, dict[str, Any], bool]], budget: int) -> list[list[int]]:
    """Characters per field: essential fields first (keeping at least an eighth for the others)."""
    sizes = [[len(str(v)) for v in fields.values()] for _, fields, _ in parts]
    essential = [i for i, (_, _, e) in enumerate(parts) if e]
    optional = [i for i, (_, _, e) in enumerate(parts) if not e]
    need_optional = sum(sum(sizes[i]) for i in optional)
    first = fair_shares([n for i in essential for n in sizes[i]], budget - min(need_optional, budget // 8))
    second = fair_shares([n for i in optional for n in sizes[i]], budget - sum(first))
    limits: list[list[int]] = [[] for _ in parts]
    for group, shares in ((essential, iter(first)), (optional, iter(second))):
        for i in group:
            limits[i] = [next(shares) for _ in sizes[i]]
    return limits


def _render(rollout: Any, number: int, parts: list[tuple[str, dict[str, Any], bool]],
            limits: list[list[int] | None]) -> str:
    text = {name: field_lines(fields, caps) if fields else _NOTHING
            for (name, fields, _), caps in zip(parts, limits)}
    outputs = text["answer"] if text["others"] == _NOTHING else f"{text['answer']}\n{text['others']}"
    step_io = render(STEP_IO, inputs=text["saw"], outputs=text["wrote"]) if "saw" in text else ""
    feedback = text["feedback"].removeprefix(": ")
    return render(LOSS, number=number, score=rollout.score, inputs=text["inputs"], expected=text["expected"],
                  outputs=outputs, step_io=step_io, feedback=feedback)


def loss_text(rollout: Any, number: int, *, param: str, multi_predictor: bool,
              max_chars: int = DEFAULT_MAX_LOSS_CHARS) -> str:
    """The loss of one rollout as text (at most ``max_chars``); errors and parse failures are
    described, never raised.

    For programs with several predictors the paragraph also shows what predictor ``param``
    itself received and wrote (its last trace entry), so its critique is about its own step.
    """
    parts = _parts(rollout, param, multi_predictor)
    whole = _render(rollout, number, parts, [None] * len(parts))
    if len(whole) <= max_chars:
        return whole
    skeleton = len(_render(rollout, number, [(n, {k: "" for k in f}, e) for n, f, e in parts], [None] * len(parts)))
    limited = _render(rollout, number, parts, _allocate(parts, max_chars - skeleton))
    return truncate(limited, max_chars)
