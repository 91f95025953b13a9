"""TextualDropout (TDO): freeze a random fraction of sentences (checked), drop some feedback."""

from __future__ import annotations

from typing import Any

from ..text import missing_sentences, restore_sentences
from ..autograd.prompts import render
from ..validate import finite_number, real_number
from ..core import StepContext, Strategy

# what this strategy adds to the rewrite prompt (rendered by autograd.prompts.render)
DROPOUT_RULE = "Copy {sentences} of the current instruction word for word: {they} frozen in this step."


class TextualDropout(Strategy):
    """Each step, freeze ``rate`` of the instruction's sentences; they must come back verbatim.

    ``round(rate * n)`` sentences are frozen, never all of them (a one-sentence instruction is
    never frozen). The rewrite is checked; a rewrite that changes a frozen sentence is retried,
    then clipped (:meth:`clip` puts the frozen sentences back, keeping the other edits).
    ``feedback_rate`` drops that fraction of the per-example losses before the gradient (at least
    one loss is kept). Defaults 0.25 / 0.0: a quarter of a four-sentence
    instruction is protected per step, which damps overreaction to one minibatch without
    blocking edits; feedback dropout is off because batches are already small.
    """

    name = "dropout"
    option_default = 0.25
    order = 10

    def __init__(self, rate: float = 0.25, *, feedback_rate: float = 0.0) -> None:
        self.rate = real_number("dropout", rate, 0, 1, high_open=True)
        self.feedback_rate = real_number("feedback_dropout", feedback_rate, 0, 1, high_open=True)

    @classmethod
    def from_option(cls, value: Any, options: dict[str, Any]) -> Strategy | None:
        """As :meth:`Strategy.from_option`; a ``feedback_dropout`` > 0 in ``options`` keeps the strategy on
        (with no frozen sentences when ``dropout`` is off)."""
        drop = super().from_option(value, options)
        feedback = options.get("feedback_dropout", 0.0)
        if finite_number("feedback_dropout", feedback):
            drop = cls(drop.rate if drop else 0.0, feedback_rate=feedback)
        return drop

    def frozen(self, ctx: StepContext) -> list[str]:
        """The sentences frozen at this step (deterministic in seed, step and parameter)."""
        if "frozen" not in ctx.scratch:
            n = len(ctx.sentences)
            count = min(n - 1, int(self.rate * n + 0.5)) if n > 1 else 0
            picks = sorted(ctx.rng(self.name).sample(range(n), count)) if count > 0 else []
            ctx.scratch["frozen"] = [ctx.sentences[i] for i in picks]
            ctx.scratch["frozen_numbers"] = [i + 1 for i in picks]
        return ctx.scratch["frozen"]

    def shape_losses(self, ctx: StepContext, losses: list[str]) -> list[str]:
        if self.feedback_rate <= 0 or len(losses) <= 1:
            return losses
        rng = ctx.rng("feedback_dropout")
        kept = [loss for loss in losses if rng.random() >= self.feedback_rate]
        return kept or [losses[rng.randrange(len(losses))]]

    def directives(self, ctx: StepContext) -> list[str]:
        if not self.frozen(ctx):
            return []
        numbers = [f"[{n}]" for n in ctx.scratch["frozen_numbers"]]
        ctx.note(self.name, f"froze sentence(s) {', '.join(numbers)}")
        listed = numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " and " + numbers[-1]
        plural = len(numbers) > 1
        return [render(DROPOUT_RULE, sentences=f"sentence{'s' if plural else ''} {listed}",
                       they="they are" if plural else "it is")]

    def check(self, ctx: StepContext, candidate: str) -> str | None:
        missing = missing_sentences(self.frozen(ctx), candidate)
        if missing:
            return "These frozen sentences were changed or removed; copy them verbatim:\n" + "\n".join(
                f"- {s}" for s in missing)
        return None

    def clip(self, ctx: StepContext, candidate: str) -> str:
        """``candidate`` with every frozen sentence it changed or removed put back verbatim where the
        current instruction has it; every other edit of ``candidate`` is kept."""
        if not missing_sentences(self.frozen(ctx), candidate):
            return candidate
        return restore_sentences(ctx.instruction, candidate, self.frozen(ctx))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "rate": self.rate, "feedback_rate": self.feedback_rate}
