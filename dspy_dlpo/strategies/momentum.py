"""TextualMomentum (TMnt): recent gradients of the same instruction go into the rewrite prompt."""

from __future__ import annotations

from typing import Any

from ..text import normalize, trim_middle
from ..autograd.prompts import render
from ..validate import is_int, positive_int, real_number
from ..core import Section, StepContext, Strategy

# what this strategy adds to the rewrite prompt (rendered by autograd.prompts.render)
MOMENTUM_RULE = ("If a problem named in <earlier_critiques> comes back in <critique>, the earlier edits did not "
                 "fix it: address it more decisively.")
MOMENTUM_INTRO = "Critiques of the instructions of earlier steps, newest first:"
MOMENTUM_ITEM = "Critique {number}:\n{text}"


class TextualMomentum(Strategy):
    """Show the last ``window`` distinct critiques of this parameter, newest first, as data.

    Exact repeats (after normalization) are shown once. A point that keeps recurring tells the
    optimizer that earlier edits were too weak; the rule that says so is listed with the other
    rules, the critiques themselves in an ``<earlier_critiques>`` section. The decay ``beta`` sets
    how much of each is shown, not a number printed next to it (small LMs copy such numbers into
    the instruction): the critique of age ``a`` (1 = the previous one) gets
    ``max_chars * beta**(a - 1)`` characters, trimmed in the middle. Defaults: ``window=3``,
    ``beta=0.7``, ``max_chars=600`` (600, 420 and 294 characters: the section stays bounded, a
    complaint about TextGrad-style optimizers is update prompts that grow forever).
    """

    name = "momentum"
    option_default = 3
    order = 20

    def __init__(self, window: int = 3, *, beta: float = 0.7, max_chars: int = 600) -> None:
        if not is_int(window) or window < 1:  # momentum=0.5 through the teleprompter lands here: name the value
            raise ValueError(f"momentum window must be an int >= 1, got {window!r}")
        self.beta = real_number("momentum beta", beta, 0, 1, low_open=True)
        self.window, self.max_chars = window, positive_int("momentum max_chars", max_chars, minimum=100)

    def past_gradients(self, ctx: StepContext) -> list[tuple[float, str]]:
        """``(weight, gradient)`` pairs, newest first, deduplicated, at most ``window``; the weight
        ``beta**age`` scales the characters shown."""
        seen: set[str] = set()
        picked: list[tuple[float, str]] = []
        for age, record in enumerate(reversed([r for r in ctx.param_history() if r.get("gradient")]), start=1):
            key = normalize(record["gradient"])
            if key in seen:
                continue
            seen.add(key)
            picked.append((self.beta ** age, record["gradient"]))
            if len(picked) == self.window:
                break
        return picked

    def directives(self, ctx: StepContext) -> list[str]:
        if not self.past_gradients(ctx):
            return []
        return [MOMENTUM_RULE]

    def context(self, ctx: StepContext) -> list[Section]:
        past = self.past_gradients(ctx)
        if not past:
            return []
        ctx.note(self.name, f"showed {len(past)} earlier critique(s)")
        items = [render(MOMENTUM_ITEM, number=n, text=trim_middle(g, max(100, int(self.max_chars * w / self.beta))))
                 for n, (w, g) in enumerate(past, start=1)]
        return [Section("earlier_critiques", MOMENTUM_INTRO, "\n\n".join(items), meta={"count": len(past)})]

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "window": self.window, "beta": self.beta}
