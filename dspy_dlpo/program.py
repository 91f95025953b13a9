"""The DSPy boundary: instructions as named parameters, rollouts with traces, metric results.

Everything else in the package works on plain data (``dict[name, instruction]`` and
:class:`Rollout`); only this module touches DSPy modules, traces and metrics.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dspy
from dspy.utils.exceptions import AdapterParseError

from .text import trim_middle
from .contract import OUT_OF_RANGE
from .pool import Lease, run_jobs
from .redact import redact
from .sanitize import valid_data, valid_text
from .validate import is_real

logger = logging.getLogger(__name__)

Params = dict[str, str]
MAX_STORED_CHARS = 2000  # per text field of a rollout in the trial log and checkpoint (feedback, error)
# Seconds a rollout (the program's LM calls plus the metric) may run before it is scored as a failure and
# the run goes on without it. A rollout of a 1.5B model on 2 CPU cores takes well under a minute and a
# hosted model's seconds: 300 s only ever cuts off a call that hangs (a stalled server, a metric that
# never returns), which would otherwise hang the whole compile. None waits forever.
DEFAULT_ROLLOUT_TIMEOUT = 300.0
TIMEOUT_ERROR = "rollout timeout"


def _capped(text: str | None, limit: int = MAX_STORED_CHARS) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]} [... {len(text) - limit} more characters not stored]"


@dataclass
class Rollout:
    """One program run on one example, scored: the unit that budgets count (a metric call)."""

    index: int
    inputs: dict[str, Any]
    gold: dict[str, Any]
    outputs: dict[str, Any] | None
    score: float
    feedback: str = ""
    error: str | None = None
    traces: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # task-LM outputs and metric feedback enter the run here: repair them once (example fields were
        # repaired where they entered, in dspy_dlpo.dataloader)
        self.outputs, self.traces = valid_data(self.outputs), valid_data(self.traces)
        self.feedback = valid_text(self.feedback)
        self.error = None if self.error is None else valid_text(self.error)

    def to_json(self, max_value_chars: int | None = 400) -> dict[str, Any]:
        """What the trial log and checkpoint keep of a rollout: its score, its feedback and error (capped
        at ``MAX_STORED_CHARS``), and its ``outputs`` (None when it failed) with every value cut in the
        middle to ``max_value_chars``; contrastive learning shows them next to another instruction's run
        of the same input. ``max_value_chars=None``: the same entries, nothing cut (the step's own run)."""
        if max_value_chars is None:
            return {"index": self.index, "score": self.score, "feedback": self.feedback, "error": self.error,
                    "outputs": self.outputs}
        outputs = None if self.outputs is None else {str(k): trim_middle(str(v), max_value_chars)
                                                     for k, v in self.outputs.items()}
        return {"index": self.index, "score": self.score, "feedback": _capped(self.feedback),
                "error": _capped(self.error), "outputs": outputs}


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (what JSON cannot hold becomes its ``str``)."""
    return json.loads(json.dumps(value, default=str))


def rollout_state(rollout: Rollout) -> dict[str, Any]:
    """Everything of ``rollout`` but its example (inputs and labels come back from the trainset), as JSON:
    what a checkpoint keeps to reuse the rollout instead of running it again."""
    return _jsonable({"score": rollout.score, "feedback": rollout.feedback, "error": rollout.error,
                      "outputs": rollout.outputs, "traces": rollout.traces})


def rollout_from_state(index: int, example: dspy.Example, data: dict[str, Any]) -> Rollout:
    """The rollout of :func:`rollout_state` on ``example`` (training example ``index``)."""
    return Rollout(index, dict(example.inputs()), dict(example.labels()), data.get("outputs"), float(data["score"]),
                   data.get("feedback") or "", data.get("error"), data.get("traces") or {})


def get_params(program: dspy.Module) -> Params:
    """The trainable parameters: ``named_predictors()`` name -> instruction text."""
    return {name: pred.signature.instructions for name, pred in program.named_predictors()}


def with_params(program: dspy.Module, params: Params) -> dspy.Module:
    """A deep copy of ``program`` carrying ``params``; the original is never touched."""
    copy = program.deepcopy()
    for name, pred in copy.named_predictors():
        if name in params:
            pred.signature = pred.signature.with_instructions(params[name])
    return copy


def signature_fields(program: dspy.Module, name: str) -> tuple[str, ...]:
    """The input and output field names of predictor ``name``."""
    signature = dict(program.named_predictors())[name].signature
    return (*signature.input_fields, *signature.output_fields)


def describe_role(program: dspy.Module, name: str) -> str:
    """A short description of what predictor ``name`` does: its input and output fields."""
    signature = dict(program.named_predictors())[name].signature

    def fields(items: dict[str, Any]) -> str:
        parts = []
        for key, value in items.items():
            desc = (value.json_schema_extra or {}).get("desc", "")
            parts.append(key if not desc or desc == f"${{{key}}}" else f"{key} ({desc})")
        return ", ".join(parts)

    return f"predictor `{name}`: inputs {fields(signature.input_fields)}; outputs {fields(signature.output_fields)}"


def metric_arity(metric: Callable) -> int:
    """How many positional arguments to pass ``metric``: 2, 3, or 5 for a GEPA-style
    ``(gold, pred, trace, pred_name, pred_trace)`` metric (3 for ``*args``); raises TypeError if it
    takes fewer than 2."""
    try:
        params = list(inspect.signature(metric).parameters.values())
    except (TypeError, ValueError):
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 3
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2:
        raise TypeError(f"metric must accept (example, prediction[, trace]); {metric!r} takes {len(positional)} "
                        "positional argument(s)")
    return 5 if len(positional) >= 5 else 3 if len(positional) >= 3 else 2


def check_metric(metric: Any) -> None:
    """Reject a metric that is not callable or cannot take ``(example, prediction)``."""
    if not callable(metric):
        raise TypeError(f"metric must be callable, got {type(metric).__name__}: {metric!r}")
    metric_arity(metric)


def call_metric(metric: Callable, example: Any, pred: Any, trace: Any = None, pred_name: str | None = None,
                pred_trace: Any = None, *, arity: int | None = None) -> Any:
    """``metric``'s raw result on the first ``arity`` (default :func:`metric_arity`) of the GEPA-style
    arguments ``(example, pred, trace, pred_name, pred_trace)``; exceptions propagate."""
    arity = metric_arity(metric) if arity is None else arity
    return metric(*(example, pred, trace, pred_name, pred_trace)[:arity])


def normalize_metric_result(result: Any) -> tuple[float, str, str | None]:
    """``(score, feedback, error)`` of a metric's result (a bool, a real number, or a
    ``dspy.Prediction``/dict with ``score`` and ``feedback``): a non-number or NaN scores 0, a score
    outside [0, 1] is clipped; ``error`` says what was wrong (None when nothing was)."""
    feedback = ""
    if isinstance(result, (dspy.Prediction, dict)):
        feedback = str(result.get("feedback", "") or "")
        result = result.get("score")
    if not is_real(result, scalar=True):
        return 0.0, f"The metric returned a non-number: {result!r}", f"metric error: returned {type(result).__name__}"
    score = float(result)
    if score != score:  # NaN
        return 0.0, "The metric returned NaN.", "metric error: returned NaN"
    if not 0.0 <= score <= 1.0:
        return min(max(score, 0.0), 1.0), feedback, f"metric error: returned {score!r}, {OUT_OF_RANGE}"
    return score, feedback, None


def score_with_metric(metric: Callable, example: dspy.Example, pred: Any, trace: Any, *,
                      arity: int | None = None) -> tuple[float, str, str | None]:
    """Call the metric (with ``arity`` arguments, :func:`metric_arity` when None) and normalize its
    result to ``(score, feedback, error)``; never raises."""
    try:  # GEPA-style: pred_name/pred_trace None = score the whole program
        result = call_metric(metric, example, pred, trace, arity=arity)
    except Exception as exc:  # a raising metric is a scored failure, not a crash
        message = redact(f"{type(exc).__name__}: {exc}")
        return 0.0, f"The metric raised {message}", f"metric error: {message}"
    return normalize_metric_result(result)


def evaluate(program: dspy.Module, devset: list[dspy.Example], metric: Callable, *, num_threads: int,
             progress: bool = False) -> list[float]:
    """Per-example scores in [0, 1] of ``program`` on ``devset`` by ``dspy.Evaluate`` (outside a run:
    the held-out test of the CLI and the benchmarks). Metric results are normalized as in a run
    (:func:`normalize_metric_result`); an example whose program raises scores 0."""
    if not devset:
        return []
    arity = metric_arity(metric)

    def score(example: Any, pred: Any, trace: Any = None) -> float:
        return normalize_metric_result(call_metric(metric, example, pred, trace, arity=arity))[0]

    result = dspy.Evaluate(devset=devset, metric=score, num_threads=num_threads, display_progress=progress,
                           display_table=False, failure_score=0.0, max_errors=10**6, provide_traceback=False)(program)
    return [float(value or 0.0) for _, _, value in result.results]


def percent(scores: list[float]) -> float:
    """The mean of per-example scores in percent, rounded as ``dspy.Evaluate`` rounds its score."""
    return round(100 * sum(scores) / len(scores), 2)


def _named_traces(program: dspy.Module, trace: list) -> dict[str, list[dict[str, Any]]]:
    """Group trace entries by predictor name (matched by identity within ``program``)."""
    names = {id(pred): name for name, pred in program.named_predictors()}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for pred, inputs, outputs in trace:
        name = names.get(id(pred))
        if name is not None:
            out = dict(outputs.items()) if hasattr(outputs, "items") else {"output": outputs}
            grouped.setdefault(name, []).append({"inputs": dict(inputs), "outputs": out})
    return grouped


def run_example(program: dspy.Module, metric: Callable, index: int, example: dspy.Example, *,
                arity: int | None = None) -> Rollout:
    """Run ``program`` on one example with a private trace and score it (``arity``: as
    :func:`score_with_metric`); errors become loss."""
    inputs, gold = dict(example.inputs()), dict(example.labels())
    with dspy.context(trace=[]):
        try:
            pred = program(**inputs)
        except AdapterParseError as exc:
            reply = str(getattr(exc, "lm_response", "") or "")
            return Rollout(index, inputs, gold, None, 0.0, "The output could not be parsed into the required "
                           f"fields. Raw reply: {redact(reply[:400])}", error="AdapterParseError",
                           traces=_named_traces(program, dspy.settings.trace))
        except Exception as exc:
            message = redact(f"{type(exc).__name__}: {exc}")[:500]
            return Rollout(index, inputs, gold, None, 0.0, f"The program raised {message}", error=message,
                           traces=_named_traces(program, dspy.settings.trace))
        trace = list(dspy.settings.trace)
    # scored as dspy.Evaluate and GEPA score (trace=None); the private trace above feeds the losses
    score, feedback, error = score_with_metric(metric, example, pred, None, arity=arity)
    outputs = dict(pred.items()) if hasattr(pred, "items") else {"output": pred}
    return Rollout(index, inputs, gold, outputs, score, feedback, error, _named_traces(program, trace))


class RunCounter:
    """Counts the rollouts actually run (thread-safe): each counts once when it starts, whether it
    finishes or is abandoned at its deadline. Once closed, runs that have not started yet are skipped
    instead of running unseen."""

    def __init__(self) -> None:
        self.runs, self.closed, self._lock = 0, False, threading.Lock()

    def start(self) -> bool:
        """Count one run; False (do not run) once the batch is over."""
        with self._lock:
            if self.closed:
                return False
            self.runs += 1
            return True

    def close(self) -> int:
        with self._lock:
            self.closed = True
            return self.runs


class _GatedTracker:
    """A usage tracker that forwards to ``tracker`` only while the rollout's lease is live: the LM usage
    of a rollout abandoned at its deadline stops counting there (its late calls change no meter)."""

    def __init__(self, tracker: Any, lease: Lease) -> None:
        self.tracker, self.lease = tracker, lease

    def add_usage(self, model: str, usage: dict[str, Any]) -> None:
        self.lease.guarded(lambda: self.tracker.add_usage(model, usage))

    def __deepcopy__(self, memo: dict) -> "_GatedTracker":  # DSPy copies trackers into its worker threads
        return self


def timed_out(index: int, example: dspy.Example, timeout: float) -> Rollout:
    """The scored failure of a rollout abandoned after ``timeout`` seconds."""
    return Rollout(index, dict(example.inputs()), dict(example.labels()), None, 0.0,
                   f"The rollout timed out: the program and its metric did not finish within {timeout:g} seconds "
                   "(rollout_timeout), so it was scored as a failure.",
                   error=f"{TIMEOUT_ERROR} after {timeout:g} s")


def fault_kind(error: str | None) -> str | None:
    """The ``faults`` kind of a rollout's ``error`` (None for a rollout without one)."""
    if error is None:
        return None
    if error.startswith("metric error"):
        return "metric_error"
    if error.startswith(TIMEOUT_ERROR):
        return "rollout_timeout"
    return "parse_error" if error == "AdapterParseError" else "program_error"


def run_batch(program: dspy.Module, metric: Callable, examples: list[tuple[int, dspy.Example]],
              num_threads: int, counter: RunCounter | None = None,
              on_rollout: Callable[[], None] | None = None, timeout: float | None = None) -> list[Rollout]:
    """Roll out ``program`` on ``(index, example)`` pairs in daemon worker threads (at most
    ``num_threads`` at a time), preserving order; ``counter`` counts the runs and ``on_rollout`` is
    called in the caller's thread after each rollout, e.g. to move a progress bar.

    A rollout still running ``timeout`` seconds after it started is scored as a failure whose
    feedback says it timed out (:func:`timed_out`) and the batch goes on without waiting for it; if it
    returns later, its result and its LM usage are ignored (see :mod:`dspy_dlpo.pool`).
    """
    counter = counter or RunCounter()
    tracker = dspy.settings.usage_tracker
    arity = metric_arity(metric)  # once per batch, not per rollout

    def run(pair: tuple[int, dspy.Example], lease: Lease) -> Rollout | None:
        if not counter.start():
            return None
        with dspy.context(usage_tracker=_GatedTracker(tracker, lease) if tracker is not None else None):
            return run_example(program, metric, pair[0], pair[1], arity=arity)

    def done(_: int, __: bool) -> None:
        if on_rollout is not None:
            on_rollout()

    try:
        outcomes = run_jobs(run, examples, threads=num_threads, timeout=timeout, on_done=done)
    finally:
        counter.close()
    # a job is unfinished only when abandoned at its deadline, so only with a timeout
    return [rollout if finished else timed_out(i, ex, timeout or 0.0)
            for (finished, rollout), (i, ex) in zip(outcomes, examples)]
