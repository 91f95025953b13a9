"""The fair harness (issue 17) on scripted LMs: the peers at their authors' settings and what they
proposed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dspy
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root holds benchmarks/

from scripted import MAGIC, ScriptedOptimizer

from benchmarks import peers
from benchmarks.chat_proposer import ChatInstructionProposer, clip, parse_instruction
from benchmarks.harness import metered_lm, Meter, lm_call_count
from benchmarks.optimizers import copro_plan, mipro_plan, run_optimizer
from benchmarks.proposals import distinct_count, dlpo_entries, recounted, summary
from dspy_dlpo.lm.engine import function_lm

from bench_helpers import PeerOptimizerScript, _setup


# --------------------------------------------------------------------------------------------
# The fair harness (issue 17 part A)
# --------------------------------------------------------------------------------------------
def test_each_peer_gets_its_authors_proposal_temperature() -> None:
    greedy = metered_lm(PeerOptimizerScript().lm(), Meter("optimizer")).copy(temperature=0.0, max_tokens=600)
    for variant in peers.GEPA_VARIANTS:
        gepa, _, _, _ = peers.build_gepa(_setup(greedy), variant)
        assert gepa.reflection_lm.kwargs["temperature"] == 1.0 and gepa.reflection_lm.kwargs["max_tokens"] == 600
        assert lm_call_count(gepa.reflection_lm) == lm_call_count(greedy)  # still metered: a shallow copy
        assert isinstance(gepa.custom_instruction_proposer, ChatInstructionProposer) is (variant == "gepa-chat")
    assert isinstance(peers.build_gepa(_setup(greedy), "gepa-chatadapter")[0].custom_instruction_proposer.adapter,
                      dspy.ChatAdapter)
    with pytest.raises(ValueError, match="unknown GEPA variant 'gepa-x'"):
        peers.build_gepa(_setup(greedy), "gepa-x")
    mipro, _, plan = peers.build_miprov2(_setup(greedy))
    assert mipro.prompt_model.kwargs["temperature"] == 1.0 and mipro.init_temperature == 1.0
    copro, _, _ = peers.build_copro(_setup(greedy))
    assert copro.prompt_model.kwargs["temperature"] == 1.4 and copro.init_temperature == 1.4
    assert greedy.kwargs["temperature"] == 0.0  # the grid's own optimizer LM is left greedy (DLPO's first ask)


@pytest.mark.parametrize("name, temperatures", [("gepa", {1.0}), ("gepa-chat", {1.0}), ("gepa-chatadapter", {1.0}),
                                                ("miprov2", {1.0}),
                                                ("copro", {1.4})])
def test_peers_run_end_to_end_and_record_their_proposals(name: str, temperatures: set[float]) -> None:
    script = PeerOptimizerScript()
    setup = _setup(script.lm().copy(temperature=0.0, max_tokens=600))
    with dspy.context(lm=setup.task_lm):
        program, details = run_optimizer(name, setup)
    assert set(script.temperatures) == temperatures, script.temperatures  # every proposal call sampled
    assert MAGIC in program.signature.instructions
    assert details["settings"]["temperature"] == min(temperatures)
    assert details["distinct_proposals"] >= 1 and details["proposals_total"] >= details["distinct_proposals"]
    assert all(MAGIC in p["text"] or p["text"].startswith("Given the fields") for p in details["proposals"])
    assert details["metric_calls_counted"] <= 1.1 * setup.budget
    if name.startswith("gepa"):
        first = details["proposals"][0]
        assert first["accepted"] is True and first["val"] == 100.0
        assert (first["minibatch_before"], first["minibatch_after"]) == (0.0, 3.0)  # the gate: parent 0/3, child 3/3
    if name == "miprov2":
        assert details["plan"]["minibatch"] is False and details["bootstrap_metric_calls"] > 0
        assert len(details["proposals"]) == details["plan"]["new_instructions"] == 2
        assert details["metric_calls_counted"] == details["bootstrap_metric_calls"] + 4 * (1 + details["plan"]["trials_run"])
    if name == "copro":
        assert details["plan"]["scoring_set"] == "valset" and details["metric_calls_counted"] == 40


def test_dlpo_cell_records_its_own_proposal_setting_and_rewrites() -> None:
    setup = _setup(ScriptedOptimizer().lm().copy(temperature=0.0, max_tokens=600))
    with dspy.context(lm=setup.task_lm):
        _, details = run_optimizer("dlpo", setup)
    assert details["settings"]["temperature"] == 0.0 and details["settings"]["reask_temperature"] == 1.0
    assert details["distinct_proposals"] == 1 and details["proposals"][0]["text"] == MAGIC


def test_chat_proposer_parses_a_tagged_reply_from_the_reflection_lm() -> None:
    prompts: list[str] = []

    def reflect(messages: list[dict[str, str]], options: dict[str, Any]) -> str:
        prompts.append(messages[-1]["content"])
        return "Thinking first.\n<new_instruction>\nReverse the word, letter by letter.\n</new_instruction>"

    dataset = {"self": [{"Inputs": {"question": "stone"}, "Generated Outputs": {"answer": "stone"},
                         "Feedback": "Expected 'enots'."}]}
    proposer = ChatInstructionProposer()
    with dspy.context(lm=function_lm(reflect, name="reflect")):
        out = proposer({"self": "Answer the question."}, dataset, ["self"])
    assert out == {"self": "Reverse the word, letter by letter."}
    assert "Answer the question." in prompts[0] and "Expected 'enots'." in prompts[0] and "question: stone" in prompts[0]
    with dspy.context(lm=function_lm(lambda m, o: "<new_instruction>cut off by max_tokens", name="cut")):
        assert proposer({"self": "Answer."}, dataset, ["self"]) == {} and proposer.unparseable == 1
    setup = _setup(function_lm(lambda m, o: "no tags at all", name="untagged").copy(temperature=0.0), budget=20)
    with dspy.context(lm=setup.task_lm):
        _, details = run_optimizer("gepa-chat", setup)
    assert details["proposals_total"] == 0 and details["reflections"] >= 2
    assert details["reflections_without_proposal"] == details["reflections"] == details["unparseable_reflections"]
    assert parse_instruction("```text\nFenced one.\n```") == "Fenced one." and parse_instruction("plain") is None
    assert clip("a" * 10 + "b" * 10, limit=8).startswith("aaaa [... 12 characters cut ...] bbbb")


def test_mipro_plan_follows_miprov2s_own_rules() -> None:
    plan = mipro_plan(60, 10)
    assert plan["minibatch"] is False and plan["num_candidates"] == 3 and plan["new_instructions"] == 2
    assert plan["num_trials"] == 3 and plan["estimated_metric_calls"] == 60  # 10 default + 2 x 10 bootstrap + 3 x 10
    big = mipro_plan(400, 100)
    assert big["minibatch"] is True and big["minibatch_size"] == 35
    assert mipro_plan(400, 50)["minibatch"] is False  # MIPROv2 minibatches only above 50
    assert peers.mipro_recommended_trials(3) == 4 and peers.mipro_recommended_trials(6) == 9
    with pytest.raises(ValueError, match="val_size must be a positive integer, got 0"):
        mipro_plan(60, 0)
    with pytest.raises(ValueError, match="budget must be a positive integer, got -5"):
        copro_plan(-5, 10)


def test_copro_plan_says_what_the_authors_defaults_would_cost() -> None:
    plan = copro_plan(60, 10)
    assert (plan["breadth"], plan["depth"], plan["estimated_metric_calls"]) == (3, 2, 60)
    assert plan["authors_defaults_metric_calls"] == 300 and plan["new_proposals"] == 5
    assert copro_plan(25, 10)["depth"] == 1 and copro_plan(10, 10)["scoring_size"] == 5


def test_distinct_proposals_ignore_the_seed_echoes_and_whitespace() -> None:
    texts = ["Given x.", "Reverse it.", "Reverse  it.\n", "Spell it backwards.", "", "Given  x."]
    assert distinct_count(texts, "Given x.") == 2
    assert distinct_count([], "Given x.") == 0
    logs = [{"step": 0, "instruction_before": "A.", "instruction_after": "A."},
            {"step": 1, "instruction_before": "A.", "instruction_after": "B.", "batch_score_after": 0.6},
            {"step": 2, "instruction_before": "B.", "instruction_after": "D.", "val_score": 40.0, "accepted": True,
             "proposals": [{"instruction": "C.", "reason": "ok"}, {"instruction": None, "reason": "unparseable"},
                           {"instruction": "D.", "reason": "ok"}], "candidate_batch_scores": [0.2, 0.6]}]
    entries = dlpo_entries(logs)
    assert [e["text"] for e in entries] == ["A.", "B.", "C.", "D."] and entries[0]["echo"] is True
    assert entries[2]["minibatch_after"] == 0.2 and "val" not in entries[2]
    assert entries[3]["minibatch_after"] == 0.6 and entries[3]["val"] == 40.0 and entries[3]["accepted"] is True
    assert summary(entries, "A.")["distinct_proposals"] == 3
    stored = {"optimizer": "dlpo+k2", "details": {"trial_logs": logs, "proposals_total": 3, "distinct_proposals": 2}}
    fixed = recounted(stored)
    assert (fixed["details"]["proposals_total"], fixed["details"]["distinct_proposals"]) == (4, 3)
    assert stored["details"]["distinct_proposals"] == 2                       # the stored record is not altered
    assert recounted({"optimizer": "gepa", "details": {"distinct_proposals": 5}})["details"]["distinct_proposals"] == 5
