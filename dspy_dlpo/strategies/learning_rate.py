"""TextualLearningRate (TLR) and its decay (TLRD): a checked bound on sentence edits per step."""

from __future__ import annotations

import math
from typing import Any

from ..autograd.prompts import render
from ..core import StepContext, Strategy
from ..text import clip_edits, sentence_edits
from ..validate import is_int, is_real
from .schedules import Schedule, constant, cosine, exponential, linear, step_decay

# what this strategy adds to the rewrite prompt (rendered by autograd.prompts.render)
LEARNING_RATE_RULE = ("Change at most {k} {sentences} of the current instruction (adding, deleting or rewriting "
                      "one sentence is one change); copy every other sentence word for word.")

DECAYS = ("exponential", "linear", "cosine", "step")
DECAY_DEFAULT = True  # the lr_decay keyword's default: the rate decays


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


def check_rate(rate: Any) -> None:
    """Raise ValueError unless ``rate`` is an int >= 1 or a schedule (``step -> value``)."""
    if not callable(rate) and (not is_int(rate) or rate < 1):
        raise ValueError(f"learning_rate must be an int >= 1 (max sentence edits per step) or a schedule, "
                         f"got {rate!r}")


class TextualLearningRate(Strategy):
    """At most ``k`` sentence-level edits per step, where ``k = round(schedule(step))`` (>= 1).

    The rewrite prompt states the bound and :meth:`check` measures it with a sentence diff
    (adding, deleting or modifying one sentence each count as one edit). A rewrite that still
    breaks the bound after the re-ask is clipped like a gradient: its first ``k`` edits are kept
    (:meth:`clip`), instead of throwing the whole update away. Defaults: 4 edits at
    step 0 decaying by 0.85 per step to 1 (4, 3, 3, 2, 2, 2, 2, 1, ...): early steps may turn the
    one-sentence DSPy default into a short procedure, late steps make single-sentence fixes,
    which is the paper's "large early, small late" schedule without needing the run length.

    Args:
        rate: the maximum number of edits, an int (constant) or a schedule ``step -> float``.
        decay: when ``rate`` is an int, whether to decay it (0.85 per step, floor 1).
    """

    name = "learning_rate"
    option_default = 4
    order = 40

    def __init__(self, rate: int | Schedule = 4, *, decay: bool | Schedule = True) -> None:
        check_rate(rate)
        if callable(rate):
            self.schedule: Schedule = rate
            self.describe = "custom schedule"
        elif callable(decay):
            self.schedule, self.describe = decay, f"custom decay from {rate}"
        elif decay:
            self.schedule, self.describe = exponential(rate, 0.85, 1.0), f"exponential from {rate}, rate 0.85"
        else:
            self.schedule, self.describe = constant(rate), f"constant {rate}"

    @classmethod
    def from_option(cls, value: Any, options: dict[str, Any]) -> Strategy | None:
        """TLR (+ TLRD): ``learning_rate`` False/None = off, True = 4, an int, a schedule or an instance = on;
        ``options["lr_decay"]`` (True, a named decay, a schedule or False) decays an int rate."""
        if value is False or value is None:
            return None
        if isinstance(value, cls):
            return value
        if value is True:
            value = 4
        if callable(value):
            check_schedule("learning_rate", value)
        check_rate(value)
        decay = options.get("lr_decay", DECAY_DEFAULT)
        return cls(value, decay=_decay_schedule(decay, value if is_int(value) else 4))

    def edits_allowed(self, step: int) -> int:
        """The bound ``k`` in force at ``step``."""
        value = float(self.schedule(step))
        if value != value or value <= 0:
            raise ValueError(f"learning-rate schedule returned {value!r} at step {step}; it must be > 0")
        return max(1, int(round(value)))

    def bound(self, ctx: StepContext) -> int:
        """The bound for the candidate being written: the line search's (``ctx.edit_bound``) if set, else
        the schedule's."""
        return ctx.edit_bound if ctx.edit_bound is not None else self.edits_allowed(ctx.step)

    def line(self, step: int, n: int) -> list[int]:
        """Edit bounds of ``n`` candidates written from one critique (a line search): the schedule's
        ``k`` and its halvings, smallest first (k=4, n=3: 1, 2, 4)."""
        k = self.edits_allowed(step)
        return [max(1, int(round(k / 2 ** (n - 1 - j)))) for j in range(n)]

    def directives(self, ctx: StepContext) -> list[str]:
        k, k0 = self.bound(ctx), self.edits_allowed(0)
        ctx.note(self.name, f"bound the rewrite to {k} sentence edit(s)")
        if self.edits_allowed(ctx.step) < k0:
            ctx.note("lr_decay", f"the schedule lowered the bound from {k0} to {self.edits_allowed(ctx.step)}")
        return [render(LEARNING_RATE_RULE, k=k, sentences="sentences" if k > 1 else "sentence")]

    def check(self, ctx: StepContext, candidate: str) -> str | None:
        k, edits = self.bound(ctx), sentence_edits(ctx.instruction, candidate)
        if edits > k:
            return (f"Your rewrite changed {edits} sentences but at most {k} may change. Keep the other "
                    "sentences word for word and change only the most important ones.")
        return None

    def clip(self, ctx: StepContext, candidate: str) -> str | None:
        """Keep the first ``k`` sentence edits of ``candidate`` (reading order); undo the rest. Edits of
        sentences frozen this step (``ctx.scratch["frozen"]``, set by dropout) are undone without using
        any of the ``k``, so that the clip composes with dropout in either order."""
        return clip_edits(ctx.instruction, candidate, self.bound(ctx),
                          protected=ctx.scratch.get("frozen", ()))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "schedule": self.describe, "k_at_0": self.edits_allowed(0)}
