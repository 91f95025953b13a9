"""The optimizer-LM client: one place that calls the optimizer LM, retries, and counts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import dspy

from ..budget import UsageMeter
from ..redact import redact

logger = logging.getLogger(__name__)


_FATAL = ("LMAuthError", "LMBillingError", "LMConfigurationError", "LMNotConfiguredError",
          "LMUnsupportedModelError", "AuthenticationError")


def _is_rate_limit(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "ratelimit" in text or "rate limit" in text or "429" in text


class OptimizerClient:
    """Sends prompts to the optimizer LM (``prompt_model``) with bounded retries.

    Rate-limit errors are retried with exponential backoff, other errors once; a call that
    still fails returns None (the step is skipped), so an LM fault never crashes a run.
    Authentication, billing and configuration errors cannot heal by retrying: they raise.
    Every attempt counts as an optimizer call; tokens are metered through ``usage_tracker``.
    Re-asks (``attempt > 0``) sample at ``retry_temperature`` with a distinct ``rollout_id`` so
    they are not answered from DSPy's cache.
    """

    def __init__(self, lm: dspy.BaseLM, meter: UsageMeter, *, retries: int = 3, backoff: float = 2.0,
                 retry_temperature: float = 0.8, sleep: Callable[[float], None] = time.sleep) -> None:
        self.lm, self.meter = lm, meter
        self.retries, self.backoff, self.retry_temperature, self.sleep = retries, backoff, retry_temperature, sleep
        self.calls = 0
        self.errors: dict[str, int] = {}

    def _call(self, prompt: str, rollout_id: int | None) -> str:
        kwargs: dict[str, Any] = {}
        if rollout_id is not None:
            kwargs = {"rollout_id": rollout_id, "temperature": self.retry_temperature}
        self.calls += 1
        with dspy.context(usage_tracker=self.meter):
            outputs = self.lm(prompt, **kwargs)
        first = outputs[0] if outputs else ""
        return (first.get("text", "") if isinstance(first, dict) else str(first or "")).strip()

    def ask(self, prompt: str, *, rollout_id: int | None = None) -> str | None:
        """The LM's reply text, or None when every attempt failed."""
        for attempt in range(self.retries + 1):
            try:
                return self._call(prompt, rollout_id)
            except Exception as exc:
                if type(exc).__name__ in _FATAL:
                    raise RuntimeError(f"the optimizer LM cannot be used: {redact(str(exc))[:300]}") from None
                kind = "rate_limit" if _is_rate_limit(exc) else type(exc).__name__
                self.errors[kind] = self.errors.get(kind, 0) + 1
                logger.warning("optimizer LM call failed (%s: %s), attempt %d", kind, redact(str(exc))[:200], attempt + 1)
                if kind != "rate_limit" and attempt >= 1:
                    return None
                if attempt < self.retries:
                    self.sleep(self.backoff * 2 ** attempt if kind == "rate_limit" else 0.0)
        return None
