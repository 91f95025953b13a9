"""Shared fixtures of the benchmark tests: a toy task, scripted LM pools and peers, result cells."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root holds benchmarks/

from scripted import MAGIC, ScriptedOptimizer, chat_reply, exact_metric, reverse_examples, reverse_task_lm

from benchmarks import grid, lms, run
from benchmarks.optimizers import OptimizerSetup
from dspy_dlpo.lm.engine import function_lm



@dataclass
class ToyTask:
    """A 4-example stand-in for ``dspy_dlpo.tasks.Task``: reverse a word."""

    name: str = "toy/reverse"
    trainset: list = field(default_factory=lambda: reverse_examples(["apple", "stone", "river", "cloud"]))
    valset: list = field(default_factory=lambda: reverse_examples(["tiger", "piano"]))
    testset: list = field(default_factory=lambda: reverse_examples(["lemon", "grass", "candle", "bridge"]))
    split_note: str = "toy: fixed word lists"

    @staticmethod
    def metric(example: Any, pred: Any, trace: Any = None) -> Any:
        return exact_metric(example, pred, trace)

    @staticmethod
    def make_program() -> dspy.Module:
        return dspy.Predict("question -> answer")


class ScriptedPool(lms.LMPool):
    """LMs from scripts instead of ``make_lm``."""

    def __init__(self, args: Any) -> None:
        super().__init__(args)
        self.task = reverse_task_lm()
        self.optimizer = ScriptedOptimizer().lm()

    def base(self, spec: str) -> dspy.BaseLM:
        return self.optimizer

    def task_lm(self, task: str) -> dspy.BaseLM:
        return self.task


def _grid(tmp_path: Path, optimizers: list[str]) -> tuple[Any, list[dict[str, Any]]]:
    args = run.parse_args(["--tasks", "toy/reverse", "--optimizers", *optimizers, "--seeds", "0",
                           "--budget", "20", "--results-dir", str(tmp_path / "results"),
                           "--model", "scripted", "--threads", "2"])
    written = grid.run_grid(args, pool=ScriptedPool(args), loader=lambda name, **kw: ToyTask())
    return args, written



class PeerOptimizerScript:
    """An optimizer LM that answers DLPO's prompts like :class:`ScriptedOptimizer` and the peers' DSPy
    signatures (ChatAdapter or JSONAdapter) and gepa-chat's tagged prompt with a numbered variant of the
    magic instruction. Records every call's temperature."""

    def __init__(self) -> None:
        self.dlpo = ScriptedOptimizer()
        self.temperatures: list[float | None] = []
        self.count = 0

    def __call__(self, messages: list[dict[str, str]], options: dict[str, Any]) -> str:
        self.temperatures.append(options.get("temperature"))
        self.count += 1
        user, system = messages[-1]["content"], "\n".join(m["content"] for m in messages if m["role"] == "system")
        if "Your output fields are:" not in system:
            if "<new_instruction>" in user:
                return f"<new_instruction>{MAGIC} Variant {self.count}.</new_instruction>"
            return self.dlpo(messages, options)
        block = system.split("Your output fields are:")[1].split("All interactions")[0]
        names = re.findall(r"^\d+\. `(\w+)`", block, flags=re.MULTILINE)
        values = {n: f"{MAGIC} Variant {self.count}." if "instruction" in n else "Answer:" if "prefix" in n
                  else "Single words." for n in names}
        return json.dumps(values) if "JSON object" in system else chat_reply(**values)

    def lm(self) -> dspy.LM:
        return function_lm(self, name="peer-optimizer")


def _setup(optimizer_lm: dspy.BaseLM, budget: int = 40) -> OptimizerSetup:
    data = reverse_examples()
    return OptimizerSetup(program=dspy.Predict("question -> answer"), trainset=data[:8], valset=data[8:12],
                          metric=exact_metric, task_lm=reverse_task_lm(), optimizer_lm=optimizer_lm, budget=budget,
                          threads=1, seed=0)




def _fair_cell(optimizer: str, seed: int, scores: list[float], version: str | None = "abc1234567") -> dict[str, Any]:
    return {"status": "ok", "task": "bbh/t@predict", "optimizer": optimizer, "seed": seed, "code_version": version,
            "config": {"budget": 60}, "test": {"per_example": scores, "score": 100.0 * sum(scores) / len(scores)},
            "spend": {"metric_calls": 70 if optimizer == "gepa" else 60, "task_lm_billed_calls": 30,
                      "task_lm_calls": 64, "optimizer_billed_calls": 7, "optimizer_calls": 9},
            "details": {"distinct_proposals": 0, "proposals_total": 9,
                        "settings": {"role": "reflection_lm", "temperature": 1.0}}}

