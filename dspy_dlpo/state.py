"""The run state: plain JSON data, checkpointed after every step and restored on resume."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .budget import Spend
from .validate import is_int, is_real


@dataclass
class RunState:
    """Everything a run needs to continue: current and best instructions, history, spend.

    ``error`` holds the error that ended the run early (``stop_reason == "error"``), redacted.
    ``origin`` is the parent of the next validated candidate (GEPA's ``parents``).
    """

    params: dict[str, str]
    step: int = 0
    best_params: dict[str, str] = field(default_factory=dict)
    best_score: float = float("-inf")
    best_step: int = -1
    current_score: float | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    spend: Spend = field(default_factory=Spend)
    faults: dict[str, int] = field(default_factory=dict)
    # programs that won or tied on a minibatch but were not validated: {"params", "delta", "step"}
    pending: list[dict[str, Any]] = field(default_factory=list)
    # rollouts of the programs used last on training examples, reused when the task LM is deterministic:
    # {"programs": [{"params": {name: instruction}, "rollouts": {str(index): program.rollout_state(...)}}]}
    known: dict[str, Any] = field(default_factory=dict)
    stop_reason: str | None = None
    error: str | None = None
    origin: int = 0  # index in candidates of the validated program that ``params`` descend from

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["spend"] = self.spend.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunState":
        data = dict(data)
        data["spend"] = Spend.from_json(data.get("spend", {}))
        return cls(**data)

    def count_fault(self, kind: str, n: int = 1) -> None:
        if n:
            self.faults[kind] = self.faults.get(kind, 0) + n


def _is_int(value: Any, minimum: int) -> bool:
    return is_int(value) and value >= minimum


def _is_score(value: Any) -> bool:
    return is_real(value) and 0.0 <= value <= 100.0


def _is_texts(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _candidate_problems(candidates: Any) -> list[str]:
    if not isinstance(candidates, list):
        return [f"candidates must be a list, got {type(candidates).__name__}"]
    problems = []
    for i, cand in enumerate(candidates):
        if not isinstance(cand, dict) or not _is_texts(cand.get("params")):
            problems.append(f"candidates[{i}] must hold params (name -> instruction)")
        elif not _is_score(cand.get("score")):
            problems.append(f"candidates[{i}].score must be a number in [0, 100], got {cand.get('score')!r}")
        elif not _is_int(cand.get("step"), -1):
            problems.append(f"candidates[{i}].step must be an int >= -1, got {cand.get('step')!r}")
    return problems


def _best_problems(data: dict[str, Any]) -> list[str]:
    best, candidates = data.get("best_score"), data.get("candidates") or []
    if not (_is_score(best) or (is_real(best) and best == -math.inf)):
        return [f"best_score must be a number in [0, 100], got {best!r}"]
    scores = [c["score"] for c in candidates]
    if scores and not _is_texts(data.get("best_params")):
        return ["best_params must map predictor names to instructions"]
    # the best is a validated candidate (not always the highest-scoring one: a new best needs a margin)
    best_scores = [c["score"] for c in candidates if c["params"] == data.get("best_params")]
    if (best_scores[0] if best_scores else -math.inf) != best or (scores and best < scores[0]):
        return [f"best_score {best!r} is not the score of a validated candidate with best_params "
                f"({best_scores[0] if best_scores else 'no such candidate'})"]
    return []


def _spend_problems(spend: Any) -> list[str]:
    if not isinstance(spend, dict):
        return [f"spend must be an object, got {type(spend).__name__}"]
    known, costs = Spend.__dataclass_fields__, ("task_cost_usd", "optimizer_cost_usd")
    problems = [f"spend.{k} must be an int >= 0, got {v!r}" for k, v in spend.items()
                if k in known and k not in costs and not _is_int(v, 0)]
    return problems + [f"spend.{k} must be None or a number >= 0, got {v!r}" for k, v in spend.items()
                       if k in costs and v is not None and not (is_real(v) and math.isfinite(v) and v >= 0)]


def state_problems(data: Any) -> list[str]:
    """What is wrong with checkpointed state ``data`` (empty when it can be resumed)."""
    if not isinstance(data, dict):
        return [f"the state must be an object, got {type(data).__name__}"]
    names = {f.name for f in fields(RunState)}
    problems = [f"unknown key {k!r}" for k in sorted(set(data) - names)]
    if not _is_texts(data.get("params")) or not data.get("params"):
        problems.append("params must map predictor names to instructions")
    if not _is_int(data.get("step", 0), 0):
        problems.append(f"step must be an int >= 0, got {data.get('step')!r}")
    elif not isinstance(data.get("history", []), list) or len(data.get("history", [])) != data.get("step", 0):
        problems.append(f"history must be a list of one record per step ({data.get('step', 0)} steps)")
    if not _is_int(data.get("origin", 0), 0):
        problems.append(f"origin must be an int >= 0, got {data.get('origin')!r}")
    if not _is_int(data.get("best_step", -1), -1):
        problems.append(f"best_step must be an int >= -1, got {data.get('best_step')!r}")
    if data.get("current_score") is not None and not _is_score(data["current_score"]):
        problems.append(f"current_score must be None or a number in [0, 100], got {data['current_score']!r}")
    problems += _candidate_problems(data.get("candidates", []))
    if not problems:
        problems += _best_problems(data)
    problems += _spend_problems(data.get("spend", {}))
    faults = data.get("faults", {})
    if not isinstance(faults, dict) or not all(isinstance(k, str) and _is_int(v, 0) for k, v in faults.items()):
        problems.append("faults must map fault kinds to ints >= 0")
    for key in ("stop_reason", "error"):
        if data.get(key) is not None and not isinstance(data[key], str):
            problems.append(f"{key} must be None or text, got {data[key]!r}")
    return problems
