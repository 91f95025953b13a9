"""The shared checks of options and hyperparameters: one place that knows a bool is not a number.

Predicates (:func:`is_int`, :func:`is_real`) for code that words its own message, and validators
(:func:`positive_int`, :func:`real_number`, :func:`check_bool`) that return the value or raise an
error naming the option and the bad value. A value of the wrong type raises :class:`OptionTypeError`,
which is both a ``TypeError`` and a ``ValueError``; a value out of range raises ``ValueError``.
"""

from __future__ import annotations

import math
from typing import Any


class OptionTypeError(TypeError, ValueError):
    """An option of the wrong type (a ``TypeError``; also a ``ValueError``, as every bad option is)."""


def is_int(value: Any) -> bool:
    """True for an ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """True for an ``int`` or ``float`` that is not a ``bool`` (NaN and infinities included)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wrong_type(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def positive_int(name: str, value: Any, *, minimum: int = 1, allow_none: bool = False) -> int | None:
    """``value`` if it is an int >= ``minimum`` (or None when allowed); otherwise an error naming it."""
    if value is None and allow_none:
        return None
    expected = f"{name} must be an int >= {minimum}"
    if not is_int(value):
        raise OptionTypeError(f"{expected}, got {_wrong_type(value)}")
    if value < minimum:
        raise ValueError(f"{expected}, got {value!r}")
    return value


def _bounds(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if math.isinf(low) and math.isinf(high):
        return ""
    if math.isinf(high):
        return f" {'>' if low_open else '>='} {low:g}"
    if math.isinf(low):
        return f" {'<' if high_open else '<='} {high:g}"
    return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def real_number(name: str, value: Any, low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
                high_open: bool = False, finite: bool = False, allow_none: bool = False) -> float | None:
    """``value`` as a float if it is a real number within the bounds (``low_open``/``high_open``
    exclude a bound; ``finite`` also refuses infinities; NaN is always refused), or None when
    allowed; otherwise an error naming ``name``, the expected range and the value."""
    if value is None and allow_none:
        return None
    expected = (f"{name} must be a {'finite ' if finite else ''}number{_bounds(low, high, low_open, high_open)}"
                f"{' or None' if allow_none else ''}")
    if not is_real(value):
        raise OptionTypeError(f"{expected}, got {_wrong_type(value)}")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below) or (finite and not math.isfinite(value)):
        raise ValueError(f"{expected}, got {value!r}")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False; otherwise an error naming it."""
    if not isinstance(value, bool):
        raise OptionTypeError(f"{name} must be True or False, got {value!r}")
    return value
