"""The types every layer shares, below both ``autograd`` and ``strategies``: the strategy protocol
(:class:`Strategy`), what a strategy sees of a step (:class:`StepContext`), a data section of the
rewrite prompt (:class:`Section`), an acceptance decision (:class:`Decision`) and :func:`derived_rng`.

Strategies are small objects that shape one optimization step.

A step for one parameter (one predictor's instruction) runs these hooks in this order:

1. ``shape_losses``   pick which per-example losses reach the gradient (feedback dropout);
2. ``directives``     RULES for the rewrite prompt, one short imperative each (edit bound,
                      frozen sentences, simplification, how to use a data section); listed once,
                      in the prompt's "Rules" section;
   ``context``        DATA for the rewrite prompt as tagged :class:`Section` s (earlier critiques,
                      contrastive instructions and rollouts), shown apart from the rules;
3. ``check``          verify the rewrite obeys the strategy (sentence edits, frozen sentences,
                      max length); a violation is retried once, then the step is clipped;
4. ``penalty``        points subtracted from a candidate's score before acceptance;
5. ``accept``         the acceptance rule (at most one strategy provides it; greedy otherwise).

Strategies hold no mutable state: everything they need (the step number, the trial history,
a deterministic RNG derived from ``(seed, step, name)``) arrives in :class:`StepContext`, so a
resumed run behaves exactly like an uninterrupted one and nothing but the history is saved.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .text import normalize
from .leakage import LeakGuard
from .validate import finite_number, is_real


def derived_rng(seed: int, *keys: Any) -> random.Random:
    """A ``random.Random`` determined by ``seed`` and ``keys`` only (stable across processes)."""
    material = "|".join([str(seed), *map(str, keys)]).encode()
    return random.Random(int.from_bytes(hashlib.sha256(material).digest()[:8], "big"))


@dataclass
class StepContext:
    """What a strategy may look at during one step of one parameter."""

    step: int
    seed: int
    param: str
    instruction: str
    sentences: list[str]
    rollouts: list[Any]
    history: list[dict[str, Any]]
    # validated programs so far: {"params": {name: instruction}, "score": percent}
    candidates: list[dict[str, Any]] = field(default_factory=list)
    gradient: str = ""
    scratch: dict[str, Any] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)  # every predictor's current instruction
    fields: tuple[str, ...] = ()  # the names of this predictor's input and output fields
    counted: str = ""  # the counted failure patterns (autograd.diagnosis), shown first in the critique section
    edit_bound: int | None = None  # the learning rate's bound for the candidate being written (line search)
    acted: dict[str, str] = field(default_factory=dict)  # strategy -> what it did in this step (trial record)
    leak_guard: LeakGuard | None = None  # rewrites that copy training data are refused (None: off)

    def validated_score(self, instruction: str) -> float | None:
        """The validation score (percent) of the current program with this parameter set to
        ``instruction``, if that program was validated before (whitespace and case ignored), else None."""
        key, others = normalize(instruction), {k: v for k, v in self.params.items() if k != self.param}
        for cand in self.candidates:
            params = dict(cand["params"])
            if normalize(params.pop(self.param, "")) == key and params == others:
                return cand["score"]
        return None

    def note(self, strategy: str, what: str) -> None:
        """Record that ``strategy`` acted in this step (the trial record's ``acted``; the first note wins)."""
        self.acted.setdefault(strategy, what)

    def rng(self, name: str) -> random.Random:
        """The RNG of strategy ``name`` for this step and parameter."""
        return derived_rng(self.seed, self.step, self.param, name)

    def param_history(self) -> list[dict[str, Any]]:
        """Past trial records of this parameter, oldest first."""
        return [r for r in self.history if r.get("param") == self.param]


@dataclass
class Section:
    """A block of data in the rewrite prompt, shown as ``intro`` then ``<name>body</name>``.

    ``name`` must be a tag-like identifier (letters, digits, underscores); example and LM text in
    ``body`` is escaped so that it cannot open or close any tag of the prompt. ``meta`` is what
    the trial log records about the section (counts, which pair was shown), never shown.
    """

    name: str
    intro: str
    body: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decision:
    """The outcome of an acceptance rule."""

    accepted: bool
    reason: str
    probability: float = 1.0
    draw: float | None = None  # the random draw compared with ``probability`` (annealing), if any


class Strategy:
    """Base class: every hook is a no-op. Subclass and override the hooks you need.

    A built-in strategy is also a ``DLPOTeleprompter`` keyword named :attr:`name` (and a CLI flag)
    through its line in :mod:`dspy_dlpo.strategies.registry`; :attr:`option_default` is that
    keyword's default, :attr:`number_option` whether a number is its main argument, :attr:`order`
    its place in the hook order, and :meth:`from_option` turns the keyword's value into the strategy.
    """

    name = "strategy"
    option_default: ClassVar[Any] = False
    number_option: ClassVar[bool] = True
    order: ClassVar[int] = 100  # after the built-ins (10-60), before the user's extra strategies

    @classmethod
    def from_option(cls, value: Any, options: dict[str, Any]) -> Strategy | None:
        """The strategy the keyword's ``value`` asks for: False/None = off, True = defaults, an instance
        as given, a number = its main argument (0 = off, when :attr:`number_option`). ``options`` holds
        every strategy keyword's value (for a strategy that reads a modifier, such as ``lr_decay``)."""
        if value is False or value is None:
            return None
        if isinstance(value, cls):
            return value
        if value is True:
            return cls()
        if cls.number_option and is_real(value):
            return None if finite_number(cls.name, value) == 0 else cls(value)
        raise TypeError(f"{cls.name} must be a bool{', a number' if cls.number_option else ''} or a {cls.__name__}, "
                        f"got {value!r}")

    def shape_losses(self, ctx: StepContext, losses: list[str]) -> list[str]:
        return losses

    def directives(self, ctx: StepContext) -> list[str]:
        """Rules for the rewrite (imperative sentences; no data, no scores)."""
        return []

    def context(self, ctx: StepContext) -> list[Section]:
        """Data for the rewrite prompt, as tagged sections (see :class:`Section`)."""
        return []

    def check(self, ctx: StepContext, candidate: str) -> str | None:
        """A message describing how ``candidate`` violates this strategy, or None."""
        return None

    def clip(self, ctx: StepContext, candidate: str) -> str | None:
        """``candidate`` projected so that :meth:`check` passes, or None if this strategy cannot."""
        return None

    def penalty(self, instruction: str) -> float:
        return 0.0

    def accept(self, ctx: StepContext, delta: float) -> Decision | None:
        """Acceptance rule for a score change ``delta`` (points); None = not an acceptance rule."""
        return None

    def get_config(self) -> dict[str, Any]:
        """JSON-friendly configuration (used in checkpoints and ``get_params``)."""
        return {"name": self.name}


def greedy_accept(delta: float) -> Decision:
    """Accept candidates that score at least as well as the current instruction (``delta`` in points)."""
    if delta > 0:
        return Decision(True, f"improved by {delta:.1f} points")
    if delta == 0:
        return Decision(True, "tie")
    return Decision(False, f"worse by {-delta:.1f} points")
