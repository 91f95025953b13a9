"""Is a run still making progress? Failed steps (dead LMs) and the text of errors that end a run."""

from __future__ import annotations

from typing import Any

from .redact import redact
from .sanitize import valid_text

MAX_ERROR_CHARS = 1000


def describe_error(exc: BaseException) -> str:
    """``"Type: message"`` of ``exc``, redacted, valid Unicode and at most ``MAX_ERROR_CHARS`` long."""
    return valid_text(redact(f"{type(exc).__name__}: {exc}"))[:MAX_ERROR_CHARS]


def step_failure(record: dict[str, Any], *, asked: bool, replied: bool) -> str | None:
    """Why the step of ``record`` failed outright, or None.

    A step fails when every rollout of its minibatch failed (the program raised or the task LM's
    reply could not be parsed) or when the optimizer LM was asked and never gave a usable reply.
    A step that merely found no improvement has not failed."""
    rollouts = record.get("rollouts") or []
    errors = [r.get("error") for r in rollouts]
    if rollouts and all(errors):
        first = next(r for r in rollouts if r.get("error"))
        detail = first.get("feedback") or first.get("error")
        return f"every rollout of the minibatch failed (first: {str(detail)[:200]})"
    if asked and not replied:
        return "the optimizer LM failed or replied empty on every call"
    return None


def trailing_failures(history: list[dict[str, Any]]) -> int:
    """How many of the last steps in ``history`` failed in a row."""
    count = 0
    for record in reversed(history):
        if not record.get("failed"):
            break
        count += 1
    return count


def failure_summary(history: list[dict[str, Any]]) -> str:
    """The error text of a run stopped by consecutive failures: how many, and the last reason."""
    count = trailing_failures(history)
    last = history[-1].get("failed") if history else None
    return (f"{count} consecutive steps failed; the task or optimizer LM looks unusable (last: {last}). "
            "Check the LMs and resume with the same log_dir.")
