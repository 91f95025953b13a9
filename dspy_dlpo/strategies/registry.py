"""The one table of built-in strategies: each row is a ``DLPOTeleprompter`` keyword, its strategy class,
its default and its CLI flag. The options (:func:`build_strategies`), the presets, the command line
and the benchmarks' ablations all read this table.

Adding a strategy: write it in one file (a :class:`~dspy_dlpo.core.Strategy` subclass with its hooks,
its rule and section texts and its ``option_default``), and add one :class:`Entry` line below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core import Strategy
from .annealing import TextualSimulatedAnnealing
from .contrastive import TextualContrastiveLearning
from .dropout import TextualDropout
from .learning_rate import DECAY_DEFAULT, TextualLearningRate
from .momentum import TextualMomentum
from .regularization import TextualRegularization


@dataclass(frozen=True)
class Entry:
    """One keyword of the table: a strategy (``strategy`` set) or a modifier that another strategy's
    :meth:`~dspy_dlpo.core.Strategy.from_option` reads (``strategy`` None, its default given)."""

    keyword: str
    strategy: type[Strategy] | None = None
    modifier_default: Any = None

    @property
    def default(self) -> Any:
        """The keyword's default value (the strategy's ``option_default`` unless a modifier)."""
        return self.strategy.option_default if self.strategy is not None else self.modifier_default

    @property
    def flag(self) -> str:
        """The CLI flag that flips the default: ``--no-<keyword>`` for one on by default, else ``--<keyword>``."""
        kebab = self.keyword.replace("_", "-")
        return f"--no-{kebab}" if self.default else f"--{kebab}"


# in the order of the presets and the CLI's help; the hooks run in the strategies' ``order``
BUILTIN: list[Entry] = [
    Entry("learning_rate", TextualLearningRate),
    Entry("lr_decay", modifier_default=DECAY_DEFAULT),
    Entry("dropout", TextualDropout),
    Entry("annealing", TextualSimulatedAnnealing),
    Entry("momentum", TextualMomentum),
    Entry("contrastive", TextualContrastiveLearning),
    Entry("regularization", TextualRegularization),
]


def keywords() -> tuple[str, ...]:
    """Every keyword of the table, in its order."""
    return tuple(entry.keyword for entry in BUILTIN)


def defaults() -> dict[str, Any]:
    """Keyword -> default, for every row."""
    return {entry.keyword: entry.default for entry in BUILTIN}


def build_strategies(options: dict[str, Any], extra: Any = ()) -> list[Strategy]:
    """The strategies that ``options`` (keyword -> value; a missing keyword takes its default) switch on,
    in hook order (dropout, momentum, contrastive, learning rate, regularization, annealing, then new
    ones), followed by the user's ``extra`` Strategy instances."""
    values = {**defaults(), **options}
    built = [entry.strategy.from_option(values[entry.keyword], values) for entry in BUILTIN if entry.strategy]
    extra = list(extra or ())
    for item in extra:
        if not isinstance(item, Strategy):
            raise TypeError(f"strategies must be Strategy instances, got {type(item).__name__} {item!r}")
    return sorted((s for s in built if s is not None), key=lambda s: s.order) + extra
