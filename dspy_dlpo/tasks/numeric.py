"""Numbers in free text: find the final number of an answer and compare numbers by value.

Readings (hand-checked in ``tests/test_metrics.py``):

* the *last* number of the text counts, or the last number inside the last ``\\boxed{...}`` when
  the text has one;
* a leading ``-`` (or Unicode minus) is a sign only when it does not follow a word, a digit or a
  closing bracket, so ``5-3=2`` reads 2 and ``3-5`` reads 5;
* ``1,234`` and ``1,234,567.5`` use commas as thousands separators (groups of exactly three
  digits); so do no-break and thin spaces (``70 000`` with U+00A0 / U+202F); LaTeX ``1{,}234``
  and ``10,\\!080`` also work; a plain space does not join digits (``3 000`` reads 0);
* ``$1,234.50``, ``50%``, ``42.``, ``.5`` and ``+7`` read as 1234.5, 50, 42, 0.5 and 7;
* a decimal comma (``2,5``) or a dot thousands separator (``80.000``) is not guessed at: they
  read as 5 and 80, and the metric's feedback shows that reading.

Values are exact :class:`fractions.Fraction` so ``42.0`` equals ``42`` and ``0.1 + 0.2`` issues
never arise.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .latex import last_boxed

__all__ = ["last_number", "parse_number", "format_number"]

_GROUP = r"[,\u00a0\u202f\u2009]"
_NUMBER = re.compile(
    r"(?:(?<![\w)\]}])(?P<sign>[-+]))?"   # a sign, unless it is a binary operator
    r"\$?"                                # a dollar sign between sign and digits: -$5
    r"(?<!\d)(?P<body>\d{1,3}(?:" + _GROUP + r"\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?|\.\d+)"
)
_LATEX_NOISE = (("{,}", ","), ("\\!", ""), ("\\,", ","), ("\u2212", "-"), ("\\$", "$"))


def _clean(text: str) -> str:
    for old, new in _LATEX_NOISE:
        text = text.replace(old, new)
    return text


def _boxed_or_all(text: str) -> str:
    """The content of the last ``\\boxed{}`` of ``text``, or ``text`` when it has none."""
    boxed = last_boxed(text)
    return text if boxed is None else boxed


def last_number(text: str) -> tuple[Fraction, str] | None:
    """The value and the matched text of the final number in ``text``; None if it has none.

    >>> last_number("He pays $1,234.50 in total.")
    (Fraction(2469, 2), '$1,234.50')
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}: {text!r:.80}")
    matches = list(_NUMBER.finditer(_clean(_boxed_or_all(text))))
    if not matches:
        return None
    match = matches[-1]
    body = re.sub(_GROUP, "", match.group("body"))
    value = Fraction(body)
    return (-value if match.group("sign") == "-" else value), match.group(0)


def parse_number(text: str) -> Fraction | None:
    """The value of ``text`` when the whole of it (trimmed) is one number, else None."""
    if not isinstance(text, str):
        return None
    cleaned = _clean(text).strip().rstrip(".").strip()
    match = _NUMBER.fullmatch(cleaned)
    if match is None:
        return None
    value = Fraction(re.sub(_GROUP, "", match.group("body")))
    return -value if match.group("sign") == "-" else value


def format_number(value: Fraction) -> str:
    """``value`` as short text: ``42``, ``-3``, ``0.5``, or ``1/3`` when it is not a finite decimal."""
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    while den % 2 == 0:
        den //= 2
    while den % 5 == 0:
        den //= 5
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    text = f"{float(value):.15f}".rstrip("0").rstrip(".")
    return text if Fraction(text) == value else f"{value.numerator}/{value.denominator}"
