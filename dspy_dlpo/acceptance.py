"""Acceptance of a step's candidate: the task score first, regularization for ties, annealing for drops."""

from __future__ import annotations

from .autograd.step import Update
from .text import normalize
from .core import Decision, StepContext, Strategy, greedy_accept


def decide(acceptor: Strategy | None, ctx: StepContext, score_delta: float, penalty: float) -> Decision:
    """Accept or reject a candidate whose minibatch score changed by ``score_delta`` points.

    A gain is accepted when it outweighs the length ``penalty`` (regularization); a tie when the
    candidate is not longer (regularization breaks ties); a drop only by ``acceptor`` (annealing),
    which judges the task score alone, so that a tie made negative by the penalty is never an
    annealing move. Without an acceptor, drops are rejected.
    """
    if score_delta > 0:
        return greedy_accept(score_delta - penalty)
    if score_delta == 0:
        if penalty > 0:
            return Decision(False, f"tie on the minibatch, but longer (penalty {penalty:.2f} points)")
        return Decision(True, "tie on the minibatch" + (f", shorter (penalty {penalty:.2f})" if penalty else ""))
    return acceptor.accept(ctx, score_delta) if acceptor else greedy_accept(score_delta)


def distinct(updates: list[Update]) -> list[Update]:
    """Updates with distinct instructions (whitespace and case ignored), the first of each kept."""
    seen: set[str] = set()
    out = []
    for update in updates:
        key = normalize(update.instruction or "")
        if key not in seen:
            seen.add(key)
            out.append(update)
    return out
