"""The optimizer-LM client: one place that calls the optimizer LM, classifies failures, and counts."""

from __future__ import annotations

import logging
import re
from typing import Any

import dspy
from dspy.utils.exceptions import (LMAuthError, LMBillingError, LMConfigurationError, LMUnsupportedModelError,
                                   is_retryable_lm_error)

from ..budget import UsageMeter
from ..redact import redact
from ..sanitize import valid_text

logger = logging.getLogger(__name__)

_FATAL_TYPES = (LMAuthError, LMBillingError, LMConfigurationError, LMUnsupportedModelError)
_FATAL_NAMES = ("AuthenticationError", "PermissionDeniedError", "BudgetExceededError", "NotFoundError")
_FATAL_TEXT = re.compile(r"(?i)\b(authentication|unauthori[sz]ed|(invalid|incorrect|revoked|expired) api[ _-]?key|"
                         r"api[ _-]?key (is )?(not valid|invalid|revoked|expired)|insufficient_quota|billing)\b"
                         r"|\b401\b")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes (``__cause__``/``__context__``), each once: DSPy wraps an engine's own
    error in ``LMUnexpectedError``, a custom engine may wrap it again."""
    seen: list[BaseException] = []
    while exc is not None and all(exc is not e for e in seen) and len(seen) < 10:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def is_fatal(exc: BaseException) -> bool:
    """True for failures that retrying cannot heal (authentication, billing, configuration, unknown
    model), wherever they sit in the cause chain; rate limits and timeouts are never fatal."""
    chain = _chain(exc)
    if any(is_retryable_lm_error(e) for e in chain if isinstance(e, Exception)):
        return False
    if any(isinstance(e, _FATAL_TYPES) or type(e).__name__ in _FATAL_NAMES for e in chain):
        return True
    if any(getattr(e, name, None) in (401, 403) for e in chain for name in ("status", "status_code")):
        return True
    return any(_FATAL_TEXT.search(str(e)) for e in chain)


def _kind(exc: BaseException) -> str:
    text = " ".join(f"{type(e).__name__} {e}" for e in _chain(exc)).lower()
    if "ratelimit" in text or "rate limit" in text or "429" in text:
        return "rate_limit"
    return type(exc).__name__


class OptimizerClient:
    """Sends prompts to the optimizer LM (``prompt_model``) and counts every call.

    Retrying is DSPy's job: ``dspy.LM(num_retries=...)`` already retries rate limits, timeouts,
    server and transport errors with backoff (honoring ``retry_after``), so such an error reaching
    this client is final and the call returns None (the step is skipped, the run goes on). An
    unclassified engine error (DSPy does not retry those) gets one immediate re-ask: it recovers a
    one-off glitch for at most one extra call, where a second backoff layer on top of DSPy's
    multiplied provider attempts (up to 16 per call) and waiting time. Authentication, billing and
    configuration errors cannot heal by retrying: they raise, also when wrapped by an engine.
    Replies are repaired to valid Unicode here, where they enter the run.
    Re-asks (``rollout_id`` given) sample at ``retry_temperature`` with a distinct ``rollout_id`` so
    they are not answered from DSPy's cache.
    """

    def __init__(self, lm: dspy.BaseLM, meter: UsageMeter, *, retry_temperature: float = 1.0) -> None:
        self.lm, self.meter, self.retry_temperature = lm, meter, retry_temperature
        self.calls = 0     # every attempt sent to the LM
        self.replies = 0   # attempts that came back with non-empty text
        self.errors: dict[str, int] = {}

    def _call(self, prompt: str, rollout_id: int | None) -> str:
        kwargs: dict[str, Any] = {}
        if rollout_id is not None:
            kwargs = {"rollout_id": rollout_id, "temperature": self.retry_temperature}
        self.calls += 1
        with dspy.context(usage_tracker=self.meter):
            outputs = self.lm(prompt, **kwargs)
        first = outputs[0] if outputs else ""
        text = valid_text((first.get("text", "") if isinstance(first, dict) else str(first or "")).strip())
        self.replies += bool(text)
        return text

    def ask(self, prompt: str, *, rollout_id: int | None = None) -> str | None:
        """The LM's reply text, or None when the call failed."""
        for attempt in range(2):
            try:
                return self._call(prompt, rollout_id)
            except Exception as exc:
                if is_fatal(exc):
                    raise RuntimeError(f"the optimizer LM cannot be used: {redact(str(exc))[:300]}") from None
                kind = _kind(exc)
                self.errors[kind] = self.errors.get(kind, 0) + 1
                logger.warning("optimizer LM call failed (%s: %s), attempt %d", kind, redact(str(exc))[:200],
                               attempt + 1)
                if is_retryable_lm_error(exc):
                    return None  # DSPy has already retried it num_retries times, with backoff
        return None
