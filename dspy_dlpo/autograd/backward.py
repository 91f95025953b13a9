"""Backward pass: the optimizer LM's critique (textual gradient) of one instruction."""

from __future__ import annotations

import re

from .client import OptimizerClient
from .loss import fair_shares
from .prompts import GRADIENT, PROMPT_TAGS, render
from .text import escape_tags, normalize, parse_tag, trim_middle, truncate

_BULLET = re.compile(r"^(?:[-*\u2022]|\d+[.)])\s*")

MAX_GRADIENT_CHARS = 1500  # small optimizer LMs ramble; a bounded critique keeps rewrite prompts bounded
MAX_POINTS = 5  # the prompt asks for at most 5 bullet points; small LMs repeat one point dozens of times


def tidy_points(text: str, max_points: int = MAX_POINTS) -> str:
    """Drop repeated lines (case- and space-insensitive) and keep the first ``max_points`` bullets.

    Lines that are not bullets (no leading ``-``, ``*``, ``•`` or ``1.``) are kept as they are.
    """
    seen: set[str] = set()
    kept: list[str] = []
    bullets = 0
    for line in text.splitlines():
        stripped = line.strip()
        is_bullet = bool(_BULLET.match(stripped))
        key = normalize(_BULLET.sub("", stripped))
        if not key or key in seen or (is_bullet and bullets >= max_points):
            continue
        seen.add(key)
        bullets += is_bullet
        kept.append(line.rstrip())
    return "\n".join(kept)


def gradient_prompt(*, role: str, instruction: str, losses: list[str], solved: int, count: int,
                    max_chars: int | None = None) -> str:
    """The critique prompt. The losses are fenced in ``<examples>`` with the prompt's own tags
    neutralized (a training input cannot close a block or plant a ``<gradient>``); with ``max_chars``
    (the per-example budget) their total is capped at ``max_chars * len(losses)``, the longest ones
    trimmed in the middle."""
    losses = [escape_tags(loss, PROMPT_TAGS) for loss in losses]
    if max_chars is not None:
        limits = fair_shares([len(loss) for loss in losses], max_chars * len(losses))
        losses = [trim_middle(loss, limit) for loss, limit in zip(losses, limits)]
    return render(GRADIENT, role=escape_tags(role, PROMPT_TAGS), instruction=escape_tags(instruction, PROMPT_TAGS),
                  losses="\n\n".join(losses), solved=solved, count=count)


def compute_gradient(client: OptimizerClient, *, role: str, instruction: str, losses: list[str],
                     solved: int, count: int, max_loss_chars: int | None = None) -> str | None:
    """Ask for a critique of ``instruction`` from ALL ``losses`` of the minibatch (their total capped
    at ``max_loss_chars`` per loss, see :func:`gradient_prompt`).

    The critique is read from ``<gradient>`` tags; a reply without tags is used whole (it is
    free text either way). Returns None when the LM failed or replied with nothing.
    """
    prompt = gradient_prompt(role=role, instruction=instruction, losses=losses, solved=solved, count=count,
                             max_chars=max_loss_chars)
    reply = client.ask(prompt)
    if not reply:
        return None
    text = parse_tag(reply, "gradient") or reply.strip()
    text = text.replace("<gradient>", "").replace("</gradient>", "").strip()
    text = tidy_points(text)
    return truncate(text, MAX_GRADIENT_CHARS) if text else None
