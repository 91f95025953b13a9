import math

import pytest

from dspy_dlpo.program import Rollout
from dspy_dlpo.strategies import (TextualContrastiveLearning, TextualDropout, TextualLearningRate, TextualMomentum,
                                  TextualRegularization, TextualSimulatedAnnealing, constant, cosine, exponential,
                                  linear, step_decay)
from dspy_dlpo.core import StepContext, derived_rng
from dspy_dlpo.text import split_sentences


def ctx(instruction="Read it. Think. Answer. Check.", step=0, history=(), candidates=(), rollouts=()):
    return StepContext(step=step, seed=0, param="p", instruction=instruction,
                       sentences=split_sentences(instruction), rollouts=list(rollouts), history=list(history),
                       candidates=list(candidates))


def test_schedules_values():
    assert constant(3)(100) == 3
    assert linear(4, 1, 3)(0) == 4 and linear(4, 1, 3)(3) == 1 and linear(4, 1, 3)(9) == 1
    assert linear(4, 1, 3)(1) == pytest.approx(3.0)
    assert cosine(4, 1, 10)(0) == pytest.approx(4) and cosine(4, 1, 10)(5) == pytest.approx(2.5)
    assert exponential(4, 0.5)(1) == 2 and exponential(4, 0.5)(5) == 1  # floor 1
    assert step_decay(8, 0.5, 2)(3) == 4
    with pytest.raises(ValueError, match="rate"):
        exponential(4, 1.5)


def test_learning_rate_schedule_and_check():
    lr = TextualLearningRate(4)
    assert [lr.edits_allowed(s) for s in range(9)] == [4, 3, 3, 2, 2, 2, 2, 1, 1]
    assert TextualLearningRate(2, decay=False).edits_allowed(50) == 2
    one = TextualLearningRate(1, decay=False)
    c = ctx("Read it. Think. Answer.")
    assert one.check(c, "Read it. Plan. Answer.") is None
    message = one.check(c, "Go on. Be brief. Stop now.")            # three sentence edits at learning rate 1
    assert "changed 3 sentences but at most 1" in message
    assert "at most 1 sentence of" in one.directives(c)[0]
    with pytest.raises(ValueError, match="learning_rate"):
        TextualLearningRate(0)


def test_dropout_freezes_and_checks():
    drop = TextualDropout(0.5)
    c = ctx("A one. B two. C three. D four.")
    frozen = drop.frozen(c)
    assert len(frozen) == 2 and set(frozen) <= set(c.sentences)
    assert frozen == TextualDropout(0.5).frozen(ctx("A one. B two. C three. D four."))  # deterministic
    kept = " ".join(frozen) + " Something new."
    assert drop.check(c, kept) is None
    assert "frozen sentences were changed" in drop.check(c, "Totally new text.")
    assert drop.frozen(ctx("Only one sentence.")) == []   # never freeze everything
    assert TextualDropout(0.9).frozen(ctx("Read it. Think.")).__len__() == 1
    with pytest.raises(ValueError, match="dropout must be a number in \\[0, 1\\), got 1.5"):
        TextualDropout(1.5)


def test_feedback_dropout_keeps_at_least_one():
    drop = TextualDropout(0.0, feedback_rate=0.99)
    assert len(drop.shape_losses(ctx(), ["a", "b", "c"])) >= 1
    assert TextualDropout(0.0).shape_losses(ctx(), ["a", "b"]) == ["a", "b"]


def test_momentum_dedup_weights_and_window():
    history = [{"param": "p", "gradient": g} for g in ["g-one", "g-two", "G-two ", "g-three", "g-four"]]
    history.append({"param": "other", "gradient": "not mine"})
    past = TextualMomentum(3, beta=0.5).past_gradients(ctx(history=history))
    assert [g for _, g in past] == ["g-four", "g-three", "G-two "]
    assert [w for w, _ in past] == [0.5, 0.25, 0.125]
    [section] = TextualMomentum(2).context(ctx(history=history))
    assert section.name == "earlier_critiques" and section.meta == {"count": 2}
    assert "g-four" in section.body and "g-three" in section.body and "not mine" not in section.body
    assert section.body.index("g-four") < section.body.index("g-three") and "g-one" not in section.body
    assert "weight" not in section.body and "0.7" not in section.body       # no numbers for the LM to copy
    [rule] = TextualMomentum(2).directives(ctx(history=history))
    assert "<earlier_critiques>" in rule and "g-four" not in rule           # the rule holds no data
    assert TextualMomentum().directives(ctx()) == [] and TextualMomentum().context(ctx()) == []


def test_momentum_shows_less_of_older_critiques():
    history = [{"param": "p", "gradient": letter * 1000} for letter in "abc"]   # newest: c
    body = TextualMomentum(3, beta=0.5, max_chars=400).context(ctx(history=history))[0].body
    shown = {letter: body.count(letter) for letter in "abc"}
    assert shown["c"] > shown["b"] > shown["a"] and shown["c"] <= 400 and shown["a"] <= 100


def test_contrastive_instructions_rollouts_and_rule():
    candidates = [{"params": {"p": "Good one."}, "score": 80.0}, {"params": {"p": "Bad one."}, "score": 20.0},
                  {"params": {"p": "Mid one."}, "score": 50.0}]
    good = Rollout(0, {"q": "x"}, {"a": "1"}, {"a": "1"}, 1.0, "Correct.")
    bad = Rollout(1, {"q": "y"}, {"a": "2"}, {"a": "3"}, 0.0, "Wrong.")
    tcl = TextualContrastiveLearning(k=1)
    c = ctx(candidates=candidates, rollouts=[bad, good])
    [section] = tcl.context(c)
    higher, lower = section.body.split("Scored worst")
    assert "Good one." in higher and "Bad one." in lower and "Mid one." not in section.body
    assert "80" not in section.body and "%" not in section.body           # validation scores are not printed
    # two runs of different inputs contrast nothing: no run pair is shown, only the instructions
    assert "Correct." not in section.body and "Wrong." not in section.body
    assert section.meta == {"better": 1, "worse": 1, "pair": None}
    [rule] = tcl.directives(c)
    assert "<contrast>" in rule and "Good one." not in rule
    assert tcl.context(ctx()) == [] and tcl.directives(ctx()) == []


def test_contrastive_better_and_worse_are_disjoint():
    candidates = [{"params": {"p": "Good one."}, "score": 75.0}, {"params": {"p": "Bad one."}, "score": 25.0}]
    body = TextualContrastiveLearning(k=2, rollouts=False).context(ctx(candidates=candidates))[0].body
    better, worse = body.split("Scored worst")
    assert "Good one." in better and "Bad one." not in better
    assert "Bad one." in worse and "Good one." not in worse


def test_contrastive_never_lists_the_current_instruction_as_better():
    current = "Read it. Think. Answer. Check."
    best_is_current = [{"params": {"p": current}, "score": 80.0}, {"params": {"p": "Worse one."}, "score": 40.0},
                       {"params": {"p": "Worst one."}, "score": 10.0}]
    tcl = TextualContrastiveLearning(k=2, rollouts=False)
    assert tcl.better_and_worse(ctx(current, candidates=best_is_current)) == ([], ["Worse one.", "Worst one."])
    body = tcl.context(ctx(current, candidates=best_is_current))[0].body
    assert current not in body and "Scored higher" not in body
    # not validated itself (a tie move): the others are split, the current one is still left out
    unvalidated = [{"params": {"p": "A."}, "score": 60.0}, {"params": {"p": "B."}, "score": 30.0}]
    assert tcl.better_and_worse(ctx(current, candidates=unvalidated)) == (["A."], ["B."])
    # the current one is recognized up to case and spacing
    respaced = unvalidated + [{"params": {"p": " read it. think.  answer. check."}, "score": 90.0}]
    assert tcl.better_and_worse(ctx(current, candidates=respaced)) == ([], ["A.", "B."])


def _record(step, before, after, runs_before, runs_after):
    as_json = lambda runs: [{"index": i, "score": s, "feedback": f"fb{i}-{s}", "error": None, "outputs": {"a": o}}
                            for i, s, o in runs]
    return {"step": step, "param": "p", "gradient": "g", "instruction_before": before, "instruction_after": after,
            "rollouts": as_json(runs_before), "rollouts_after": as_json(runs_after)}


def test_contrastive_shows_the_same_input_under_two_instructions():
    current = "Read it. Think. Answer. Check."
    now = [Rollout(7, {"q": "the long question " * 40}, {"a": "yes"}, {"reasoning": "r", "a": "no"}, 0.0, "Wrong."),
           Rollout(8, {"q": "other"}, {"a": "no"}, {"a": "no"}, 1.0, "Correct.")]
    history = [_record(0, "Old instruction.", current, [(7, 1.0, "yes"), (9, 0.0, "x")],
                       [(7, 0.0, "no"), (9, 0.0, "x")])]
    tcl = TextualContrastiveLearning(instructions=False)
    [section] = tcl.context(ctx(current, history=history, rollouts=now, step=1))
    assert section.meta["pair"] == "same_input" and section.meta["pair_index"] == 7
    body = section.body
    assert "the long question " * 40 in body.replace("\n", " ") + " "  # the input is shown whole (800 < 2 x 500)
    assert "The answer expected for it: \"yes\"" in body and "Expected:" not in body  # no label reads as a field
    right, wrong = body.split("Run that got it wrong")
    assert "Old instruction." in right and 'The answer given: "yes"' in right and "fb7-1.0" in right
    assert "under the current instruction" in wrong and 'a = "no"' in wrong and current not in body
    # the current instruction is never the run to imitate: here it got it right, the old one wrong
    history = [_record(0, "Old instruction.", current, [(7, 0.0, "no")], [(7, 1.0, "yes")])]
    now[0] = Rollout(7, {"q": "q7"}, {"a": "yes"}, {"a": "yes"}, 1.0, "Correct.")
    assert tcl.same_input_pair(ctx(current, history=history, rollouts=now, step=1)) is None


def test_contrastive_handles_records_without_rollouts_or_outputs():
    current = "Read it. Think. Answer. Check."
    now = [Rollout(7, {"q": "q7"}, {"a": "yes"}, {"a": "no"}, 0.0, "Wrong."),
           Rollout(8, {"q": "q8"}, {"a": "no"}, {"a": "no"}, 1.0, "Correct.")]
    old = [{"step": 0, "param": "p", "instruction_before": "Old.", "instruction_after": None},      # no rollouts
           {"step": 1, "param": "p", "instruction_before": "Older.", "instruction_after": None,
            "rollouts": [{"index": 7, "score": 1.0, "feedback": "Correct.", "error": None}]}]       # no outputs
    [section] = TextualContrastiveLearning(instructions=False).context(ctx(current, history=old, rollouts=now, step=2))
    assert section.meta["pair"] == "same_input" and "Older." in section.body and "(not recorded)" in section.body


def test_regularization_penalty_and_cap():
    reg = TextualRegularization(0.5, max_words=5)
    assert reg.penalty("one two three four") == 2.0
    assert reg.check(ctx(), "one two three four five six") == "Your instruction has 6 words; the limit is 5. Shorten it."
    assert reg.check(ctx(), "short enough") is None
    assert "at most 5 words" in reg.directives(ctx())[0]


def test_rules_agree_when_learning_rate_and_regularization_are_both_on():
    c = ctx()
    [bound] = TextualLearningRate(1, decay=False).directives(c)
    [simplify] = TextualRegularization().directives(c)
    assert "at most 1 sentence" in bound and "copy every other sentence word for word" in bound
    assert simplify.startswith("Keep the instruction short: within the changes allowed,")  # removing counts too
    assert "remove sentences that do not help" not in simplify


def test_contrastive_compares_with_the_current_instruction_only_when_it_was_validated():
    tcl = TextualContrastiveLearning(k=1, rollouts=False)
    cands = [{"params": {"p": "A."}, "score": 75.0}, {"params": {"p": "B."}, "score": 25.0}]
    unvalidated = tcl.context(ctx("Current.", candidates=cands))[0].body
    assert "Scored best (the current instruction has not been validated)" in unvalidated
    assert "than the current instruction" not in unvalidated
    validated = tcl.context(ctx("Current.", candidates=cands + [{"params": {"p": "Current."}, "score": 50.0}]))[0].body
    assert "Scored higher than the current instruction:\n- A." in validated
