"""Backward pass: the optimizer LM's critique (textual gradient) of one instruction."""

from __future__ import annotations

import re

from .client import OptimizerClient
from .prompts import GRADIENT, render
from .text import normalize, parse_tag, truncate

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


def compute_gradient(client: OptimizerClient, *, role: str, instruction: str, losses: list[str],
                     solved: int, count: int) -> str | None:
    """Ask for a critique of ``instruction`` from ALL ``losses`` of the minibatch.

    The critique is read from ``<gradient>`` tags; a reply without tags is used whole (it is
    free text either way). Returns None when the LM failed or replied with nothing.
    """
    prompt = render(GRADIENT, role=role, instruction=instruction, losses="\n\n".join(losses),
                    solved=solved, count=count)
    reply = client.ask(prompt)
    if not reply:
        return None
    text = parse_tag(reply, "gradient") or reply.strip()
    text = text.replace("<gradient>", "").replace("</gradient>", "").strip()
    text = tidy_points(text)
    return truncate(text, MAX_GRADIENT_CHARS) if text else None
