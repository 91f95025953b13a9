"""A strategy written in one file, as a user or a contributor would add one: its hooks, its rule text
and its default. With one line in ``dspy_dlpo.strategies.registry.BUILTIN`` it becomes a
``DLPOTeleprompter`` keyword, a preset switch and a CLI flag (see test_new_strategy.py)."""

from __future__ import annotations

from dspy_dlpo.core import StepContext, Strategy

PLAIN_RULE = "Write plain sentences: no lists, no headings."
STEPS_SEEN: list[int] = []  # the steps whose rewrite prompts this strategy shaped


class TextualPlainness(Strategy):
    """Asks every rewrite for plain sentences (off by default)."""

    name = "plainness"
    option_default = False
    number_option = False
    order = 70

    def directives(self, ctx: StepContext) -> list[str]:
        STEPS_SEEN.append(ctx.step)
        ctx.note(self.name, "asked for plain sentences")
        return [PLAIN_RULE]
