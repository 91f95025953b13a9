"""TextualRegularization (TRegu): a length penalty in acceptance plus a simplify directive."""

from __future__ import annotations

from typing import Any

from ..text import word_count
from ..autograd.prompts import render
from ..validate import positive_int, real_number
from ..core import StepContext, Strategy

# what this strategy adds to the rewrite prompt (rendered by autograd.prompts.render)
REGULARIZATION_RULE = ("Keep the instruction short: within the changes allowed, prefer removing or merging "
                       "sentences that do not help over adding new ones.")
MAX_WORDS_RULE = " Use at most {max_words} words in total."


class TextualRegularization(Strategy):
    """Penalize length: ``weight`` points per word in the acceptance score, and ask to simplify.

    With ``weight=0.02`` a 50-word addition costs one accuracy point: it never outweighs one
    more solved example in a minibatch of 5-20 (5-20 points), but breaks ties in favour of the
    shorter instruction and stops bloat that buys nothing. ``max_words`` (default None) is a
    hard cap, checked on every rewrite.
    """

    name = "regularization"
    option_default = True
    order = 50

    def __init__(self, weight: float = 0.02, *, max_words: int | None = None) -> None:
        self.weight = real_number("regularization weight", weight, 0)
        self.max_words = positive_int("max_words", max_words, allow_none=True)

    def penalty(self, instruction: str) -> float:
        return self.weight * word_count(instruction)

    def directives(self, ctx: StepContext) -> list[str]:
        # worded so that it holds next to the learning rate's bound: removing or merging is a change too
        text = render(REGULARIZATION_RULE)
        if self.max_words:
            text += render(MAX_WORDS_RULE, max_words=self.max_words)
        return [text]

    def check(self, ctx: StepContext, candidate: str) -> str | None:
        words = word_count(candidate)
        if self.max_words and words > self.max_words:
            return f"Your instruction has {words} words; the limit is {self.max_words}. Shorten it."
        return None

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "max_words": self.max_words}
