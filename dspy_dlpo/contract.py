"""The contract with DSPy users' data and metrics, checked before and at the baseline.

* :func:`default_metric`: the metric used when none is given (exact match of the program's output
  fields against the examples' labels, normalized as ``dspy.evaluate.answer_exact_match`` does).
* :func:`check_inputs`: examples whose input keys do not fit the program stop the run before any
  LM call, naming the missing and extra keys.
* :func:`check_scores`: a metric score outside [0, 1], at the baseline or later, stops the run
  (:class:`MetricScaleError`), naming the metric, the value and the expected range.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dspy
from dspy.evaluate.metrics import normalize_text

logger = logging.getLogger(__name__)

OUT_OF_RANGE = "outside the range [0, 1]"
RATIONALES = ("reasoning", "rationale")  # step-by-step text (ChainOfThought's): never matched exactly


def metric_name(metric: Any) -> str:
    """A readable name of a metric for messages."""
    return getattr(metric, "__name__", None) or type(metric).__name__


def output_fields(program: dspy.Module) -> list[str]:
    """Every output field a predictor of ``program`` writes, in order, without duplicates."""
    names: list[str] = []
    for _, pred in program.named_predictors():
        names += [k for k in pred.signature.output_fields if k not in names]
    return names


def _matches(predicted: Any, gold: Any) -> bool:
    references = gold if isinstance(gold, (list, tuple)) else [gold]
    return any(normalize_text(str(predicted)) == normalize_text(str(ref)) for ref in references)


def _check_labels(fields: list[str], named_sets: Mapping[str, Sequence[dspy.Example]]) -> None:
    """Refuse an example that carries none of ``fields`` as a label: the default metric would score it 0."""
    for set_name, examples in named_sets.items():
        for i, ex in enumerate(examples):
            if not any(k in ex.labels() for k in fields):
                raise ValueError(f"no metric given and {set_name}[{i}] has no label to compare with the program's "
                                 f"output {fields} (its labels: {sorted(ex.labels().keys())}): the default exact "
                                 "match would score it 0; add the label to every example or pass metric=...")


def default_metric(program: dspy.Module,
                   examples: Sequence[dspy.Example] | Mapping[str, Sequence[dspy.Example]]) -> Callable:
    """Exact match of the program's output fields against the examples' label fields.

    Rationale fields (``reasoning``, ``rationale``) are not compared. Each compared field is normalized like ``dspy.evaluate.answer_exact_match`` (lower case, no
    punctuation or articles; a list label matches any of its items); the score is the fraction of
    compared fields that match, so a single ``answer`` field scores 0 or 1. ``examples`` given as
    named sets (``{"trainset": ..., "valset": ...}``): every example must carry one of the compared
    labels (a ValueError naming the first that does not).
    """
    named = examples if isinstance(examples, Mapping) else {"examples": examples}
    outputs = output_fields(program)
    labels = [k for group in named.values() for ex in group for k in ex.labels().keys()]
    fields = [k for k in outputs if k in labels and k not in RATIONALES]
    if not fields:
        raise ValueError(f"no metric given and no label field of the examples ({sorted(set(labels))}) is an "
                         f"output field of the program ({outputs}): pass metric=... to DLPOTeleprompter")
    if isinstance(examples, Mapping):
        _check_labels(fields, examples)

    def exact_match(example: dspy.Example, pred: Any, trace: Any = None) -> dspy.Prediction:
        compared = [k for k in fields if k in example.labels()]
        wrong = [k for k in compared if not _matches(getattr(pred, k, ""), example[k])]
        score = 1.0 - len(wrong) / len(compared) if compared else 0.0
        feedback = "Correct." if not wrong else " ".join(
            f"Expected {k} {example[k]!r} but got {getattr(pred, k, None)!r}." for k in wrong)
        return dspy.Prediction(score=score, feedback=feedback)

    exact_match.__name__ = f"exact_match({', '.join(fields)})"
    logger.info("no metric given: scoring by normalized exact match of %s against the examples' labels "
                "(as dspy.evaluate.answer_exact_match)", fields)
    return exact_match


def expected_inputs(program: dspy.Module) -> tuple[set[str], set[str], bool] | None:
    """``(required, known, strict)`` input keys of ``program``, or None when they cannot be told;
    ``strict``: ``forward`` has no ``**kwargs``, so an unknown key is a crash, not an ignored input."""
    params = list(inspect.signature(type(program).forward).parameters.values())[1:]
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    if named:
        return {p.name for p in named if p.default is p.empty}, {p.name for p in named}, not takes_any
    signature = getattr(program, "signature", None)
    predictors = list(program.named_predictors())
    if not (isinstance(signature, type) and issubclass(signature, dspy.Signature)) and len(predictors) == 1:
        signature = predictors[0][1].signature
    if isinstance(signature, type) and issubclass(signature, dspy.Signature):
        fields = set(signature.input_fields)
        return fields, fields, False
    return None


def check_inputs(program: dspy.Module, named_sets: dict[str, Sequence[dspy.Example]]) -> None:
    """Stop before any LM call when examples lack inputs the program needs (or carry ones it
    cannot take); warn about extra inputs a ``**kwargs`` program ignores."""
    expected = expected_inputs(program)
    if expected is None:
        logger.debug("cannot tell the inputs of %s: example keys not checked", type(program).__name__)
        return
    required, known, strict = expected
    warned: set[frozenset] = set()
    for set_name, examples in named_sets.items():
        for i, ex in enumerate(examples):
            keys = set(ex.inputs().keys())
            missing, extra = sorted(required - keys), sorted(keys - known)
            if missing or (extra and strict):
                raise ValueError(f"{set_name}[{i}] has input keys {sorted(keys)} but the program "
                                 f"{type(program).__name__} takes {sorted(known)}: missing {missing}, extra "
                                 f"{extra}; fix .with_inputs(...) or the program's signature")
            if extra and frozenset(extra) not in warned:
                warned.add(frozenset(extra))
                logger.warning("%s[%d] has input keys %s that the program does not read", set_name, i, extra)


class MetricScaleError(ValueError):
    """A metric score outside [0, 1]: a bug in the metric's scale, raised wherever it is seen."""


def check_scores(metric: Callable, rollouts: Sequence[Any], split: str = "validation") -> None:
    """Raise :class:`MetricScaleError` when the metric returned a score outside [0, 1] on one of
    ``rollouts`` (examples of ``split``)."""
    for rollout in rollouts:
        if rollout.error and OUT_OF_RANGE in rollout.error:
            raise MetricScaleError(f"the metric {metric_name(metric)!r} {rollout.error.removeprefix('metric error: ')} "
                                   f"on {split} example {rollout.index}: DLPO expects a bool or a score in [0, 1] "
                                   "(rescale it, e.g. return score / 100 for a 0-100 scale)")
