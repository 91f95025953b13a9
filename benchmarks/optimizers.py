"""The optimizers of the grid, each built for the same task LM, optimizer LM and metric-call budget.

Each factory takes an :class:`OptimizerSetup` and returns ``(optimized_program, details)``.
``details`` is JSON-friendly and records how the budget was mapped to the optimizer's own
knobs (MIPROv2's trials, COPRO's breadth x depth), so the report can show it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dspy

from dspy_dlpo import DLPOTeleprompter

from .harness import APPEND, CountingMetric

logger = logging.getLogger(__name__)

STRATEGIES = ("learning_rate", "lr_decay", "dropout", "annealing", "momentum", "contrastive", "regularization")
ALL_OFF: dict[str, Any] = {"learning_rate": False, "lr_decay": False, "dropout": False, "annealing": False,
                           "momentum": False, "contrastive": False, "regularization": False}
ALL_ON: dict[str, Any] = {"learning_rate": 4, "lr_decay": True, "dropout": 0.25, "annealing": True,
                          "momentum": 3, "contrastive": True, "regularization": True}
MAIN_OPTIMIZERS = ("baseline", "dlpo", "tgd", "gepa", "miprov2", "copro")
ABLATIONS = tuple(f"dlpo-{kind}-{s}" for kind in ("only", "minus") for s in STRATEGIES)
DLPO_BATCH_SIZE = 5


@dataclass
class OptimizerSetup:
    """Everything one cell gives an optimizer: same LMs, same data, same budget for all."""

    program: dspy.Module
    trainset: list[dspy.Example]
    valset: list[dspy.Example]
    metric: Callable
    task_lm: dspy.BaseLM
    optimizer_lm: dspy.BaseLM
    budget: int
    threads: int
    seed: int


Result = tuple[dspy.Module, dict[str, Any]]


# --------------------------------------------------------------------------------------------
# DLPO family
# --------------------------------------------------------------------------------------------
def dlpo_flags(name: str) -> dict[str, Any]:
    """Strategy switches of ``dlpo``, ``tgd``, ``dlpo-only-<s>`` (vanilla + s), ``dlpo-minus-<s>`` (all - s).

    ``lr_decay`` only acts on a learning rate: ``dlpo-only-lr_decay`` is vanilla + learning rate with
    decay (compare with ``dlpo-only-learning_rate``, a constant rate); ``dlpo-minus-learning_rate``
    turns the rate (and so its decay) off.
    """
    if name == "dlpo":
        return dict(ALL_ON)
    if name == "tgd":
        return dict(ALL_OFF)
    kind, _, strategy = name.removeprefix("dlpo-").partition("-")
    if kind not in ("only", "minus") or strategy not in STRATEGIES:
        raise ValueError(f"unknown DLPO variant {name!r}; expected dlpo, tgd, dlpo-only-<s> or dlpo-minus-<s> "
                         f"with s in {STRATEGIES}")
    if kind == "only":
        flags = dict(ALL_OFF)
        flags[strategy] = ALL_ON[strategy]
        if strategy == "lr_decay":
            flags["learning_rate"] = ALL_ON["learning_rate"]
        return flags
    flags = dict(ALL_ON)
    flags[strategy] = False
    return flags


def run_dlpo(setup: OptimizerSetup, name: str) -> Result:
    """DLPO (or a strategy variant, optionally ``+append``) with ``max_metric_calls`` = the budget."""
    append = name.endswith(APPEND)
    flags = dlpo_flags(name.removesuffix(APPEND))
    metric = CountingMetric(setup.metric, feedback=True)
    optimizer = DLPOTeleprompter(metric=metric, prompt_model=setup.optimizer_lm, max_metric_calls=setup.budget,
                                 batch_size=DLPO_BATCH_SIZE, num_threads=setup.threads, seed=setup.seed,
                                 progress=False, append_on_no_op=append, **flags)
    program = optimizer.compile(setup.program, trainset=setup.trainset, valset=setup.valset)
    details = dict(program.detailed_results)
    details.update(flags={**flags, "append_on_no_op": append}, optimizer_reported_val=program.score,
                   metric_calls_counted=metric.calls,
                   trial_logs=[capped_log(r) for r in program.trial_logs])
    return program, details


def capped_log(log: dict[str, Any], max_chars: int = 300) -> dict[str, Any]:
    """One step's trial log for the cell file: its minibatch rollouts kept (index, score, feedback and
    error, each text cut to ``max_chars``) so failures can be read afterwards without rerunning."""
    def cut(value: Any) -> Any:
        return value[:max_chars] + "..." if isinstance(value, str) and len(value) > max_chars else value
    out = {k: v for k, v in log.items() if k != "rollouts"}
    if "rollouts" in log:
        out["rollouts"] = [{k: cut(v) for k, v in r.items()} for r in log["rollouts"]]
    return out


# --------------------------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------------------------
def run_baseline(setup: OptimizerSetup) -> Result:
    """The unoptimized program (the task's default instruction)."""
    return setup.program.deepcopy(), {"metric_calls_counted": 0}


def run_gepa(setup: OptimizerSetup) -> Result:
    """``dspy.GEPA`` with ``max_metric_calls`` = the budget and the optimizer LM as ``reflection_lm``."""
    metric = CountingMetric(setup.metric, feedback=True)
    optimizer = dspy.GEPA(metric=metric, max_metric_calls=setup.budget, reflection_lm=setup.optimizer_lm,
                          num_threads=setup.threads, seed=setup.seed, track_stats=True)
    program = optimizer.compile(setup.program, trainset=setup.trainset, valset=setup.valset)
    details: dict[str, Any] = {"metric_calls_counted": metric.calls,
                               "predictor_feedback_calls": metric.predictor_feedback_calls}
    results = getattr(program, "detailed_results", None)
    if results is not None:
        details["num_candidates"] = len(getattr(results, "candidates", []) or [])
        details["total_metric_calls_gepa"] = getattr(results, "total_metric_calls", None)
        scores = getattr(results, "val_aggregate_scores", None)
        best = getattr(results, "best_idx", None)
        if scores and best is not None:
            details["optimizer_reported_val"] = 100.0 * float(scores[best])
    return program, details


def mipro_plan(budget: int, val_size: int, *, num_candidates: int | None = None, minibatch_size: int = 5,
               full_eval_steps: int = 5, bootstrap_allowance: int | None = None) -> dict[str, int]:
    """MIPROv2 (zero-shot) knobs whose estimated metric calls fit the budget.

    MIPROv2 evaluates the default program on the full valset, then ``num_trials`` minibatches of
    ``minibatch_size`` with a full valset evaluation every ``full_eval_steps`` trials (and at the
    end). Before that, zero-shot MIPROv2 still bootstraps demonstration sets from the trainset to
    ground its instruction proposals: ``num_candidates + 1`` bootstrapped sets of up to 3 demos,
    estimated at 5 metric calls each and measured by the counting metric.
    """
    minibatch_size = max(1, min(minibatch_size, val_size))
    if num_candidates is None:  # fewer candidates for small budgets: each costs a bootstrap set
        num_candidates = 3 if budget < 100 else 4
    allowance = bootstrap_allowance if bootstrap_allowance is not None else 5 * (num_candidates + 1)

    def cost(trials: int) -> int:
        extra_end = 1 if trials % full_eval_steps else 0
        return allowance + val_size + minibatch_size * trials + val_size * (trials // full_eval_steps + extra_end)

    trials = 1
    while cost(trials + 1) <= budget:
        trials += 1
    return {"num_candidates": num_candidates, "num_trials": trials, "minibatch_size": minibatch_size,
            "minibatch_full_eval_steps": full_eval_steps, "estimated_metric_calls": cost(trials),
            "bootstrap_allowance": allowance}


def run_miprov2(setup: OptimizerSetup) -> Result:
    """``dspy.MIPROv2`` instruction-only (no demos), trials sized to the budget."""
    plan = mipro_plan(setup.budget, len(setup.valset))
    metric = CountingMetric(setup.metric, feedback=False)
    optimizer = dspy.MIPROv2(metric=metric, prompt_model=setup.optimizer_lm, task_model=setup.task_lm,
                             max_bootstrapped_demos=0, max_labeled_demos=0, auto=None,
                             num_candidates=plan["num_candidates"], num_threads=setup.threads, seed=setup.seed,
                             verbose=False, track_stats=True)
    program = optimizer.compile(setup.program, trainset=setup.trainset, valset=setup.valset,
                                num_trials=plan["num_trials"], minibatch=True,
                                minibatch_size=plan["minibatch_size"],
                                minibatch_full_eval_steps=plan["minibatch_full_eval_steps"])
    details = {"plan": plan, "metric_calls_counted": metric.calls}
    score = getattr(program, "score", None)
    if score is not None:
        details["optimizer_reported_val"] = float(score)
    return program, details


def copro_plan(budget: int, train_size: int) -> dict[str, int]:
    """COPRO's breadth x depth (and trainset size) with breadth * depth * |trainset| ~ the budget.

    COPRO scores every candidate on its whole trainset (it has no separate valset). Breadth must
    be > 1; when even 2 x 2 candidates on the full trainset exceed the budget, the trainset is cut.
    """
    best: tuple[int, int, int] | None = None
    for depth in range(2, 6):
        for breadth in range(2, 11):
            calls = breadth * depth * train_size
            gap = abs(budget - calls)
            if calls <= budget * 1.1 and (best is None or gap < best[0] or (gap == best[0] and breadth > best[1])):
                best = (gap, breadth, depth)
    if best is not None:
        return {"breadth": best[1], "depth": best[2], "train_size": train_size,
                "estimated_metric_calls": best[1] * best[2] * train_size}
    size = max(1, min(train_size, budget // 4))
    return {"breadth": 2, "depth": 2, "train_size": size, "estimated_metric_calls": 4 * size}


def run_copro(setup: OptimizerSetup) -> Result:
    """``dspy.COPRO`` with breadth/depth from :func:`copro_plan`."""
    plan = copro_plan(setup.budget, len(setup.trainset))
    metric = CountingMetric(setup.metric, feedback=False)
    optimizer = dspy.COPRO(prompt_model=setup.optimizer_lm, metric=metric, breadth=plan["breadth"],
                           depth=plan["depth"], track_stats=True)
    trainset = setup.trainset[:plan["train_size"]]
    program = optimizer.compile(setup.program, trainset=trainset,
                                eval_kwargs={"num_threads": setup.threads, "display_progress": False})
    details = {"plan": plan, "metric_calls_counted": metric.calls}
    candidates = getattr(program, "candidate_programs", None)
    if candidates:
        details["optimizer_reported_train"] = float(candidates[0].get("score", math.nan))
    return program, details


def known_optimizers() -> tuple[str, ...]:
    return MAIN_OPTIMIZERS + ABLATIONS


def expand(names: list[str]) -> list[str]:
    """Expand ``ablation`` (all 14 variants), ``ablation-only`` and ``ablation-minus``; check names
    (a DLPO-family name may end in ``+append``)."""
    out: list[str] = []
    for name in names:
        if name == "ablation":
            out.extend(ABLATIONS)
        elif name in ("ablation-only", "ablation-minus"):
            out.extend(a for a in ABLATIONS if a.startswith(f"dlpo-{name.split('-')[1]}-"))
        elif name in known_optimizers() or (name.endswith(APPEND) and name.removesuffix(APPEND) in
                                            ("dlpo", "tgd", *ABLATIONS)):
            out.append(name)
        else:
            raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(known_optimizers())}, "
                             f"ablation, ablation-only, ablation-minus, or a DLPO-family name + {APPEND!r}")
    return list(dict.fromkeys(out))


def run_optimizer(name: str, setup: OptimizerSetup) -> Result:
    """Dispatch one optimizer by name."""
    if name == "baseline":
        return run_baseline(setup)
    if name == "gepa":
        return run_gepa(setup)
    if name == "miprov2":
        return run_miprov2(setup)
    if name == "copro":
        return run_copro(setup)
    return run_dlpo(setup, name)
