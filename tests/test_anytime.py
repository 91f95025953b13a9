"""benchmarks.anytime: the program each optimizer would have returned at 25/50/75/100% of its budget."""

import dspy
from dspy.utils.dummies import DummyLM

from benchmarks import anytime
from benchmarks.optimizers import OptimizerSetup, run_hand
from benchmarks.peers import BudgetedMIPROv2
from benchmarks.harness import CountingMetric

SEED = {"self": "seed"}


def details(*rows):
    """A DLPO/GEPA-shaped record: (discovery count, instruction, per-example scores) per candidate."""
    return {"candidates": [{"self": text} for _, text, _ in rows],
            "discovery_eval_counts": [count for count, _, _ in rows],
            "val_subscores": [scores for _, _, scores in rows]}


RUN = details((None, "seed", [1, 0, 0, 0]), (30, "one more", [1, 1, 0, 0]), (60, "two more", [1, 1, 1, 0]),
              (90, "three more", [1, 1, 1, 1]))


def instructions(points):
    return [p["instructions"]["self"] for p in points]


def test_dlpo_replays_its_margin_rule_and_gepa_takes_the_argmax():
    # budget 100, n_val 4: candidates are complete at 4, 34, 64 and 94 calls; the points are at 25, 50, 75, 100
    dlpo = anytime.anytime_points("dlpo", RUN, budget=100, n_val=4, seed_instructions=SEED)
    assert instructions(dlpo) == ["seed", "seed", "two more", "two more"]  # +1 example is not a new best; +2 is, +1 after it not
    gepa = anytime.anytime_points("gepa", RUN, budget=100, n_val=4, seed_instructions=SEED)
    assert instructions(gepa) == ["seed", "one more", "two more", "three more"]
    assert [p["calls"] for p in gepa] == [25, 50, 75, 100] and gepa[-1]["val"] == 100.0
    assert instructions(anytime.anytime_points("tgd", RUN, budget=100, n_val=4, seed_instructions=SEED)) == instructions(dlpo)


def test_a_candidate_counts_only_once_its_validation_is_complete_and_before_any_the_seed():
    late = details((None, "seed", [0, 0]), (49, "better", [1, 1]))
    points = anytime.anytime_points("gepa", late, budget=100, n_val=2, seed_instructions=SEED)
    assert instructions(points) == ["seed", "seed", "better", "better"]  # 49 + 2 = 51 > 50
    empty = anytime.anytime_points("gepa", details((10, "x", [1])), budget=20, n_val=1, seed_instructions=SEED)
    assert instructions(empty)[0] == "seed" and empty[0]["val"] is None


def test_ties_keep_the_earliest_and_gepa_dict_subscores_are_read():
    tie = {"candidates": [{"self": "a"}, {"self": "b"}], "discovery_eval_counts": [0, 5],
           "val_subscores": [{0: 1.0, 1: 0.0}, {0: 0.0, 1: 1.0}]}
    assert instructions(anytime.anytime_points("gepa", tie, budget=40, n_val=2, seed_instructions=SEED)) == ["a"] * 4


def test_reference_rows_and_records_without_validations():
    assert instructions(anytime.anytime_points("hand", {}, budget=8, n_val=2, seed_instructions={"self": "h"})) == ["h"] * 4
    assert anytime.anytime_points("copro", {"proposals": []}, budget=8, n_val=2, seed_instructions=SEED) is None
    mipro = {"full_evals": [{"calls": 2, "instructions": {"self": "seed"}, "scores": [0, 1]},
                            {"calls": 4, "instructions": {"self": "m"}, "scores": [1, 1]}]}
    assert instructions(anytime.anytime_points("miprov2", mipro, budget=8, n_val=2, seed_instructions=SEED)) == \
        ["seed", "m", "m", "m"]


def test_budgeted_miprov2_records_each_full_validation_with_the_calls_spent():
    counting = CountingMetric(lambda ex, pred, trace=None: 1.0)
    lm = DummyLM([{"answer": "a"}])
    optimizer = BudgetedMIPROv2(metric=counting, counting=counting, budget=10, auto=None, num_candidates=2,
                                prompt_model=lm, task_model=lm,
                                max_bootstrapped_demos=0, max_labeled_demos=0, verbose=False)
    valset = [dspy.Example(question="q", answer="a").with_inputs("question")] * 3

    def evaluate(program, devset, **kwargs):
        for ex in devset:
            counting(ex, None)
        return dspy.Prediction(score=100.0, results=[(ex, None, 1.0) for ex in devset])

    program = dspy.Predict("question -> answer")
    recording = optimizer._recording(evaluate, len(valset))
    recording(program, devset=valset)
    recording(program, devset=valset[:2])  # a minibatch is not a full validation
    assert optimizer.full_evals == [{"calls": 3, "instructions": {"self": program.signature.instructions},
                                     "scores": [1.0, 1.0, 1.0]}]


def test_the_hand_row_carries_the_preregistered_line():
    program = dspy.ChainOfThought("question -> answer")
    setup = OptimizerSetup(program=program, trainset=[], valset=[], metric=None, task_lm=None, optimizer_lm=None,
                           budget=1, threads=1, seed=0, task="bbh/word_sorting@predict")
    out, record = run_hand(setup)
    from benchmarks.optimizers import hand_instruction
    assert all(p.signature.instructions == hand_instruction("bbh/word_sorting") for _, p in out.named_predictors())
    assert record["metric_calls_counted"] == 0 and program.predict.signature.instructions != hand_instruction("bbh/word_sorting")


def test_the_anytime_table_averages_every_row_over_the_same_tasks() -> None:
    from benchmarks.report import powered

    def curve_cell(task, optimizer, seed, points):
        return {"status": "ok", "task": task, "optimizer": optimizer, "seed": seed, "config": {"budget": 300},
                "test": {"score": points[-1], "per_example": [1.0]},
                "anytime": [{"fraction": f, "test": p} for f, p in zip((0.25, 0.5, 0.75, 1.0), points)]}

    records = [curve_cell("t1", "dlpo", 0, [10, 20, 30, 40]), curve_cell("t2", "dlpo", 0, [50, 60, 70, 80]),
               curve_cell("t1", "gepa", 0, [10, 10, 10, 10])]  # GEPA has not run t2 yet
    assert powered.curve_means(records) == {"dlpo": [10, 20, 30, 40], "gepa": [10, 10, 10, 10]}
    assert "the 1 task(s) every row has: t1" in powered.anytime_table(records)
    records.append(curve_cell("t2", "gepa", 0, [50, 50, 50, 90]))
    assert powered.curve_means(records)["dlpo"] == [30, 40, 50, 60]
