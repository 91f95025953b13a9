"""The optimizers of the grid, each built for the same task LM, optimizer LM and metric-call budget.

Each factory takes an :class:`OptimizerSetup` and returns ``(optimized_program, details)``.
``details`` is JSON-friendly and records how the budget was mapped to the optimizer's own
knobs (MIPROv2's trials, COPRO's breadth x depth), the proposal LM's settings (``settings``) and
every proposal (``proposals``, ``distinct_proposals``; see :mod:`benchmarks.proposals`). The peers
live in :mod:`benchmarks.peers`; this module holds the DLPO family and the dispatch.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy

from dspy_dlpo import DLPOTeleprompter, presets
from dspy_dlpo.strategies import registry

from .harness import APPEND, CANDIDATES, CountingMetric, dlpo_variant
from .peers import GEPA_VARIANTS, copro_plan, mipro_plan, run_copro, run_gepa, run_miprov2, seed_instruction
from .proposals import dlpo_entries, summary

__all__ = ["OptimizerSetup", "copro_plan", "dlpo_flags", "expand", "mipro_plan", "run_optimizer"]

logger = logging.getLogger(__name__)

STRATEGIES = registry.keywords()
REFERENCE_ROWS = ("baseline", "hand")  # no search: the unoptimized program and the hand-written line
MAIN_OPTIMIZERS = ("baseline", "hand", "dlpo", "tgd", *GEPA_VARIANTS, "miprov2", "copro")
ABLATIONS = tuple(f"dlpo-{kind}-{s}" for kind in ("only", "minus") for s in STRATEGIES)
DLPO_BATCH_SIZE = 3  # the library default since 2026-12-05 (benchmarks/results/minibatch); the fair and step cells ran with 5


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
    task: str = ""  # the task's grid name (``bbh/<name>[@predict]``), for the hand-written reference row


Result = tuple[dspy.Module, dict[str, Any]]


# --------------------------------------------------------------------------------------------
# DLPO family
# --------------------------------------------------------------------------------------------
def dlpo_flags(name: str) -> dict[str, Any]:
    """Strategy switches of ``dlpo``, ``tgd``, ``dlpo-only-<s>`` (vanilla + s), ``dlpo-minus-<s>`` (all - s),
    from the library's presets (:mod:`dspy_dlpo.presets`: ``dlpo``, ``tgd``, ``only``, ``without``)."""
    if name == "dlpo":
        return presets.dlpo()
    if name == "tgd":
        return presets.tgd()
    kind, _, strategy = name.removeprefix("dlpo-").partition("-")
    if kind not in ("only", "minus") or strategy not in STRATEGIES:
        raise ValueError(f"unknown DLPO variant {name!r}; expected dlpo, tgd, dlpo-only-<s> or dlpo-minus-<s> "
                         f"with s in {STRATEGIES}")
    return presets.only(strategy) if kind == "only" else presets.without(strategy)


def run_dlpo(setup: OptimizerSetup, name: str) -> Result:
    """DLPO (or a strategy variant, optionally ``+append`` and ``+k<N>`` candidates per step) with
    ``max_metric_calls`` = the budget."""
    run, append, candidates = dlpo_variant(name)
    flags = dlpo_flags(run)
    metric = CountingMetric(setup.metric, feedback=True)
    optimizer = DLPOTeleprompter(metric=metric, prompt_model=setup.optimizer_lm, max_metric_calls=setup.budget,
                                 batch_size=DLPO_BATCH_SIZE, num_threads=setup.threads, seed=setup.seed,
                                 progress=False, append_on_no_op=append, candidates_per_step=candidates, **flags)
    program = optimizer.compile(setup.program, trainset=setup.trainset, valset=setup.valset)
    details = dict(program.detailed_results)
    details.update(flags={**flags, "append_on_no_op": append, "candidates_per_step": candidates}, optimizer_reported_val=program.score,
                   metric_calls_counted=metric.calls, settings=dlpo_settings(setup.optimizer_lm),
                   trial_logs=[capped_log(r) for r in program.trial_logs],
                   **summary(dlpo_entries(program.trial_logs), seed_instruction(setup.program)))
    return program, details


def dlpo_settings(optimizer_lm: dspy.BaseLM) -> dict[str, Any]:
    """DLPO's own proposal setting: the first ask at the optimizer LM's temperature (greedy in this grid),
    re-asks at the optimizer client's ``retry_temperature`` with a fresh ``rollout_id`` (not cached)."""
    try:
        from dspy_dlpo.autograd.client import OptimizerClient
        reask = inspect.signature(OptimizerClient.__init__).parameters["retry_temperature"].default
    except (ImportError, KeyError, AttributeError):  # the package moved it: say so instead of guessing
        reask = None
    return {"role": "prompt_model", "temperature": optimizer_lm.kwargs.get("temperature"),
            "max_tokens": optimizer_lm.kwargs.get("max_tokens"), "reask_temperature": reask,
            "note": "first ask at the LM's temperature; re-asks at reask_temperature with a fresh rollout_id"}


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
    return setup.program.deepcopy(), {"metric_calls_counted": 0, **summary([], seed_instruction(setup.program))}


HAND_INSTRUCTIONS = Path(__file__).resolve().parent / "headroom" / "instructions.json"


def hand_instruction(task: str) -> str:
    """The pre-registered hand-written line for ``task`` (``bbh/<name>[@predict]`` or ``gsm8k``), from
    ``benchmarks/headroom/instructions.json`` (committed before any score, issue 32)."""
    lines = json.loads(HAND_INSTRUCTIONS.read_text())
    key = task.partition("@")[0].removeprefix("bbh/")
    if key not in lines:
        raise ValueError(f"no hand-written instruction for {task!r} in {HAND_INSTRUCTIONS.name}")
    return lines[key]


def with_hand_instruction(program: dspy.Module, task: str) -> dspy.Module:
    """A copy of ``program`` with the task's hand-written line on every predictor."""
    program, line = program.deepcopy(), hand_instruction(task)
    for _, predictor in program.named_predictors():
        predictor.signature = predictor.signature.with_instructions(line)
    return program


def run_hand(setup: OptimizerSetup) -> Result:
    """The hand-written reference row of the powered grid (:func:`with_hand_instruction`); no metric call."""
    return (with_hand_instruction(setup.program, setup.task),
            {"metric_calls_counted": 0, **summary([], seed_instruction(setup.program))})


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
        elif name in known_optimizers() or (name != dlpo_variant(name)[0] and
                                            dlpo_variant(name)[0] in ("dlpo", "tgd", *ABLATIONS)):
            out.append(name)
        else:
            raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(known_optimizers())}, "
                             f"ablation, ablation-only, ablation-minus, or a DLPO-family name + {APPEND!r} "
                             f"and/or + '{CANDIDATES}<N>' (N candidates per step)")
    return list(dict.fromkeys(out))


def run_optimizer(name: str, setup: OptimizerSetup) -> Result:
    """Dispatch one optimizer by name."""
    if name == "baseline":
        return run_baseline(setup)
    if name == "hand":
        return run_hand(setup)
    if name in GEPA_VARIANTS:
        return run_gepa(setup, name)
    if name == "miprov2":
        return run_miprov2(setup)
    if name == "copro":
        return run_copro(setup)
    return run_dlpo(setup, name)
