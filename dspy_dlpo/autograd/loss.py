"""Textual loss: one bounded paragraph per rollout (score, gold, prediction, feedback, errors)."""

from __future__ import annotations

from typing import Any

from .prompts import LOSS, STEP_IO, render
from .text import truncate


def _fmt(mapping: dict[str, Any] | None, limit: int) -> str:
    if not mapping:
        return "(nothing)"
    return truncate("; ".join(f"{k}: {v}" for k, v in mapping.items()), limit)


def loss_text(rollout: Any, number: int, *, param: str, multi_predictor: bool, max_chars: int = 900) -> str:
    """The loss of one rollout as text; errors and parse failures are described, never raised.

    For programs with several predictors the paragraph also shows what predictor ``param``
    itself received and wrote (its last trace entry), so its critique is about its own step.
    """
    part = max_chars // 4
    outputs = _fmt(rollout.outputs, part) if rollout.outputs is not None else f"(failed: {rollout.error})"
    step_io = ""
    entries = rollout.traces.get(param) or []
    if multi_predictor and entries:
        step_io = render(STEP_IO, inputs=_fmt(entries[-1]["inputs"], part), outputs=_fmt(entries[-1]["outputs"], part))
    text = render(LOSS, number=number, score=rollout.score, inputs=_fmt(rollout.inputs, part),
                  expected=_fmt(rollout.gold, part), outputs=outputs, step_io=step_io,
                  feedback=truncate(rollout.feedback or "(none)", part))
    return truncate(text, max_chars)
