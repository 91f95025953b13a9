"""The fixed, deterministic train / validation / test splits of the benchmark tasks.

=============  =====  ===  ====  ===========================================================
task           train  val  test  rule
=============  =====  ===  ====  ===========================================================
gsm8k            200  300  1319  DSPy's ``dspy.datasets.GSM8K``: the official train set
                                 shuffled with ``random.Random(0)``, train = [:200],
                                 val = [200:500]; test = the official test set, shuffled
                                 with ``random.Random(0)`` (so ``n_test`` picks DSPy's subset)
bbh/<task>        50  100   100  TextGrad's convention, file order: first 50 train, next 100
                                 val, the rest test. The three short tasks split what follows
                                 the first 50 evenly, val = (n - 50) // 2, so their test sets
                                 are not empty: causal_judgement (183 after dropping repeats)
                                 50/66/67, snarks (178) 50/64/64, penguins_in_a_table (146)
                                 50/48/48
mgsm/<lang>       50  100   100  file order; every language has the same problems at the
                                 same positions, so the splits are parallel across languages
math500          100  100   300  shuffled with ``random.Random(0)``
biggsm           100  100   410  shuffled with ``random.Random(0)`` (the file is sorted by
                                 index and its later problems are longer)
=============  =====  ===  ====  ===========================================================

Before splitting, a row whose question repeats an earlier row's is dropped, and when the copies
disagree on the answer every copy is dropped, so no question occurs in two splits. Only BBH's
causal_judgement has such rows: two questions appear twice with opposite targets (positions
32/119 and 36/104 of the file), so its 187 rows become 183.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["Split", "drop_repeats", "split_gsm8k", "split_bbh", "split_mgsm", "split_math500", "split_biggsm"]

logger = logging.getLogger(__name__)

SEED = 0


@dataclass
class Split:
    """Rows of the three splits and a one-line description of how they were made."""

    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    test: list[dict[str, Any]]
    note: str


def drop_repeats(rows: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """``rows`` without repeated questions: later copies go, and all copies when answers differ."""
    answers: dict[str, set[str]] = {}
    for row in rows:
        answers.setdefault(row["question"], set()).add(row["answer"])
    seen: Counter[str] = Counter()
    kept = []
    for row in rows:
        seen[row["question"]] += 1
        if seen[row["question"]] == 1 and len(answers[row["question"]]) == 1:
            kept.append(row)
    if len(kept) != len(rows):
        conflicting = sum(1 for a in answers.values() if len(a) > 1)
        logger.warning("%s: dropped %d of %d rows with a repeated question (%d question(s) had conflicting "
                       "answers, all of their copies dropped)", where, len(rows) - len(kept), len(rows), conflicting)
    return kept


def _shuffled(rows: list[dict[str, Any]], seed: int = SEED) -> list[dict[str, Any]]:
    order = list(rows)
    random.Random(seed).shuffle(order)
    return order


def _cut(rows: list[dict[str, Any]], n_train: int, n_val: int, minimum_test: int = 1) -> tuple[list, list, list]:
    if len(rows) < n_train + n_val + minimum_test:
        raise ValueError(f"{len(rows)} rows cannot make {n_train} train + {n_val} val + at least {minimum_test} "
                         "test examples")
    return rows[:n_train], rows[n_train:n_train + n_val], rows[n_train + n_val:]


def split_gsm8k(train_rows: list[dict[str, Any]], test_rows: list[dict[str, Any]]) -> Split:
    """DSPy's GSM8K split (see the module docstring)."""
    train_rows, test_rows = drop_repeats(train_rows, "gsm8k train"), drop_repeats(test_rows, "gsm8k test")
    train, val, _ = _cut(_shuffled(train_rows), 200, 300, minimum_test=0)
    note = ("DSPy GSM8K convention: official train shuffled with random.Random(0) -> train [:200], val [200:500]; "
            f"test = official test ({len(test_rows)}) shuffled with random.Random(0)")
    return Split(train, val, _shuffled(test_rows), note)


def split_bbh(rows: list[dict[str, Any]], task: str = "bbh") -> Split:
    """TextGrad's BBH split: first 50 train, next 100 val (less for short tasks), rest test."""
    rows = drop_repeats(rows, f"bbh/{task}")
    n_val = min(100, (len(rows) - 50) // 2)
    train, val, test = _cut(rows, 50, n_val)
    note = (f"TextGrad BBH convention, file order: first 50 train, next {n_val} val, remaining {len(test)} test"
            + ("" if n_val == 100 else " (short task: val and test share the rows after the first 50)"))
    return Split(train, val, test, note)


def split_mgsm(rows: list[dict[str, Any]], language: str = "") -> Split:
    """MGSM: file order, 50 train / 100 val / rest test (same problems in every language)."""
    train, val, test = _cut(drop_repeats(rows, f"mgsm/{language}"), 50, 100)
    return Split(train, val, test, f"file order: first 50 train, next 100 val, remaining {len(test)} test "
                                   "(parallel across languages)")


def split_math500(rows: list[dict[str, Any]]) -> Split:
    """MATH-500: shuffled with seed 0, 100 train / 100 val / rest test."""
    train, val, test = _cut(_shuffled(drop_repeats(rows, "math500")), 100, 100)
    return Split(train, val, test, f"shuffled with random.Random(0): 100 train, 100 val, remaining {len(test)} test")


def split_biggsm(rows: list[dict[str, Any]]) -> Split:
    """BigGSM: shuffled with seed 0, 100 train / 100 val / rest test."""
    train, val, test = _cut(_shuffled(drop_repeats(rows, "biggsm")), 100, 100)
    return Split(train, val, test, f"shuffled with random.Random(0): 100 train, 100 val, remaining {len(test)} test")
