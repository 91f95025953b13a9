"""One frozen, validated configuration behind ``DLPOTeleprompter``'s keywords: :class:`DLPOConfig`.

Every keyword that is a setting (not an LM, a metric or an observer) is a field here, validated once in
``__post_init__`` with an error that names the option and the bad value. The strategy keywords
(``learning_rate``, ``dropout``, ...) come from :mod:`dspy_dlpo.strategies.registry` and are built into
:attr:`DLPOConfig.strategies`. A field's metadata says whether it is a *run control* (it changes how
long a run goes or how it is observed, not what a step does: a run resumed from ``log_dir`` may change
it). The teleprompter's signature, the CLI flags, the presets and the README's options table are checked
against this class by ``tests/test_config.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .autograd.loss import DEFAULT_MAX_LOSS_CHARS, MIN_LOSS_CHARS
from .autograd.templates import check_templates
from .core import Strategy
from .leakage import check_allow
from .options import AUTO_PRESETS, check_budget_options
from .program import DEFAULT_ROLLOUT_TIMEOUT
from .stopping import check_stoppers
from .strategies.learning_rate import TextualLearningRate
from .strategies.registry import build_strategies
from .validate import check_bool, positive_int, positive_number

LINE_SEARCH = 3  # candidates per step with the learning rate on: edit bounds k, k/2, k/4


def _count(name: str, value: Any) -> int | None:
    return positive_int(name, value, allow_none=True)


def _required_count(name: str, value: Any) -> int:
    return positive_int(name, value)


def _seconds(name: str, value: Any) -> float | None:
    return positive_number(name, value, allow_none=True)


def _auto(name: str, value: Any) -> str | None:
    if value is not None and value not in AUTO_PRESETS:
        raise ValueError(f"auto must be one of {AUTO_PRESETS} or None, got {value!r}")
    return value


def _seed(name: str, value: Any) -> int:
    return 0 if value is None else positive_int(name, value, minimum=0)


def _loss_chars(name: str, value: Any) -> int:
    return positive_int(name, value, minimum=MIN_LOSS_CHARS)


def _path(name: str, value: Any) -> Path | None:
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike) or None, got {type(value).__name__} {value!r}")
    return Path(value) if value is not None else None


def _option(default: Any, check: Callable[[str, Any], Any], *, run_control: bool = False) -> Any:
    return field(default=default, metadata={"check": check, "run_control": run_control})


@dataclass(frozen=True)
class DLPOConfig:
    """The validated settings of a DLPO run (see ``DLPOTeleprompter`` for what each one does).

    ``strategy_options`` holds the strategy keywords (every keyword of the registry, and
    ``feedback_dropout``) and ``extra_strategies`` the user's own Strategy objects; both are built
    into :attr:`strategies` in hook order. ``candidates_per_step`` None becomes 3 with the learning
    rate on (its line search), else 1.
    """

    auto: str | None = _option(None, _auto, run_control=True)
    max_metric_calls: int | None = _option(None, _count, run_control=True)
    max_full_evals: int | None = _option(None, _count, run_control=True)
    max_steps: int | None = _option(None, _count, run_control=True)
    patience: int | None = _option(None, _count, run_control=True)
    batch_size: int = _option(3, _required_count)  # measured: benchmarks/results/minibatch
    num_threads: int | None = _option(1, _count, run_control=True)
    seed: int = _option(0, _seed)
    rewrite_attempts: int = _option(3, _required_count)
    candidates_per_step: int | None = _option(None, _count)
    append_on_no_op: bool = _option(False, check_bool)
    max_loss_chars: int = _option(DEFAULT_MAX_LOSS_CHARS, _loss_chars)
    max_consecutive_failures: int | None = _option(5, _count, run_control=True)
    rollout_timeout: float | None = _option(DEFAULT_ROLLOUT_TIMEOUT, _seconds, run_control=True)
    leak_guard: bool = _option(True, check_bool)
    leak_allow: tuple[str, ...] = _option((), check_allow)
    prompt_templates: Mapping[str, str] = _option(None, check_templates)
    reuse_rollouts: bool | None = _option(None, lambda name, value: None if value is None else check_bool(name, value))
    track_stats: bool = _option(True, check_bool)
    use_mlflow: bool = _option(False, check_bool)
    log_dir: Path | None = _option(None, _path, run_control=True)
    progress: bool = _option(True, check_bool)
    verbose: bool = _option(True, check_bool)
    max_optimizer_tokens: int | None = _option(None, _count, run_control=True)
    max_cost_usd: float | None = _option(None, _seconds, run_control=True)
    timeout_seconds: float | None = _option(None, _seconds, run_control=True)
    stopper: Any = _option(None, lambda name, value: tuple(check_stoppers(value)))
    strategy_options: Mapping[str, Any] = field(default_factory=dict)
    extra_strategies: tuple[Strategy, ...] = ()
    strategies: tuple[Strategy, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        for f in fields(self):
            check = f.metadata.get("check")
            if check is not None:
                object.__setattr__(self, f.name, check(f.name, getattr(self, f.name)))
            if f.name == "auto":  # before the budgets' own checks, as one error names all that were given
                check_budget_options(self.auto, self.max_metric_calls, self.max_full_evals)
        built = tuple(build_strategies(dict(self.strategy_options), extra=self.extra_strategies))
        object.__setattr__(self, "strategies", built)
        if self.candidates_per_step is None:
            line_search = any(isinstance(s, TextualLearningRate) for s in built)
            object.__setattr__(self, "candidates_per_step", LINE_SEARCH if line_search else 1)

    @classmethod
    def settings(cls) -> tuple[str, ...]:
        """The names of the fields that are keywords of ``DLPOTeleprompter`` (all but the strategies')."""
        return tuple(f.name for f in fields(cls) if "check" in f.metadata)

    @classmethod
    def run_controls(cls) -> tuple[str, ...]:
        """The settings a resumed run may change (they do not change what a step does)."""
        return tuple(f.name for f in fields(cls) if f.metadata.get("run_control"))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Setting -> default."""
        return {f.name: f.default for f in fields(cls) if "check" in f.metadata}
