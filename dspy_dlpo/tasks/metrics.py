"""Metrics of the benchmark tasks: a score in [0, 1] plus feedback a prompt optimizer can act on.

Every metric takes ``(example, pred, trace=None, pred_name=None, pred_trace=None)`` (the GEPA
form; the 2- and 3-argument DSPy forms work too), reads ``example.answer`` and ``pred.answer``,
and returns ``dspy.Prediction(score=0.0 or 1.0, feedback=...)`` (a :class:`MetricResult`, truthy
only when correct, for DSPy code that tests a metric's result with ``if``). A missing prediction, a missing
or ``None`` answer field or an answer of the wrong type scores 0 with feedback saying so; a
metric never raises.

* :func:`number_metric` (GSM8K, BigGSM, MGSM): the final number of the answer field (see
  :mod:`.numeric`) equals the reference by value.
* :func:`math_metric` (MATH-500): LaTeX equivalence (see :mod:`.equivalence`).
* :func:`bbh_metric` / :func:`make_bbh_metric` (BIG-Bench Hard): exact match (see :mod:`.bbh`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import dspy

from .bbh import bbh_feedback, check_bbh_task
from .equivalence import math_equal
from .fields import answer_text, quote, shorten
from .latex import extract_answer, normalize
from .numeric import format_number, last_number, parse_number

__all__ = ["number_metric", "math_metric", "bbh_metric", "make_bbh_metric", "MetricResult"]

logger = logging.getLogger(__name__)


def _never_raises(metric: Callable[..., dspy.Prediction]) -> Callable[..., dspy.Prediction]:
    """``metric`` returning score 0 with the error as feedback instead of raising."""

    @functools.wraps(metric)
    def safe(example: Any, pred: Any, trace: Any = None, pred_name: str | None = None,
             pred_trace: Any = None) -> dspy.Prediction:
        try:
            return metric(example, pred, trace, pred_name, pred_trace)
        except Exception as exc:  # a scoring bug must not crash an optimization run
            logger.exception("%s failed", metric.__name__)
            return _result(0.0, f"The answer could not be scored ({type(exc).__name__}: {shorten(str(exc), 80)}).")

    return safe


class MetricResult(dspy.Prediction):
    """``dspy.Prediction(score=..., feedback=...)`` that is truthy only for a correct answer.

    A plain Prediction is always truthy (it has fields), so DSPy code that tests ``if
    metric(example, pred, trace):`` (BootstrapFewShot without a threshold) would keep wrong
    demonstrations; this subclass answers ``score >= 1``.
    """

    def __bool__(self) -> bool:
        return float(self) >= 1.0


def _result(score: float, feedback: str) -> dspy.Prediction:
    return MetricResult(score=float(score), feedback=feedback)


def _read(example: Any, pred: Any) -> tuple[str | None, str | None, dspy.Prediction | None]:
    """The reference and predicted answer texts, or a zero-score result explaining the problem."""
    gold, problem = answer_text(example, role="example")
    if gold is None:
        logger.warning("cannot score: %s", problem)
        return None, None, _result(0.0, f"Cannot score this example: {problem}")
    text, problem = answer_text(pred)
    if text is None:
        return gold, None, _result(0.0, f"{problem} Expected the answer {shorten(gold, 80)}.")
    return gold, text, None


@_never_raises
def number_metric(example: Any, pred: Any, trace: Any = None, pred_name: str | None = None,
                  pred_trace: Any = None) -> dspy.Prediction:
    """1 when the last number of ``pred.answer`` equals ``example.answer`` by value, else 0."""
    gold, text, failed = _read(example, pred)
    if failed is not None:
        return failed
    expected = parse_number(gold)
    if expected is None:
        found = last_number(gold)
        if found is None:
            logger.warning("the reference answer %r holds no number", gold)
            return _result(0.0, f"Cannot score this example: its reference answer {gold!r} holds no number.")
        expected = found[0]
    want = format_number(expected)
    found = last_number(text)
    if found is None:
        return _result(0.0, f"The answer field contained no number: {quote(text)}. Expected {want}.")
    value, matched = found
    if value == expected:
        return _result(1.0, f"Correct: the final number {quote(matched.strip())} equals {want}.")
    return _result(0.0, f"Expected {want} but the answer field was {quote(text)} "
                        f"(its final number reads as {format_number(value)}).")


@_never_raises
def math_metric(example: Any, pred: Any, trace: Any = None, pred_name: str | None = None,
                pred_trace: Any = None) -> dspy.Prediction:
    """1 when the answer (its last ``\\boxed{}`` if any) is equivalent to ``example.answer``."""
    gold, text, failed = _read(example, pred)
    if failed is not None:
        return failed
    answer = extract_answer(text)
    if not normalize(answer):
        return _result(0.0, f"The answer field held no answer: {quote(text)}. Expected {gold}.")
    if math_equal(gold, answer):
        return _result(1.0, f"Correct: {quote(answer, 80)} is equivalent to {gold}.")
    shown = "" if answer == text.strip() else f" (read as {quote(answer, 80)})"
    return _result(0.0, f"Expected {gold} but the answer field was {quote(text)}{shown}.")


def _score_bbh(example: Any, pred: Any, task: str | None) -> dspy.Prediction:
    gold, text, failed = _read(example, pred)
    if failed is not None:
        return failed
    correct, feedback = bbh_feedback(gold, text, task)
    return _result(1.0 if correct else 0.0, feedback)


@_never_raises
def bbh_metric(example: Any, pred: Any, trace: Any = None, pred_name: str | None = None,
               pred_trace: Any = None) -> dspy.Prediction:
    """BIG-Bench Hard exact match, with the comparison mode read off the target's shape."""
    return _score_bbh(example, pred, None)


def make_bbh_metric(task: str) -> Callable[..., dspy.Prediction]:
    """The BBH metric for ``task`` (e.g. ``"word_sorting"``: exact token sequence)."""
    task = check_bbh_task(task)

    def metric(example: Any, pred: Any, trace: Any = None, pred_name: str | None = None,
               pred_trace: Any = None) -> dspy.Prediction:
        return _score_bbh(example, pred, task)

    metric.__name__ = metric.__qualname__ = f"bbh_{task}_metric"
    metric.__doc__ = f"BIG-Bench Hard {task}: exact match (see dspy_dlpo.tasks.bbh)."
    return _never_raises(metric)
