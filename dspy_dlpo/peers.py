"""The keywords of DSPy's MIPROv2, GEPA and COPRO: what each means for DLPO.

Scripts written for ``dspy.MIPROv2``, ``dspy.GEPA`` or ``dspy.COPRO`` pass these; DLPO accepts the ones whose
behaviour it already has (with the value it implies), warns about the ones that change nothing,
and rejects the rest with what to use instead. The constructor's own equivalents
(``reflection_lm``, ``track_stats``, ``num_threads=None``, ``seed=None``, ...) are real keywords of
:class:`~dspy_dlpo.DLPOTeleprompter`; this table covers everything else.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_DEMOS = ("DLPO optimizes instructions and keeps the program's demos as they are; to add demos, run "
          "dspy.BootstrapFewShot before or after it (or dspy.BetterTogether)")

# keyword -> (values DLPO always behaves as, or None for "any value is ignored"; message)
IGNORED: dict[str, tuple[tuple[Any, ...] | None, str]] = {
    "skip_perfect_score": ((True,), "DLPO always skips minibatches the program already solves"),
    "add_format_failure_as_feedback": ((True, False), "DLPO always turns parse failures into feedback"),
    "failure_score": ((0, 0.0), "a failed example always scores 0"),
    "perfect_score": ((1, 1.0), "scores are in [0, 1] and 1 is perfect"),
    "warn_on_score_mismatch": (None, "DLPO validates with the same metric it reports"),
    "verbose": (None, "DLPO logs through logging: logging.getLogger('dspy_dlpo').setLevel(logging.DEBUG)"),
    "provide_traceback": (None, "a program error becomes the example's feedback (see detailed_results.faults)"),
    "minibatch": (None, "DLPO always steps on minibatches of batch_size and validates on the full valset"),
}

REJECTED: dict[str, str] = {
    "task_model": "the task LM is the predictors' LM: dspy.configure(lm=...) or predictor.set_lm(...)",
    "teacher_settings": "DLPO uses no teacher",
    "max_bootstrapped_demos": _DEMOS,
    "max_labeled_demos": _DEMOS,
    "fewshot_aware_proposer": _DEMOS,
    "num_candidates": "use max_steps or auto='light' | 'medium' | 'heavy' (MIPROv2's candidates are a pool "
                      "searched once; DLPO proposes per step: candidates_per_step=N rewrites, the best kept)",
    "num_trials": "use max_steps=N (one candidate per step) on DLPOTeleprompter(...)",
    "max_full_evals": "use max_metric_calls=N (one full evaluation = len(valset) metric calls) or max_steps",
    "max_errors": "a failing example scores 0 with its error as feedback; the run never aborts on it",
    "init_temperature": "use annealing=t0 (the initial temperature of TextualSimulatedAnnealing)",
    "metric_threshold": "scores are in [0, 1]; write the threshold into the metric",
    "minibatch_size": "pass batch_size=N to DLPOTeleprompter(...) (the minibatch of each step)",
    "minibatch_full_eval_steps": "DLPO validates every accepted candidate with a minibatch gain on the full valset",
    "candidate_selection_strategy": "DLPO keeps one current program; annealing=... decides the moves",
    "instruction_proposer": "add a strategy: strategies=[MyStrategy()] (a dspy_dlpo.Strategy)",
    "code_proposer": "DLPO rewrites instructions only",
    "component_selector": "DLPO steps the predictors round-robin",
    "use_merge": "DLPO has no merge step",
    "max_merge_invocations": "DLPO has no merge step",
    "program_aware_proposer": "the critique always sees each predictor's role and trace",
    "data_aware_proposer": "the critique always sees the minibatch's examples",
    "tip_aware_proposer": "DLPO's rewrites follow the strategies, not tips",
    "view_data_batch_size": "use batch_size=N",
    "track_best_outputs": "detailed_results holds every validated candidate's per-example scores",
    "use_wandb": "use callbacks=[...] (a dspy_dlpo.Callback) or MLflow (use_mlflow=True)",
    "wandb_api_key": "use callbacks=[...] (a dspy_dlpo.Callback) or MLflow (use_mlflow=True)",
    "wandb_init_kwargs": "use callbacks=[...] (a dspy_dlpo.Callback) or MLflow (use_mlflow=True)",
    "enable_tool_optimization": "DLPO optimizes instructions only",
    "gepa_kwargs": "pass DLPO's own keywords (see DLPOTeleprompter's docstring)",
    "seed": "pass seed=... to DLPOTeleprompter(...); compile never changes the optimizer's configuration",
    "breadth": "use candidates_per_step=N (rewrites proposed per step, each scored on the minibatch, the best "
               "kept; COPRO's breadth is its candidates per round)",
    "depth": "use max_steps=N (COPRO's depth is its number of rounds) or a budget: max_metric_calls or auto",
    "eval_kwargs": "pass num_threads=N (and progress=False) to DLPOTeleprompter(...): DLPO evaluates with them",
}


# values of a REJECTED keyword that ask for what DLPO does anyway (besides None and False: "off")
SAME_AS_DLPO: dict[str, tuple[Any, ...]] = {
    "max_bootstrapped_demos": (0,), "max_labeled_demos": (0,),  # MIPROv2's zero-shot setting
    "component_selector": ("round_robin",),
}


def _means_off(key: str, value: Any) -> bool:
    return value is None or value is False or any(value == v and type(value) is type(v)
                                                  for v in SAME_AS_DLPO.get(key, ()))


def check_peer_keywords(where: str, options: dict[str, Any]) -> None:
    """Accept, warn about or reject the MIPROv2/GEPA/COPRO keywords in ``options`` (``where``: for messages).

    A keyword without an equivalent is still accepted when its value switches the feature off
    (None, False) or asks for what DLPO does anyway (``max_labeled_demos=0``, ...).
    """
    for key, value in options.items():
        if key in REJECTED and _means_off(key, value):
            logger.debug("%s: %s=%r accepted: DLPO behaves so already", where, key, value)
        elif key in IGNORED:
            allowed, why = IGNORED[key]
            if allowed is not None and value not in allowed:
                raise ValueError(f"{where}: {key}={value!r} is not supported: {why}")
            if allowed is None and value is not None:
                logger.warning("%s: %s=%r is ignored: %s", where, key, value, why)
        elif key in REJECTED:
            raise TypeError(f"{where}: {key} (a MIPROv2/GEPA/COPRO keyword) has no DLPO equivalent as such: "
                            f"{REJECTED[key]}")
        else:
            raise TypeError(f"{where} got an unexpected keyword argument {key!r}")
