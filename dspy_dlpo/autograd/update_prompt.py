"""What the optimizer LM is shown for a rewrite: the instruction, DATA in tagged sections, RULES once.

:func:`build_update_prompt` renders the rewrite prompt from :mod:`.prompts`: the current instruction
(numbered), then the data sections (the critique, one or two failing examples, then each
strategy's :meth:`~dspy_dlpo.core.Strategy.context`), then one "Rules" list (the base
rules, then each strategy's :meth:`~dspy_dlpo.core.Strategy.directives`). Embedded
example and LM text has the prompt's own tags neutralized (:func:`.text.escape_tags`), so that a
training input cannot close a block or plant an ``<instruction>``. The data sections share a
character budget; what was shown, trimmed or dropped is returned for the trial log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..core import Section, StepContext, Strategy
from .prompts import (ADD_SENTENCE, BASE_RULES, COUNTED_INTRO, CRITIQUE_INTRO, FAILURE, FAILURES_INTRO, PROMPT_TAGS, RULE, SECTION,
                      UPDATE, render)
from ..text import escape_tags, numbered, trim_middle

# Data sections together: ~2,500 tokens. With the rules, the instruction and a 512-token reply the
# rewrite prompt stays inside a 4,096-token context (the embedded 1.5B's default).
MAX_DATA_CHARS = 9000
MIN_SECTION_CHARS = 300  # a section that cannot get this much is dropped rather than shown as a stub
MAX_FAILURES = 2
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def pick_failures(scores: Sequence[float], losses: Sequence[str], k: int = MAX_FAILURES) -> list[str]:
    """The loss texts of the ``k`` lowest-scoring rollouts that did not get full marks (lowest first,
    ties in minibatch order); ``scores[i]`` belongs to ``losses[i]``."""
    order = sorted((i for i, s in enumerate(scores) if s < 1.0), key=lambda i: (scores[i], i))
    return [losses[i] for i in order[:k]]


def _check_section(strategy: Strategy, section: Any) -> Section:
    if not isinstance(section, Section) or not _NAME.match(section.name):
        raise ValueError(f"strategy {strategy.name!r} returned {section!r} from context(); it must return Section "
                         "objects whose name is a tag-like identifier")
    return section


def _sections(ctx: StepContext, strategies: Sequence[Strategy], failures: Sequence[str]) -> list[Section]:
    counted = render(COUNTED_INTRO, patterns=ctx.counted) + "\n" if ctx.counted else ""
    sections = [Section("critique", CRITIQUE_INTRO, counted + (ctx.gradient or "(no critique)"))]
    if failures:
        sections.append(Section("failing_examples", FAILURES_INTRO, "\n\n".join(failures),
                                meta={"count": len(failures)}))
    for strategy in strategies:
        sections.extend(_check_section(strategy, s) for s in strategy.context(ctx))
    return sections


def _fit(sections: list[Section], tags: set[str], budget: int, shown: dict[str, Any]) -> list[str]:
    """Rendered sections within ``budget`` characters of data, in order; later ones are trimmed in the
    middle or dropped (named in ``shown["trimmed"]`` / ``shown["dropped"]``)."""
    blocks, remaining = [], budget
    for section in sections:
        body = escape_tags(section.body, tags)
        if len(body) > remaining:
            if remaining < MIN_SECTION_CHARS and section.name != "critique":
                shown["dropped"].append(section.name)
                continue
            body = trim_middle(body, max(remaining, MIN_SECTION_CHARS))
            shown["trimmed"].append(section.name)
        remaining -= len(body)
        blocks.append(render(SECTION, intro=escape_tags(section.intro, tags), name=section.name, body=body))
        shown["sections"].append(section.name)
        if section.meta:
            shown[section.name] = dict(section.meta)
    return blocks


def build_update_prompt(ctx: StepContext, *, role: str, strategies: Sequence[Strategy],
                        failures: Sequence[str] = (), max_failures: int = MAX_FAILURES,
                        max_data_chars: int = MAX_DATA_CHARS, template: str = UPDATE) -> tuple[str, dict[str, Any]]:
    """The rewrite prompt for ``ctx`` and a record of what it showed.

    ``failures`` are loss texts of failing rollouts (see :func:`pick_failures`); the first
    ``max_failures`` are shown. The record holds ``sections`` (tag names shown, in order),
    ``rules`` (strategy name -> its rules), ``trimmed``/``dropped`` (sections over the budget),
    each section's ``meta`` under its name (e.g. ``shown["contrast"]["pair"]``) and ``chars``.
    """
    rules = {s.name: texts for s in strategies if (texts := list(s.directives(ctx)))}
    sections = _sections(ctx, strategies, list(failures)[:max_failures])
    tags = set(PROMPT_TAGS) | {s.name for s in sections}
    shown: dict[str, Any] = {"sections": [], "rules": rules, "trimmed": [], "dropped": []}
    blocks = _fit(sections, tags, max_data_chars, shown)
    listed: list[str] = []
    for text in [*BASE_RULES, *(t for texts in rules.values() for t in texts)]:
        if text not in listed:  # every rule once
            listed.append(text)
    prompt = render(template, role=escape_tags(role, tags),
                    numbered=escape_tags(numbered(ctx.sentences), tags) or "(empty)",
                    sections="\n\n".join(blocks), rules="\n".join(render(RULE, text=t) for t in listed))
    shown["chars"] = len(prompt)
    return prompt, shown


def build_fallback_prompt(ctx: StepContext, *, role: str, failure: str | None) -> tuple[str, dict[str, Any]]:
    """The "add one sentence" prompt (after a no-op rewrite), shown ``failure`` (a failing loss text)."""
    tags = set(PROMPT_TAGS)
    prompt = render(ADD_SENTENCE, role=escape_tags(role, tags),
                    instruction=escape_tags(ctx.instruction, tags) or "(empty)",
                    gradient=escape_tags(ctx.gradient or "(no critique)", tags),
                    failure=render(FAILURE, loss=escape_tags(failure, tags)) if failure else "")
    return prompt, {"sections": ["critique", *(["failing_example"] if failure else [])], "chars": len(prompt)}
