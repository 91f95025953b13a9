"""Check the teleprompter's keyword options and turn them into budgets (the strategy keywords are
built by :func:`dspy_dlpo.strategies.registry.build_strategies`)."""

from __future__ import annotations

import logging
from typing import Any

import dspy

from .budget import auto_budget, minimum_budget, step_cost

logger = logging.getLogger(__name__)

AUTO_PRESETS = ("light", "medium", "heavy")


def check_budget_options(auto: str | None, max_metric_calls: int | None, max_full_evals: int | None) -> None:
    """At most one of the three ways to give a budget."""
    given = {k: v for k, v in (("auto", auto), ("max_metric_calls", max_metric_calls),
                               ("max_full_evals", max_full_evals)) if v is not None}
    if len(given) > 1:
        raise ValueError("pass either " + " or ".join(f"{k} ({v!r})" for k, v in given.items()) + ", not both")


def resolve_budget(*, auto: str | None, max_metric_calls: int | None, max_steps: int | None,
                   num_params: int, batch_size: int, val_size: int, candidates: int = 1,
                   max_full_evals: int | None = None, train_size: int = 0) -> int:
    """The metric-call budget; refuses conflicting options and budgets too small for one step.
    ``max_full_evals`` is GEPA's: that many evaluations of trainset and valset together."""
    check_budget_options(auto, max_metric_calls, max_full_evals)
    if max_full_evals is not None:
        max_metric_calls = max_full_evals * (train_size + val_size)
    if auto is None and max_metric_calls is None and max_steps is None:
        auto = "light"
    if auto is not None:
        budget = auto_budget(auto, num_params=num_params, val_size=val_size)
    elif max_metric_calls is not None:
        budget = max_metric_calls
    else:
        budget = val_size + max_steps * step_cost(batch_size, val_size, candidates)
    needed = minimum_budget(batch_size, val_size, candidates)
    if budget < needed:
        raise ValueError(f"max_metric_calls={budget} is too small for even one step: the baseline validation "
                         f"({val_size}) plus one step ({step_cost(batch_size, val_size, candidates)}: "
                         f"{1 + candidates} x batch_size {batch_size} + validation {val_size}) needs at least {needed}")
    return budget


def alias(name: str, value: Any, alias_name: str, alias_value: Any, *, default: Any = None) -> Any:
    """``value``, or ``alias_value`` when the peers' name ``alias_name`` was used instead; both
    given with different values is an error naming them."""
    if alias_value is None:
        return value
    if value is not None and value is not alias_value and value != default and value != alias_value:
        raise ValueError(f"{alias_name} is another name for {name}: pass one of them, got {name}={value!r} "
                         f"and {alias_name}={alias_value!r}")
    return alias_value


def check_callbacks(callbacks: Any) -> list[Any]:
    """``callbacks`` as a list of :class:`~dspy_dlpo.Callback`; errors name the bad item."""
    from dspy.utils.callback import BaseCallback

    from .callbacks import Callback

    if isinstance(callbacks, (str, bytes, Callback)) or not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of dspy_dlpo.Callback, got {type(callbacks).__name__} "
                        f"{callbacks!r:.80}")
    for item in callbacks:
        if isinstance(item, BaseCallback):
            raise TypeError(f"callbacks: {type(item).__name__} is a DSPy callback; register it with "
                            "dspy.configure(callbacks=[...]) (DLPO's callbacks subclass dspy_dlpo.Callback)")
        if not isinstance(item, Callback):
            raise TypeError(f"callbacks must be dspy_dlpo.Callback instances, got {type(item).__name__} {item!r:.80}")
    return list(callbacks)


def check_lm(name: str, lm: Any) -> None:
    if lm is not None and not isinstance(lm, dspy.BaseLM):
        raise TypeError(f"{name} must be a dspy.LM (dspy.BaseLM), got {type(lm).__name__} {lm!r}")
