"""The DSPy contract and the loop, end to end with scripted LMs."""

import itertools

import dspy
import pytest

from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.budget import auto_budget
from scripted import MAGIC, ScriptedOptimizer, chat_reply, exact_metric, field_value, reverse_examples, reverse_task_lm
from dspy_dlpo.lm.engine import function_lm

DATA = reverse_examples()
TRAIN, VAL = DATA[:8], DATA[8:]


def compile_reverse(program=None, optimizer=None, **options):
    optimizer = optimizer or ScriptedOptimizer()
    options = {"max_metric_calls": 60, "batch_size": 4, "progress": False, **options}
    program = program or dspy.Predict("question -> answer")
    with dspy.context(lm=reverse_task_lm()):
        result = DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), **options).compile(
            program, trainset=TRAIN, valset=VAL)
    return program, result, optimizer


def test_end_to_end_score_rises_and_student_untouched():
    student, result, _ = compile_reverse()
    assert result.detailed_results["initial_score"] == 0.0
    assert result.score == 100.0
    assert result.signature.instructions == MAGIC
    assert student.signature.instructions == "Given the fields `question`, produce the fields `answer`."
    assert result is not student
    first = result.trial_logs[0]
    assert first["outcome"] == "accepted" and first["gradient"].startswith("The instruction never says")
    assert first["instruction_before"] != first["instruction_after"] == MAGIC
    assert [c["score"] for c in result.candidate_programs] == [100.0, 0.0]


def test_evaluate_reproduces_reported_score_and_save_load(tmp_path):
    _, result, _ = compile_reverse()
    with dspy.context(lm=reverse_task_lm()):
        evaluated = dspy.Evaluate(devset=VAL, metric=exact_metric, display_progress=False)(result)
        assert evaluated.score == result.score
        path = tmp_path / "program.json"
        result.save(str(path))
        fresh = dspy.Predict("question -> answer")
        fresh.load(str(path))
        assert fresh.signature.instructions == MAGIC
        assert dspy.Evaluate(devset=VAL, metric=exact_metric, display_progress=False)(fresh).score == 100.0


def test_budget_accounting_is_exact():
    # rewrites that never help: every candidate ties (score 0): the search moves, nothing is validated
    optimizer = ScriptedOptimizer(rewrite=lambda prompt, n: f"<instruction>Variant {n}.</instruction>")
    _, result, _ = compile_reverse(optimizer=optimizer, max_metric_calls=60)
    spend, logs = result.detailed_results["spend"], result.trial_logs
    # baseline validation 8; step 0: 4 current + 3 candidates x 4 (a line search), its tie validated (8)
    # while a full step still fits after it; step 1 is the last one, sized to what is left (20 - 8 for one
    # validation = 5 examples x 4 programs); its tie cannot be validated and moves the search; the last
    # 8 calls validate it (the most promising unvalidated candidate): the whole budget, never more
    assert [r["step_metric_calls"] for r in logs] == [24, 20, 8]
    assert [r["metric_calls"] for r in logs] == [32, 52, 60]
    assert [r["outcome"] for r in logs] == ["accepted", "moved", "validated"]
    assert [r["val_score"] for r in logs] == [0.0, None, 0.0]
    assert len(logs[0]["batch"]) == 4 and len(logs[1]["batch"]) == 5
    assert "not validated (no minibatch gain)" in logs[1]["reason"]
    assert spend["metric_calls"] == 60 and result.detailed_results["stop_reason"] == "budget"
    assert spend["optimizer_calls"] == len(optimizer.prompts) == 8 == logs[-1]["optimizer_calls"]
    assert spend["task_lm_calls"] == 60          # one uncached task-LM call per rollout
    assert spend["task_input_tokens"] > 0 and spend["optimizer_input_tokens"] > 0
    assert result.score == 0.0 and len(result.candidate_programs) == 3
    # each move starts from the previous candidate
    assert logs[1]["instruction_before"] == logs[0]["instruction_after"]


def test_a_minibatch_gain_is_validated_and_counted():
    _, result, _ = compile_reverse(max_metric_calls=60)
    first = result.trial_logs[0]
    # baseline 8, then 4 current + 4 candidate + 8 validation
    assert first["outcome"] == "accepted" and first["val_score"] == 100.0
    assert first["step_metric_calls"] == 16 and first["metric_calls"] == 24


class TwoStep(dspy.Module):
    def __init__(self):
        super().__init__()
        self.stages = [dspy.Predict("question -> draft"), dspy.Predict("draft -> answer")]

    def forward(self, question):
        draft = self.stages[0](question=question).draft
        return self.stages[1](draft=draft)


def two_step_lm():
    def reply(messages, options):
        system = messages[0]["content"].lower()
        if "[[ ## draft ## ]]" in messages[-1]["content"] and "answer" in system and "draft" in system.split("outputs")[0]:
            pass
        if "your output fields are:\n1. `draft`" in system:
            word = field_value(messages, "question")
            return chat_reply(draft=word[::-1] if MAGIC.lower() in system else word)
        return chat_reply(answer=field_value(messages, "draft"))
    return function_lm(reply, name="two-step")


def test_multi_predictor_program_round_robin():
    opt = ScriptedOptimizer()
    program = TwoStep()
    with dspy.context(lm=two_step_lm()):
        result = DLPOTeleprompter(exact_metric, prompt_model=opt.lm(), max_steps=2, batch_size=4,
                                  progress=False).compile(program, trainset=TRAIN, valset=VAL)
    names = [name for name, _ in program.named_predictors()]
    assert names == ["stages[0]", "stages[1]"]
    assert [r["param"] for r in result.trial_logs] == ["stages[0]"]   # validation solved after one step
    assert dict(result.named_predictors())["stages[0]"].signature.instructions == MAGIC
    assert result.score == 100.0
    assert "This step saw" in opt.prompts[0]   # multi-predictor losses include the step's own trace


def test_chain_of_thought_program():
    def reply(messages, options):
        word = field_value(messages, "question")
        answer = word[::-1] if MAGIC.lower() in messages[0]["content"].lower() else word
        return chat_reply(reasoning="thinking", answer=answer)
    opt = ScriptedOptimizer()
    with dspy.context(lm=function_lm(reply, name="cot")):
        result = DLPOTeleprompter(exact_metric, prompt_model=opt.lm(), max_steps=1, batch_size=4,
                                  progress=False).compile(dspy.ChainOfThought("question -> answer"),
                                                          trainset=TRAIN, valset=VAL)
    assert result.predict.signature.instructions == MAGIC and result.score == 100.0


def hashed_task_lm():
    """Task LM that is right on a pseudo-random third of (instruction, word) pairs: varied scores."""
    import hashlib

    def reply(messages, options):
        word = field_value(messages, "question")
        key = hashlib.sha256((messages[0]["content"] + word).encode()).digest()[0]
        return chat_reply(answer=word[::-1] if key % 3 == 0 else word)
    return function_lm(reply, name="hashed")


def run_hashed(seed=0, num_threads=4, **options):
    optimizer = ScriptedOptimizer(rewrite=lambda prompt, n: f"<instruction>Try variant {n}. Be careful.</instruction>")
    with dspy.context(lm=hashed_task_lm()):
        tp = DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), batch_size=4, seed=seed,
                              num_threads=num_threads, progress=False, **{"max_metric_calls": 150, **options})
        return tp.compile(dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL)


def test_determinism_same_seed_same_logs():
    first, second = run_hashed(), run_hashed()
    assert len(first.trial_logs) >= 5
    assert {r["outcome"] for r in first.trial_logs} >= {"accepted", "rejected"}
    assert first.trial_logs == second.trial_logs
    assert first.detailed_results == second.detailed_results
    other = run_hashed(seed=1)
    assert [r["batch"] for r in other.trial_logs] != [r["batch"] for r in first.trial_logs]


def test_valset_split_when_missing(caplog):
    opt = ScriptedOptimizer()
    with dspy.context(lm=reverse_task_lm()), caplog.at_level("INFO"):
        result = DLPOTeleprompter(exact_metric, prompt_model=opt.lm(), max_steps=1, batch_size=4,
                                  progress=False).compile(dspy.Predict("question -> answer"), trainset=DATA)
    assert "no valset given: split trainset (16) into 8 train / 8 validation" in caplog.text
    assert result.score == 100.0


def test_auto_presets_are_gepas_budgets():
    gepa = dspy.GEPA(metric=lambda gold, pred, trace, pred_name, pred_trace: 1.0, auto="light", reflection_lm=ScriptedOptimizer().lm())
    for preds, val, (preset, n) in itertools.product((1, 2, 3), (8, 100), (("light", 6), ("medium", 12), ("heavy", 18))):
        assert auto_budget(preset, num_params=preds, val_size=val) == \
            gepa.auto_budget(num_preds=preds, num_candidates=n, valset_size=val)
    assert auto_budget("light", num_params=1, val_size=100) == 780


def test_budget_too_small_is_an_error_before_any_call():
    opt = ScriptedOptimizer()
    with pytest.raises(ValueError, match="too small for even one step.*needs at least 32"):
        compile_reverse(optimizer=opt, max_metric_calls=23)
    assert opt.prompts == []


def test_get_params_is_json_friendly():
    import json
    tp = DLPOTeleprompter(exact_metric, max_steps=3)
    params = tp.get_params()
    json.dumps(params)
    assert [s["name"] for s in params["strategies"]] == ["dropout", "momentum", "contrastive", "learning_rate",
                                                         "regularization", "annealing"]


def test_patience_stops_early_and_returns_the_unspent_budget():
    # each step asks for a critique then a rewrite; only the third step's rewrite (call 6) helps
    def late(prompt, n):
        return f"<instruction>{MAGIC}</instruction>" if n >= 6 else f"<instruction>Variant {n}.</instruction>"

    _, stopped, _ = compile_reverse(optimizer=ScriptedOptimizer(rewrite=late), max_metric_calls=60, patience=2,
                                   candidates_per_step=1)
    details = stopped.detailed_results
    assert details["stop_reason"] == "patience" and details["steps"] == 2
    # each step: 4 current + 4 candidate, and its minibatch tie validated (8) while the budget allows
    assert details["spend"]["metric_calls"] == 8 + 2 * 16 < 60 and stopped.score == 0.0
    # one more step of patience reaches the helpful rewrite
    _, patient, _ = compile_reverse(optimizer=ScriptedOptimizer(rewrite=late), max_metric_calls=60, patience=3,
                                   candidates_per_step=1)
    assert patient.detailed_results["stop_reason"] == "validation solved" and patient.score == 100.0
    assert patient.detailed_results["steps"] == 3


def test_append_on_no_op_turns_unchanged_rewrites_into_one_added_sentence():
    # an optimizer LM that returns every instruction unchanged, but can name one sentence to add
    def stubborn(prompt, n):
        if "<sentence>" in prompt:
            return f"<sentence>{MAGIC}</sentence>"
        current = prompt.split("one sentence per line:\n", 1)[1].split("\n\n", 1)[0]
        return f"<instruction>{current.removeprefix('[1] ')}</instruction>"

    _, stuck, _ = compile_reverse(optimizer=ScriptedOptimizer(rewrite=stubborn), max_steps=2, candidates_per_step=1)
    assert stuck.score == 0.0 and [log["outcome"] for log in stuck.trial_logs] == ["no-op", "no-op"]
    _, moved, optimizer = compile_reverse(optimizer=ScriptedOptimizer(rewrite=stubborn), max_steps=2,
                                          append_on_no_op=True, candidates_per_step=1)
    first = moved.trial_logs[0]
    assert first["outcome"] == "accepted" and first["appended"] is True and first["attempts"] == 2
    assert moved.score == 100.0 and moved.signature.instructions.endswith(" " + MAGIC)
    fallback = next(p for p in optimizer.prompts if "<sentence>" in p)
    assert "Expected:\n" in fallback and "Program output:\n" in fallback   # a failing example is shown
    assert DLPOTeleprompter(exact_metric, append_on_no_op=True).get_params()["append_on_no_op"] is True
