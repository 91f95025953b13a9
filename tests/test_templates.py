"""Your own critique and rewrite prompts (issue 36 item 5): checked before any LM call, used, fingerprinted."""

import dspy
import pytest

from dspy_dlpo import DLPOTeleprompter
from scripted import MAGIC, ScriptedOptimizer, exact_metric, reverse_examples, reverse_task_lm

CRITIQUE = ("House critique. Instruction: {instruction}\nExamples:\n{losses}\n{patterns}"
            "Answer between <gradient> and </gradient>.")
REWRITE = ("House rewrite of:\n{numbered}\n{sections}\nRules:\n{rules}\n"
           "Write the improved instruction between <instruction> and </instruction>.")


def test_the_templates_reach_the_optimizer_lm():
    data = reverse_examples()
    optimizer = ScriptedOptimizer()
    with dspy.context(lm=reverse_task_lm()):
        result = DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), max_steps=1, batch_size=4,
                                  progress=False, prompt_templates={"critique": CRITIQUE, "rewrite": REWRITE}).compile(
            dspy.Predict("question -> answer"), trainset=data[:8], valset=data[8:])
    critique, rewrite = optimizer.prompts[0], optimizer.prompts[1]
    assert critique.startswith("House critique. Instruction: Given the fields") and "question: apple" in critique
    assert rewrite.startswith("House rewrite of:\n[1] Given the fields") and "<critique>" in rewrite
    assert result.signature.instructions == MAGIC


@pytest.mark.parametrize("templates,message", [
    ({"critic": CRITIQUE}, "unknown keys \\['critic'\\]"),
    ({"critique": "Look at {instruction} only."}, "missing \\['\\{losses\\}'\\]"),
    ({"critique": CRITIQUE + " {score}"}, "unknown placeholders \\['\\{score\\}'\\]"),
    ({"critique": CRITIQUE + " {"}, "not a valid template"),
    ({"rewrite": REWRITE.replace("<instruction> and </instruction>", "tags")}, "between <instruction> and"),
    ({"rewrite": ""}, "non-empty string"),
    ("critique", "must be a mapping"),
])
def test_a_bad_template_is_refused_before_any_lm_call(templates, message):
    optimizer = ScriptedOptimizer()
    with pytest.raises((TypeError, ValueError), match=message):
        DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), prompt_templates=templates)
    assert optimizer.prompts == []


def test_the_templates_are_part_of_the_runs_fingerprint():
    plain = DLPOTeleprompter(exact_metric).get_params()
    custom = DLPOTeleprompter(exact_metric, prompt_templates={"rewrite": REWRITE}).get_params()
    assert plain["prompt_templates"] == {} and custom["prompt_templates"] == {"rewrite": REWRITE}
