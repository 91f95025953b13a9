"""TextualMomentum (TMnt): recent gradients of the same instruction go into the rewrite prompt."""

from __future__ import annotations

from typing import Any

from ..autograd.text import normalize, truncate
from .base import StepContext, Strategy


class TextualMomentum(Strategy):
    """Show the last ``window`` distinct gradients of this parameter, newest first, with weights.

    Weights decay as ``beta**age``; exact repeats (after normalization) are shown once. A point
    that keeps recurring tells the optimizer earlier edits were too weak. Defaults:
    ``window=3``, ``beta=0.7``, each past gradient cut to 600 characters so the prompt stays
    bounded (a complaint about TextGrad-style optimizers is update prompts that grow forever).
    """

    name = "momentum"

    def __init__(self, window: int = 3, *, beta: float = 0.7, max_chars: int = 600) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"momentum window must be an int >= 1, got {window!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 < beta <= 1:
            raise ValueError(f"momentum beta must be in (0, 1], got {beta!r}")
        self.window, self.beta, self.max_chars = window, float(beta), int(max_chars)

    def past_gradients(self, ctx: StepContext) -> list[tuple[float, str]]:
        """``(weight, gradient)`` pairs, newest first, deduplicated, at most ``window``."""
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
        past = self.past_gradients(ctx)
        if not past:
            return []
        lines = [f"(weight {w:.2f}) {truncate(g, self.max_chars)}" for w, g in past]
        return ["Critiques from earlier steps, newest first. A problem that recurs here was not fixed by "
                "earlier edits: address it more decisively.\n" + "\n".join(lines)]

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "window": self.window, "beta": self.beta}
