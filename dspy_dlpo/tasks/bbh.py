"""BIG-Bench Hard answers: exact match after trimming, with the rules each target shape needs.

Before comparing, the answer field loses surrounding whitespace, a trailing period and
surrounding quotes, backticks or ``**`` (repeatedly). Then, by mode:

* ``choice`` (targets such as ``(A)``): exactly ``(A)`` or ``A``; ``(a)``, ``(A) Tuesday`` and
  ``(B)`` are wrong;
* ``words`` (word_sorting): the exact sequence of whitespace-separated tokens, case-sensitive;
* ``dyck`` (dyck_languages): the same bracket sequence, spaces ignored (``]]>`` = ``] ] >``);
* ``exact`` (everything else: True/False, Yes/No, valid/invalid, numbers, names): the same
  text, ignoring case and runs of whitespace.

The mode comes from the task name when known, else from the target's shape.
"""

from __future__ import annotations

import re

from .fields import quote

__all__ = ["clean_answer", "bbh_mode", "bbh_feedback", "check_bbh_task"]

_CHOICE = re.compile(r"^\(([A-Z])\)$")
_PAIRS = (('"', '"'), ("'", "'"), ("`", "`"), ("\u201c", "\u201d"), ("\u2018", "\u2019"), ("**", "**"))
_TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check_bbh_task(task: str) -> str:
    """``task`` if it looks like a BBH task name (``word_sorting``), else ValueError naming it."""
    if not isinstance(task, str) or not _TASK_NAME.match(task):
        raise ValueError(f"BBH task name must be lowercase letters, digits and '_', e.g. 'word_sorting'; "
                         f"got {task!r}")
    return task


def clean_answer(text: str) -> str:
    """``text`` without surrounding whitespace, quotes, ``**`` and a trailing period."""
    previous = None
    text = text.strip()
    while previous != text:
        previous = text
        text = text.rstrip(".").strip() if not text.endswith("...") else text
        for left, right in _PAIRS:
            if len(text) >= len(left) + len(right) and text.startswith(left) and text.endswith(right):
                text = text[len(left):-len(right)].strip()
    return text


def bbh_mode(target: str, task: str | None = None) -> str:
    """The comparison mode for ``target``: choice, words, dyck or exact."""
    if task == "word_sorting":
        return "words"
    if task == "dyck_languages":
        return "dyck"
    return "choice" if _CHOICE.match(target.strip()) else "exact"


def _words_feedback(target: str, answer: str) -> tuple[bool, str]:
    want, got = target.split(), answer.split()
    if want == got:
        return True, "Correct: the words are in the expected order."
    if sorted(want) != sorted(got):
        missing = [w for w in want if w not in got]
        extra = [w for w in got if w not in want]
        detail = f"missing {missing[:5]}" if missing else ""
        detail += ("; " if detail and extra else "") + (f"unexpected {extra[:5]}" if extra else "")
        detail = detail or "some words repeated a different number of times"
        return False, (f"Expected the {len(want)} words '{target}' separated by single spaces, but the answer "
                       f"field had {len(got)} tokens ({detail}).")
    position = next(i for i, (w, g) in enumerate(zip(want, got)) if w != g)
    return False, (f"Right words, wrong order: at position {position + 1} expected '{want[position]}' but "
                   f"got '{got[position]}'. Expected '{target}'.")


def _choice_feedback(target: str, answer: str) -> tuple[bool, str]:
    letter = _CHOICE.match(target.strip()).group(1)
    if answer in (f"({letter})", letter):
        return True, f"Correct: {target.strip()}."
    if answer.startswith(f"({letter})") or answer.startswith(f"{letter})"):
        return False, (f"The option {target.strip()} is right, but the answer field must hold only the option "
                       f"label ('{target.strip()}'), not {quote(answer)}.")
    return False, f"Expected {target.strip()} but the answer field was {quote(answer)}."


def bbh_feedback(target: str, text: str, task: str | None = None) -> tuple[bool, str]:
    """``(correct, feedback)`` for the answer field ``text`` against the BBH ``target``."""
    answer = clean_answer(text)
    mode = bbh_mode(target, task)
    if not answer:
        return False, f"The answer field was empty. Expected '{target.strip()}'."
    if mode == "choice":
        return _choice_feedback(target, answer)
    if mode == "words":
        return _words_feedback(target, answer)
    if mode == "dyck":
        correct = "".join(answer.split()) == "".join(target.split())
        return correct, ("Correct: the closing brackets match." if correct else
                         f"Expected the closing sequence '{target.strip()}' but the answer field was "
                         f"{quote(answer)}.")
    correct = " ".join(answer.split()).casefold() == " ".join(target.split()).casefold()
    return correct, (f"Correct: {target.strip()}." if correct else
                     f"Expected '{target.strip()}' but the answer field was {quote(answer)}.")
