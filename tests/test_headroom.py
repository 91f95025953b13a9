"""benchmarks.headroom: the pre-registered instructions, the rows it scores and the table it renders."""

import json

import dspy

from benchmarks import headroom, optimizers
from dspy_dlpo.checkpoint import atomic_write_json
from dspy_dlpo.tasks import load_task


def test_every_bbh_task_and_gsm8k_has_a_preregistered_line():
    lines = json.loads(optimizers.HAND_INSTRUCTIONS.read_text())
    from dspy_dlpo.tasks import available_tasks
    bbh = [t.removeprefix("bbh/") for t in available_tasks() if t.startswith("bbh/")]
    assert bbh and all(lines.get(t) for t in bbh) and lines["gsm8k"]


def test_the_rows_are_train_then_val_never_test_and_the_hand_line_is_on_every_predictor():
    task = load_task("bbh/object_counting")
    rows = headroom.headroom_rows(task, 60)
    assert rows[:50] == list(task.trainset) and rows[50:] == list(task.valset)[:10]
    assert not {r.question for r in rows} & {r.question for r in task.testset}
    for form in headroom.FORMS:
        program = headroom.program_for(task, form, "hand")
        assert all(p.signature.instructions == optimizers.hand_instruction(task.name)
                   for _, p in program.named_predictors())
    assert isinstance(headroom.program_for(task, "predict", "default"), dspy.Predict)


def test_the_table_pairs_the_two_instructions_and_marks_a_ten_point_gain(tmp_path):
    for task, default, hand in (("bbh/a", [0, 0, 1, 1, 0] * 4, [1, 1, 1, 1, 0] * 4), ("bbh/b", [1, 0] * 10, [1, 0] * 10)):
        for variant, scores in (("default", default), ("hand", hand)):
            atomic_write_json(headroom.cell_file(tmp_path, task, "predict", variant),
                              {"task": task, "form": "predict", "variant": variant, "n": len(scores),
                               "score": 100.0 * sum(scores) / len(scores), "per_example": scores})
    text = headroom.table(tmp_path)
    assert "| bbh/a | predict | 20 | 40 | 80 | +40 [" in text and "**sensitive**" in text.split("bbh/a")[1]
    assert "| bbh/b | predict | 20 | 50 | 50 | +0 [+0, +0] | no |" in text


def test_the_screening_order_leaves_out_the_development_rows_and_stops_at_six(tmp_path):
    lines = json.loads(optimizers.HAND_INSTRUCTIONS.read_text())
    assert all(lines.get(t.removeprefix("bbh/")) for t in headroom.SCREENING)
    dev = {"bbh/logical_deduction_three_objects", "bbh/object_counting", "bbh/tracking_shuffled_objects_three_objects"}
    assert not dev & set(headroom.SCREENING) and len(set(headroom.SCREENING)) == len(headroom.SCREENING)
    for i, task in enumerate(headroom.SCREENING[:7]):
        assert not headroom.screened_enough(tmp_path)
        hand = [1] * 20 if i != 2 else [0] * 20  # the third gains nothing
        for variant, scores in (("default", [0] * 20), ("hand", hand)):
            atomic_write_json(headroom.cell_file(tmp_path, task, "predict", variant),
                              {"score": 100.0 * sum(scores) / 20, "per_example": scores})
    assert headroom.screened_enough(tmp_path) and headroom.gain(tmp_path, headroom.SCREENING[2], "predict") == 0
    assert headroom.gain(tmp_path, headroom.SCREENING[8], "predict") is None
