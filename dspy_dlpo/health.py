"""Is a run still making progress? Failed steps (dead LMs) and the text of errors that end a run."""

from __future__ import annotations

from typing import Any

from .redact import redact
from .sanitize import valid_text

MAX_ERROR_CHARS = 1000
MAX_REPLY_CHARS = 300  # of an unparseable optimizer reply, in the trial log and the warning
UNPARSEABLE_WARN_AFTER = 3  # consecutive steps whose rewrites could not be parsed before a WARNING
ADVICE = ("set prompt_model to a chat model that follows instructions (the rewrite must come between "
          "<instruction> and </instruction>)")


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
    if record.get("outcome") == "unparseable":
        return f"no rewrite of the optimizer LM could be used ({str(record.get('reason'))[:200]})"
    return None


def reply_excerpt(reply: str) -> str:
    """An optimizer reply as the trial log and the warnings show it: redacted, valid text, cut."""
    text = valid_text(redact(reply.strip()))
    return text if len(text) <= MAX_REPLY_CHARS else f"{text[:MAX_REPLY_CHARS]} [...]"


def _advice(record: dict[str, Any]) -> str:
    """What the optimizer LM replied in the unparseable step of ``record``, and what to do."""
    reply = record.get("reply") or ""
    field_format = " (DSPy's field format: with prompt_model unset, the task LM writes the rewrites)" \
        if "[[ ##" in reply else ""
    return f"the optimizer LM replied {reply!r}{field_format}; {ADVICE}"


def unparseable_warning(history: list[dict[str, Any]]) -> str | None:
    """The warning to log once the last :data:`UNPARSEABLE_WARN_AFTER` steps all ended with rewrites
    that could not be parsed (exactly then: once per streak), else None."""
    streak = 0
    for record in reversed(history):
        if record.get("outcome") != "unparseable":
            break
        streak += 1
    if streak != UNPARSEABLE_WARN_AFTER:
        return None
    return f"{streak} steps in a row, no rewrite of the optimizer LM could be used: {_advice(history[-1])}"


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
    advice = _advice(history[-1]) if history and history[-1].get("outcome") == "unparseable" else ""
    advice = f" {advice[:1].upper()}{advice[1:]}." if advice else ""
    return (f"{count} consecutive steps failed; the task or optimizer LM looks unusable (last: {last}).{advice} "
            "Check the LMs and resume with the same log_dir.")
