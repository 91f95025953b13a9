"""The numbers of the report, computed from the result cells: per (task, optimizer) aggregates with their
bootstrap intervals, paired differences, the variant each ablation is compared with, the test slice each task
is compared on, and what a DLPO run's trial log says about budget and early stopping."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from dspy_dlpo.trainer import out_of_patience

from ..harness import APPEND, CANDIDATES, bootstrap_ci, paired_diff_ci, seed_mean_per_example

MAIN_ORDER = ["baseline", "hand", "dlpo", "tgd", "gepa", "gepa-chat", "gepa-chatadapter", "miprov2", "copro"]
PEERS = ("baseline", "hand", "tgd", "gepa", "gepa-chat", "gepa-chatadapter", "miprov2", "copro")


def mean_of(values: Iterable[float]) -> float:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(values) / len(values) if values else float("nan")


def aggregate(records: list[dict[str, Any]], test_key: str = "test") -> dict[tuple[str, str], dict[str, Any]]:
    """Per (task, optimizer): test score averaged over seeds, its bootstrap CI, and mean costs (ok cells only).

    Every seed scores the same fixed test split, so the interval resamples test examples (each
    example's score averaged over seeds), not seed x example pairs: pooling would count one
    example once per seed and make the interval too narrow. ``test_key`` names the test block
    (``"test_extended"``: the re-scored larger slice of :mod:`benchmarks.rescore`; cells without it
    are left out).
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("status") == "ok" and r.get(test_key):
            groups[(r["task"], r["optimizer"])].append(r)
    out = {}
    for key, cells in groups.items():
        cells = sorted(cells, key=lambda c: c["seed"])
        per_example = seed_mean_per_example([c[test_key]["per_example"] for c in cells])
        lo, hi = bootstrap_ci(per_example)
        spend = lambda k: mean_of(c["spend"].get(k, 0) for c in cells)  # noqa: E731
        out[key] = {"seeds": [c["seed"] for c in cells], "n_test": len(per_example), "per_example": per_example,
                    "per_seed": [c[test_key]["score"] for c in cells], "val_per_seed": [c["val"]["score"] for c in cells],
                    "test": 100.0 * mean_of(per_example), "ci": (lo, hi), "val": mean_of(c["val"]["score"] for c in cells),
                    "metric_calls": spend("metric_calls"), "optimizer_calls": spend("optimizer_calls"),
                    "task_tokens": spend("task_input_tokens") + spend("task_output_tokens"),
                    "optimizer_tokens": spend("optimizer_input_tokens") + spend("optimizer_output_tokens"),
                    "wall_time_s": mean_of(c["wall_time_s"] for c in cells),
                    "distinct_proposals": mean_of((c.get("details") or {}).get("distinct_proposals") for c in cells),
                    "billed_rollouts": mean_of(c["spend"].get("task_lm_billed_calls") for c in cells),
                    "instruction_words": mean_of(c["instruction_words"] for c in cells), "cells": cells}
    return out


def order_optimizers(names: Iterable[str]) -> list[str]:
    names = set(names)
    main = [n for n in MAIN_ORDER if n in names]
    return main + sorted(names - set(main))


def reference_of(name: str) -> str | None:
    """The run a variant is compared with: ``<run>+append`` and ``<run>+k<N>`` with ``<run>``,
    ``dlpo-only-*`` with TGD, ``dlpo-minus-*`` with DLPO; None for the main optimizers."""
    head, sep, tail = name.rpartition(CANDIDATES)
    if sep and tail.isdigit():
        return head
    if name.endswith(APPEND):
        return name.removesuffix(APPEND)
    if name.startswith("dlpo-only-"):
        return "tgd"
    return "dlpo" if name.startswith("dlpo-minus-") else None


def largest_slice(small: dict[tuple[str, str], dict[str, Any]], extended: dict[tuple[str, str], dict[str, Any]],
                  tasks: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per task, the re-scored larger test slice if every main optimizer of the task has it on the seeds of its
    original cells, else the original test blocks: a task is never compared across two slices."""
    out = {}
    for task in tasks:
        keys = [(task, o) for o in MAIN_ORDER if (task, o) in small]
        use_extended = bool(keys) and all(k in extended and extended[k]["seeds"] == small[k]["seeds"] for k in keys)
        out.update({k: (extended if use_extended else small)[k] for k in keys})
    return out


def paired_ci(me: dict[str, Any], other: dict[str, Any]) -> tuple[float, float] | None:
    """95% interval of ``me - other`` in points over shared test examples; None if the splits differ."""
    if len(me["per_example"]) != len(other["per_example"]):
        return None
    return paired_diff_ci(me["per_example"], other["per_example"])


def excludes_zero(ci: tuple[float, float] | None) -> bool:
    return ci is not None and (ci[0] > 0 or ci[1] < 0)


def significant(me: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether the paired 95% interval of the difference excludes 0."""
    return excludes_zero(paired_ci(me, other))


def calls_to_reach(record: dict[str, Any], target: float) -> int | None:
    """Metric calls after which a DLPO-family run's best validation score first reached ``target``.

    Read from the run's own trial logs: the baseline validation (``val_size`` calls), then each
    step's cumulative ``metric_calls`` and ``best_score``. None if it never got there."""
    d = record.get("details") or {}
    if d.get("initial_score") is not None and d["initial_score"] >= target:
        return record["val"]["n"]
    for log in d.get("trial_logs") or []:
        if log.get("best_score") is not None and log["best_score"] >= target:
            return log.get("metric_calls")
    return None


PATIENCES = (2, 3, 5)


def patience_stop(record: dict[str, Any], patience: int) -> tuple[int, int, bool]:
    """``(steps, metric calls, same final program)`` had the run used ``patience``.

    Exact, not estimated: a DLPO step depends only on the state before it and on randomness derived
    from (seed, step), so early stopping only cuts the recorded trial log short. The stop rule is the
    trainer's own (:func:`dspy_dlpo.trainer.out_of_patience`)."""
    d = record["details"]
    logs = d.get("trial_logs") or []
    best_step, best, calls = -1, d.get("initial_score"), record["val"]["n"]
    for t, log in enumerate(logs):
        if out_of_patience(t, best_step, patience):
            return t, calls, d.get("best_step") == best_step
        if log.get("best_score") is not None and (best is None or log["best_score"] > best):
            best_step, best = t, log["best_score"]
        calls = log.get("metric_calls", calls)
    return len(logs), calls, True
