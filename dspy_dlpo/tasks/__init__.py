"""Benchmark tasks of the DLPO paper as DSPy data, programs and feedback metrics.

>>> task = load_task("bbh/object_counting", n_test=20)      # doctest: +SKIP
>>> len(task.trainset), len(task.valset), len(task.testset)  # doctest: +SKIP
(50, 100, 20)

Names: ``gsm8k``, ``biggsm``, ``math500``, ``bbh/<task>`` (every BBH JSON in the data folder; the
27 hub tasks without one) and ``mgsm/<lang>`` (bn de en es fr ja ru sw te th zh). Every example
has string fields ``question`` (the input) and ``answer``; GSM8K and BigGSM keep the worked
``solution``, MATH-500 its ``solution``, ``subject``, ``level`` and ``unique_id``.

Data comes from local files or the Hugging Face hub (:mod:`.sources`), the splits are fixed
(:mod:`.splits`, and ``Task.split_note``), and the metrics return a score with feedback
(:mod:`.metrics`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dspy

from ..validate import positive_int
from . import sources, splits
from .metrics import MetricResult, bbh_metric, make_bbh_metric, math_metric, number_metric

__all__ = ["Task", "load_task", "available_tasks", "number_metric", "math_metric", "bbh_metric",
           "make_bbh_metric", "MetricResult"]

logger = logging.getLogger(__name__)

_SINGLE = ("gsm8k", "biggsm", "math500")


@dataclass
class Task:
    """A benchmark task: fixed splits, its metric and a factory for the unoptimized program."""

    name: str
    trainset: list[dspy.Example]
    valset: list[dspy.Example]
    testset: list[dspy.Example]
    metric: Callable[..., dspy.Prediction]
    make_program: Callable[[], dspy.Module]
    split_note: str


def chain_of_thought() -> dspy.Module:
    """A fresh, unoptimized ``dspy.ChainOfThought("question -> answer")``."""
    return dspy.ChainOfThought("question -> answer")


def available_tasks(data_dir: str | os.PathLike | None = None) -> list[str]:
    """Every task name :func:`load_task` accepts with this data directory."""
    return ([*_SINGLE] + [f"bbh/{t}" for t in sources.bbh_tasks(data_dir)]
            + [f"mgsm/{lang}" for lang in sources.mgsm_languages(data_dir)])


def _unknown(name: Any, data_dir: str | os.PathLike | None) -> ValueError:
    allowed = ", ".join(available_tasks(data_dir))
    return ValueError(f"unknown task {name!r}; allowed: {allowed}")


def _build(name: str, data_dir: str | os.PathLike | None) -> tuple[splits.Split, Callable[..., dspy.Prediction]]:
    """The split and metric of the task ``name`` (already lower-cased)."""
    family, _, member = name.partition("/")
    if name == "gsm8k":
        return splits.split_gsm8k(sources.read_gsm8k("train", data_dir), sources.read_gsm8k("test", data_dir)), \
            number_metric
    if name == "biggsm":
        return splits.split_biggsm(sources.read_biggsm(data_dir)), number_metric
    if name == "math500":
        return splits.split_math500(sources.read_math500(data_dir)), math_metric
    if family == "bbh" and member in sources.bbh_tasks(data_dir):
        return splits.split_bbh(sources.read_bbh(member, data_dir), member), make_bbh_metric(member)
    if family == "mgsm" and member in sources.mgsm_languages(data_dir):
        return splits.split_mgsm(sources.read_mgsm(member, data_dir), member), number_metric
    raise _unknown(name, data_dir)


def _examples(rows: list[dict[str, Any]], limit: int | None, label: str, task: str) -> list[dspy.Example]:
    if limit is not None and limit > len(rows):
        logger.warning("%s=%d exceeds the %d examples of %s's split; using all %d", label, limit, len(rows), task,
                       len(rows))
    return [dspy.Example(**row).with_inputs("question") for row in rows[:limit]]


def load_task(name: str, *, data_dir: str | os.PathLike | None = None, n_train: int | None = None,
              n_val: int | None = None, n_test: int | None = None) -> Task:
    """The task ``name`` with its fixed splits; ``n_*`` keep the first n examples of a split.

    ``data_dir`` is a folder laid out like ``../shared/data`` (see :mod:`.sources`), ``"hub"``
    for the Hugging Face hub, or None to search ``$DSPY_DLPO_DATA``, ``../shared/data``, then
    the hub. Raises ValueError for an unknown name (listing the allowed ones) or a bad ``n_*``.
    """
    if not isinstance(name, str) or not name.strip():
        raise _unknown(name, data_dir)
    limits = {label: positive_int(label, value, allow_none=True)
              for label, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test))}
    name = name.strip().lower()
    split, metric = _build(name, data_dir)
    task = Task(name=name, trainset=_examples(split.train, limits["n_train"], "n_train", name),
                valset=_examples(split.val, limits["n_val"], "n_val", name),
                testset=_examples(split.test, limits["n_test"], "n_test", name),
                metric=metric, make_program=chain_of_thought, split_note=split.note)
    logger.info("task %s: %d train / %d val / %d test (%s)", name, len(task.trainset), len(task.valset),
                len(task.testset), split.note)
    return task
