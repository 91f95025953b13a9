"""User templates for the two prompts that matter most: the critique and the rewrite.

``DLPOTeleprompter(prompt_templates={"critique": ..., "rewrite": ...})`` replaces
:data:`~dspy_dlpo.autograd.prompts.GRADIENT` and/or :data:`~dspy_dlpo.autograd.prompts.UPDATE`. A
template is checked before any LM call (:func:`check_templates`): its placeholders must be among those
the step fills, the required ones must be there, braces must balance, and a rewrite template must ask
for the reply between ``<instruction>`` and ``</instruction>`` (the only format the step parses). The
templates are part of the run's configuration, so a resumed run refuses changed ones.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

# placeholder -> what the step fills in
PLACEHOLDERS: dict[str, dict[str, str]] = {
    "critique": {"system": "the optimizer's system line", "role": "the step's inputs and outputs",
                 "instruction": "the current instruction", "losses": "every example of the minibatch",
                 "solved": "how many got full marks", "count": "how many were run",
                 "patterns": "the counted failure patterns (may be empty)"},
    "rewrite": {"system": "the optimizer's system line", "role": "the step's inputs and outputs",
                "numbered": "the current instruction, one numbered sentence per line",
                "sections": "the critique and the strategies' data sections", "rules": "the rules, one per line"},
}
REQUIRED = {"critique": ("instruction", "losses"), "rewrite": ("numbered", "sections", "rules")}


def placeholders(template: str) -> list[str]:
    """The field names of ``template`` (ValueError on unbalanced braces or a positional field)."""
    names = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or not name.isidentifier():
            raise ValueError(f"placeholder {{{name}}} is not a name")
        names.append(name)
    return names


def check_templates(name: str, value: Any) -> dict[str, str]:
    """``value`` (a mapping of ``critique``/``rewrite`` to templates, or None) validated; every error
    names the template and what is wrong with it."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping such as {{'critique': '...', 'rewrite': '...'}}, got "
                        f"{type(value).__name__}")
    unknown = sorted(set(value) - set(PLACEHOLDERS))
    if unknown:
        raise ValueError(f"{name} has unknown keys {unknown}; use {sorted(PLACEHOLDERS)}")
    checked = {}
    for kind, template in value.items():
        if not isinstance(template, str) or not template.strip():
            raise TypeError(f"{name}[{kind!r}] must be a non-empty string, got {template!r}")
        try:
            used = placeholders(template)
        except ValueError as exc:
            raise ValueError(f"{name}[{kind!r}] is not a valid template: {exc}") from None
        extra = sorted(set(used) - set(PLACEHOLDERS[kind]))
        missing = [p for p in REQUIRED[kind] if p not in used]
        if extra or missing:
            raise ValueError(f"{name}[{kind!r}]: " + "; ".join(
                ([f"unknown placeholders {['{' + p + '}' for p in extra]}"] if extra else []) +
                ([f"missing {['{' + p + '}' for p in missing]}"] if missing else [])) +
                f"; it may use {sorted('{' + p + '}' for p in PLACEHOLDERS[kind])}")
        if kind == "rewrite" and not ("<instruction>" in template and "</instruction>" in template):
            raise ValueError(f"{name}['rewrite'] must ask for the new instruction between <instruction> and "
                             "</instruction>: the step parses only that")
        checked[kind] = template
    return checked
