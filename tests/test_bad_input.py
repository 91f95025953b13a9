"""Wrong arguments are answered before any LM call, with errors that name the argument and value."""

import logging

import dspy
import pytest

from dspy_dlpo import DLPOTeleprompter
from scripted import ScriptedOptimizer, exact_metric, reverse_examples

DATA = reverse_examples()
OPT = ScriptedOptimizer()


class NoPredictors(dspy.Module):
    def forward(self, question):
        return dspy.Prediction(answer=question)


def two_args_only(example):
    return 1.0


CONSTRUCTOR_CASES = [
    ({"metric": "not callable"}, TypeError, "metric must be callable"),
    ({"metric": two_args_only}, TypeError, "metric must accept \\(example, prediction"),
    ({"max_metric_calls": 0}, ValueError, "max_metric_calls must be an int >= 1, got 0"),
    ({"max_metric_calls": -5}, ValueError, "max_metric_calls must be an int >= 1, got -5"),
    ({"max_steps": 0}, ValueError, "max_steps must be an int >= 1, got 0"),
    ({"patience": 0}, ValueError, "patience must be an int >= 1, got 0"),
    ({"patience": 2.5}, TypeError, "patience must be an int >= 1, got float 2.5"),
    ({"append_on_no_op": "yes"}, TypeError, "append_on_no_op must be True or False, got 'yes'"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an int >= 1, got float 2.5"),
    ({"num_threads": 0}, ValueError, "num_threads must be an int >= 1, got 0"),
    ({"seed": -1}, ValueError, "seed must be an int >= 0, got -1"),
    ({"auto": "huge"}, ValueError, "auto must be one of \\('light', 'medium', 'heavy'\\) or None, got 'huge'"),
    ({"auto": "light", "max_metric_calls": 500}, ValueError, "either auto \\('light'\\) or max_metric_calls \\(500\\)"),
    ({"dropout": 1.5}, ValueError, "dropout must be a number in \\[0, 1\\), got 1.5"),
    ({"dropout": "lots"}, TypeError, "dropout must be a bool, a number or a TextualDropout, got 'lots'"),
    ({"learning_rate": 0}, ValueError, "learning_rate must be an int >= 1 .* got 0"),
    ({"lr_decay": "sideways"}, ValueError, "lr_decay must be .* got 'sideways'"),
    ({"annealing": -1.0}, ValueError, "annealing p0 must be a finite number in \\[0, 1\\), got -1.0"),
    ({"annealing": 8.0}, ValueError, "annealing p0 must be a finite number in \\[0, 1\\), got 8.0"),
    ({"momentum": 0.5}, ValueError, "momentum window must be an int >= 1, got 0.5"),
    ({"regularization": -0.1}, ValueError, "regularization weight must be a number >= 0, got -0.1"),
    ({"strategies": ["not a strategy"]}, TypeError, "strategies must be Strategy instances, got str"),
    ({"prompt_model": "openai/gpt-4o-mini"}, TypeError, "prompt_model must be a dspy.LM .* got str 'openai/gpt-4o-mini'"),
]


@pytest.mark.parametrize("options, error, message", CONSTRUCTOR_CASES)
def test_bad_options(options, error, message):
    options = {"metric": exact_metric, **options}
    metric = options.pop("metric")
    with pytest.raises(error, match=message):
        DLPOTeleprompter(metric, **options)


COMPILE_CASES = [
    ({"trainset": []}, ValueError, "trainset must hold at least 2 examples, got 0"),
    ({"trainset": DATA[:1]}, ValueError, "trainset must hold at least 2 examples, got 1"),
    ({"trainset": [{"question": "a", "answer": "b"}] * 4}, TypeError, "trainset\\[0\\] must be a dspy.Example, got dict"),
    ({"trainset": [dspy.Example(question="a", answer="b")] * 4}, ValueError, "trainset\\[0\\] has no input keys"),
    ({"trainset": "apple"}, TypeError, "trainset must be a list of dspy.Example, got str"),
    ({"valset": [1, 2]}, TypeError, "valset\\[0\\] must be a dspy.Example, got int"),
    ({"student": NoPredictors()}, ValueError, "has no \\(unfrozen\\) predictors"),
    ({"student": "program"}, TypeError, "student must be a dspy.Module, got str"),
    ({"options": {"max_metric_calls": 10}}, ValueError, "max_metric_calls=10 is too small for even one step"),
]


@pytest.mark.parametrize("args, error, message", COMPILE_CASES)
def test_bad_compile_arguments_fail_before_any_lm_call(args, error, message):
    optimizer = ScriptedOptimizer()
    tp = DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), progress=False, **args.get("options", {}))
    call = {"student": dspy.Predict("question -> answer"), "trainset": DATA[:8], "valset": DATA[8:]}
    call.update({k: v for k, v in args.items() if k != "options"})
    with pytest.raises(error, match=message):
        tp.compile(call.pop("student"), **call)
    assert optimizer.prompts == []


def test_no_lm_at_all_is_a_clear_error():
    tp = DLPOTeleprompter(exact_metric, max_steps=1, progress=False)
    with dspy.context(lm=None), pytest.raises(ValueError, match="no task LM: predictor 'self' has no LM"):
        tp.compile(dspy.Predict("question -> answer"), trainset=DATA[:8], valset=DATA[8:])


def test_overlapping_valset_warns(caplog):
    from dspy_dlpo.dataloader import prepare_data
    with caplog.at_level(logging.WARNING):
        prepare_data(DATA[:8], DATA[6:10], seed=0)
    assert "valset shares 2 example(s) with trainset" in caplog.text
