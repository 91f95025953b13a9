"""Swapping MIPROv2 / GEPA for DLPO: the usage line, the metric contract, the peers' keywords."""

import inspect
import logging
from decimal import Decimal
from fractions import Fraction

import dspy
import numpy as np
import pytest

from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.contract import default_metric
from dspy_dlpo.program import run_example, score_with_metric
from scripted import MAGIC, ScriptedOptimizer, chat_reply, exact_metric, field_value, reverse_examples, reverse_task_lm
from dspy_dlpo.lm.engine import function_lm

DATA = reverse_examples()
TRAIN, VAL = DATA[:8], DATA[8:]


def run(metric=exact_metric, *, trainset=TRAIN, valset=VAL, program=None, optimizer=None, task_lm=None,
        compile_kwargs=None, **options):
    optimizer = optimizer or ScriptedOptimizer()
    options = {"max_metric_calls": 60, "batch_size": 4, "progress": False, "prompt_model": optimizer.lm(), **options}
    program = program or dspy.Predict("question -> answer")
    with dspy.context(lm=task_lm or reverse_task_lm()):
        result = DLPOTeleprompter(metric, **options).compile(program, trainset=trainset, valset=valset,
                                                             **(compile_kwargs or {}))
    return result, optimizer


# -- the usage line -------------------------------------------------------------------------
def test_the_usage_line_without_metric_and_with_positional_trainset(caplog):
    optimizer = ScriptedOptimizer()
    with caplog.at_level(logging.INFO, logger="dspy_dlpo"), dspy.context(lm=reverse_task_lm()):
        result = DLPOTeleprompter(prompt_model=optimizer.lm(), max_steps=3, batch_size=4,
                                  progress=False).compile(dspy.Predict("question -> answer"), DATA)
    assert "no metric given: scoring by normalized exact match of ['answer']" in caplog.text
    assert "no valset given: split trainset (16) into 8 train / 8 validation" in caplog.text
    assert result.detailed_results["initial_score"] == 0.0 and result.score == 100.0
    assert result.signature.instructions == MAGIC


def test_compile_keeps_the_signature_dspy_tools_inspect():
    assert "compile" in DLPOTeleprompter.__dict__
    params = inspect.signature(DLPOTeleprompter.compile).parameters
    assert {"student", "trainset", "teacher", "valset"} <= set(params)
    assert params["trainset"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


def test_default_metric_normalizes_like_answer_exact_match():
    program = dspy.ChainOfThought("question -> answer")
    metric = default_metric(program, TRAIN)
    gold = dspy.Example(question="q", answer="The Apple").with_inputs("question")
    assert metric(gold, dspy.Prediction(reasoning="r", answer="apple!")).score == 1.0
    assert dspy.evaluate.answer_exact_match(gold, dspy.Prediction(answer="apple!"))
    wrong = metric(gold, dspy.Prediction(answer="pear"))
    assert wrong.score == 0.0 and "Expected answer 'The Apple' but got 'pear'" in wrong.feedback
    listed = dspy.Example(question="q", answer=["Paris", "paris, France"]).with_inputs("question")
    assert metric(listed, dspy.Prediction(answer="paris")).score == 1.0
    # a gold rationale is not compared with the chain of thought's reasoning
    reasoned = dspy.Example(question="q", reasoning="because", answer="7").with_inputs("question")
    metric = default_metric(program, [reasoned])
    assert metric.__name__ == "exact_match(answer)"
    assert metric(reasoned, dspy.Prediction(reasoning="other words", answer="7")).score == 1.0


def test_default_metric_scores_the_share_of_matching_fields():
    program = dspy.Predict("question -> answer, unit")
    gold = dspy.Example(question="q", answer="7", unit="km").with_inputs("question")
    metric = default_metric(program, [gold])
    assert metric(gold, dspy.Prediction(answer="7", unit="miles")).score == 0.5
    assert metric(gold, dspy.Prediction(answer="7", unit="KM")).score == 1.0


def test_default_metric_needs_a_label_the_program_outputs():
    examples = [dspy.Example(question="q", label="x").with_inputs("question")] * 4
    with pytest.raises(ValueError, match=r"no label field of the examples \(\['label'\]\) is an output .*\['answer'\]"):
        DLPOTeleprompter(progress=False).compile(dspy.Predict("question -> answer"), examples)


# -- the metric contract ----------------------------------------------------------------------
def half_credit(example, pred, trace=None):
    answer = str(getattr(pred, "answer", ""))
    return 1.0 if answer == example.answer else 0.5 if answer else 0.0


def trace_idiom(example, pred, trace=None):
    score = half_credit(example, pred)
    return score if trace is None else score >= 0.9


def test_the_trace_idiom_scores_as_in_dspy_evaluate():
    program = dspy.Predict("question -> answer")
    with dspy.context(lm=reverse_task_lm()):
        evaluated = dspy.Evaluate(devset=VAL, metric=trace_idiom, display_progress=False)(program).score
    result, _ = run(trace_idiom, program=program)
    assert evaluated == 50.0 == result.detailed_results["initial_score"]
    assert result.detailed_results.val_subscores[0] == [0.5] * len(VAL)


def test_the_metric_sees_no_trace_but_the_losses_keep_it():
    seen = []

    def gepa_style(gold, pred, trace, pred_name, pred_trace):
        seen.append((trace, pred_name, pred_trace))
        return float(pred.answer == gold.answer)

    with dspy.context(lm=reverse_task_lm()):
        rollout = run_example(dspy.Predict("question -> answer"), gepa_style, 0, VAL[0])
    assert seen == [(None, None, None)]
    assert rollout.traces["self"][0]["outputs"]["answer"] == VAL[0].question


@pytest.mark.parametrize("value, expected", [(np.bool_(True), 1.0), (np.float32(0.5), 0.5), (np.int64(1), 1.0),
                                             (Decimal("0.25"), 0.25), (Fraction(3, 4), 0.75), (np.array(0.5), 0.5),
                                             (np.float64(0.0), 0.0)])
def test_every_real_number_type_is_a_score(value, expected):
    example = dspy.Example(question="a", answer="a").with_inputs("question")
    assert score_with_metric(lambda ex, pred: value, example, dspy.Prediction(answer="a"), None) == (expected, "", None)
    wrapped = lambda ex, pred: dspy.Prediction(score=value, feedback="f")
    assert score_with_metric(wrapped, example, dspy.Prediction(answer="a"), None) == (expected, "f", None)


def test_numpy_scores_run_end_to_end():
    result, _ = run(lambda ex, pred, trace=None: np.float32(pred.answer == ex.answer))
    assert result.score == 100.0 and result.detailed_results["faults"] == {}


@pytest.mark.parametrize("value", [7, -1, 1.5])
def test_scores_outside_0_1_stop_at_the_baseline(value):
    def judge(example, pred, trace=None):
        return value if example.question == VAL[3].question else 1

    with pytest.raises(ValueError, match=rf"the metric 'judge' returned {float(value)!r}, outside the range "
                                         r"\[0, 1\] on validation example 3: .*rescale"):
        run(judge)


def test_input_keys_that_do_not_fit_the_program_stop_before_any_lm_call():
    calls = []
    task_lm = function_lm(lambda m, o: calls.append(1) or chat_reply(answer="x"), name="counting")
    wrong = [dspy.Example(text=w, answer=w[::-1]).with_inputs("text") for w in ["ab", "cd", "ef", "gh"]]
    with pytest.raises(ValueError, match=r"trainset\[0\] has input keys \['text'\] but the program Predict takes "
                                         r"\['question'\]: missing \['question'\], extra \['text'\]"):
        run(trainset=wrong, valset=wrong, task_lm=task_lm)
    assert calls == []


class Explicit(dspy.Module):
    def __init__(self):
        super().__init__()
        self.predict = dspy.Predict("question -> answer")

    def forward(self, question):
        return self.predict(question=question)


def test_extra_input_keys_fail_for_an_explicit_forward_and_warn_for_a_signature(caplog):
    extra = [dspy.Example(question=e.question, hint="h", answer=e.answer).with_inputs("question", "hint")
             for e in DATA[:6]]
    with pytest.raises(ValueError, match=r"missing \[\], extra \['hint'\]"):
        run(trainset=extra[:4], valset=extra[4:], program=Explicit())
    with caplog.at_level(logging.WARNING, logger="dspy_dlpo"):
        run(trainset=extra[:4], valset=extra[4:], max_steps=1, max_metric_calls=None)
    assert "has input keys ['hint'] that the program does not read" in caplog.text


# -- the peers' keywords --------------------------------------------------------------------------
def test_reflection_lm_is_the_optimizer_lm():
    optimizer = ScriptedOptimizer()
    result, _ = run(prompt_model=None, reflection_lm=optimizer.lm())
    assert result.score == 100.0 and optimizer.prompts
    lm = optimizer.lm()
    assert DLPOTeleprompter(prompt_model=lm, reflection_lm=lm).prompt_model is lm
    with pytest.raises(ValueError, match="reflection_lm is another name for prompt_model: pass one of them"):
        DLPOTeleprompter(prompt_model=optimizer.lm(), reflection_lm=ScriptedOptimizer().lm())


def test_peer_keywords_that_ask_for_what_dlpo_does_are_accepted():
    # MIPROv2's zero-shot setting, GEPA's round-robin selector, and features switched off
    DLPOTeleprompter(exact_metric, max_bootstrapped_demos=0, max_labeled_demos=0, component_selector="round_robin",
                     teacher_settings=None, task_model=None, use_merge=False, use_wandb=False, gepa_kwargs=None,
                     max_errors=None, verbose=False)
    with pytest.raises(TypeError, match="component_selector .* round-robin"):
        DLPOTeleprompter(exact_metric, component_selector="all")


def test_peer_defaults_and_aliases_are_accepted():
    tp = DLPOTeleprompter(exact_metric, num_threads=None, seed=None, track_stats=False, reflection_minibatch_size=3,
                          skip_perfect_score=True, failure_score=0.0, perfect_score=1.0)
    assert (tp.get_params()["seed"], tp.batch_size, tp.num_threads) == (0, 3, None)
    result, _ = run(num_threads=None, seed=None, compile_kwargs={"requires_permission_to_run": False})
    assert result.score == 100.0


@pytest.mark.parametrize("options, error, message", [
    ({"max_bootstrapped_demos": 4}, TypeError, "max_bootstrapped_demos .* run dspy.BootstrapFewShot"),
    ({"num_candidates": 10}, TypeError, "num_candidates .* use max_steps"),
    ({"init_temperature": 1.0}, TypeError, r"init_temperature .*prompt_model=dspy.LM\(\.\.\., temperature=t\)"),
    ({"max_full_evals": 0}, ValueError, "max_full_evals must be an int >= 1, got 0"),
    ({"max_full_evals": 3, "auto": "light"}, ValueError, r"either auto \('light'\) or max_full_evals \(3\)"),
    ({"breadth": 10}, TypeError, "breadth .*COPRO.* use candidates_per_step=N"),
    ({"depth": 3}, TypeError, "depth .*COPRO.* use max_steps=N"),
    ({"skip_perfect_score": False}, ValueError, "skip_perfect_score=False is not supported"),
    ({"failure_score": -1}, ValueError, "failure_score=-1 is not supported: a failed example always scores 0"),
    ({"no_such_option": 1}, TypeError, "unexpected keyword argument 'no_such_option'"),
    ({"callbacks": [object()]}, TypeError, "callbacks must be dspy_dlpo.Callback instances, got object"),
    ({"callbacks": "log"}, TypeError, "callbacks must be a list of dspy_dlpo.Callback, got str"),
    ({"track_stats": "yes"}, TypeError, "track_stats must be True or False, got 'yes'"),
    ({"max_cost_usd": 0}, ValueError, "max_cost_usd must be a number > 0 or None, got 0"),
    ({"timeout_seconds": "1h"}, TypeError, "timeout_seconds must be a number > 0 or None, got str '1h'"),
    ({"max_optimizer_tokens": 0}, ValueError, "max_optimizer_tokens must be an int >= 1, got 0"),
    ({"stopper": 3}, TypeError, "stopper must be a callable state -> bool or a list of them, got 3"),
])
def test_peer_keywords_without_an_equivalent_say_what_to_use(options, error, message):
    with pytest.raises(error, match=message):
        DLPOTeleprompter(exact_metric, **options)


def test_a_dspy_callback_is_pointed_to_dspy_configure():
    from dspy.utils.callback import BaseCallback

    with pytest.raises(TypeError, match=r"BaseCallback is a DSPy callback; register it with dspy.configure"):
        DLPOTeleprompter(exact_metric, callbacks=[BaseCallback()])


@pytest.mark.parametrize("kwargs, message", [({"minibatch_size": 10}, "pass batch_size=N to DLPOTeleprompter"),
                                             ({"num_trials": 20}, "use max_steps=N"),
                                             ({"eval_kwargs": {"num_threads": 4}}, "pass num_threads=N"),
                                             ({"seed": 3}, "pass seed=... to DLPOTeleprompter")])
def test_mipro_compile_keywords_are_answered_before_any_lm_call(kwargs, message):
    optimizer = ScriptedOptimizer()
    with pytest.raises(TypeError, match=message):
        DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm()).compile(dspy.Predict("question -> answer"),
                                                                            trainset=TRAIN, **kwargs)
    assert optimizer.prompts == []


def test_teacher_and_minibatch_are_ignored_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="dspy_dlpo"):
        result, _ = run(compile_kwargs={"teacher": dspy.Predict("question -> answer"), "minibatch": False})
    assert result.score == 100.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("does not use a teacher program: teacher=Predict is ignored" in w for w in warnings)
    assert any("minibatch=False is ignored" in w for w in warnings)


def test_num_threads_none_uses_dspys_setting():
    seen = []

    def reply(messages, options):
        import threading
        seen.append(threading.current_thread().name)
        word = field_value(messages, "question")
        return chat_reply(answer=word)

    with dspy.context(num_threads=3):
        result, _ = run(num_threads=None, task_lm=function_lm(reply, name="threads"), max_steps=1,
                        max_metric_calls=None)
    assert len(set(seen)) > 1 and result.detailed_results["steps"] == 1


def test_use_mlflow_without_mlflow_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)       # what `import mlflow` sees when it is not installed
    with pytest.raises(ImportError, match=r"use_mlflow=True needs MLflow: pip install 'dspy-dlpo\[mlflow\]'"):
        DLPOTeleprompter(exact_metric, use_mlflow=True)


def test_a_miprov2_script_and_a_gepa_script_run_with_one_line_changed():
    """The keywords these scripts typically pass, with only the class name swapped."""
    optimizer = ScriptedOptimizer()
    with dspy.context(lm=reverse_task_lm()):
        mipro_style = DLPOTeleprompter(metric=exact_metric, prompt_model=optimizer.lm(), task_model=None,
                                       max_bootstrapped_demos=0, max_labeled_demos=0, num_threads=None, seed=9,
                                       verbose=False, track_stats=True, max_steps=2, progress=False)
        best = mipro_style.compile(dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL,
                                   requires_permission_to_run=False)
        # baseline 8 + minibatch 3 before and 3 after the rewrite + validation 8; a critique, three rewrites (a
        # line search) and three more samples for distinct candidates (the scripted LM writes one text)
        assert best.score == 100.0 and best.total_calls == 22 and best.prompt_model_total_calls == 7

        def gepa_metric(gold, pred, trace=None, pred_name=None, pred_trace=None):
            return exact_metric(gold, pred)

        gepa_style = DLPOTeleprompter(metric=gepa_metric, max_metric_calls=60, reflection_lm=ScriptedOptimizer().lm(),
                                      reflection_minibatch_size=4, skip_perfect_score=True,
                                      component_selector="round_robin", track_stats=True, use_wandb=False,
                                      failure_score=0.0, perfect_score=1.0, seed=0, progress=False)
        best = gepa_style.compile(dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL)
    details = best.detailed_results
    assert details.val_aggregate_scores[details.best_idx] == 1.0 and details.best_instructions == {"self": MAGIC}
    assert details.best_candidate.signature.instructions == MAGIC


# -- issue 35: the second drop-in pass ----------------------------------------------------------
def test_every_refused_keyword_is_named_in_one_error_with_suggestions(caplog):
    # GEPA's own defaults, passed explicitly by typical GEPA scripts, are warned about, not refused
    gepa_defaults = {"use_merge": True, "max_merge_invocations": 5, "candidate_selection_strategy": "pareto"}
    with caplog.at_level("WARNING", logger="dspy_dlpo"):
        DLPOTeleprompter(exact_metric, auto="light", **gepa_defaults)
    assert "use_merge=True is ignored: DLPO has no merge step" in caplog.text
    assert "candidate_selection_strategy='pareto' is ignored" in caplog.text
    gepa_style = {"auto": "light", **gepa_defaults, "instruction_proposer": object(), "code_proposer": object(),
                  "max_metric_call": 100}
    with pytest.raises(TypeError) as raised:
        DLPOTeleprompter(exact_metric, **gepa_style)
    message = str(raised.value)
    assert message.startswith("DLPOTeleprompter: 3 keywords are not supported:")
    for name in ("instruction_proposer", "code_proposer"):
        assert f"- {name} (a MIPROv2/GEPA/COPRO keyword)" in message
    assert "unexpected keyword argument 'max_metric_call' (did you mean 'max_metric_calls'?)" in message
    assert isinstance(raised.value, ValueError)   # one error type for every refused option
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'val_set' \(did you mean 'valset'\?\)"):
        DLPOTeleprompter(exact_metric).compile(dspy.Predict("question -> answer"), TRAIN, val_set=VAL)
    with pytest.raises(TypeError, match="max_steps is an option of DLPOTeleprompter"):
        DLPOTeleprompter(exact_metric).compile(dspy.Predict("question -> answer"), TRAIN, max_steps=3)


def test_init_temperature_is_explained_without_pointing_at_annealing_as_a_fix():
    with pytest.raises(TypeError) as raised:
        DLPOTeleprompter(exact_metric, init_temperature=1.4)
    assert "annealing=t0 is not a sampling temperature" in str(raised.value)
    assert "use annealing" not in str(raised.value)


def test_every_peer_keyword_is_mapped_or_explained():
    from dspy_dlpo.peers import IGNORED, REJECTED
    own = set(inspect.signature(DLPOTeleprompter.__init__).parameters) | \
        set(inspect.signature(DLPOTeleprompter.compile).parameters)
    for peer in (dspy.GEPA, dspy.MIPROv2, dspy.COPRO, dspy.BootstrapFewShot, dspy.BootstrapFewShotWithRandomSearch):
        for method in ("__init__", "compile"):
            names = {n for n, p in inspect.signature(getattr(peer, method)).parameters.items()
                     if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and n != "self"}
            assert names - own - set(IGNORED) - set(REJECTED) == set(), (peer.__name__, method)


def test_max_full_evals_is_gepas_budget_and_task_model_runs_the_program():
    used = []

    def reply(messages, options):
        used.append(1)
        return reverse_task_lm_reply(messages)

    task = function_lm(reply, name="task-model")
    optimizer = ScriptedOptimizer()
    with dspy.context(lm=function_lm(lambda m, o: 1 / 0, name="never")):
        result = DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), task_model=task, max_full_evals=3,
                                  batch_size=4, progress=False).compile(dspy.Predict("question -> answer"),
                                                                        trainset=TRAIN, valset=VAL)
    assert result.detailed_results.budget == 3 * (len(TRAIN) + len(VAL)) and result.score == 100.0 and used


def reverse_task_lm_reply(messages):
    word = field_value(messages, "question")
    from scripted import system_text
    return chat_reply(answer=word[::-1] if MAGIC.lower() in system_text(messages).lower() else word)
