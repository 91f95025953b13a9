"""benchmarks.power: the pilot's arithmetic."""

import math

import pytest

from benchmarks import power


def cell(task, optimizer, seed, score, status="ok"):
    return {"task": task, "optimizer": optimizer, "seed": seed, "status": status, "test": {"score": score}}


def test_differences_pair_seeds_and_the_sd_is_within_tasks():
    records = [cell("t1", "dlpo", s, 50 + d) for s, d in enumerate((0, 10, 20))]
    records += [cell("t1", "gepa", s, 50) for s in range(3)]
    records += [cell("t2", "dlpo", s, 90 + d) for s, d in enumerate((0, 10, 20))]
    records += [cell("t2", "gepa", s, 50) for s in range(3)] + [cell("t2", "gepa", 3, 0)]  # seed 3: no pair
    records.append(cell("t3", "dlpo", 0, 10, status="error"))
    diffs = power.differences(records, "dlpo", "gepa")
    assert diffs == {"t1": {0: 0, 1: 10, 2: 20}, "t2": {0: 40, 1: 50, 2: 60}}
    sd, df = power.within_task_sd(diffs)
    assert (sd, df) == (pytest.approx(10.0), 4)  # the 40-point gap between tasks is not noise


def test_units_needed_and_detectable_invert_each_other():
    n = power.units_needed(23.9, 3.0)
    assert n == math.ceil(((1.959964 + 0.841621) * 23.9 / 3.0) ** 2) == 499
    assert power.detectable(23.9, n) <= 3.0 < power.detectable(23.9, n - 1)


def test_a_pilot_without_two_seeds_is_refused():
    with pytest.raises(ValueError, match="two seeds"):
        power.within_task_sd({"t1": {0: 5.0}})
