"""LaTeX answers (MATH): pull the answer out of a response and bring it to a canonical string.

:func:`extract_answer` takes the last ``\\boxed{...}`` (nested braces and escaped ``\\{``
``\\}`` are handled), else the whole text without ``$...$`` / ``\\(...\\)`` delimiters, an
"The answer is" lead-in or a trailing period. :func:`normalize` then removes presentation only:
spacing commands and spaces, ``\\left``/``\\right``, ``\\dfrac``/``\\tfrac``, ``\\text{}``-like
wrappers, trailing units (``\\text{ cm}^2``, `` degrees``), degree signs, ``$`` and ``%`` signs,
thousands separators of a lone number; it maps Unicode ``π``, ``−``, ``×``, ``·``, ``∞`` to
LaTeX and completes brace-less arguments (``\\frac34``, ``\\frac9{19}``, ``\\sqrt2``). Apart from
units, degrees, ``$`` and ``%``, it never drops mathematical content.
"""

from __future__ import annotations

import re

__all__ = ["last_boxed", "extract_answer", "normalize", "read_group"]

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_SPACING = re.compile(r"(?<!\\)\\[!,;: ]|~|\\(?:qquad|quad|displaystyle)(?![a-zA-Z])")
_WRAPPERS = re.compile(r"\\(?:text|textrm|textbf|textit|mbox|mathrm|mathbf|mathit|operatorname)\{([^{}]*)\}")
_UNIT_WORDS = ("degrees", "degree", "cm", "mm", "km", "m", "meters", "metres", "inches", "inch", "feet", "foot",
               "ft", "units", "unit", "square units", "sq units", "cents", "cent", "dollars", "dollar", "hours",
               "minutes", "seconds", "days", "miles", "mph", "pounds", "grams", "kg")
_TEX_UNIT = re.compile(r"^(?P<value>.*?[\d}])\s*\\(?:text|mbox|mathrm)\{(?P<unit>[a-zA-Z\s]*[a-zA-Z][a-zA-Z\s]*)\}"
                       r"(?:\^\{?[23]\}?)?$")
_WORD_UNIT = re.compile(r"^(?P<value>.*?\d)\s+(?:(?:square|sq)\s+)?(?P<unit>[a-zA-Z][a-zA-Z ]*?)(?:\^\{?[23]\}?)?$")
_UNIT_SCAN_LIMIT = 200  # units follow short answers; the limit also bounds regex backtracking
_LEAD_IN = re.compile(r"^\s*(?:so\s+|thus\s+|therefore\s+)?(?:the\s+)?(?:final\s+)?answer\s*(?:is\s*:?|:)\s*",
                      re.IGNORECASE)
_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_REPLACEMENTS = (("{,}", ","), ("\\cdot", "*"), ("\\times", "*"), ("\u00d7", "*"), ("\u00b7", "*"),
                 ("\u2212", "-"), ("\u03c0", "\\pi"), ("\u221e", "\\infty"))
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def read_group(text: str, start: int) -> tuple[str, int] | None:
    """The content of the brace group opening at ``text[start]`` and the index after it."""
    if start >= len(text) or text[start] != "{":
        return None
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return text[start + 1:i], i + 1
        i += 1
    return None


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``, ``\\boxed 5``) in ``text``."""
    if not isinstance(text, str):
        return None
    starts = [(text.rfind(cmd), cmd) for cmd in _BOX_COMMANDS]
    index, cmd = max(starts)
    if index < 0:
        return None
    rest = index + len(cmd)
    group = read_group(text, rest)
    if group is not None:
        return group[0].strip()
    bare = re.match(r"\s+([^\s$]+)", text[rest:])
    return bare.group(1) if bare else None


def _strip_delimiters(text: str) -> str:
    for left, right in _DELIMITERS:
        if len(text) > len(left) + len(right) and text.startswith(left) and text.endswith(right):
            return text[len(left):-len(right)].strip()
    return text


def extract_answer(text: str) -> str:
    """The final answer written in ``text``: the last boxed expression, else the cleaned text."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    answer = _LEAD_IN.sub("", text.strip()).strip()
    answer = answer.rstrip(".").strip()
    unwrapped = _strip_delimiters(answer)
    if unwrapped == answer:
        segments = re.findall(r"(?<!\\)\$([^$]+)(?<!\\)\$", answer)
        unwrapped = segments[-1].strip() if segments else answer
    return unwrapped.rstrip(".").strip()


def _complete_arguments(text: str, command: str, count: int) -> str:
    """Wrap brace-less arguments of ``command`` in braces: ``\\frac34`` -> ``\\frac{3}{4}``."""
    pattern = re.compile(re.escape(command) + r"(?![a-zA-Z])")
    out, i = [], 0
    while (match := pattern.search(text, i)) is not None:
        out.append(text[i:match.end()])
        i = match.end()
        for _ in range(count):
            group = read_group(text, i)
            if group is not None:
                out.append("{" + _complete_arguments(group[0], command, count) + "}")
                i = group[1]
            elif i < len(text) and text[i] not in "[}":
                token = re.match(r"\\[a-zA-Z]+|.", text[i:]).group(0)
                out.append("{" + token + "}")
                i += len(token)
            else:
                break
    out.append(text[i:])
    return "".join(out)


def _strip_units(text: str) -> str:
    if len(text) > _UNIT_SCAN_LIMIT:
        return text
    match = _TEX_UNIT.match(text)
    if match and (match.group("unit")[:1].isspace() or match.group("unit").strip().lower() in _UNIT_WORDS):
        return match.group("value").strip()
    match = _WORD_UNIT.match(text)
    if match and match.group("unit").strip().lower() in _UNIT_WORDS:
        return match.group("value").strip()
    return text


def _unwrap_text(text: str) -> str:
    previous = None
    while previous != text:
        previous, text = text, _WRAPPERS.sub(r"\1", text)
    return text


def normalize(answer: str) -> str:
    """``answer`` in canonical form for string comparison (see the module docstring)."""
    text = answer.strip().replace("\n", " ")
    text = _SPACING.sub("", text)
    text = re.sub(r"\\(?:left|right)(?:\.|(?![a-zA-Z]))", "", text)
    text = re.sub(r"\\[dt]frac(?![a-zA-Z])", r"\\frac", text)
    text = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![a-zA-Z])", "", text)
    text = _strip_units(text.strip())
    text = _unwrap_text(text).replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    text = re.sub(r"\s+", "", text).rstrip(".")
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    text = _complete_arguments(_complete_arguments(text, "\\frac", 2), "\\sqrt", 1)
    text = re.sub(r"([_^])\{(\w)\}", r"\1\2", text)
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    return text
