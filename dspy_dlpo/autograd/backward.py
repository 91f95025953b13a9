"""Backward pass: the optimizer LM's critique (textual gradient) of one instruction."""

from __future__ import annotations

from .client import OptimizerClient
from .prompts import GRADIENT, render
from .text import parse_tag, truncate

MAX_GRADIENT_CHARS = 1500  # small optimizer LMs ramble; a bounded critique keeps rewrite prompts bounded


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
    return truncate(text, MAX_GRADIENT_CHARS) if text else None
