"""Stop conditions besides the metric-call budget: token and cost caps, a timeout, a user stopper.

A condition is a callable ``state -> reason | None`` that the trainer checks between steps (after
the baseline and after every step); the first non-None reason ends the run cleanly, returning the
best program validated so far. Conditions only read the state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any


logger = logging.getLogger(__name__)

StopCondition = Callable[[Any], "str | None"]


def _stop(reason: str, detail: str) -> str:
    logger.info("stopping (%s): %s", reason, detail)
    return reason


def optimizer_token_cap(max_tokens: int) -> StopCondition:
    """Stop once the optimizer LM has used ``max_tokens`` tokens (input + output)."""
    def check(state: Any) -> str | None:
        used = state.spend.optimizer_tokens
        return _stop("optimizer tokens", f"{used} optimizer tokens >= max_optimizer_tokens={max_tokens}") \
            if used >= max_tokens else None
    return check


def cost_cap(max_usd: float) -> StopCondition:
    """Stop once the run's USD cost (task + optimizer LM, as litellm prices it) reaches ``max_usd``."""
    warned = []

    def check(state: Any) -> str | None:
        cost = state.spend.cost_usd
        if cost is None:
            if state.spend.metric_calls and not warned:
                warned.append(True)
                logger.warning("max_cost_usd=%s cannot be enforced: litellm has no price for the LMs of this "
                               "run (local or unknown models); use max_optimizer_tokens or max_metric_calls",
                               max_usd)
            return None
        return _stop("cost", f"${cost:.4f} >= max_cost_usd={max_usd:g}") if cost >= max_usd else None
    return check


def timeout(seconds: float, clock: Callable[[], float] = time.monotonic) -> StopCondition:
    """Stop at the first step boundary after ``seconds`` of wall-clock time (counted from now)."""
    started = clock()

    def check(state: Any) -> str | None:
        elapsed = clock() - started
        return _stop("timeout", f"{elapsed:.1f} s >= timeout_seconds={seconds:g}") if elapsed >= seconds else None
    return check


def user_stopper(stoppers: Sequence[Callable[[Any], bool]]) -> StopCondition:
    """Stop when any user callable ``stopper(state) -> bool`` returns True (as GEPA's stoppers)."""
    def check(state: Any) -> str | None:
        for stopper in stoppers:
            if stopper(state):
                return _stop("stopper", f"{getattr(stopper, '__name__', type(stopper).__name__)} returned True")
        return None
    return check


def check_stoppers(stopper: Any) -> list[Callable[[Any], bool]]:
    """``stopper`` (None, a callable or a sequence of callables) as a list; TypeError otherwise."""
    if stopper is None:
        return []
    items = [stopper] if callable(stopper) else stopper
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not all(callable(s) for s in items):
        raise TypeError(f"stopper must be a callable state -> bool or a list of them, got {stopper!r}")
    return list(items)


def build_conditions(*, max_optimizer_tokens: int | None, max_cost_usd: float | None,
                     timeout_seconds: float | None, stoppers: Sequence[Callable[[Any], bool]]) -> list[StopCondition]:
    """The stop conditions of one run (the timeout clock starts here, at compile)."""
    conditions: list[StopCondition] = []
    if max_optimizer_tokens is not None:
        conditions.append(optimizer_token_cap(max_optimizer_tokens))
    if max_cost_usd is not None:
        conditions.append(cost_cap(max_cost_usd))
    if timeout_seconds is not None:
        conditions.append(timeout(timeout_seconds))
    if stoppers:
        conditions.append(user_stopper(stoppers))
    return conditions
