"""TextualSimulatedAnnealing (TSA): Metropolis acceptance with a decaying temperature."""

from __future__ import annotations

import math
from typing import Any

from .base import Decision, StepContext, Strategy, greedy_accept


class TextualSimulatedAnnealing(Strategy):
    """Accept a worse candidate with probability ``exp(delta / T)``, ``T = t0 * decay**step``.

    ``delta`` is the change of the (penalized) minibatch score in accuracy points (0-100).
    Drops larger than ``max_drop`` points are always rejected; ties and gains always accepted.
    The current instruction is scored on the same minibatch as the candidate, so the very first
    comparison starts from the initial program's score. The best validated program is kept
    regardless of what annealing accepts.

    Defaults: ``t0=8``, ``decay=0.85``, ``max_drop=30``. With minibatches of 5 one example is
    20 points: at step 0 a one-example drop is accepted with p = exp(-20/8) = 0.08, by step 5
    (T = 3.5) with p = 0.003: a little exploration early, greedy late. Two-example drops
    (40 points) are never accepted.
    """

    name = "annealing"

    def __init__(self, t0: float = 8.0, *, decay: float = 0.85, max_drop: float = 30.0) -> None:
        if isinstance(t0, bool) or not isinstance(t0, (int, float)) or t0 < 0:
            raise ValueError(f"annealing temperature t0 must be a number >= 0, got {t0!r}")
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay <= 1:
            raise ValueError(f"annealing decay must be in (0, 1], got {decay!r}")
        if isinstance(max_drop, bool) or not isinstance(max_drop, (int, float)) or max_drop < 0:
            raise ValueError(f"annealing max_drop must be a number >= 0, got {max_drop!r}")
        self.t0, self.decay, self.max_drop = float(t0), float(decay), float(max_drop)

    def temperature(self, step: int) -> float:
        return self.t0 * self.decay ** step

    def probability(self, delta: float, step: int) -> float:
        """Probability of accepting a change of ``delta`` points at ``step``."""
        if delta >= 0:
            return 1.0
        temperature = self.temperature(step)
        if -delta > self.max_drop or temperature <= 0:
            return 0.0
        return math.exp(delta / temperature)

    def accept(self, ctx: StepContext, delta: float) -> Decision:
        if delta >= 0:
            return greedy_accept(delta)
        p = self.probability(delta, ctx.step)
        if p == 0.0:
            return Decision(False, f"worse by {-delta:.1f} points (beyond max_drop or T=0)", 0.0)
        draw = ctx.rng(self.name).random()
        verdict = "accepted" if draw < p else "rejected"
        return Decision(draw < p, f"worse by {-delta:.1f} points, annealing {verdict} "
                        f"(p={p:.3f}, T={self.temperature(ctx.step):.2f})", p)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "t0": self.t0, "decay": self.decay, "max_drop": self.max_drop}
