"""The step's rules: minibatches, acceptance (annealing vs regularization), keeping the best,
several candidates per step, and the leak filter."""

from types import SimpleNamespace

import dspy
import pytest

from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.autograd.step import propose_update
from dspy_dlpo.text import split_sentences
from dspy_dlpo.strategies import TextualSimulatedAnnealing
from dspy_dlpo.core import StepContext
from dspy_dlpo.acceptance import decide
from dspy_dlpo.dataloader import minibatch
from scripted import (MAGIC, ScriptedOptimizer, chat_reply, exact_metric, field_value, reverse_examples,
                      reverse_task_lm, system_text)
from dspy_dlpo.lm.engine import function_lm
from test_update import scripted_client

OFF = dict(learning_rate=False, lr_decay=False, dropout=False, annealing=False, momentum=False,
           contrastive=False, regularization=False)


def batches(n: int, size: int, steps: int, seed: int = 0) -> list[list[int]]:
    return [minibatch(n, size, seed=seed, step=step) for step in range(steps)]


@pytest.mark.parametrize("n, size", [(7, 5), (20, 5), (6, 4), (3, 5), (11, 3)])
def test_minibatches_never_repeat_an_example_and_cover_each_epoch(n, size):
    drawn = batches(n, size, 40)
    assert all(len(b) == min(n, size) == len(set(b)) for b in drawn)
    per_epoch = -(-n // min(n, size))
    for epoch in range(40 // per_epoch):
        seen = {i for b in drawn[epoch * per_epoch:(epoch + 1) * per_epoch] for i in b}
        assert seen == set(range(n))  # every example once per epoch (padding adds repeats of the epoch only)
    assert drawn == batches(n, size, 40)  # deterministic in the seed
    assert drawn != batches(n, size, 40, seed=1)


def ctx(step=0, seed=0, batch=5):
    return StepContext(step=step, seed=seed, param="p", instruction="x", sentences=["x"],
                       rollouts=[None] * batch, history=[])


def test_annealing_accepts_a_one_example_drop_at_the_stated_rate():
    sa = TextualSimulatedAnnealing()  # p0 = 0.3
    assert sa.probability(-1, 0) == pytest.approx(0.3)
    assert sa.probability(-1, 5) == pytest.approx(0.3 ** (1 / 0.85 ** 5))  # 0.069
    assert sa.probability(-2, 0) == 0.0 and sa.probability(0, 9) == 1.0  # max_drop one example
    # a one-example drop is 20 points in a batch of 5 and 10 points in a batch of 10: same probability
    accepted = [sa.accept(ctx(seed=s), -20.0).accepted for s in range(2000)]
    assert 0.27 < sum(accepted) / len(accepted) < 0.33
    assert sa.accept(ctx(seed=3, batch=10), -10.0).probability == pytest.approx(0.3)
    assert sa.accept(ctx(batch=5), -40.0).accepted is False
    decision = sa.accept(ctx(seed=7, step=2), -20.0)
    assert decision.draw is not None and decision.accepted == (decision.draw < decision.probability)
    assert TextualSimulatedAnnealing(0.0).probability(-1, 0) == 0.0


@pytest.mark.parametrize("value", [-0.1, 1.0, 8.0, float("inf"), float("nan"), True, "hot"])
def test_annealing_rejects_bad_p0(value):
    with pytest.raises(ValueError, match="annealing p0 must be a finite number in \\[0, 1\\)"):
        TextualSimulatedAnnealing(value)


def test_a_tie_that_is_longer_is_rejected_even_with_annealing():
    fake = SimpleNamespace(acceptor=TextualSimulatedAnnealing(0.99, max_drop=5))
    assert decide(fake.acceptor, ctx(), 0.0, 0.5).accepted is False      # longer tie: regularization says no
    assert decide(fake.acceptor, ctx(), 0.0, -0.5).accepted is True      # shorter tie
    assert decide(fake.acceptor, ctx(), 20.0, 0.5).accepted is True      # a gain outweighs the penalty
    assert decide(fake.acceptor, ctx(), 20.0, 25.0).accepted is False    # ... unless it is tiny
    drop = decide(fake.acceptor, ctx(), -20.0, -3.0)                     # the penalty plays no part in a drop
    assert drop.probability == pytest.approx(0.99)


# --- keeping the best -----------------------------------------------------------------------
TRAIN_WORDS, VAL_WORDS = ["apple", "tiger", "stone", "river"], ["cloud", "lemon", "piano", "grass"]


def keyword_task_lm():
    """ALPHA reverses words starting with a-m; BETA reverses the training words only."""
    def reply(messages, options):
        word, system = field_value(messages, "question"), system_text(messages)
        hit = ("ALPHA" in system and word[0] <= "m") or ("BETA" in system and word in TRAIN_WORDS)
        return chat_reply(answer=word[::-1] if hit else word)
    return function_lm(reply, name="keyword-task")


def alternate(prompt, n):
    """The optimizer's rewrite: BETA from ALPHA, ALPHA from anything else."""
    return "<instruction>BETA.</instruction>" if "ALPHA." in prompt else "<instruction>ALPHA.</instruction>"


def keyword_run(rewrite, max_steps=3):
    """A compile on the keyword task: ALPHA validates at 75%, BETA at 0%."""
    with dspy.context(lm=keyword_task_lm()):
        return DLPOTeleprompter(exact_metric, prompt_model=ScriptedOptimizer(rewrite=rewrite).lm(),
                                max_steps=max_steps, batch_size=4, progress=False, **OFF).compile(
            dspy.Predict("question -> answer"), trainset=reverse_examples(TRAIN_WORDS),
            valset=reverse_examples(VAL_WORDS))


def test_a_candidate_that_validates_below_the_best_sends_the_search_back_to_the_best():
    result = keyword_run(alternate)
    logs = result.trial_logs
    assert [r["val_score"] for r in logs[:2]] == [75.0, 0.0]
    assert logs[1]["instruction_after"] == "BETA." and logs[1]["returned_to_best"] is True
    assert "the next step starts from the best program" in logs[1]["reason"]
    assert logs[2]["instruction_before"] == "ALPHA."        # not the drifted BETA
    assert result.signature.instructions == "ALPHA." and result.score == 75.0


def test_a_rewrite_already_validated_below_the_best_is_re_asked_not_scored_again():
    # step 1 validated BETA at 0% and went back to ALPHA; step 2's optimizer proposes BETA again
    def rewrite(prompt, n):
        if "ALPHA." in prompt and "scored 0% on the held-out examples" in prompt:
            return "<instruction>ALPHA. Reverse the word.</instruction>"
        return alternate(prompt, n)
    third = keyword_run(rewrite).trial_logs[2]
    assert "tried in an earlier step and scored 0%" in third["problems"][0]
    assert third["instruction_after"] == "ALPHA. Reverse the word." and third["attempts"] == 2
    assert third["step_metric_calls"] == 4 + 4       # the known BETA cost nothing; the new rewrite its minibatch


def test_only_known_rewrites_end_the_step_without_spending_on_them():
    third = keyword_run(alternate).trial_logs[2]
    assert third["outcome"] == "known" and third["instruction_after"] is None
    assert third["step_metric_calls"] == 4 and third["attempts"] == 3 and not third["failed"]


def test_a_known_rewrite_of_one_predictor_is_new_when_another_predictor_changed():
    c = StepContext(step=3, seed=0, param="a", instruction="A.", sentences=["A."], rollouts=[], history=[],
                    candidates=[{"params": {"a": "A2.", "b": "B."}, "score": 40.0}], params={"a": "A.", "b": "B."})
    assert c.validated_score(" a2. ") == 40.0
    c.params = {"a": "A.", "b": "B2."}
    assert c.validated_score("A2.") is None


# --- several candidates per step ---------------------------------------------------------------
def test_several_candidates_are_sampled_scored_and_the_best_kept():
    optimizer = ScriptedOptimizer(rewrite=lambda prompt, n: "<instruction>Variant.</instruction>" if n == 2
                                  else f"<instruction>{MAGIC}</instruction>")
    data = reverse_examples()
    with dspy.context(lm=reverse_task_lm()):
        result = DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), max_steps=1, batch_size=4,
                                  candidates_per_step=2, progress=False, **OFF).compile(
            dspy.Predict("question -> answer"), trainset=data[:8], valset=data[8:])
    first = result.trial_logs[0]
    assert [p["instruction"] for p in first["proposals"]] == ["Variant.", MAGIC]
    assert first["candidate_batch_scores"] == [0.0, 1.0]
    assert first["instruction_after"] == MAGIC and first["accepted"] and result.score == 100.0
    assert first["step_metric_calls"] == 4 + 2 * 4 + 8   # current + two candidates + validation


def test_a_second_candidate_is_sampled_not_served_from_the_cache():
    client, seen = scripted_client(["<instruction>Read the word. Reverse it.</instruction>"] * 2)
    c = StepContext(step=0, seed=0, param="self", instruction="Read the word.", sentences=["Read the word."],
                    rollouts=[], history=[], gradient="g")
    propose_update(client, c, role="r", strategies=[], attempts=1, rollout_base=5)
    propose_update(client, c, role="r", strategies=[], attempts=1, rollout_base=9, sample_first=True)
    assert seen[0][1] in (None, 0.0) and seen[1][1] == 1.0


def test_candidates_per_step_is_validated_and_priced_into_the_budget():
    with pytest.raises(ValueError, match="candidates_per_step must be an int >= 1, got 0"):
        DLPOTeleprompter(exact_metric, candidates_per_step=0)
    data = reverse_examples()
    with dspy.context(lm=reverse_task_lm()):
        with pytest.raises(ValueError, match="3 x batch_size 4"):
            DLPOTeleprompter(exact_metric, prompt_model=ScriptedOptimizer().lm(), max_metric_calls=27,
                             batch_size=4, candidates_per_step=2, progress=False).compile(
                dspy.Predict("question -> answer"), trainset=data[:8], valset=data[8:])


# --- the leak filter --------------------------------------------------------------------------
def leak_ctx(instruction):
    return StepContext(step=0, seed=0, param="self", instruction=instruction,
                       sentences=split_sentences(instruction), rollouts=[], history=[], gradient="g")


def test_task_words_that_the_instruction_or_fields_use_do_not_block_a_rewrite():
    rewrite = "<instruction>Write a diagnosis of the symptoms. Be brief.</instruction>"
    client, _ = scripted_client([rewrite])
    update = propose_update(client, leak_ctx("Write a diagnosis."), role="r", strategies=[], attempts=1,
                            rollout_base=1)
    assert update.instruction == "Write a diagnosis of the symptoms. Be brief."
    client, _ = scripted_client([rewrite])
    role = "predictor `self`: inputs symptoms; outputs diagnosis"
    assert propose_update(client, leak_ctx("Read the symptoms."), role=role, strategies=[], attempts=1,
                          rollout_base=1).instruction is not None
    client, _ = scripted_client([rewrite])  # absent from the task: still our own prompt's vocabulary
    blocked = propose_update(client, leak_ctx("Read the symptoms."), role="r", strategies=[], attempts=1,
                             rollout_base=1)
    assert blocked.instruction is None and "'diagnosis'" in blocked.problems[0]


def test_the_rewrite_prompt_shows_two_failing_examples_and_the_log_records_what_was_shown():
    optimizer = ScriptedOptimizer()
    data = reverse_examples()
    with dspy.context(lm=reverse_task_lm()):
        result = DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), max_steps=1, batch_size=4,
                                  progress=False).compile(dspy.Predict("question -> answer"),
                                                          trainset=data[:8], valset=data[8:])
    prompt = optimizer.update_prompts()[0]
    shown = prompt[prompt.index("<failing_examples>"):prompt.index("</failing_examples>")]
    assert shown.count("Example ") == 2                 # the two lowest-scoring of four failures
    first = result.trial_logs[0]
    assert first["shown"]["failing_examples"]["count"] == 2 and "critique" in first["shown"]["sections"]
    assert [r["outputs"] for r in first["rollouts_after"]] == [{"answer": w[::-1]} for w in
                                                              [data[i].question for i in first["batch"]]]
