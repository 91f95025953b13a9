"""benchmarks.minibatch: the rewrites it collects and the gate statistics it computes."""

import numpy as np
import pytest

from benchmarks import minibatch
from dspy_dlpo.checkpoint import atomic_write_json


def test_distinct_rewrites_per_task_in_order():
    cells = [{"task": "t1", "details": {"proposals": [{"text": "A"}, {"text": " A "}, {"text": "B"}, {"text": ""}]}},
             {"task": "t1", "details": {"proposals": [{"text": "C"}, {"text": "B"}]}},
             {"task": "t2", "details": {}}]
    assert minibatch.proposals_by_task(cells) == {"t1": ["A", "B", "C"]}


def test_a_rewrite_that_changes_nothing_never_passes_and_a_uniformly_better_one_always_does():
    pool = 20
    same, better = np.zeros(pool), np.ones(pool)
    study = minibatch.gate_study(np.vstack([same, better]), sizes=(2, 5), splits=200)
    for b, row in study.items():
        assert row["pass"] == pytest.approx(0.5)           # only the better one, in every split
        assert row["precision"] == pytest.approx(1.0) and row["recall"] == pytest.approx(1.0)
        assert row["found_per_100_v10"] == pytest.approx(100 * 0.5 / (b + 0.5 * 10))


def test_a_larger_minibatch_is_right_more_often_and_finds_more_good_rewrites():
    rng = np.random.default_rng(0)

    def rewrites(n, gains, losses):
        return (np.where(rng.random((n, 30)) < gains, 1.0, 0.0)
                - np.where(rng.random((n, 30)) < losses, 1.0, 0.0))
    diffs = np.vstack([rewrites(20, 0.3, 0.1), rewrites(20, 0.1, 0.3)])  # half good, half bad
    study = minibatch.gate_study(diffs, sizes=(2, 10), splits=500)
    assert study[10]["precision"] > study[2]["precision"] + 0.05
    assert study[10]["recall"] > study[2]["recall"] + 0.2


def test_sizes_outside_the_pool_are_refused():
    with pytest.raises(ValueError, match="minibatch size 30"):
        minibatch.gate_study(np.zeros((2, 30)), sizes=(30,))


def test_the_table_pools_tasks_and_refuses_pools_of_different_sizes(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"task": "a", "scores": {"(unoptimized)": [0, 1] * 10,
                                                                      "x": [1, 1] * 10, "y": [0, 1] * 10}})
    text = minibatch.table(tmp_path)
    assert "2 distinct rewrites (a)" in text and "1 of them changed at least one answer" in text
    # x passes unless all 3 minibatch rows are among its 10 unchanged ones (1 - 120/1140), y never
    assert f"| 3 | {0.5 * (1 - 120 / 1140):.2f} |" in text.split("## Later")[0]
    later = text.split("## Later in a run: against a rewrite (1 others)")[1]
    assert "| 3 | 0.00 |" in later.split("A minibatch tie")[0]  # against x (the median of x, y), y only loses
    atomic_write_json(tmp_path / "b.json", {"task": "b", "scores": {"(unoptimized)": [0] * 5, "z": [1] * 5}})
    with pytest.raises(ValueError, match="pool of 5 examples"):
        minibatch.table(tmp_path)


def test_letting_ties_through_passes_rewrites_that_change_nothing():
    same = np.zeros((1, 20))
    assert minibatch.gate_study(same, sizes=(3,), splits=50, ties=True)[3]["pass"] == 1.0
    assert minibatch.gate_study(same, sizes=(3,), splits=50)[3]["pass"] == 0.0


def test_tie_break_even_and_relative_gain():
    rng = np.random.default_rng(3)
    diffs = np.vstack([np.where(rng.random((30, 30)) < 0.2, 1.0, 0.0) - np.where(rng.random((30, 30)) < 0.1, 1.0, 0.0),
                       np.zeros((10, 30))])  # rewrites that change nothing: ties that waste a validation
    v = minibatch.tie_break_even(diffs, 5)
    strict, ties = (minibatch.gate_study(diffs, sizes=(5,), ties=t)[5] for t in (False, True))
    per_call = lambda row, val: row["good_pass"] / (5 + row["pass"] * val)  # noqa: E731
    assert per_call(ties, v - 1) > per_call(strict, v - 1) and per_call(ties, v + 1) < per_call(strict, v + 1)
    gain, low, high = minibatch.relative_gain(diffs, 3, 5, 10, resamples=20)
    assert low <= gain <= high
