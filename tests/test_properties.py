"""Issue 34, item 3: property-based tests of every function that parses LM replies or user data, and a
fuzz test of whole steps with random optimizer replies. Kept fast: 60 examples each (25 whole steps), no
deadline, no example database; ``DSPY_DLPO_PROPERTY_EXAMPLES=2000`` searches deeper."""

import os
import re
from unittest import mock

import dspy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.autograd.loss import loss_text
from dspy_dlpo.autograd.step import clean_instruction
from dspy_dlpo.text import (clip_edits, escape_tags, normalize, parse_block, parse_tag, sentence_edits,
                                     split_sentences, trim_middle)
from dspy_dlpo.leakage import MIN_WORDS, TrainingIndex, describe_leaks, find_leaks
from dspy_dlpo.lm.engine import function_lm
from dspy_dlpo.program import Rollout, normalize_metric_result
from dspy_dlpo.redact import MASK, redact
from dspy_dlpo.sanitize import valid_data, valid_text
from scripted import ScriptedOptimizer, chat_reply, exact_metric, field_value, reverse_examples

EXAMPLES = int(os.environ.get("DSPY_DLPO_PROPERTY_EXAMPLES", "60"))
FAST = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
TAG = "instruction"
PIECES = ["<instruction>", "</instruction>", "< instruction >", "<INSTRUCTION>", "</ instruction>", "<sentence>",
          "</sentence>", "<gradient>", "</gradient>", "<instruction a=1>", "\x00", "\x1b[31m", "\ud800", "\udfff",
          "\U0001f600", "\n", "\r\n", "\u2028", " ", "\t", "word", "Answer", ".", "e.g.", "1.", "3.5", "Dr.", "?",
          "!", '"', ")", "(", "No.", "etc.", "- ", "* ", "[1] ", "jane@x.io", "+1 415 555 0134", "\u0130", "\u03a3"]
ANY_TEXT = st.text(st.characters(exclude_categories=()))
REPLY = st.one_of(ANY_TEXT, st.lists(st.one_of(st.sampled_from(PIECES), ANY_TEXT), max_size=30).map("".join))
WORDS = st.lists(st.text("abcdefghij", min_size=1, max_size=6), min_size=MIN_WORDS, max_size=14)


def squeezed(text):
    return "".join(text.split())


# -- sentence splitting and edits -------------------------------------------------------------------------------
@FAST
@given(REPLY)
def test_split_sentences_loses_and_invents_nothing(text):
    sentences = split_sentences(text)
    assert all(s and s == s.strip() for s in sentences)
    assert "".join(map(squeezed, sentences)) == squeezed(text)


@FAST
@given(REPLY, REPLY, st.integers(0, 5))
def test_clip_edits_stays_within_its_bound(old, new, k):
    assert sentence_edits(old, old) == 0
    assert sentence_edits(old, clip_edits(old, new, k)) <= k


# -- normalization, sanitizing, trimming ------------------------------------------------------------------------
@FAST
@given(REPLY)
def test_normalize_is_idempotent_and_single_spaced(text):
    once = normalize(text)
    assert normalize(once) == once and once == once.strip() and "  " not in once


@FAST
@given(REPLY)
def test_valid_text_always_encodes_and_keeps_valid_text(text):
    repaired = valid_text(text)
    repaired.encode("utf-8")
    assert valid_text(repaired) == repaired and len(repaired) <= len(text)
    if "\ud800" not in text and "\udfff" not in text and all(not 0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert repaired == text


@FAST
@given(REPLY, st.integers(0, 300))
def test_trim_middle_respects_its_limit(text, limit):
    trimmed = trim_middle(text, limit)
    assert len(trimmed) <= max(limit, 0) or trimmed == text
    assert trim_middle(text, len(text)) == text


# -- tags -------------------------------------------------------------------------------------------------------
@FAST
@given(REPLY)
def test_parse_block_never_crashes_and_returns_text_or_a_problem(reply):
    text, problem = parse_block(reply, TAG)
    assert (text is None) == bool(problem) and (text is None or text == text.strip() and text)
    lenient = parse_tag(reply, TAG)
    assert lenient == text or problem == "unclosed"


@FAST
@given(REPLY, REPLY, REPLY)
def test_an_escaped_text_round_trips_through_its_tags(before, body, after):
    escaped = escape_tags(body, [TAG])
    reply = f"{escape_tags(before, [TAG])}<{TAG}>{escaped}</{TAG}>{escape_tags(after, [TAG])}"
    assert parse_block(reply, TAG) == ((escaped.strip(), "") if escaped.strip() else (None, "empty"))


@FAST
@given(REPLY)
def test_escape_tags_is_idempotent_and_leaves_no_tag(text):
    escaped = escape_tags(text, [TAG, "gradient"])
    assert escape_tags(escaped, [TAG, "gradient"]) == escaped and len(escaped) == len(text)
    assert parse_block(escaped, TAG) == (None, "missing")


# -- user data: metric results, secrets, losses -----------------------------------------------------------------
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), ANY_TEXT)


@FAST
@given(st.one_of(SCALARS, st.dictionaries(st.sampled_from(["score", "feedback", "x"]), SCALARS),
                 st.builds(lambda s, f: dspy.Prediction(score=s, feedback=f), SCALARS, SCALARS)))
def test_any_metric_result_normalizes_to_a_score_in_range(result):
    score, feedback, error = normalize_metric_result(result)
    assert 0.0 <= score <= 1.0 and isinstance(feedback, str) and (error is None or isinstance(error, str))


@FAST
@given(REPLY, REPLY)
def test_redact_removes_a_configured_secret_wherever_it_sits(before, after):
    secret = "sk-proptest-Zq8w3Jx0Kd7"
    with mock.patch.dict(os.environ, {"PROPTEST_API_KEY": secret}):
        masked = redact(f"{before}{secret}{after}")
        assert secret not in masked and MASK in masked
        assert redact(masked) == masked


FIELDS = st.dictionaries(st.text("abcxyz_", min_size=1, max_size=8), REPLY, max_size=4)


@FAST
@given(FIELDS, FIELDS, st.one_of(st.none(), FIELDS), REPLY, st.one_of(st.none(), REPLY),
       st.floats(0, 1), st.integers(400, 3000))
def test_a_loss_never_exceeds_its_budget(inputs, gold, outputs, feedback, error, score, max_chars):
    # example fields are repaired where they enter a run (the dataloader), program outputs by the Rollout
    rollout = Rollout(0, valid_data(inputs), valid_data(gold), outputs, score, feedback, error)
    text = loss_text(rollout, 1, param="self", multi_predictor=False, max_chars=max_chars)
    assert len(text) <= max_chars
    text.encode("utf-8")


# -- the leakage checker ----------------------------------------------------------------------------------------
@FAST
@given(REPLY, REPLY, st.lists(st.lists(REPLY, max_size=2), max_size=4), st.lists(REPLY, max_size=2))
def test_the_leakage_checker_never_crashes(candidate, current, examples, allow):
    leaks = find_leaks(candidate, current, TrainingIndex.build(examples), [a for a in allow if a.strip()])
    assert (describe_leaks(leaks) is None) == (not leaks)


@FAST
@given(REPLY, st.lists(st.lists(REPLY, max_size=2), max_size=4))
def test_an_unchanged_instruction_never_leaks(instruction, examples):
    assert find_leaks(instruction, instruction, TrainingIndex.build(examples)) == []


@FAST
@given(WORDS, REPLY)
def test_a_copied_run_of_words_is_always_caught(words, noise):
    passage = " ".join(words)
    index = TrainingIndex.build([[f"{noise} {passage}"]])
    leaks = find_leaks(f"Answer briefly. {passage.upper()}!", "Answer briefly.", index)
    assert "copied_text" in [leak.kind for leak in leaks]


# -- whole steps with random optimizer replies ------------------------------------------------------------------
DATA = reverse_examples()
ORIGINAL = "Answer the question."
HUGE = st.integers(10_000, 60_000).map(lambda n: f"<{TAG}>" + "x " * (n // 2) + f"</{TAG}>")


def task(messages, options):
    """Solves every example once the instruction is anything but the original: any rewrite that passes
    the vetting is adopted, so the test sees what the step lets through."""
    word = field_value(messages, "question")
    return chat_reply(answer=word if ORIGINAL in messages[0]["content"] else word[::-1])


@settings(FAST, max_examples=max(25, EXAMPLES // 10))
@given(st.one_of(REPLY, HUGE, REPLY.map(lambda r: f"<{TAG}>{r}</{TAG}>")), REPLY)
def test_a_step_survives_any_optimizer_reply_and_adopts_only_a_parsed_instruction(reply, gradient):
    opt = ScriptedOptimizer(rewrite=reply, gradient=f"<gradient>{gradient}</gradient>")
    program = dspy.Predict(dspy.Signature("question -> answer", ORIGINAL))
    with dspy.context(lm=function_lm(task, name="t")):
        result = DLPOTeleprompter(exact_metric, prompt_model=opt.lm(), max_steps=1, batch_size=4, progress=False,
                                  dropout=False, learning_rate=False).compile(program, trainset=DATA[:4],
                                                                              valset=DATA[4:6])
    after = result.signature.instructions
    after.encode("utf-8")
    parsed, _ = parse_block(valid_text(reply), TAG)
    assert after == ORIGINAL or (parsed is not None and after == clean_instruction(parsed))
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", after)   # no control characters adopted
    assert len(result.trial_logs) == 1 and result.detailed_results["spend"]["metric_calls"] <= 2 + 4 + 4 + 2
