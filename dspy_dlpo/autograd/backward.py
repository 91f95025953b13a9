"""Backward pass: the optimizer LM's critique (textual gradient) of one instruction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .client import OptimizerClient
from .loss import fair_shares
from .diagnosis import Pattern, addresses, summary_line
from .prompts import GRADIENT, PATTERNS, PATTERNS_REASK, PROMPT_TAGS, render
from ..text import escape_tags, normalize, parse_tag, trim_middle, truncate

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
                    max_chars: int | None = None, patterns: Sequence[Pattern] = (), template: str = GRADIENT) -> str:
    """The critique prompt. The losses are fenced in ``<examples>`` with the prompt's own tags
    neutralized (a training input cannot close a block or plant a ``<gradient>``); with ``max_chars``
    (the per-example budget) their total is capped at ``max_chars * len(losses)``, the longest ones
    trimmed in the middle."""
    losses = [escape_tags(loss, PROMPT_TAGS) for loss in losses]
    if max_chars is not None:
        limits = fair_shares([len(loss) for loss in losses], max_chars * len(losses))
        losses = [trim_middle(loss, limit) for loss, limit in zip(losses, limits)]
    counted = render(PATTERNS, patterns=escape_tags(summary_line(patterns), PROMPT_TAGS)) if patterns else ""
    return render(template, role=escape_tags(role, PROMPT_TAGS), instruction=escape_tags(instruction, PROMPT_TAGS),
                  losses="\n\n".join(losses), solved=solved, count=count, patterns=counted)


@dataclass
class Gradient:
    """A critique and how it was obtained: the counted ``patterns`` it was shown, whether it was asked
    again because it missed the dominant one (``reasked``) and whether the one used ``addressed`` it."""

    text: str | None
    patterns: list[Pattern] = field(default_factory=list)
    reasked: bool = False
    addressed: bool | None = None

    def record(self) -> dict[str, Any]:
        """What the trial log keeps of the failure analysis."""
        return {"patterns": [p.to_json() for p in self.patterns], "reasked": self.reasked,
                "addressed": self.addressed}


def _critique(reply: str | None) -> str | None:
    if not reply:
        return None
    text = parse_tag(reply, "gradient") or reply.strip()
    text = tidy_points(text.replace("<gradient>", "").replace("</gradient>", "").strip())
    return truncate(text, MAX_GRADIENT_CHARS) if text else None


def compute_gradient(client: OptimizerClient, *, role: str, instruction: str, losses: list[str],
                     solved: int, count: int, max_loss_chars: int | None = None,
                     patterns: Sequence[Pattern] = (), reask_rollout_id: int | None = None,
                     template: str = GRADIENT) -> Gradient:
    """Ask for a critique of ``instruction`` from ALL ``losses`` of the minibatch (their total capped
    at ``max_loss_chars`` per loss, see :func:`gradient_prompt`), shown the counted failure
    ``patterns`` (:func:`~dspy_dlpo.autograd.diagnosis.analyze`) first.

    The critique is read from ``<gradient>`` tags; a reply without tags is used whole (it is free text
    either way). A critique that does not address the dominant pattern is asked again once (sampled
    with ``reask_rollout_id``, so that it is not served from the cache); the second one is used when it
    addresses it, else the first. ``text`` is None when the LM failed or replied with nothing.
    """
    patterns = list(patterns)
    prompt = gradient_prompt(role=role, instruction=instruction, losses=losses, solved=solved, count=count,
                             max_chars=max_loss_chars, patterns=patterns, template=template)
    text = _critique(client.ask(prompt))
    if text is None or not patterns:
        return Gradient(text, patterns)
    if addresses(text, patterns[0]):
        return Gradient(text, patterns, addressed=True)
    again = _critique(client.ask(render(PATTERNS_REASK, prompt=prompt, pattern=patterns[0].text),
                                 rollout_id=reask_rollout_id))
    if again is not None and addresses(again, patterns[0]):
        return Gradient(again, patterns, reasked=True, addressed=True)
    return Gradient(text, patterns, reasked=True, addressed=False)
