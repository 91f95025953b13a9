"""A small, safe evaluator for variable-free LaTeX arithmetic (normalized by :mod:`.latex`).

Understands numbers, ``+ - * /``, ``^``, parentheses and braces, ``\\frac{a}{b}``, ``\\sqrt{x}``,
``\\sqrt[n]{x}``, ``\\pi``, ``\\infty``, implicit products (``3\\sqrt{13}``, ``2\\pi``) and mixed
numbers (``1\\frac{4}{5}`` is 1 + 4/5). Anything else (variables, ``i``, ``\\pm``, functions) makes
:func:`evaluate` return None, so the caller falls back to comparing strings. No ``eval``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

__all__ = ["evaluate", "Value"]

Value = Fraction | float  # exact while the arithmetic stays rational, float once \pi or a root enters

_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|\\[a-zA-Z]+|[-+*/^(){}\[\]]")
_MAX_LENGTH = 300
_MAX_EXPONENT = 1000
_MAX_BITS = 20_000


class _Unsupported(Exception):
    """The text is not plain arithmetic."""


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    for match in _TOKEN.finditer(text):
        if match.start() != pos:
            raise _Unsupported(text[pos:match.start()])
        tokens.append(match.group(0))
        pos = match.end()
    if pos != len(text):
        raise _Unsupported(text[pos:])
    return tokens


class _Parser:
    """Recursive descent over the tokens; each method consumes one grammar rule."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _Unsupported(f"expected {expected!r}, found {token!r}")
        self.pos += 1
        return token

    def expression(self) -> Value:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> Value:
        value = self.factor()
        while True:
            token = self.peek()
            if token in ("*", "/"):
                self.take()
                value = value * self.factor() if token == "*" else value / self.factor()
            elif token is not None and (token in ("(", "{") or token.startswith("\\")):
                value = value * self.factor()  # implicit product: 2\pi, 3\sqrt{2}, (1)(2)
            else:
                return value

    def factor(self) -> Value:
        if self.peek() in ("-", "+"):
            return -self.factor() if self.take() == "-" else self.factor()
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        return _power(base, self.factor())

    def group(self) -> Value:
        self.take("{")
        value = self.expression()
        self.take("}")
        return value

    def atom(self) -> Value:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            return self.mixed_number(Fraction(token)) if token.isdigit() else Fraction(token)
        if token in ("(", "{"):
            value = self.expression()
            self.take(")" if token == "(" else "}")
            return value
        return self.command(token)

    def mixed_number(self, whole: Fraction) -> Fraction:
        """``1\\frac{4}{5}``: an integer directly followed by a fraction of integers."""
        rest = self.tokens[self.pos:self.pos + 7]
        if len(rest) == 7 and rest[0] == "\\frac" and rest[1] == "{" and rest[2].isdigit() and rest[3] == "}" \
                and rest[4] == "{" and rest[5].isdigit() and rest[6] == "}":
            self.pos += 7
            return whole + Fraction(int(rest[2]), int(rest[5]))
        return whole

    def command(self, token: str) -> Value:
        if token == "\\pi":
            return math.pi
        if token == "\\infty":
            return math.inf
        if token == "\\frac":
            numerator = self.group()
            return numerator / self.group()
        if token == "\\sqrt":
            return self.root()
        raise _Unsupported(token)

    def root(self) -> Value:
        degree: Value = Fraction(2)
        if self.peek() == "[":
            self.take("[")
            degree = self.expression()
            self.take("]")
        return _root(self.group(), degree)


def _power(base: Value, exponent: Value) -> Value:
    if abs(exponent) > _MAX_EXPONENT:
        raise _Unsupported("exponent too large")
    if isinstance(base, Fraction) and isinstance(exponent, Fraction) and exponent.denominator == 1:
        bits = max(base.numerator.bit_length(), base.denominator.bit_length()) * abs(int(exponent))
        if bits > _MAX_BITS:
            raise _Unsupported("number too large")
        return base ** int(exponent)
    return math.pow(base, exponent)


def _exact_root(value: int, degree: int) -> int | None:
    if degree == 2:
        root = math.isqrt(value)
        return root if root * root == value else None
    guess = round(value ** (1.0 / degree))
    return next((r for r in (guess - 1, guess, guess + 1) if r >= 0 and r ** degree == value), None)


def _root(radicand: Value, degree: Value) -> Value:
    """The real ``degree``-th root, exact when ``radicand`` is a perfect power of a rational."""
    if radicand < 0 or degree <= 0:
        raise _Unsupported("no real root")
    if isinstance(radicand, Fraction) and isinstance(degree, Fraction) and degree.denominator == 1:
        num, den = _exact_root(radicand.numerator, int(degree)), _exact_root(radicand.denominator, int(degree))
        if num is not None and den is not None:
            return Fraction(num, den)
    return float(radicand) ** (1.0 / float(degree))


def evaluate(text: str) -> Value | None:
    """The value of the normalized LaTeX ``text`` if it is plain arithmetic, else None."""
    if not isinstance(text, str) or not text or len(text) > _MAX_LENGTH:
        return None
    try:
        parser = _Parser(_tokens(text))
        value = parser.expression()
        if parser.peek() is not None:
            return None
    except (_Unsupported, ZeroDivisionError, OverflowError, ValueError, RecursionError):
        return None
    return None if isinstance(value, float) and math.isnan(value) else value
