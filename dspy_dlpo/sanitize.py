"""Text hygiene where text enters a run: LM replies and example fields.

A lone UTF-16 surrogate (``"\\ud83d"``, half an emoji) is a valid Python string but cannot be
encoded as UTF-8, so every later prompt that quotes it fails. Such text is repaired once, where
it enters, by replacing lone surrogates with U+FFFD (valid pairs are joined into their character).
"""

from __future__ import annotations

from typing import Any


def valid_text(text: str) -> str:
    """``text`` unchanged if it encodes as UTF-8; otherwise with lone surrogates replaced by U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def valid_data(data: Any) -> Any:
    """:func:`valid_text` applied to every string inside ``data`` (dicts, lists, tuples, sets)."""
    if isinstance(data, str):
        return valid_text(data)
    if isinstance(data, dict):
        return {valid_data(k): valid_data(v) for k, v in data.items()}
    if isinstance(data, list):
        return [valid_data(v) for v in data]
    if isinstance(data, tuple):
        return tuple(valid_data(v) for v in data)
    if isinstance(data, (set, frozenset)):
        return type(data)(valid_data(v) for v in data)
    return data


def is_valid(data: Any) -> bool:
    """True when every string inside ``data`` encodes as UTF-8 (nothing for :func:`valid_data` to repair)."""
    if isinstance(data, str):
        return valid_text(data) is data
    if isinstance(data, dict):
        return all(is_valid(k) and is_valid(v) for k, v in data.items())
    if isinstance(data, (list, tuple, set, frozenset)):
        return all(is_valid(v) for v in data)
    return True
