"""Golden prompts: every prompt sent to the task and optimizer LMs on scripted compiles, byte for byte
(and the trial records they produce).

A refactor must not change what the LMs see. The recorded digests live in ``golden/prompts.json``;
``DLPO_WRITE_GOLDEN=1 python -m pytest tests/test_golden_prompts.py`` rewrites them (only when a
change of the prompts is intended).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import dspy
import pytest

from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.lm.engine import function_lm
from scripted import MAGIC, ScriptedOptimizer, chat_reply, exact_metric, field_value, reverse_examples, system_text

GOLDEN = Path(__file__).parent / "golden" / "prompts.json"
DATA = reverse_examples()
TRAIN, VAL = DATA[:8], DATA[8:]


def _rewrite(prompt: str, n: int) -> str:
    """A different rewrite each call; the magic sentence only from the 9th call on, so several steps run."""
    words = ["Read the word.", "Answer with one word.", "Be careful.", "Think about the letters."]
    text = " ".join(words[: 1 + n % 4]) + f" Variant {n}."
    if n >= 9 and n % 2:
        text += " " + MAGIC
    return f"<instruction>{text}</instruction>"


class TwoSteps(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = dspy.Predict("question -> draft")
        self.second = dspy.Predict("question, draft -> answer")

    def forward(self, question):
        draft = self.first(question=question).draft
        return self.second(question=question, draft=draft)


def _task_lm(seen: list[str]) -> dspy.LM:
    def reply(messages, options):
        seen.append(json.dumps(messages, sort_keys=True))
        word = field_value(messages, "question")
        answer = word[::-1] if MAGIC.lower() in system_text(messages).lower() else word
        if "draft" in messages[-1]["content"] and "[[ ## draft ## ]]\n" not in messages[-1]["content"]:
            return chat_reply(draft=word)
        return chat_reply(answer=answer, draft=word)
    return function_lm(reply, name="golden-task")


SCENARIOS = {
    "defaults": ({}, False),
    "all_on": ({"dropout": 0.5, "feedback_dropout": 0.3, "momentum": 2, "contrastive": True, "learning_rate": 3,
                "lr_decay": "cosine", "regularization": 0.5, "annealing": 0.5, "candidates_per_step": 2,
                "append_on_no_op": True, "seed": 7}, False),
    "all_off": ({"dropout": False, "momentum": False, "contrastive": False, "learning_rate": False,
                 "lr_decay": False, "regularization": False, "annealing": False}, False),
    "two_predictors": ({"max_metric_calls": 160}, True),
}


def _run(options: dict, two: bool) -> dict:
    seen: list[str] = []
    optimizer = ScriptedOptimizer(rewrite=_rewrite)
    program = TwoSteps() if two else dspy.Predict("question -> answer")
    options = {"max_metric_calls": 120, "batch_size": 4, "progress": False, "verbose": False, **options}
    with dspy.context(lm=_task_lm(seen)):
        result = DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), **options).compile(
            program, trainset=TRAIN, valset=VAL)
    digest = lambda text: hashlib.sha256(text.encode()).hexdigest()[:16]  # noqa: E731
    return {"optimizer": [digest(p) for p in optimizer.prompts], "task": sorted(digest(p) for p in seen),
            "steps": len(result.trial_logs),
            "trials": digest(json.dumps(list(result.trial_logs), sort_keys=True, default=str))}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_prompts_are_byte_identical(name):
    got = _run(*SCENARIOS[name])
    if os.environ.get("DLPO_WRITE_GOLDEN"):
        golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        golden[name] = got
        GOLDEN.write_text(json.dumps(golden, indent=0, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())[name]
    assert got["steps"] == want["steps"] and got["steps"] >= 2
    assert got["optimizer"] == want["optimizer"]
    assert got["task"] == want["task"]
    assert got["trials"] == want["trials"]  # the trial records too
