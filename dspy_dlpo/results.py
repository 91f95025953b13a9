"""What a run returns besides the best program: ``detailed_results``, saved candidates, ``load_best``.

The names follow the peers so that their users find what they look for: GEPA's ``candidates``,
``val_aggregate_scores``, ``val_subscores``, ``best_idx`` and ``total_metric_calls``; MIPROv2's
``total_calls`` and ``prompt_model_total_calls`` on the returned program.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy

from .checkpoint import atomic_write_json
from .program import with_params
from .summary import accepted_proposals

logger = logging.getLogger(__name__)

BEST_FILE = "best_program.json"
CANDIDATES_DIR = "candidates"
RESULTS_FILE = "detailed_results.json"


@dataclass(eq=False)
class DLPOResults(Mapping):
    """Every validated candidate of a run and how the run went (``program.detailed_results``).

    Candidates are in the order they were validated; index 0 is the baseline (the student's own
    instructions). ``val_aggregate_scores`` are means in [0, 1] as in GEPA, while
    ``program.score`` and ``initial_score`` are percentages as ``dspy.Evaluate`` reports them.
    ``accepted_proposals`` has one entry per accepted rewrite (step, validation score, words,
    sentences added/removed/rewritten: :func:`dspy_dlpo.summary.accepted_proposals`).
    It also reads like the plain dict of earlier versions (``results["spend"]``, ``dict(results)``).
    """

    candidates: list[dict[str, str]]
    val_aggregate_scores: list[float]
    val_subscores: list[list[float]]
    candidate_steps: list[int]
    best_idx: int
    stop_reason: str | None
    steps: int
    best_step: int
    initial_score: float | None
    budget: int
    spend: dict[str, Any]
    faults: dict[str, int] = field(default_factory=dict)
    log_dir: str | None = None
    error: str | None = None  # what ended a run that stopped on an error (redacted), else None
    accepted_proposals: list[dict[str, Any]] = field(default_factory=list)  # summary.accepted_proposals

    @property
    def best_candidate(self) -> dict[str, str]:
        """The best program's instructions, predictor name -> text."""
        return self.candidates[self.best_idx]

    @property
    def total_metric_calls(self) -> int:
        return int(self.spend.get("metric_calls", 0))

    @property
    def cost_usd(self) -> float | None:
        """USD cost of the run (task + optimizer LM) where litellm prices the models, else None."""
        task, opt = self.spend.get("task_cost_usd"), self.spend.get("optimizer_cost_usd")
        return None if task is None and opt is None else (task or 0.0) + (opt or 0.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return {"candidates": [dict(c) for c in self.candidates],
                "val_aggregate_scores": list(self.val_aggregate_scores),
                "val_subscores": [list(s) for s in self.val_subscores], "candidate_steps": list(self.candidate_steps),
                "best_idx": self.best_idx, "stop_reason": self.stop_reason, "steps": self.steps,
                "best_step": self.best_step, "initial_score": self.initial_score, "budget": self.budget,
                "spend": {**self.spend, "cost_usd": self.cost_usd}, "faults": dict(self.faults),
                "total_metric_calls": self.total_metric_calls, "log_dir": self.log_dir, "error": self.error,
                "accepted_proposals": [dict(p) for p in self.accepted_proposals]}

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def build_results(state: Any, budget: int, log_dir: Path | None) -> DLPOResults:
    """``DLPOResults`` of a finished run state."""
    candidates = state.candidates
    best_idx = next((i for i, c in enumerate(candidates) if c["params"] == state.best_params), 0)
    return DLPOResults(
        candidates=[dict(c["params"]) for c in candidates],
        val_aggregate_scores=[c["score"] / 100.0 for c in candidates],
        val_subscores=[list(c.get("val_scores", [])) for c in candidates],
        candidate_steps=[c["step"] for c in candidates], best_idx=best_idx, stop_reason=state.stop_reason,
        steps=state.step, best_step=state.best_step,
        initial_score=next((c["score"] for c in candidates if c["step"] == -1), None), budget=budget,
        spend=state.spend.to_json(), faults=dict(state.faults), log_dir=str(log_dir) if log_dir else None,
        error=getattr(state, "error", None), accepted_proposals=accepted_proposals(state.history))


def save_programs(program: dspy.Module, results: DLPOResults, log_dir: Path) -> None:
    """Write every validated candidate and the best program as DSPy JSON (``program.save``), and
    the results as JSON, into ``log_dir``."""
    folder = Path(log_dir) / CANDIDATES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for i, (params, step) in enumerate(zip(results.candidates, results.candidate_steps)):
        with_params(program, params).save(str(folder / f"candidate_{i:03d}_step_{step}.json"))
    with_params(program, results.best_candidate).save(str(Path(log_dir) / BEST_FILE))
    atomic_write_json(Path(log_dir) / RESULTS_FILE, results.to_dict())
    logger.info("saved %d validated candidate(s) and the best program (%s) in %s", len(results.candidates),
                BEST_FILE, log_dir)


def load_best(log_dir: str | Path, program: dspy.Module) -> dspy.Module:
    """The best program of the run saved in ``log_dir``: a copy of ``program`` (the same
    architecture as the student) with the saved instructions and demos loaded."""
    path = Path(log_dir) / BEST_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: was log_dir={str(log_dir)!r} passed to a "
                                "DLPOTeleprompter whose compile finished?")
    best = program.deepcopy()
    best.load(str(path))
    return best


def load_results(log_dir: str | Path) -> dict[str, Any]:
    """The ``detailed_results`` of the run saved in ``log_dir``, as a dict."""
    return json.loads((Path(log_dir) / RESULTS_FILE).read_text(encoding="utf-8"))
