"""Guards on a rewrite that the strategies do not own: what an instruction must never name.

:func:`invented_fields` finds the names a rewrite presents as fields of the step (backticked, or
"the X field", "field X", "fields X and Y") that the step's signature does not have. The trial logs
of the fair grid showed the embedded 1.5B writing "Given the fields `question`, `options`, and
`answer`" for a program whose only input is `question` (13 of 70 rewrites with the contrast section
shown): the task model then looks for a field that never comes. Such a rewrite is re-asked with
the problem stated and never adopted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_BACKTICKED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")
_QUOTE = r"[`'\"]?"
_NAME = r"([A-Za-z_][A-Za-z0-9_]*)"
_THE_X_FIELD = re.compile(rf"\b(?:the|a|an|its|each)\s+{_QUOTE}{_NAME}{_QUOTE}\s+(?:field|fields)\b", re.IGNORECASE)
_FIELD_X = re.compile(rf"\bfields?\s+(?:named\s+|called\s+)?[`'\"]{_NAME}[`'\"]", re.IGNORECASE)
_FIELD_LIST = re.compile(r"\bfields?\s+((?:[`'\"][A-Za-z_][A-Za-z0-9_]*[`'\"](?:\s*,\s*|\s*,?\s+(?:and|or)\s+)?)+)",
                         re.IGNORECASE)
# words that precede "field" without naming one ("the output field", "the same field")
_NOT_NAMES = {"output", "input", "answer_field", "same", "other", "next", "first", "last", "given", "following",
              "corresponding", "required", "expected", "each", "every", "one", "single", "final", "appropriate",
              "relevant", "correct", "empty", "new", "previous", "whole", "entire", "right", "proper", "specified"}


def named_fields(text: str) -> list[str]:
    """Names that ``text`` presents as fields, in order of appearance, each once."""
    names: list[str] = []
    for pattern in (_BACKTICKED, _THE_X_FIELD, _FIELD_X):
        names += [m.group(1) for m in pattern.finditer(text)]
    for match in _FIELD_LIST.finditer(text):
        names += re.findall(r"[`'\"]([A-Za-z_][A-Za-z0-9_]*)[`'\"]", match.group(1))
    return list(dict.fromkeys(n for n in names if n.lower() not in _NOT_NAMES))


def invented_fields(candidate: str, fields: Iterable[str], current: str = "") -> list[str]:
    """The names ``candidate`` presents as fields that are neither fields of the step (``fields``,
    case-insensitive) nor already named in the ``current`` instruction (the user wrote them)."""
    known = {f.lower() for f in fields}
    known |= {n.lower() for n in named_fields(current)}
    if not known:
        return []  # nothing to check against (a step without a signature)
    return [n for n in named_fields(candidate) if n.lower() not in known]


def field_problem(names: list[str], fields: Iterable[str]) -> str:
    """The message that re-asks a rewrite naming fields the step does not have."""
    listed = ", ".join(f"`{n}`" for n in names)
    have = ", ".join(f"`{f}`" for f in fields)
    return (f"the instruction names {listed} as a field, but this step has only these fields: {have}. "
            "Do not mention fields it does not have; refer to the parts of an input in plain words.")
