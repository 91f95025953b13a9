"""The shared checks of options and hyperparameters: one place that knows a bool is not a number.

Predicates (:func:`is_int`, :func:`is_real`) for code that words its own message, validators
(:func:`positive_int`, :func:`real_number`, :func:`positive_number`, :func:`finite_number`,
:func:`check_bool`) that return the value or raise an error naming the option and the bad value, and
:func:`number_type`, the same check as an argparse ``type`` for the command lines. A value of the
wrong type raises :class:`OptionTypeError`, which is both a ``TypeError`` and a ``ValueError``; a value
out of range raises ``ValueError``.
"""

from __future__ import annotations

import argparse
import decimal
import math
import numbers
import sys
from collections.abc import Callable
from typing import Any


class OptionTypeError(TypeError, ValueError):
    """An option of the wrong type (a ``TypeError``; also a ``ValueError``, as every bad option is)."""


def is_int(value: Any) -> bool:
    """True for an ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: Any, *, scalar: bool = False) -> bool:
    """True for an ``int`` or ``float`` that is not a ``bool`` (NaN and infinities included).

    ``scalar=True`` widens it to every real scalar a metric may return: bool, int, float, Fraction,
    Decimal and the numpy scalars (``np.bool_``, ``np.float32``, ``np.int64``, ...) or a 0-d numpy
    array of them."""
    if not scalar:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        return not (isinstance(value, decimal.Decimal) and value.is_snan())
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, (numpy.generic, numpy.ndarray)):
        return numpy.ndim(value) == 0 and (numpy.issubdtype(value.dtype, numpy.number)
                                           or numpy.issubdtype(value.dtype, numpy.bool_)) \
            and not numpy.issubdtype(value.dtype, numpy.complexfloating)
    return False


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


def positive_number(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    """``value`` as a float if it is a real number > 0 (or None when allowed); otherwise an error naming it."""
    return real_number(name, value, 0, low_open=True, allow_none=allow_none)


def finite_number(name: str, value: Any) -> Any:
    """``value`` unless it is a NaN or infinite float (a ValueError naming ``name``)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def number_type(kind: type = int, minimum: float = 1, *, strict: bool = False) -> Callable[[str], Any]:
    """An argparse ``type``: a ``kind`` >= ``minimum`` (> ``minimum`` if ``strict``), or an error naming the value."""
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
    noun = "an integer" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun} {bound}, got {text!r}") from None
        if value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"expected {noun} {bound}, got {text!r}")
        return value

    return parse
