"""Is a predicted MATH answer equivalent to the reference answer?

Both sides go through :func:`.latex.normalize`; then, in order:

1. equal canonical strings;
2. structure: matrices (cell by cell), unions ``A \\cup B`` (part by part, in order), tuples and
   intervals ``(a,b]`` (same brackets, element by element, in order), sets ``\\{...\\}`` and bare
   comma lists ``1,-2`` (as multisets: the order of listed solutions does not matter);
3. scalars: an ``x=`` / ``x\\in`` prefix is dropped (when both sides have one, the variables must
   agree), ``(B)`` equals ``B``, words of three or more letters compare case-insensitively, and
   variable-free arithmetic compares by value: exactly while it is rational (``0.5`` is
   ``\\frac{1}{2}``, ``0.333`` is not ``\\frac13``), with relative tolerance 1e-9 once ``\\pi`` or an
   irrational root enters (``\\frac{\\sqrt3}{3}`` is ``\\frac1{\\sqrt3}``, ``3.14`` is not ``\\pi``).

Expressions with variables must match as normalized strings: ``x^3+3x-6`` equals
``x^3 + 3x - 6`` but not ``3x+x^3-6``, and ``1\\pm\\sqrt{19}`` is not rewritten as a list.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from .latex import normalize
from .mathexpr import evaluate

__all__ = ["math_equal", "split_top_level"]

_OPEN, _CLOSE = "([{", ")]}"
_MATRIX = re.compile(r"^\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}$")
_VAR_PREFIX = re.compile(r"^(?P<var>[a-zA-Z](?:_\w)?)(?:=|\\in(?![a-zA-Z]))(?P<rest>.+)$")
_CHOICE = re.compile(r"^\(([A-Z])\)$")
_REL_TOL = 1e-9


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """``text`` split at ``sep`` outside brackets and braces (``\\{``/``\\}`` count as brackets)."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1:i + 2] in ("{", "}"):
            depth += 1 if text[i + 1] == "{" else -1
            i += 2
            continue
        depth += 1 if char in _OPEN else -1 if char in _CLOSE else 0
        if depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i = i + len(sep)
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _enclosed(text: str) -> bool:
    """True when the first character's bracket closes at the last character."""
    if len(text) < 2 or text[0] not in _OPEN or text[-1] not in _CLOSE:
        return False
    depth = 0
    for i, char in enumerate(text):
        depth += 1 if char in _OPEN else -1 if char in _CLOSE else 0
        if depth == 0 and i < len(text) - 1:
            return False
    return depth == 0


def _structure(text: str) -> tuple[str, object]:
    """``(kind, parts)``: kind is matrix, union, sequence, collection or scalar."""
    matrix = _MATRIX.match(text)
    if matrix:
        rows = [row.split("&") for row in matrix.group(2).split("\\\\") if row]
        return "matrix", rows
    union = split_top_level(text, "\\cup")
    if len(union) > 1:
        return "union", union
    if text.startswith("\\{") and text.endswith("\\}"):
        return "collection", split_top_level(text[2:-2])
    if _enclosed(text) and len(split_top_level(text[1:-1])) > 1:
        return "sequence", (text[0], text[-1], split_top_level(text[1:-1]))
    items = split_top_level(text)
    if len(items) > 1:
        return "collection", items
    return "scalar", text


def _split_var(text: str) -> tuple[str | None, str]:
    match = _VAR_PREFIX.match(text)
    if match and "=" not in match.group("rest"):
        return match.group("var"), match.group("rest")
    return None, text


def _scalar_equal(expected: str, predicted: str) -> bool:
    expected = _CHOICE.sub(r"\1", expected)
    predicted = _CHOICE.sub(r"\1", predicted)
    if expected == predicted:
        return True
    if len(expected) >= 3 and expected.isalpha() and predicted.isalpha():
        return expected.casefold() == predicted.casefold()
    value_e, value_p = evaluate(expected), evaluate(predicted)
    if value_e is None or value_p is None:
        return False
    if isinstance(value_e, Fraction) and isinstance(value_p, Fraction):
        return value_e == value_p  # exact: 11111111100 is not 11111111101
    return math.isclose(value_e, value_p, rel_tol=_REL_TOL, abs_tol=1e-12)


def _multiset_equal(expected: list[str], predicted: list[str]) -> bool:
    if len(expected) != len(predicted):
        return False
    unused = list(predicted)
    for item in expected:
        match = next((p for p in unused if _equal(item, p)), None)
        if match is None:
            return False
        unused.remove(match)
    return True


def _pairwise_equal(expected: list, predicted: list) -> bool:
    return len(expected) == len(predicted) and all(_equal(e, p) for e, p in zip(expected, predicted))


def _equal(expected: str, predicted: str) -> bool:
    """Equivalence of two normalized answers."""
    if expected == predicted:
        return True
    var_e, expected = _split_var(expected)
    var_p, predicted = _split_var(predicted)
    if var_e and var_p and var_e != var_p:
        return False
    kind_e, parts_e = _structure(expected)
    kind_p, parts_p = _structure(predicted)
    if kind_e != kind_p:
        return False
    if kind_e == "scalar":
        return _scalar_equal(parts_e, parts_p)
    if kind_e == "collection":
        return _multiset_equal(parts_e, parts_p)
    if kind_e == "sequence":
        return parts_e[:2] == parts_p[:2] and _pairwise_equal(parts_e[2], parts_p[2])
    if kind_e == "matrix":
        return len(parts_e) == len(parts_p) and all(_pairwise_equal(r, s) for r, s in zip(parts_e, parts_p))
    return _pairwise_equal(parts_e, parts_p)  # union


def math_equal(expected: str, predicted: str) -> bool:
    """True when ``predicted`` is an equivalent way to write the reference answer ``expected``."""
    if not isinstance(expected, str) or not isinstance(predicted, str):
        return False
    norm_e, norm_p = normalize(expected), normalize(predicted)
    if not norm_e or not norm_p:
        return False
    return _equal(norm_e, norm_p)
