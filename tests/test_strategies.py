import math

import pytest

from dspy_dlpo.program import Rollout
from dspy_dlpo.strategies import (TextualContrastiveLearning, TextualDropout, TextualLearningRate, TextualMomentum,
                                  TextualRegularization, TextualSimulatedAnnealing, constant, cosine, exponential,
                                  linear, step_decay)
from dspy_dlpo.strategies.base import StepContext, derived_rng
from dspy_dlpo.autograd.text import split_sentences


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
    text = TextualMomentum(2).directives(ctx(history=history))[0]
    assert "g-four" in text and "g-three" in text and "not mine" not in text and "g-one" not in text
    assert TextualMomentum().directives(ctx()) == []


def test_contrastive_blocks():
    candidates = [{"params": {"p": "Good one."}, "score": 80.0}, {"params": {"p": "Bad one."}, "score": 20.0},
                  {"params": {"p": "Mid one."}, "score": 50.0}]
    good = Rollout(0, {"q": "x"}, {"a": "1"}, {"a": "1"}, 1.0, "Correct.")
    bad = Rollout(1, {"q": "y"}, {"a": "2"}, {"a": "3"}, 0.0, "Wrong.")
    blocks = TextualContrastiveLearning(k=1).directives(ctx(candidates=candidates, rollouts=[bad, good]))
    assert len(blocks) == 2
    assert "(80.0%) Good one." in blocks[0] and "(20.0%) Bad one." in blocks[0] and "Mid one." not in blocks[0]
    assert "Better: input: {'q': 'x'}" in blocks[1] and "Worse: input: {'q': 'y'}" in blocks[1]
    assert TextualContrastiveLearning().directives(ctx()) == []


def test_contrastive_better_and_worse_are_disjoint():
    candidates = [{"params": {"p": "Good one."}, "score": 75.0}, {"params": {"p": "Bad one."}, "score": 25.0}]
    block = TextualContrastiveLearning(k=2, rollouts=False).directives(ctx(candidates=candidates))[0]
    better, worse = block.split("Worse:")
    assert "Good one." in better and "Bad one." not in better
    assert "Bad one." in worse and "Good one." not in worse


def test_regularization_penalty_and_cap():
    reg = TextualRegularization(0.5, max_words=5)
    assert reg.penalty("one two three four") == 2.0
    assert reg.check(ctx(), "one two three four five six") == "Your instruction has 6 words; the limit is 5. Shorten it."
    assert reg.check(ctx(), "short enough") is None
    assert "at most 5 words" in reg.directives(ctx())[0]
