"""Failure analysis: what the minibatch's wrong answers have in common, counted, before any LM call.

A small optimizer LM reading five failures often critiques the wording of the instruction and misses
what went wrong in four of them (the trial logs of the fair grid: the label problem named in 19 of 44
critiques, the over-count in 0 of 16). :func:`analyze` groups the failing rollouts by what went wrong,
deterministically: the form of the answer against the form expected (an option's text where its label
was expected, extra words around the right answer, letter case, a missing number), for numeric answers
the direction and size of the error, failed or unparseable replies, and feedback that the metric gave
to several examples alike. The dominant pattern is put first in the critique prompt with its count, and
a critique that does not address it is asked again (:func:`addresses`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..text import normalize

_LABEL = re.compile(r"^\(?([A-Za-z])\)?$")
_LABEL_IN = re.compile(r"\(([A-Za-z])\)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_TEMPLATE_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\(?[A-Za-z]\)|-?\d[\d,.]*")
_WORD = re.compile(r"[a-z]{5,}")

# Words that a critique which addresses the pattern uses (lower case; substrings).
KEYWORDS: dict[str, tuple[str, ...]] = {
    "label_form": ("label", "letter", "option", "(a)", "choice"),
    "label_plus_text": ("label", "letter", "(a)", "only the", "option text", "text of the option"),
    "extra_words": ("only", "extra", "nothing else", "concise", "exactly", "just the", "additional"),
    "casing": ("case", "capital", "lowercase", "uppercase"),
    "no_number": ("number", "numeric", "digit", "integer"),
    "too_high": ("too high", "too many", "over", "more than", "double", "twice", "larger", "higher",
                 "inflat", "extra", "excess"),
    "too_low": ("too low", "too few", "under", "fewer", "less than", "miss", "smaller", "lower", "omit"),
    "no_answer": ("format", "field", "pars", "output", "structure", "marker", "empty"),
}


@dataclass(frozen=True)
class Pattern:
    """One thing several failures have in common: ``count`` of ``total`` failing examples show it."""

    kind: str
    count: int
    total: int
    text: str
    keywords: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "total": self.total, "text": self.text}


def _answer(rollout: Any) -> tuple[str | None, str | None, str | None]:
    """``(field, predicted, expected)``: the graded output field (the first one the gold also has,
    else the first output field) and its values as text."""
    outputs, gold = rollout.outputs or {}, rollout.gold or {}
    field = next((k for k in outputs if k in gold), None) or next(iter(outputs), None)
    if field is None:
        return None, None, None
    expected = gold.get(field)
    if expected is None and len(gold) == 1:
        expected = next(iter(gold.values()))
    return field, str(outputs.get(field, "")).strip(), None if expected is None else str(expected).strip()


def _number(text: str) -> float | None:
    match = _NUMBER.fullmatch(text.strip().rstrip(".")) if text else None
    return float(match.group(0).replace(",", "")) if match else None


def _numbers_in(text: str) -> list[float]:
    values = []
    for match in _NUMBER.finditer(text):
        try:
            values.append(float(match.group(0).replace(",", "")))
        except ValueError:
            continue
    return values


def _labels(predicted: str, expected: str) -> list[str]:
    """Form patterns of a predicted answer against an expected option label such as ``(A)``."""
    if _LABEL.match(predicted):
        return []
    if _LABEL_IN.search(predicted):
        return ["label_plus_text"]
    return ["label_form"]


def _numeric(predicted: str, expected: float) -> list[str]:
    found = _numbers_in(predicted)
    if not found:
        return ["no_number"]
    value = found[-1] if len(found) > 1 else found[0]
    kinds = [] if _number(predicted) is not None else ["extra_words"]
    if value > expected:
        kinds.append("too_high_by_one" if math.isclose(value - expected, 1) else "too_high")
    elif value < expected:
        kinds.append("too_low_by_one" if math.isclose(expected - value, 1) else "too_low")
    return kinds


def classify(rollout: Any) -> list[str]:
    """What went wrong in one failing rollout (several kinds may apply; [] = a wrong value of the right form)."""
    if rollout.error or rollout.outputs is None:
        return ["no_answer"]
    _, predicted, expected = _answer(rollout)
    if predicted is None or expected is None:
        return []
    if not predicted:
        return ["no_answer"]
    if _LABEL.match(expected):
        return _labels(predicted, expected)
    target = _number(expected)
    if target is not None:
        return _numeric(predicted, target)
    if predicted != expected and predicted.lower() == expected.lower():
        return ["casing"]
    if normalize(expected) and normalize(expected) in normalize(predicted) and normalize(predicted) != normalize(expected):
        return ["extra_words"]
    return []


def _template(feedback: str) -> str:
    return normalize(_TEMPLATE_VALUES.sub("#", feedback))


def _categorical_feedback(failing: Sequence[Any]) -> tuple[str, int] | None:
    """The most common feedback text (values masked) given to at least two failures, when it names a
    category rather than the example's own answers ("Expected (C) but got (B)" masks to one template
    for every failure and says nothing beyond the score)."""
    groups: dict[str, list[Any]] = {}
    for rollout in failing:
        if rollout.feedback and not rollout.error:
            groups.setdefault(_template(rollout.feedback), []).append(rollout)
    best = max(groups.items(), key=lambda item: len(item[1]), default=None)
    if best is None or len(best[1]) < 2:
        return None
    for rollout in best[1]:
        _, predicted, expected = _answer(rollout)
        text = rollout.feedback
        if any(v and v in text for v in (predicted, expected)):
            return None  # the feedback restates the answers: no category
    return best[1][0].feedback.strip(), len(best[1])


def _describe(kind: str, count: int, total: int, by_one: int, field: str, example: str) -> str:
    wrong = f"{count} of {total} wrong answers"
    texts = {
        "label_form": f"{wrong} gave text where an option label such as {example} was expected in `{field}`",
        "label_plus_text": f"{wrong} gave the option label followed by the option's text, where `{field}` must hold "
                           f"only the label, such as {example}",
        "extra_words": f"{wrong} put extra words around the answer in `{field}` where only the answer was expected",
        "casing": f"{wrong} had the right answer in the wrong letter case",
        "no_number": f"{wrong} gave no number in `{field}` where a number was expected",
        "too_high": f"{count} of {total} wrong answers are too high" + (f", {by_one} of them by exactly one"
                                                                          if by_one else ""),
        "too_low": f"{count} of {total} wrong answers are too low" + (f", {by_one} of them by exactly one"
                                                                        if by_one else ""),
        "no_answer": f"{wrong} produced no usable answer (the reply failed or could not be parsed)",
    }
    return texts[kind]


# On equal counts the form of the answer comes first: an instruction can fix it outright.
_PRIORITY = ("no_answer", "label_form", "label_plus_text", "extra_words", "casing", "no_number", "too_high", "too_low")


def analyze(rollouts: Sequence[Any]) -> list[Pattern]:
    """The patterns shared by the failing rollouts (score below 1), most frequent first. A pattern is
    listed when at least half of the failures (and at least one) show it; "wrong answer of the right
    form" is the residual and never listed."""
    failing = [r for r in rollouts if r.score < 1.0]
    total = len(failing)
    if not total:
        return []
    counts: dict[str, int] = {}
    by_one = {"too_high": 0, "too_low": 0}
    field, example = "answer", "(A)"
    for rollout in failing:
        name, _, expected = _answer(rollout)
        if name and expected and _LABEL.match(expected):
            field, example = name, expected
        elif name:
            field = name
        for kind in classify(rollout):
            base = kind.removesuffix("_by_one")
            counts[base] = counts.get(base, 0) + 1
            if kind.endswith("_by_one"):
                by_one[base] += 1
    need = max(1, math.ceil(total / 2))
    patterns = [Pattern(k, n, total, _describe(k, n, total, by_one.get(k, 0), field, example), KEYWORDS[k])
                for k, n in counts.items() if n >= need]
    feedback = _categorical_feedback(failing)
    if feedback and feedback[1] >= need:
        text, n = feedback
        words = tuple(dict.fromkeys(_WORD.findall(text.lower())))[:8]
        patterns.append(Pattern("feedback", n, total, f"{n} of {total} wrong answers got the same feedback: "
                                                       f"\"{text[:200]}\"", words))
    return sorted(patterns, key=lambda p: (-p.count, _PRIORITY.index(p.kind) if p.kind in _PRIORITY else 99))


def addresses(critique: str, pattern: Pattern) -> bool:
    """Whether ``critique`` speaks to ``pattern`` (uses one of its words); a pattern without words
    cannot be checked and counts as addressed."""
    if not pattern.keywords:
        return True
    text = critique.lower()
    return any(word in text for word in pattern.keywords)


def summary_line(patterns: Sequence[Pattern]) -> str:
    """The patterns as the sentence shown to the optimizer LM (dominant first), or ''."""
    return "; ".join(p.text for p in patterns[:2])

