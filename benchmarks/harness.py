"""Shared plumbing of the benchmark grid: metering, counting metrics and result files (statistics: ``stats``).

Everything an optimizer spends is measured here, the same way for every optimizer:

* metric calls: the task metric is wrapped in a thread-safe :class:`CountingMetric`;
* task-LM calls and tokens: a :class:`Meter` installed with ``dspy.context(usage_tracker=...)``
  around the whole optimization (DSPy reports only billed, i.e. non-cached, calls to it);
* optimizer-LM calls and tokens: the optimizer LM is a copy of an LM whose class is swapped for a
  metered subclass (:func:`metered_lm`), so its calls go to their own meter even when the task LM
  and the optimizer LM are the same model.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dspy

from dspy_dlpo.budget import UsageMeter
from dspy_dlpo.program import call_metric, metric_arity, normalize_metric_result

from .stats import bootstrap_ci, paired_diff_ci, seed_mean_per_example  # noqa: F401 (single-level, re-exported)

logger = logging.getLogger(__name__)

BENCHMARKS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCHMARKS_DIR.parent  # where the recorded commands are run
RESULTS_DIR = BENCHMARKS_DIR / "results"  # one folder per grid or study: budget60/, budget120/, fair/, slots/, demo/
DEFAULT_RESULTS_DIR = RESULTS_DIR / "budget60"  # the default grid's cells (run, rescore, report, overhead)

SCHEMA_VERSION = 1
EXTENDED = "test_extended"  # a cell's test block re-scored on a larger slice (benchmarks/rescore.py)
APPEND = "+append"  # suffix of a DLPO-family optimizer name: the same run with append_on_no_op=True
CANDIDATES = "+k"  # suffix "+k<N>" (last) of a DLPO-family name: the same run with num_candidates=N


def dlpo_variant(name: str) -> tuple[str, bool, int | None]:
    """``(run, append_on_no_op, num_candidates)`` of a DLPO-family name ``<run>[+append][+k<N>]``; without
    ``+k<N>`` the number of candidates is the library's default (None: a line search of 3 with the
    learning rate on, else 1)."""
    base, candidates = name, None
    head, sep, tail = name.rpartition(CANDIDATES)
    if sep and tail.isdigit() and int(tail) >= 1:
        base, candidates = head, int(tail)
    append = base.endswith(APPEND)
    return base.removesuffix(APPEND), append, candidates


# --------------------------------------------------------------------------------------------
# Usage meters
# --------------------------------------------------------------------------------------------
class Meter(UsageMeter):
    """The package's thread-safe usage meter, labelled with the role it measures (task/optimizer)."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role


class _Tee:
    """Forwards usage to the harness meter and to an optimizer's own tracker (e.g. DLPO's)."""

    def __init__(self, *meters: Any) -> None:
        self.meters = meters

    def add_usage(self, model: str, usage: dict[str, Any] | None) -> None:
        for meter in self.meters:
            meter.add_usage(model, usage)

    def __deepcopy__(self, memo: dict) -> "_Tee":
        return self


_METERED_CLASSES: dict[type, type] = {}
_METERED_LOCK = threading.Lock()


def _metered_class(base: type) -> type:
    """A subclass of ``base`` whose calls report usage to ``self._bench_meter`` and count calls."""
    with _METERED_LOCK:
        if base in _METERED_CLASSES:
            return _METERED_CLASSES[base]

        def _tracker(self: Any) -> Any:
            outer = dspy.settings.usage_tracker
            if outer is None or isinstance(outer, Meter) or outer is self._bench_meter:
                return self._bench_meter
            return _Tee(self._bench_meter, outer)

        def _count(self: Any) -> None:
            with self._bench_lock:
                self._bench_calls[0] += 1

        def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
            _count(self)
            with dspy.context(usage_tracker=_tracker(self)):
                return base.__call__(self, *args, **kwargs)

        async def acall(self: Any, *args: Any, **kwargs: Any) -> Any:
            _count(self)
            with dspy.context(usage_tracker=_tracker(self)):
                return await base.acall(self, *args, **kwargs)

        cls = type(f"Metered{base.__name__}", (base,), {"__call__": __call__, "acall": acall})
        _METERED_CLASSES[base] = cls
        return cls


def metered_lm(lm: dspy.BaseLM, meter: Meter, **overrides: Any) -> dspy.BaseLM:
    """A copy of ``lm`` (sharing its engine/client) whose calls are counted into ``meter``.

    ``lm.copy()`` is shallow for runtime clients, so an embedded model is not loaded twice.
    Copies made later by the optimizer (``lm.copy(rollout_id=...)``) keep the metering.
    """
    copy = lm.copy(**overrides)
    copy.__class__ = _metered_class(type(lm))
    copy._bench_meter = meter
    copy._bench_lock = threading.Lock()
    copy._bench_calls = [0]  # a list so that copies of this LM share the counter
    return copy


def lm_call_count(lm: dspy.BaseLM) -> int:
    """Calls made through a :func:`metered_lm` (cached answers included)."""
    return int(getattr(lm, "_bench_calls", [0])[0])


# --------------------------------------------------------------------------------------------
# Metric wrapper
# --------------------------------------------------------------------------------------------
class CountingMetric:
    """Wraps a task metric; counts every call, thread-safely, the same way for every optimizer.

    ``calls`` counts scored rollouts (one program run on one example). GEPA also calls the
    metric with ``pred_name`` to get per-predictor feedback on a rollout it already scored; those
    calls run no program and are counted apart, in ``predictor_feedback_calls``.

    ``feedback=True`` returns ``dspy.Prediction(score, feedback)`` (GEPA, DLPO); ``False``
    returns a float (MIPROv2, COPRO, ``dspy.Evaluate`` sums). The signature accepts GEPA's five
    arguments and DSPy's two or three; the task metric gets as many as it takes and its result is
    normalized as the library normalizes it (:func:`dspy_dlpo.program.call_metric`,
    :func:`~dspy_dlpo.program.normalize_metric_result`). A raising metric raises here.
    """

    def __init__(self, metric: Callable, *, feedback: bool = True) -> None:
        self.metric = metric
        self.feedback = feedback
        self.arity = metric_arity(metric)
        self._lock = threading.Lock()
        self.calls = 0
        self.predictor_feedback_calls = 0
        self.__name__ = f"counted_{getattr(metric, '__name__', 'metric')}"

    def __call__(self, example: Any, pred: Any, trace: Any = None, pred_name: str | None = None,
                 pred_trace: Any = None) -> Any:
        with self._lock:
            if pred_name is None:
                self.calls += 1
            else:  # GEPA re-scoring an existing rollout for one predictor's feedback: no new rollout
                self.predictor_feedback_calls += 1
        result = call_metric(self.metric, example, pred, trace, pred_name, pred_trace, arity=self.arity)
        score, text, _ = normalize_metric_result(result)
        return dspy.Prediction(score=score, feedback=text) if self.feedback else score


# --------------------------------------------------------------------------------------------
# Programs
# --------------------------------------------------------------------------------------------
def demo_count(program: dspy.Module) -> int:
    return sum(len(getattr(pred, "demos", []) or []) for _, pred in program.named_predictors())


# --------------------------------------------------------------------------------------------
# Result files
# --------------------------------------------------------------------------------------------
def cell_path(results_dir: Path, task: str, optimizer: str, seed: int) -> Path:
    """``<results_dir>/<task>/<optimizer>/seed<k>.json`` (task names like ``bbh/word_sorting`` nest)."""
    return Path(results_dir) / task / optimizer / f"seed{seed}.json"


# how result files are written (with the library's atomic writer): indented, keys in insertion order
RESULT_JSON: dict[str, Any] = {"indent": 2, "sort_keys": False, "default": str}


def read_cell(path: Path) -> dict[str, Any] | None:
    """A finished cell's record, or None if absent or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def load_results(results_dir: Path) -> list[dict[str, Any]]:
    """Every cell record under ``results_dir`` (``*/seed*.json``), sorted by task/optimizer/seed."""
    records = []
    for path in sorted(Path(results_dir).rglob("seed*.json")):
        record = read_cell(path)
        if record and record.get("schema") == SCHEMA_VERSION:
            record["_path"] = str(path)
            records.append(record)
    return sorted(records, key=lambda r: (r["task"], r["optimizer"], r["seed"]))


class Stopwatch:
    """``with Stopwatch() as sw: ...``; ``sw.seconds`` afterwards."""

    def __enter__(self) -> "Stopwatch":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.start


def relative_command(module: str, argv: list[str], root: Path) -> str:
    """``python -m <module> <argv>`` with every absolute path in ``argv`` made relative to ``root`` (the
    project root, where the command is meant to be run), so a result file holds no absolute path of this
    machine; a path outside the project becomes a ``../`` path (run the grids into folders inside it)."""
    def rel(arg: str) -> str:
        flag, eq, value = arg.partition("=")
        if eq and flag.startswith("--"):
            return f"{flag}={rel(value)}"
        return os.path.relpath(arg, root) if os.path.isabs(arg) else arg
    return " ".join(["python", "-m", module, *(shlex.quote(rel(a)) for a in argv)])
