"""Strategy activity read from trial logs: what counts as a strategy having acted."""

from benchmarks.activity import activity, activity_table, step_acts

QUIET = {"problems": [], "frozen": [], "shown": {"contrast": {"better": 0, "worse": 0, "pair": None}},
         "reason": "improved by 20.0 points", "accept_draw": None, "accepted": True, "clipped": False}


def test_a_quiet_step_counts_for_no_strategy():
    assert not any(step_acts(QUIET).values())


def test_each_strategy_is_counted_only_when_it_changed_the_step():
    acted = {**QUIET, "refused": ["learning_rate"], "frozen": ["Read it."], "accept_draw": 0.1, "accepted": True,
             "shown": {"earlier_critiques": {"count": 2}, "contrast": {"better": 1, "worse": 0, "pair": None}},
             "score_delta": 0.0, "penalty": 0.4}
    assert all(step_acts(acted).values())
    rejected_draw = {**QUIET, "accept_draw": 0.9, "accepted": False}
    assert step_acts(rejected_draw)["annealing_draws"] and not step_acts(rejected_draw)["annealing_accepted"]
    counts = activity([QUIET, acted, rejected_draw, {"outcome": "skipped"}])
    assert counts["steps"] == 4 and counts["annealing_draws"] == 2 and counts["annealing_accepted"] == 1
    assert counts["dropout"] == 1 and counts["learning_rate"] == 1


def test_records_with_acted_are_read_from_it_and_never_from_messages():
    noted = {**QUIET, "acted": {"dropout": "froze sentence(s) [2]", "annealing": "a drop put to the draw",
                                "momentum": "showed 1 earlier critique(s)", "contrastive": "showed 1 better"},
             "accepted": False}
    acts = step_acts(noted)
    assert acts["dropout"] and acts["annealing_draws"] and acts["momentum"] and acts["contrastive"]
    assert not acts["annealing_accepted"] and not acts["learning_rate"] and not acts["regularization"]
    # a message that says what a strategy did counts for nothing: only the structured fields do
    worded = {**QUIET, "acted": {}, "problems": ["Your rewrite changed 4 sentences but at most 2 may change."],
              "reason": "tie on the minibatch, but longer (penalty 0.40 points)", "frozen": ["x"]}
    assert not any(step_acts(worded).values())
    assert step_acts({**QUIET, "refused": ["regularization"]})["regularization"]
    assert step_acts({**QUIET, "score_delta": 0.0, "penalty": -0.2})["regularization"]  # a shorter tie won


def test_the_table_sums_cells_per_optimizer_and_skips_cells_without_logs():
    cells = [{"optimizer": "dlpo", "details": {"trial_logs": [QUIET, {**QUIET, "frozen": ["x"]}]}},
             {"optimizer": "dlpo", "details": {"trial_logs": [{**QUIET, "frozen": ["y"]}]}},
             {"optimizer": "gepa", "details": {}}]
    table = activity_table(cells)
    assert "| dlpo | 3 | 0 | 2 |" in table and "gepa" not in table
    assert activity_table([{"optimizer": "gepa", "details": {}}]) is None


def test_field_invention_counts_rewrites_naming_missing_fields_apart_by_contrast():
    from benchmarks.activity import field_invention, field_invention_table
    seed = "Given the fields `question`, produce the fields `answer`."
    invented = "Given the fields `question` and `options`, produce the fields `answer`."
    contrast = {"contrast": {"better": 0, "worse": 0, "pair": "minibatch"}}
    logs = [{"instruction_before": seed, "instruction_after": invented, "shown": contrast},
            {"instruction_before": invented, "instruction_after": invented + " Be brief.", "shown": contrast},
            {"instruction_before": seed, "instruction_after": seed, "shown": {}},           # no rewrite
            {"instruction_before": seed, "instruction_after": seed + " Answer `answer` only.", "shown": {}},
            {"instruction_before": seed, "shown": {}, "proposals": [
                {"instruction": "Use `question` and `hint`."}, {"instruction": None}, {"instruction": "Answer."}]}]
    counts = field_invention(logs)
    assert counts == {"with_contrast": 1, "invented_with_contrast": 1, "without_contrast": 3,
                      "invented_without_contrast": 1}
    table = field_invention_table([{"optimizer": "dlpo", "details": {"trial_logs": logs}},
                                   {"optimizer": "tgd", "details": {"trial_logs": []}}])
    assert "| dlpo | 1 of 1 (100%) | 1 of 3 (33%) |" in table and "| all | 1 of 1 (100%) | 1 of 3 (33%) |" in table
    assert field_invention_table([{"optimizer": "gepa", "details": {}}]) is None
