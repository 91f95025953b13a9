"""Strategy activity read from trial logs: what counts as a strategy having acted."""

from benchmarks.activity import activity, activity_table, step_acts

QUIET = {"problems": [], "frozen": [], "shown": {"contrast": {"better": 0, "worse": 0, "pair": None}},
         "reason": "improved by 20.0 points", "accept_draw": None, "accepted": True, "clipped": False}


def test_a_quiet_step_counts_for_no_strategy():
    assert not any(step_acts(QUIET).values())


def test_each_strategy_is_counted_only_when_it_changed_the_step():
    acted = {**QUIET, "problems": ["Your rewrite changed 4 sentences but at most 2 may change."],
             "frozen": ["Read it."], "accept_draw": 0.1, "accepted": True,
             "shown": {"earlier_critiques": {"count": 2}, "contrast": {"better": 1, "worse": 0, "pair": None}},
             "reason": "tie on the minibatch, but longer (penalty 0.40 points)"}
    assert all(step_acts(acted).values())
    rejected_draw = {**QUIET, "accept_draw": 0.9, "accepted": False}
    assert step_acts(rejected_draw)["annealing_draws"] and not step_acts(rejected_draw)["annealing_accepted"]
    counts = activity([QUIET, acted, rejected_draw, {"outcome": "skipped"}])
    assert counts["steps"] == 4 and counts["annealing_draws"] == 2 and counts["annealing_accepted"] == 1
    assert counts["dropout"] == 1 and counts["learning_rate"] == 1


def test_the_table_sums_cells_per_optimizer_and_skips_cells_without_logs():
    cells = [{"optimizer": "dlpo", "details": {"trial_logs": [QUIET, {**QUIET, "frozen": ["x"]}]}},
             {"optimizer": "dlpo", "details": {"trial_logs": [{**QUIET, "frozen": ["y"]}]}},
             {"optimizer": "gepa", "details": {}}]
    table = activity_table(cells)
    assert "| dlpo | 3 | 0 | 2 |" in table and "gepa" not in table
    assert activity_table([{"optimizer": "gepa", "details": {}}]) is None
