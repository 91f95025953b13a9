"""TextualSimulatedAnnealing (TSA): Metropolis acceptance with a decaying temperature.

The temperature is measured in minibatch examples, not accuracy points, so its defaults act at
every batch size: a drop of one example is accepted with probability ``p0`` at step 0, and
``p0 ** (1 / decay**step)`` later (``T = T0 * decay**step``, ``T0 = 1 / ln(1 / p0)``).
"""

from __future__ import annotations

import math
from typing import Any

from ..validate import real_number
from ..core import Decision, StepContext, Strategy, greedy_accept


class TextualSimulatedAnnealing(Strategy):
    """Accept a candidate that solves fewer minibatch examples with probability ``exp(-drop / T)``.

    ``drop`` is the score change in minibatch examples (one example of a batch of 5 = 20
    points). The length penalty of regularization is not part of it: annealing judges the task
    score alone, so a tie that regularization marks down is never turned into a "worse" move that
    annealing then accepts (regularization decides ties, see the trainer). Drops of more than
    ``max_drop`` examples are always rejected; gains are always accepted.

    Defaults: ``p0=0.3`` (a one-example drop accepted about one time in three at step 0: enough
    to leave a plateau where every rewrite ties or loses one example, which is what the 1.5B runs
    showed), ``decay=0.85`` per step (p = 0.19 at step 2, 0.08 at step 5, 0.01 at step 10),
    ``max_drop=1`` example. The best validated program is kept regardless of what annealing
    accepts, and the trainer returns to it when a validated candidate scores below it.

    Args:
        p0: probability of accepting a one-example drop at step 0, in (0, 1); 0 makes it greedy.
        decay: temperature factor per step, in (0, 1].
        max_drop: largest drop (in examples) that may be accepted, >= 0.
    """

    name = "annealing"
    option_default = True
    order = 60

    def __init__(self, p0: float = 0.3, *, decay: float = 0.85, max_drop: float = 1.0) -> None:
        self.p0 = real_number("annealing p0", p0, 0.0, 1.0, low_open=False, high_open=True, finite=True)
        self.decay = real_number("annealing decay", decay, 0.0, 1.0, low_open=True, high_open=False, finite=True)
        self.max_drop = real_number("annealing max_drop", max_drop, 0.0, math.inf, low_open=False, high_open=True,
                                    finite=True)

    def temperature(self, step: int) -> float:
        """Temperature at ``step``, in minibatch examples (0 when ``p0`` is 0)."""
        if self.p0 == 0.0:
            return 0.0
        return self.decay ** step / math.log(1.0 / self.p0)

    def probability(self, drop_examples: float, step: int) -> float:
        """Probability of accepting a score change of ``drop_examples`` (negative = worse) at ``step``."""
        if drop_examples >= 0:
            return 1.0
        temperature = self.temperature(step)
        if -drop_examples > self.max_drop + 1e-9 or temperature <= 0:
            return 0.0
        return math.exp(drop_examples / temperature)

    def accept(self, ctx: StepContext, delta: float) -> Decision:
        """``delta``: the minibatch score change in points; converted to examples with the batch size."""
        if delta >= 0:
            return greedy_accept(delta)
        per_example = 100.0 / max(1, len(ctx.rollouts))
        examples = delta / per_example
        p = self.probability(examples, ctx.step)
        if p == 0.0:
            return Decision(False, f"worse by {-examples:.1f} example(s) (beyond max_drop or T=0)", 0.0)
        draw = ctx.rng(self.name).random()
        verdict = "accepted" if draw < p else "rejected"
        ctx.note(self.name, f"{verdict} a drop of {-examples:.1f} example(s) (p={p:.2f}, draw={draw:.2f})")
        return Decision(draw < p, f"worse by {-examples:.1f} example(s), annealing {verdict} "
                        f"(p={p:.3f}, draw={draw:.3f}, T={self.temperature(ctx.step):.2f})", p, draw)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "p0": self.p0, "decay": self.decay, "max_drop": self.max_drop}
