"""The peers (GEPA, gepa-chat, MIPROv2, COPRO), each configured as its authors would at this budget.

Every peer gets the same task LM, a copy of the same optimizer LM and the same metric-call budget,
counted by one :class:`~benchmarks.harness.CountingMetric`. What differs is each one's proposal setting,
taken from its own source (dspy 3.4.1, gepa 0.1.4) and recorded in the cell as ``details.settings``:

* GEPA: ``reflection_lm`` a copy of the optimizer LM at temperature 1.0 (the ``dspy.GEPA`` docstring
  recommends ``temperature=1.0``; the grid's optimizer ``max_tokens`` is kept), defaults otherwise
  (``reflection_minibatch_size=3``, Pareto selection, merge on), ``max_metric_calls`` = the budget.
* gepa-chat: the same, with :class:`~benchmarks.chat_proposer.ChatInstructionProposer` as
  ``instruction_proposer`` (tagged plain text instead of DSPy's JSONAdapter-based proposer).
  ``gepa-chatadapter`` (not in the fair grid) is DSPy's own proposer with ``adapter=dspy.ChatAdapter()``.
* MIPROv2: see :func:`mipro_plan`; proposals at ``init_temperature=1.0`` (its default, applied by its
  ``GroundedProposer`` to a copy of ``prompt_model`` with a fresh ``rollout_id``).
* COPRO: see :func:`copro_plan`; ``init_temperature=1.4`` (its default).

Budget policy: spend is compared, not capped. GEPA checks its budget between iterations and MIPROv2's
bootstrapping cost is only known afterwards, so a hard cap would have to abort a peer mid-iteration
(``dspy.GEPA`` runs ``gepa.optimize`` with ``raise_on_exception=True``, so an abort ends the run without a
program). Each cell records the metric calls it used; the report flags cells more than 10% over budget.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import dspy
from dspy.teleprompt.gepa.instruction_proposal import InstructionProposer

from dspy_dlpo.program import get_params
from dspy_dlpo.validate import is_int

from .chat_proposer import ChatInstructionProposer
from .harness import CountingMetric
from .proposals import GepaRecorder, copro_entries, mipro_entries, summary

logger = logging.getLogger(__name__)

GEPA_REFLECTION_TEMPERATURE = 1.0
MIPRO_PROPOSAL_TEMPERATURE = 1.0
COPRO_INIT_TEMPERATURE = 1.4
MIPRO_MIN_MINIBATCH_VALSET = 50  # MIPROv2's auto mode minibatches only when the valset is larger than this
MIPRO_BOOTSTRAP_ESTIMATE = 10    # metric calls per bootstrapped demo set (3 demos found at ~30% accuracy)
COPRO_DEFAULTS = {"breadth": 10, "depth": 3}
GEPA_VARIANTS = ("gepa", "gepa-chat", "gepa-chatadapter")


def positive(**values: int) -> None:
    """Raise ValueError naming the first of ``values`` that is not a positive integer."""
    for name, value in values.items():
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def seed_instruction(program: dspy.Module) -> str:
    return "\n---\n".join(p.signature.instructions for _, p in program.named_predictors())


def lm_settings(lm: dspy.BaseLM, role: str, **extra: Any) -> dict[str, Any]:
    """What a peer's proposal LM was: its role, temperature and max_tokens (as handed to the peer)."""
    return {"role": role, "temperature": lm.kwargs.get("temperature"), "max_tokens": lm.kwargs.get("max_tokens"),
            **extra}


# --------------------------------------------------------------------------------------------
# GEPA and gepa-chat
# --------------------------------------------------------------------------------------------
def gepa_proposer(variant: str) -> tuple[Any, str]:
    """The ``instruction_proposer`` of a GEPA variant and how the cell describes it:
    ``gepa`` DSPy's default (None: ``InstructionProposer()`` with ``JSONAdapter``), ``gepa-chat`` this project's
    tagged plain-text proposer, ``gepa-chatadapter`` DSPy's own proposer with ``adapter=dspy.ChatAdapter()``."""
    if variant == "gepa":
        return None, "dspy default InstructionProposer (JSONAdapter)"
    if variant == "gepa-chat":
        return ChatInstructionProposer(), "ChatInstructionProposer (tagged plain text, benchmarks/chat_proposer.py)"
    if variant == "gepa-chatadapter":
        return InstructionProposer(adapter=dspy.ChatAdapter()), "dspy InstructionProposer(adapter=ChatAdapter())"
    raise ValueError(f"unknown GEPA variant {variant!r}; expected one of {', '.join(GEPA_VARIANTS)}")


def build_gepa(setup: Any, variant: str = "gepa") -> tuple[dspy.GEPA, CountingMetric, GepaRecorder, str]:
    """``dspy.GEPA`` with a temperature-1.0 copy of the optimizer LM as ``reflection_lm``."""
    proposer, described = gepa_proposer(variant)
    metric = CountingMetric(setup.metric, feedback=True)
    recorder = GepaRecorder()
    reflection_lm = setup.optimizer_lm.copy(temperature=GEPA_REFLECTION_TEMPERATURE)
    extra = {"instruction_proposer": proposer} if proposer is not None else {}
    optimizer = dspy.GEPA(metric=metric, max_metric_calls=setup.budget, reflection_lm=reflection_lm,
                          num_threads=setup.threads, seed=setup.seed, track_stats=True,
                          gepa_kwargs={"callbacks": [recorder]}, **extra)
    return optimizer, metric, recorder, described


def run_gepa(setup: Any, variant: str = "gepa") -> tuple[dspy.Module, dict[str, Any]]:
    """Run :func:`build_gepa`; details hold every proposal with its minibatch gate and validation score."""
    optimizer, metric, recorder, described = build_gepa(setup, variant)
    program = optimizer.compile(setup.program, trainset=setup.trainset, valset=setup.valset)
    proposer = optimizer.custom_instruction_proposer
    settings = lm_settings(optimizer.reflection_lm, "reflection_lm", proposer=described,
                           reflection_minibatch_size=optimizer.reflection_minibatch_size,
                           candidate_selection=optimizer.candidate_selection_strategy, use_merge=optimizer.use_merge)
    details: dict[str, Any] = {"metric_calls_counted": metric.calls, "settings": settings,
                               "predictor_feedback_calls": metric.predictor_feedback_calls,
                               "merges_attempted": recorder.merges, "reflections": recorder.reflections,
                               "reflections_without_proposal": recorder.failed_reflections,
                               **summary(recorder.entries(), seed_instruction(setup.program))}
    if isinstance(proposer, ChatInstructionProposer):
        details["unparseable_reflections"] = proposer.unparseable
    results = getattr(program, "detailed_results", None)
    if results is not None:
        details["num_candidates"] = len(getattr(results, "candidates", []) or [])
        record = results.to_dict()  # the validated programs, for the anytime curve (benchmarks.anytime)
        details.update({k: record.get(k) for k in ("candidates", "discovery_eval_counts", "val_subscores")})
        details["total_metric_calls_gepa"] = getattr(results, "total_metric_calls", None)
        scores, best = getattr(results, "val_aggregate_scores", None), getattr(results, "best_idx", None)
        if scores and best is not None:
            details["optimizer_reported_val"] = 100.0 * float(scores[best])
    return program, details


# --------------------------------------------------------------------------------------------
# MIPROv2
# --------------------------------------------------------------------------------------------
def mipro_recommended_trials(num_candidates: int, predictors: int = 1) -> int:
    """MIPROv2's own zero-shot rule (``_set_num_trials_from_num_candidates``): max(2 M log2 N, 1.5 N)."""
    return int(max(2 * predictors * math.log2(num_candidates), 1.5 * num_candidates))


def mipro_plan(budget: int, val_size: int, *, bootstrap_per_set: int = MIPRO_BOOTSTRAP_ESTIMATE,
               minibatch_size: int = 35, full_eval_steps: int = 5) -> dict[str, Any]:
    """Zero-shot MIPROv2 knobs for ``budget`` metric calls, following MIPROv2's own rules.

    * ``minibatch`` only when the valset is larger than 50 (MIPROv2's auto rule); otherwise every trial
      scores the whole valset, which costs ``val_size`` calls.
    * Candidate slot 0 is the original instruction, so ``num_candidates=N`` proposes N-1 new ones.
    * Zero-shot MIPROv2 still bootstraps demo sets from the trainset to ground its proposals: ``compile``
      always calls ``create_n_fewshot_demo_sets``, which for ``N`` sets runs ``BootstrapFewShot`` N-1 times
      (set -3 is the zero-shot program; with ``max_labeled_demos=0`` set -2 is bootstrapped too). Each run
      spends metric calls until it finds up to 3 correct demos; it cannot be skipped without patching
      MIPROv2, so it is estimated here (``bootstrap_per_set``) and measured in the cell.
    * N is the largest number for which the default evaluation, the bootstrapping and one trial per new
      instruction fit the budget; trials are MIPROv2's recommended count for N, cut to what fits. The
      runner cuts them again to what the measured bootstrapping left (:class:`BudgetedMIPROv2`).
    """
    positive(budget=budget, val_size=val_size, bootstrap_per_set=bootstrap_per_set, minibatch_size=minibatch_size,
             full_eval_steps=full_eval_steps)
    minibatch = val_size > MIPRO_MIN_MINIBATCH_VALSET
    size = min(minibatch_size, val_size) if minibatch else val_size

    def trial_cost(trials: int) -> int:
        if not minibatch:
            return val_size * trials
        return size * trials + val_size * (trials // full_eval_steps + (1 if trials % full_eval_steps else 0))

    def cost(n: int, trials: int) -> int:
        return val_size + bootstrap_per_set * (n - 1) + trial_cost(trials)

    n = 2
    while cost(n + 1, n) <= budget:
        n += 1
    affordable = 1
    while cost(n, affordable + 1) <= budget:
        affordable += 1
    trials = min(mipro_recommended_trials(n), affordable)
    return {"num_candidates": n, "new_instructions": n - 1, "num_trials": trials, "minibatch": minibatch,
            "minibatch_size": size, "minibatch_full_eval_steps": full_eval_steps,
            "bootstrap_sets": n - 1, "bootstrap_estimate_per_set": bootstrap_per_set,
            "estimated_metric_calls": cost(n, trials)}


class BudgetedMIPROv2(dspy.MIPROv2):
    """``dspy.MIPROv2`` that measures its bootstrapping, keeps its proposals, and sizes its trials to the budget
    the bootstrapping left. It changes no step of MIPROv2: it wraps three of its methods to observe them and
    passes a smaller ``num_trials`` (never below one) to the Bayesian search."""

    def __init__(self, *args: Any, counting: CountingMetric, budget: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counting, self.budget = counting, budget
        self.bootstrap_calls = 0
        self.instruction_candidates: dict[int, list[str]] | None = None
        self.trials_run: int | None = None
        self.full_evals: list[dict[str, Any]] = []  # every full validation: our call count after it (anytime)

    def _bootstrap_fewshot_examples(self, *args: Any, **kwargs: Any) -> Any:
        before = self.counting.calls
        try:
            return super()._bootstrap_fewshot_examples(*args, **kwargs)
        finally:
            self.bootstrap_calls = self.counting.calls - before

    def _propose_instructions(self, *args: Any, **kwargs: Any) -> dict[int, list[str]]:
        self.instruction_candidates = super()._propose_instructions(*args, **kwargs)
        return self.instruction_candidates

    def _optimize_prompt_parameters(self, program: Any, instruction_candidates: Any, demo_candidates: Any,
                                    evaluate: Any, valset: list, num_trials: int, minibatch: bool,
                                    *rest: Any) -> Any:
        left = self.budget - self.counting.calls - len(valset)  # the default program is scored first
        per_trial = rest[0] if minibatch else len(valset)
        self.trials_run = max(1, min(num_trials, left // per_trial))
        return super()._optimize_prompt_parameters(program, instruction_candidates, demo_candidates,
                                                   self._recording(evaluate, len(valset)), valset, self.trials_run,
                                                   minibatch, *rest)

    def _recording(self, evaluate: Any, val_size: int) -> Any:
        """``evaluate`` that records each full-valset evaluation (instructions, per-example scores, calls)."""
        def call(program: Any, *args: Any, **kwargs: Any) -> Any:
            result = evaluate(program, *args, **kwargs)
            devset = kwargs.get("devset", args[0] if args else None)
            if devset is not None and len(devset) == val_size:
                scores = [float(getattr(r[2], "score", r[2]) or 0.0) for r in getattr(result, "results", [])]
                self.full_evals.append({"calls": self.counting.calls, "instructions": get_params(program),
                                        "scores": scores})
            return result
        return call


def build_miprov2(setup: Any) -> tuple[BudgetedMIPROv2, CountingMetric, dict[str, Any]]:
    """Zero-shot MIPROv2 (no demos in the program) planned by :func:`mipro_plan`."""
    plan = mipro_plan(setup.budget, len(setup.valset))
    metric = CountingMetric(setup.metric, feedback=False)
    prompt_lm = setup.optimizer_lm.copy(temperature=MIPRO_PROPOSAL_TEMPERATURE)
    optimizer = BudgetedMIPROv2(metric=metric, prompt_model=prompt_lm, task_model=setup.task_lm,
                                max_bootstrapped_demos=0, max_labeled_demos=0, auto=None,
                                num_candidates=plan["num_candidates"], num_threads=setup.threads, seed=setup.seed,
                                init_temperature=MIPRO_PROPOSAL_TEMPERATURE, verbose=False, track_stats=True,
                                counting=metric, budget=setup.budget)
    return optimizer, metric, plan


def run_miprov2(setup: Any) -> tuple[dspy.Module, dict[str, Any]]:
    """Run :func:`build_miprov2`; details record the plan, the measured bootstrapping and the proposals."""
    optimizer, metric, plan = build_miprov2(setup)
    program = optimizer.compile(setup.program, trainset=setup.trainset, valset=setup.valset,
                                num_trials=plan["num_trials"], minibatch=plan["minibatch"],
                                minibatch_size=plan["minibatch_size"],
                                minibatch_full_eval_steps=plan["minibatch_full_eval_steps"])
    plan = {**plan, "trials_run": optimizer.trials_run}
    settings = lm_settings(optimizer.prompt_model, "prompt_model", init_temperature=optimizer.init_temperature,
                           note="GroundedProposer copies prompt_model at init_temperature with a fresh rollout_id")
    details = {"plan": plan, "settings": settings, "metric_calls_counted": metric.calls,
               "bootstrap_metric_calls": optimizer.bootstrap_calls, "full_evals": optimizer.full_evals,
               **summary(mipro_entries(optimizer.instruction_candidates, program), seed_instruction(setup.program))}
    score = getattr(program, "score", None)
    if score is not None:
        details["optimizer_reported_val"] = float(score)
    return program, details


# --------------------------------------------------------------------------------------------
# COPRO
# --------------------------------------------------------------------------------------------
def copro_plan(budget: int, scoring_size: int) -> dict[str, Any]:
    """COPRO's breadth x depth for ``budget`` metric calls when every candidate is scored on ``scoring_size``
    examples.

    COPRO scores ``breadth`` candidates per depth (at depth 0: breadth-1 proposals and the original), each on
    its whole scoring set, so a run costs breadth x depth x |scoring set| calls. Its defaults (breadth 10,
    depth 3) cost 30 evaluations: 1,800 calls on 60 examples, 300 on a 10-example valset, far beyond a
    60-call budget. The closest faithful run keeps depth >= 2 (at depth 1 COPRO never sees a scored attempt)
    and then the largest breadth (COPRO's default leans to breadth); the scoring set is the valset, the one
    every other optimizer selects on (COPRO has no valset argument). Only if even 2 x 2 does not fit is depth
    1 used, and only if 2 x 1 does not fit is the scoring set cut."""
    positive(budget=budget, scoring_size=scoring_size)
    fits = [(b, d) for d in range(2, 4) for b in range(2, 11) if b * d * scoring_size <= budget]
    if not fits:
        fits = [(b, 1) for b in range(2, 11) if b * scoring_size <= budget]
    size = scoring_size
    if fits:
        breadth, depth = max(fits, key=lambda bd: (bd[0] * bd[1], bd[0]))
    else:
        breadth, depth, size = 2, 1, max(1, budget // 2)
    return {"breadth": breadth, "depth": depth, "scoring_set": "valset", "scoring_size": size,
            "new_proposals": breadth * depth - 1, "estimated_metric_calls": breadth * depth * size,
            "authors_defaults": dict(COPRO_DEFAULTS),
            "authors_defaults_metric_calls": COPRO_DEFAULTS["breadth"] * COPRO_DEFAULTS["depth"] * scoring_size}


def build_copro(setup: Any) -> tuple[dspy.COPRO, CountingMetric, dict[str, Any]]:
    plan = copro_plan(setup.budget, len(setup.valset))
    metric = CountingMetric(setup.metric, feedback=False)
    prompt_lm = setup.optimizer_lm.copy(temperature=COPRO_INIT_TEMPERATURE)
    optimizer = dspy.COPRO(prompt_model=prompt_lm, metric=metric, breadth=plan["breadth"], depth=plan["depth"],
                           init_temperature=COPRO_INIT_TEMPERATURE, track_stats=True)
    return optimizer, metric, plan


def run_copro(setup: Any) -> tuple[dspy.Module, dict[str, Any]]:
    """Run :func:`build_copro` with the valset (cut to the plan's size) as COPRO's scoring set."""
    optimizer, metric, plan = build_copro(setup)
    program = optimizer.compile(setup.program, trainset=setup.valset[:plan["scoring_size"]],
                                eval_kwargs={"num_threads": setup.threads, "display_progress": False})
    settings = lm_settings(optimizer.prompt_model, "prompt_model", init_temperature=optimizer.init_temperature,
                           note="COPRO passes init_temperature to every proposal call")
    details = {"plan": plan, "settings": settings, "metric_calls_counted": metric.calls,
               **summary(copro_entries(program), seed_instruction(setup.program))}
    candidates = getattr(program, "candidate_programs", None)
    if candidates:
        details["optimizer_reported_train"] = float(candidates[0].get("score", math.nan))
    return program, details
