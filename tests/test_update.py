"""The update step: parsing, no-op recovery, leakage, rule checks and re-asks."""

import dspy

from dspy_dlpo.autograd.client import OptimizerClient
from dspy_dlpo.autograd.step import propose_update
from dspy_dlpo.text import split_sentences
from dspy_dlpo.budget import UsageMeter
from dspy_dlpo.lm.engine import function_lm
from dspy_dlpo.strategies import TextualLearningRate
from dspy_dlpo.core import StepContext

INSTRUCTION = "Read the word. Answer."


def ctx():
    return StepContext(step=0, seed=0, param="self", instruction=INSTRUCTION,
                       sentences=split_sentences(INSTRUCTION), rollouts=[], history=[],
                       gradient="It never says to reverse.")


def scripted_client(replies):
    seen = []

    def reply(messages, options):
        seen.append((messages[-1]["content"], options.get("temperature")))
        return replies[len(seen) - 1]
    return OptimizerClient(function_lm(reply), UsageMeter()), seen


def test_unparseable_then_noop_then_ok():
    client, seen = scripted_client(["I think it should reverse.", f"<instruction>{INSTRUCTION}</instruction>",
                                    "<instruction>Read the word. Reverse it.</instruction>"])
    update = propose_update(client, ctx(), role="r", strategies=[], attempts=3, rollout_base=100)
    assert update.instruction == "Read the word. Reverse it." and update.attempts == 3
    assert "the reply had no <instruction> tag at all; write the text" in update.problems[0]
    assert "identical to the current one" in update.problems[1]
    assert "Your previous answer could not be used: the instruction was identical" in seen[2][0]
    assert seen[0][1] is None or seen[0][1] == 0.0      # first ask: the LM's own temperature
    assert seen[1][1] == 1.0 and seen[2][1] == 1.0       # re-asks sample at a higher temperature


def test_learning_rate_violation_retried_once_then_clipped_to_k_edits():
    too_big = "<instruction>Go on. Be brief. Stop now. Check it.</instruction>"
    client, seen = scripted_client([too_big, too_big, "<instruction>never asked</instruction>"])
    update = propose_update(client, ctx(), role="r", strategies=[TextualLearningRate(1, decay=False)], attempts=3,
                            rollout_base=7)
    # the first edit of the diff (Read the word. -> Go on.) is kept, the others are undone
    assert update.instruction == "Go on. Answer." and update.reason == "clipped"
    assert len(seen) == 2 and update.attempts == 2      # one stricter re-ask, then the clip
    assert "changed 4 sentences but at most 1" in update.problems[-1]
    assert "Change at most 1 sentence of the current instruction" in seen[0][0]
    assert "changed 4 sentences but at most 1" in seen[1][0]


def test_the_re_ask_shows_the_clipped_rewrite_and_the_lm_may_take_it():
    # a 1.5B told "change fewer sentences" tends to drop its useful edit: the re-ask shows the projection
    too_big = "<instruction>Read the word and reverse its letters. Be brief. Stop now. Answer.</instruction>"
    client, seen = scripted_client([too_big, "<instruction>Read the word and reverse its letters. Answer."
                                             "</instruction>"])
    update = propose_update(client, ctx(), role="r", strategies=[TextualLearningRate(1, decay=False)], attempts=3,
                            rollout_base=7)
    assert "your rewrite reads:\n<instruction>\nRead the word and reverse its letters. Answer.\n</instruction>" \
        in seen[1][0]
    assert update.reason == "ok" and update.attempts == 2
    assert update.instruction == "Read the word and reverse its letters. Answer."
    assert "your rewrite reads" in update.problems[0]     # the trial log keeps what the LM was shown


def test_a_rule_that_cannot_be_clipped_rejects_the_update():
    from dspy_dlpo.strategies import TextualRegularization

    too_long = "<instruction>Read the word and then answer with the word reversed please.</instruction>"
    client, _ = scripted_client([too_long, too_long])
    update = propose_update(client, ctx(), role="r", strategies=[TextualRegularization(0.0, max_words=4)],
                            attempts=3, rollout_base=7)
    assert update.instruction is None and update.reason == "clipped"
    assert "the limit is 4" in update.problems[-1]


def test_meta_text_leak_is_rejected():
    client, _ = scripted_client(["<instruction>Follow the diagnosis: reverse it.</instruction>",
                                 "<instruction>Reverse the word.</instruction>"])
    update = propose_update(client, ctx(), role="r", strategies=[], attempts=3, rollout_base=1)
    assert update.instruction == "Reverse the word."
    assert "about the optimization process ('diagnosis')" in update.problems[0]


def test_critique_wording_copied_into_the_instruction_is_rejected():
    # the 0.5B on GSM8K returned "...This instruction is incomplete and lacks guidance. The instruction
    # should include a step that produces the correct reasoning, answer, and grader's feedback..."
    leaked = ("<instruction>Predict the answer. This instruction is incomplete and lacks guidance. The instruction "
              "should include a step that produces the grader's feedback.</instruction>")
    client, _ = scripted_client([leaked, "<instruction>Reason step by step, then give the number.</instruction>"])
    update = propose_update(client, ctx(), role="r", strategies=[], attempts=3, rollout_base=1)
    assert update.instruction == "Reason step by step, then give the number."
    assert "about the optimization process ('grader')" in update.problems[0]


def test_lm_failure_skips_without_crash():
    def broken(messages, options):
        raise RuntimeError("backend down")
    client = OptimizerClient(function_lm(broken), UsageMeter())
    update = propose_update(client, ctx(), role="r", strategies=[], attempts=3, rollout_base=1)
    assert update.instruction is None and update.reason == "error"
    assert client.calls == 2 and client.errors == {"LMUnexpectedError": 2}


def test_an_unclassified_error_gets_one_immediate_re_ask():
    calls = [0]

    def limited(messages, options):
        calls[0] += 1
        if calls[0] <= 1:
            raise RuntimeError("429 rate limit exceeded")
        return "<gradient>ok</gradient>"
    client = OptimizerClient(function_lm(limited), UsageMeter())
    assert client.ask("hello") == "<gradient>ok</gradient>"
    assert client.calls == 2 and client.errors == {"rate_limit": 1}


def test_auth_error_stops_with_clear_message(monkeypatch):
    import pytest

    monkeypatch.setenv("OPENAI_API_KEY", "sk-abcdefghijklmnop")  # only configured keys are secrets

    def denied(messages, options):
        raise dspy.utils.exceptions.LMAuthError("invalid api key sk-abcdefghijklmnop")
    client = OptimizerClient(function_lm(denied), UsageMeter())
    with pytest.raises(RuntimeError, match="optimizer LM cannot be used") as info:
        client.ask("hello")
    assert "sk-abcdefghijklmnop" not in str(info.value)


def test_gradient_repeated_points_are_dropped_and_capped():
    from dspy_dlpo.autograd.backward import tidy_points

    text = "\n".join(["- Output has 'List:'.", "- Words are not sorted.", "- words are  NOT sorted.",
                      "1. Too long.", "* Fourth.", "- Fifth.", "- Sixth.", "- Fifth."])
    assert tidy_points(text).splitlines() == ["- Output has 'List:'.", "- Words are not sorted.", "1. Too long.",
                                              "* Fourth.", "- Fifth."]
    assert tidy_points("A free-text critique.\nA free-text critique.\nMore.") == "A free-text critique.\nMore."


def test_role_description_leak_is_rejected():
    role = "predictor `self`: inputs question; outputs answer"
    client, _ = scripted_client([f"<instruction>Predictor `self`: inputs question; outputs answer. Reverse it."
                                 "</instruction>", "<instruction>Reverse the word.</instruction>"])
    update = propose_update(client, ctx(), role=role, strategies=[], attempts=3, rollout_base=1)
    assert update.instruction == "Reverse the word."
    assert "about the optimization process" in update.problems[0]


def test_no_op_without_the_fallback_re_asks_for_a_whole_rewrite():
    same = f"<instruction>{INSTRUCTION}</instruction>"
    client, seen = scripted_client([same, same, same])
    update = propose_update(client, ctx(), role="r", strategies=[], attempts=3, rollout_base=1, failures=["Example 1"])
    assert update.instruction is None and update.reason == "no-op" and len(seen) == 3
    assert all("<instruction> and </instruction>" in prompt for prompt, _ in seen)
    assert not any("<sentence>" in prompt for prompt, _ in seen)


def test_append_on_no_op_asks_for_one_sentence_shown_a_failure():
    from dspy_dlpo.strategies import TextualDropout

    failure = "Example 2 (score 0.00)\nInput: stone\nExpected: enots\nProgram output: stone"
    client, seen = scripted_client([f"<instruction>{INSTRUCTION}</instruction>",
                                    "<sentence>Read the word.</sentence>",       # already there: a no-op
                                    "<sentence>[3] Spell the word backwards.</sentence>"])
    strategies = [TextualLearningRate(1, decay=False), TextualDropout(0.5)]  # one edit, half the sentences frozen
    update = propose_update(client, ctx(), role="r", strategies=strategies, attempts=3, rollout_base=1,
                            append_on_no_op=True, failures=[failure])
    assert update.reason == "appended" and update.attempts == 3
    assert update.instruction == "Read the word. Answer. Spell the word backwards."
    fallback = seen[1][0]
    assert "write ONE new" in fallback and failure in fallback and INSTRUCTION in fallback
    assert "It never says to reverse." in fallback                    # the diagnosis
    assert "<instruction> and </instruction>" not in fallback
    assert "already in the instruction" in update.problems[1] and "already in the instruction" in seen[2][0]
    assert seen[2][0].startswith(fallback)                            # the re-ask repeats the fallback prompt


def test_append_on_no_op_still_obeys_the_rules_and_keeps_a_clipped_rewrite():
    from dspy_dlpo.strategies import TextualRegularization

    # an appended sentence over the word cap is a broken rule: re-asked once, then rejected
    client, _ = scripted_client([f"<instruction>{INSTRUCTION}</instruction>",
                                 "<sentence>Spell it backwards.</sentence>", "<sentence>Reverse it.</sentence>"])
    update = propose_update(client, ctx(), role="r", strategies=[TextualRegularization(0.0, max_words=5)],
                            attempts=3, rollout_base=1, append_on_no_op=True, failures=["x"])
    assert update.instruction is None and update.reason == "clipped" and "the limit is 5" in update.problems[-1]
    # a rewrite that broke a rule and was projected is not replaced by the fallback after a no-op
    too_big = "<instruction>Go on. Be brief. Stop now. Check it.</instruction>"
    client, seen = scripted_client([too_big, f"<instruction>{INSTRUCTION}</instruction>", "<sentence>x</sentence>"])
    update = propose_update(client, ctx(), role="r", strategies=[TextualLearningRate(1, decay=False)], attempts=2,
                            rollout_base=1, append_on_no_op=True, failures=["x"])
    assert update.reason == "clipped" and update.instruction == "Go on. Answer." and len(seen) == 2


def test_append_accepts_a_bare_one_line_sentence_and_rejects_talk_about_the_program():
    same = f"<instruction>{INSTRUCTION}</instruction>"
    client, seen = scripted_client([same, "The program should provide guidance on reversing.",
                                    "<sentence>The new sentence should state that the word is reversed.</sentence>",
                                    '"Spell the word from its last letter to its first."'])
    update = propose_update(client, ctx(), role="r", strategies=[], attempts=4, rollout_base=1,
                            append_on_no_op=True, failures=["x"])
    assert update.reason == "appended"
    assert update.instruction == "Read the word. Answer. Spell the word from its last letter to its first."
    assert "talked about the program" in update.problems[1] and "talked about the program" in seen[2][0]
    assert "about itself" in update.problems[2] and len(seen) == 4
    # a long untagged reply is not guessed at
    client, _ = scripted_client([same, "Sure! Here is a sentence:\n\nReverse it.", "Reverse it. " * 40])
    update = propose_update(client, ctx(), role="r", strategies=[], attempts=3, rollout_base=1,
                            append_on_no_op=True, failures=["x"])
    assert update.instruction is None and update.problems[1:] == ["there was no sentence between <sentence> and "
                                                                  "</sentence>."] * 2
