"""What a run returns besides the best program: ``detailed_results``, saved candidates, ``load_best``.

The names follow the peers so that their users find what they look for: GEPA's ``detailed_results``
fields (``candidates`` as programs, ``best_candidate``, ``parents``, ``val_subscores``, ...); MIPROv2's
``trial_logs`` (:class:`TrialLogs`), ``total_calls`` and ``prompt_model_total_calls`` on the returned program.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy

from .checkpoint import STATE_FILE, atomic_write_json
from .program import with_params
from .summary import accepted_proposals

logger = logging.getLogger(__name__)

BEST_FILE = "best_program.json"
CANDIDATES_DIR = "candidates"
RESULTS_FILE = "detailed_results.json"


@dataclass(eq=False)
class DLPOResults(Mapping):
    """Every validated candidate of a run and how the run went (``program.detailed_results``), with
    the fields of ``dspy.GEPA``'s ``detailed_results`` and their meaning there.

    ``candidates`` are programs (copies of the student carrying each candidate's instructions), in the
    order they were validated; index 0 is the baseline (the student's own instructions).
    ``candidate_instructions`` holds the same candidates as ``predictor name -> instruction`` dicts.
    ``parents[i]`` is ``[j]``, the validated candidate whose program the steps that led to candidate
    ``i`` started from (``[None]`` for the baseline); ``discovery_eval_counts[i]`` the metric calls spent
    before candidate ``i`` was validated; ``val_subscores[i][k]`` its score on valset example ``k``;
    ``per_val_instance_best_candidates[k]`` the candidates with the best score on example ``k``;
    ``num_full_val_evals`` the number of full validation passes (one per validated candidate).
    ``val_aggregate_scores`` are means in [0, 1] as in GEPA, while ``program.score`` and
    ``initial_score`` are percentages as ``dspy.Evaluate`` reports them.
    ``accepted_proposals`` has one entry per accepted rewrite (step, validation score, words,
    sentences added/removed/rewritten: :func:`dspy_dlpo.summary.accepted_proposals`).
    It also reads like a plain dict (``results["spend"]``, ``dict(results)``): that view is
    :meth:`to_dict`, where ``candidates`` are instruction dicts (as in GEPA's ``to_dict``).
    """

    candidates: list[dspy.Module]
    candidate_instructions: list[dict[str, str]]
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
    parents: list[list[int | None]] = field(default_factory=list)
    discovery_eval_counts: list[int | None] = field(default_factory=list)
    seed: int | None = None
    accepted_proposals: list[dict[str, Any]] = field(default_factory=list)  # summary.accepted_proposals

    @property
    def best_candidate(self) -> dspy.Module:
        """The best program (as GEPA's ``best_candidate``)."""
        return self.candidates[self.best_idx]

    @property
    def best_instructions(self) -> dict[str, str]:
        """The best program's instructions, predictor name -> text."""
        return self.candidate_instructions[self.best_idx]

    @property
    def num_full_val_evals(self) -> int:
        return len(self.candidates)

    @property
    def per_val_instance_best_candidates(self) -> dict[int, set[int]]:
        """Valset example index -> the candidates with the highest score on it."""
        best = self.highest_score_achieved_per_val_task
        return {k: {i for i, sub in enumerate(self.val_subscores) if k < len(sub) and sub[k] == top}
                for k, top in best.items()}

    @property
    def highest_score_achieved_per_val_task(self) -> dict[int, float]:
        """Valset example index -> the highest score any candidate reached on it."""
        width = max((len(sub) for sub in self.val_subscores), default=0)
        return {k: max(sub[k] for sub in self.val_subscores if k < len(sub)) for k in range(width)}

    @property
    def total_metric_calls(self) -> int:
        return int(self.spend.get("metric_calls", 0))

    @property
    def leaks(self) -> dict[str, int]:
        """Rewrites the leakage guard refused, by kind (``email``, ``copied_text``, ...; the ``leak_<kind>``
        faults): each counted once per refused rewrite."""
        return {kind[len("leak_"):]: n for kind, n in self.faults.items() if kind.startswith("leak_")}

    @property
    def cost_usd(self) -> float | None:
        """USD cost of the run (task + optimizer LM) where litellm prices the models, else None."""
        task, opt = self.spend.get("task_cost_usd"), self.spend.get("optimizer_cost_usd")
        return None if task is None and opt is None else (task or 0.0) + (opt or 0.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (candidates as instruction dicts)."""
        return {"candidates": [dict(c) for c in self.candidate_instructions],
                "val_aggregate_scores": list(self.val_aggregate_scores),
                "val_subscores": [list(s) for s in self.val_subscores], "candidate_steps": list(self.candidate_steps),
                "best_idx": self.best_idx, "stop_reason": self.stop_reason, "steps": self.steps,
                "best_step": self.best_step, "initial_score": self.initial_score, "budget": self.budget,
                "spend": {**self.spend, "cost_usd": self.cost_usd}, "faults": dict(self.faults), "leaks": self.leaks,
                "total_metric_calls": self.total_metric_calls, "log_dir": self.log_dir, "error": self.error,
                "parents": [list(p) for p in self.parents], "discovery_eval_counts": list(self.discovery_eval_counts),
                "num_full_val_evals": self.num_full_val_evals, "seed": self.seed,
                "per_val_instance_best_candidates": {k: sorted(v) for k, v in
                                                     self.per_val_instance_best_candidates.items()},
                "accepted_proposals": [dict(p) for p in self.accepted_proposals]}

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def build_results(state: Any, budget: int, log_dir: Path | None, program: dspy.Module,
                  seed: int | None = None) -> DLPOResults:
    """``DLPOResults`` of a finished run state; ``program``: the student's copy the candidates are made of."""
    candidates = state.candidates
    best_idx = next((i for i, c in enumerate(candidates) if c["params"] == state.best_params), 0)
    return DLPOResults(
        candidates=[with_params(program, c["params"]) for c in candidates],
        candidate_instructions=[dict(c["params"]) for c in candidates],
        val_aggregate_scores=[c["score"] / 100.0 for c in candidates],
        val_subscores=[list(c.get("val_scores", [])) for c in candidates],
        candidate_steps=[c["step"] for c in candidates], best_idx=best_idx, stop_reason=state.stop_reason,
        steps=state.step, best_step=state.best_step,
        initial_score=next((c["score"] for c in candidates if c["step"] == -1), None), budget=budget,
        spend=state.spend.to_json(), faults=dict(state.faults), log_dir=str(log_dir) if log_dir else None,
        error=getattr(state, "error", None), parents=[[c.get("parent")] for c in candidates],
        discovery_eval_counts=[c.get("discovered_at") for c in candidates], seed=seed,
        accepted_proposals=accepted_proposals(state.history))


def save_programs(results: DLPOResults, log_dir: Path) -> None:
    """Write every validated candidate and the best program as DSPy JSON (``program.save``), and
    the results as JSON, into ``log_dir``."""
    folder = Path(log_dir) / CANDIDATES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for i, (candidate, step) in enumerate(zip(results.candidates, results.candidate_steps)):
        candidate.save(str(folder / f"candidate_{i:03d}_step_{step}.json"))
    if results.candidates:
        results.best_candidate.save(str(Path(log_dir) / BEST_FILE))
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


class TrialLogs(list):
    """The trial logs of a run: one record per step, in step order.

    A list (``for record in trial_logs``, ``trial_logs[-1]``, ``len``) that also reads as MIPROv2's
    ``trial_logs`` dict, trial number -> record, the trial number being the step number (from 0):
    ``trial_logs.items()``, ``.keys()``, ``.values()``, ``.get(n)``; ``trial_logs[n]`` is step ``n``.
    """

    def keys(self) -> list[int]:
        return [record.get("step", i) for i, record in enumerate(self)]

    def values(self) -> list[dict[str, Any]]:
        return list(self)

    def items(self) -> list[tuple[int, dict[str, Any]]]:
        return list(zip(self.keys(), self))

    def get(self, trial: int, default: Any = None) -> Any:
        return dict(self.items()).get(trial, default)


def load_trial_logs(log_dir: str | Path) -> TrialLogs:
    """The trial logs of the run checkpointed in ``log_dir`` (finished, stopped or still running):
    the same records as ``program.trial_logs``."""
    path = Path(log_dir) / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: was log_dir={str(log_dir)!r} passed to a DLPOTeleprompter "
                                "whose compile ran?")
    data = json.loads(path.read_text(encoding="utf-8"))
    history = data.get("state", {}).get("history") if isinstance(data, dict) else None
    if not isinstance(history, list):
        raise ValueError(f"{path} is not a DLPO checkpoint (no state.history list)")
    return TrialLogs(history)
