"""Reading the answer field of a prediction or an example, and quoting it briefly in feedback."""

from __future__ import annotations

from typing import Any

from ..validate import is_real

__all__ = ["answer_text", "shorten", "quote"]

_MISSING = object()
_SHOWN = 160


def shorten(text: str, limit: int = _SHOWN) -> str:
    """``text`` cut to about ``limit`` characters, keeping its end (where final answers are)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else "..." + text[-(limit - 3):]


def quote(text: str, limit: int = _SHOWN) -> str:
    """``text`` shortened and in single quotes, without repr's doubled backslashes."""
    return f"'{shorten(text, limit)}'"


def _get(obj: Any, field: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(field, _MISSING)
    try:
        return getattr(obj, field)
    except Exception:  # AttributeError, KeyError, or a broken __getattr__: the field is unreadable
        return _MISSING


def answer_text(obj: Any, field: str = "answer", *, role: str = "prediction") -> tuple[str | None, str]:
    """``(text, problem)``: the field as text, or None and a sentence saying what is wrong."""
    if obj is None:
        return None, f"The {role} is None." if role != "prediction" else "The program returned no prediction (None)."
    if isinstance(obj, (str, bytes, int, float, list, tuple)):
        return None, f"Expected a {role} with an '{field}' field, got a {type(obj).__name__}: {shorten(repr(obj))}."
    value = _get(obj, field)
    if value is _MISSING:
        return None, f"The {role} has no '{field}' field."
    if value is None:
        return None, f"The '{field}' field of the {role} is None (empty)."
    if not (isinstance(value, str) or is_real(value)):
        return None, f"The '{field}' field has type {type(value).__name__}, expected text: {shorten(repr(value))}."
    return str(value), ""
