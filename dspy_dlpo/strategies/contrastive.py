"""TextualContrastiveLearning (TCL): show what separates better instructions and rollouts."""

from __future__ import annotations

from typing import Any

from ..autograd.text import normalize, truncate
from .base import StepContext, Strategy


def _rollout_text(rollout: Any, max_chars: int) -> str:
    outputs = rollout.outputs if rollout.outputs is not None else {"error": rollout.error}
    return truncate(f"input: {rollout.inputs} | output: {outputs} | score {rollout.score:.2f} | "
                    f"feedback: {rollout.feedback}", max_chars)


class TextualContrastiveLearning(Strategy):
    """Contrast good and bad past instructions (validation scores) and a good vs bad rollout.

    The rewrite prompt gets up to ``k`` of the best and ``k`` of the worst distinct validated
    instructions of this parameter with their validation scores, and (``rollouts=True``) the
    best and worst rollout of the current minibatch when their scores differ. Bounded by
    ``k`` and ``max_chars`` (the reference code pasted its whole history). Defaults: ``k=2``,
    600 characters per item.
    """

    name = "contrastive"

    def __init__(self, k: int = 2, *, instructions: bool = True, rollouts: bool = True, max_chars: int = 600) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"contrastive k must be an int >= 1, got {k!r}")
        if not (instructions or rollouts):
            raise ValueError("contrastive learning needs instructions=True or rollouts=True")
        self.k, self.instructions, self.rollouts, self.max_chars = k, instructions, rollouts, int(max_chars)

    def scored_instructions(self, ctx: StepContext) -> list[tuple[float, str]]:
        """Distinct validated instructions of this parameter, best first."""
        best: dict[str, tuple[float, str]] = {}
        for cand in ctx.candidates:
            text = cand["params"].get(ctx.param)
            if text is None:
                continue
            key = normalize(text)
            if key not in best or cand["score"] > best[key][0]:
                best[key] = (cand["score"], text)
        return sorted(best.values(), key=lambda item: -item[0])

    def _instruction_block(self, ctx: StepContext) -> str | None:
        scored = self.scored_instructions(ctx)
        if len(scored) < 2 or scored[0][0] == scored[-1][0]:
            return None
        n = min(self.k, len(scored) // 2)  # disjoint: an instruction is never both better and worse
        good, bad = scored[:n], scored[len(scored) - n:]
        fmt = lambda items: "\n".join(f"- ({s:.1f}%) {truncate(t, self.max_chars)}" for s, t in items)
        return ("Instructions tried earlier, with validation accuracy. Keep what the better ones do and "
                f"avoid what the worse ones do.\nBetter:\n{fmt(good)}\nWorse:\n{fmt(bad)}")

    def _rollout_block(self, ctx: StepContext) -> str | None:
        if len(ctx.rollouts) < 2:
            return None
        ranked = sorted(ctx.rollouts, key=lambda r: (-r.score, r.index))
        good, bad = ranked[0], ranked[-1]
        if good.score == bad.score:
            return None
        return ("A better and a worse rollout from this minibatch. Make the instruction produce the "
                f"behaviour of the better one.\nBetter: {_rollout_text(good, self.max_chars)}\n"
                f"Worse: {_rollout_text(bad, self.max_chars)}")

    def directives(self, ctx: StepContext) -> list[str]:
        blocks = [self._instruction_block(ctx) if self.instructions else None,
                  self._rollout_block(ctx) if self.rollouts else None]
        return [b for b in blocks if b]

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k, "instructions": self.instructions, "rollouts": self.rollouts}
