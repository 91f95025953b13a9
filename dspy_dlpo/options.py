"""Turn the teleprompter's keyword options into validated strategy objects and budgets."""

from __future__ import annotations

import logging
import math
from typing import Any

import dspy

from .budget import auto_budget, minimum_budget, step_cost
from .strategies import (TextualContrastiveLearning, TextualDropout, TextualLearningRate, TextualMomentum,
                         TextualRegularization, TextualSimulatedAnnealing)
from .strategies.base import Strategy
from .strategies.learning_rate import check_rate
from .strategies.schedules import cosine, exponential, linear, step_decay
from .validate import finite_number, is_int, is_real

logger = logging.getLogger(__name__)

AUTO_PRESETS = ("light", "medium", "heavy")
DECAYS = ("exponential", "linear", "cosine", "step")


def check_schedule(name: str, schedule: Any) -> Any:
    """``schedule`` if its value at step 0 is a finite number > 0; otherwise an error naming ``name``."""
    try:
        value = schedule(0)
    except Exception as exc:
        raise ValueError(f"{name} schedule raised at step 0: {type(exc).__name__}: {exc}") from None
    if not is_real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} schedule must return a finite number > 0 (step -> value), "
                         f"got {type(value).__name__} {value!r} at step 0")
    return schedule


def _decay_schedule(decay: Any, rate: int) -> Any:
    if decay is True:
        return True
    if decay is False or decay is None:
        return False
    if callable(decay):
        return check_schedule("lr_decay", decay)
    named = {"exponential": lambda: exponential(rate, 0.85, 1.0), "linear": lambda: linear(rate, 1, 10),
             "cosine": lambda: cosine(rate, 1, 10), "step": lambda: step_decay(rate, 0.5, 3)}
    if decay not in named:
        raise ValueError(f"lr_decay must be a bool, a schedule (step -> value) or one of {DECAYS}, got {decay!r}")
    return named[decay]()


def learning_rate_strategy(rate: Any, decay: Any) -> Strategy | None:
    """TLR (+ TLRD): ``rate`` False/None = off, int/schedule/instance = on."""
    if rate is False or rate is None:
        return None
    if isinstance(rate, TextualLearningRate):
        return rate
    if rate is True:
        rate = 4
    if callable(rate):
        check_schedule("learning_rate", rate)
    check_rate(rate)
    return TextualLearningRate(rate, decay=_decay_schedule(decay, rate if is_int(rate) else 4))


def _switch(name: str, value: Any, cls: type, number_arg: bool) -> Strategy | None:
    """Common rule: False/None/0 = off, True = defaults, instance = as given, number = main value."""
    if value is False or value is None:
        return None
    if isinstance(value, cls):
        return value
    if value is True:
        return cls()
    if number_arg and is_real(value):
        return None if finite_number(name, value) == 0 else cls(value)
    raise TypeError(f"{name} must be a bool{', a number' if number_arg else ''} or a {cls.__name__}, got {value!r}")


def build_strategies(*, learning_rate: Any, lr_decay: Any, dropout: Any, feedback_dropout: float,
                     annealing: Any, momentum: Any, contrastive: Any, regularization: Any,
                     extra: Any) -> list[Strategy]:
    """The strategies in hook order: dropout, momentum, contrastive, learning rate, regularization, annealing."""
    drop = _switch("dropout", dropout, TextualDropout, True)
    if finite_number("feedback_dropout", feedback_dropout):
        drop = TextualDropout(drop.rate if drop else 0.0, feedback_rate=feedback_dropout)
    built = [drop, _switch("momentum", momentum, TextualMomentum, True),
             _switch("contrastive", contrastive, TextualContrastiveLearning, False),
             learning_rate_strategy(learning_rate, lr_decay),
             _switch("regularization", regularization, TextualRegularization, True),
             _switch("annealing", annealing, TextualSimulatedAnnealing, True)]
    extra = list(extra or ())
    for item in extra:
        if not isinstance(item, Strategy):
            raise TypeError(f"strategies must be Strategy instances, got {type(item).__name__} {item!r}")
    return [s for s in built if s is not None] + extra


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
