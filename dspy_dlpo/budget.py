"""Cost accounting: metric calls (rollouts), optimizer-LM calls and tokens, thread-safe.

Token counts come from DSPy's ``usage_tracker`` hook: a :class:`UsageMeter` installed with
``dspy.context(usage_tracker=meter)`` receives every billed (non-cached) LM call. DSPy's
``ParallelExecutor`` deep-copies the tracker into worker threads, which is why
``dspy.track_usage()`` loses counts under threads; the meter returns itself from
``__deepcopy__`` so every thread adds to the same totals.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any


class UsageMeter:
    """Counts billed LM calls and their input/output tokens, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0

    def add_usage(self, model: str, usage: dict[str, Any]) -> None:
        """DSPy's usage-tracker hook: one call per billed LM response."""
        usage = dict(usage or {})
        prompt = usage.get("prompt_tokens", usage.get("input_tokens")) or 0
        completion = usage.get("completion_tokens", usage.get("output_tokens")) or 0
        with self._lock:
            self.calls += 1
            self.input_tokens += int(prompt)
            self.output_tokens += int(completion)

    def __deepcopy__(self, memo: dict) -> "UsageMeter":
        return self

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"calls": self.calls, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens}

    def restore(self, data: dict[str, int]) -> None:
        with self._lock:
            self.calls = int(data.get("calls", 0))
            self.input_tokens = int(data.get("input_tokens", 0))
            self.output_tokens = int(data.get("output_tokens", 0))


@dataclass
class Spend:
    """What a run has spent so far; JSON-serializable and restored on resume."""

    metric_calls: int = 0
    optimizer_calls: int = 0
    task_lm_calls: int = 0
    task_input_tokens: int = 0
    task_output_tokens: int = 0
    optimizer_input_tokens: int = 0
    optimizer_output_tokens: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, int]) -> "Spend":
        return cls(**{k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__})


def step_cost(batch_size: int, val_size: int, candidates: int = 1) -> int:
    """Metric calls one step may need: the current instruction and each of ``candidates`` rewrites on
    the minibatch, then the validation of the one kept."""
    return (1 + candidates) * batch_size + val_size


def minimum_budget(batch_size: int, val_size: int, candidates: int = 1) -> int:
    """Smallest ``max_metric_calls`` that allows the baseline validation plus one full step."""
    return val_size + step_cost(batch_size, val_size, candidates)


def auto_budget(preset: str, *, num_params: int, batch_size: int, val_size: int, candidates: int = 1) -> int:
    """Metric-call budget of an ``auto`` preset, on the scale of GEPA's presets.

    A preset buys a number of optimization steps per trainable instruction (light 6, medium 10,
    heavy 15) at their worst-case cost (every candidate accepted and validated), plus the
    baseline validation. For one predictor, a 100-example valset and batches of 5 this gives
    760 / 1,200 / 1,750 metric calls, matching GEPA's 780 / 1,190 / 1,735 for the same program.
    Rejected candidates are never validated, so the same budget usually buys more steps.
    """
    steps = {"light": 6, "medium": 10, "heavy": 15}[preset] * max(1, num_params)
    return val_size + steps * step_cost(batch_size, val_size, candidates)
