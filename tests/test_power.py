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


def ex_cell(task, optimizer, seed, per_example):
    return {"task": task, "optimizer": optimizer, "seed": seed, "status": "ok",
            "test": {"per_example": per_example, "score": 100.0 * sum(per_example) / len(per_example)}}


def test_the_examples_term_averages_each_examples_difference_over_seeds_first():
    # seed 0: a wins example 0, seed 1: a wins example 1; b never wins. Seed-averaged differences: 50, 50, 0, 0
    records = [ex_cell("t", "a", 0, [1, 0, 0, 0]), ex_cell("t", "a", 1, [0, 1, 0, 0]),
               ex_cell("t", "b", 0, [0, 0, 0, 0]), ex_cell("t", "b", 1, [0, 0, 0, 0]),
               ex_cell("t", "b", 2, [1, 1, 1, 1])]  # seed 2 of b alone is not paired
    v, n = power.example_variance(records, "a", "b")
    assert n == 4 and v == pytest.approx(sum((d - 25) ** 2 for d in (50, 50, 0, 0)) / 3)


def test_the_examples_term_sets_a_floor_that_seeds_cannot_lower():
    sd, v = 8.0, 900.0  # seed SD 8 points; per-example SD 30 points
    se = power.grid_se(sd, v, tasks=6, seeds=3, n_test=100)
    assert se == pytest.approx(math.sqrt((64 / 3 + 9) / 6))
    z = 1.959964 + 0.841621
    t = power.tasks_needed(sd, v, 3.0, seeds=3, n_test=100)
    assert z * power.grid_se(sd, v, tasks=t, seeds=3, n_test=100) <= 3.0 < z * power.grid_se(sd, v, tasks=t - 1, seeds=3, n_test=100)
    floor = power.tasks_needed(0.0, v, 3.0, seeds=1, n_test=100)
    assert floor == math.ceil(z ** 2 * 9 / 9) and power.tasks_needed(sd, v, 3.0, seeds=1000, n_test=100) >= floor


def test_the_sd_lower_bound_uses_the_chi_square_quantile():
    # chi2_0.975 with 4 df is 11.143 (tables): 13.4 * sqrt(4 / 11.143) = 8.03
    assert power.sd_lower_bound(13.4, 4) == pytest.approx(8.03, abs=0.02)
    assert power.sd_lower_bound(10.0, 50) < 10.0 and power.sd_lower_bound(10.0, 50) > power.sd_lower_bound(10.0, 5)
