"""The keywords of DSPy's MIPROv2, GEPA and COPRO: what each means for DLPO.

Scripts written for ``dspy.MIPROv2``, ``dspy.GEPA`` or ``dspy.COPRO`` pass these; DLPO accepts the ones whose
behaviour it already has (with the value it implies), warns about the ones that change nothing,
and rejects the rest with what to use instead. The constructor's own equivalents
(``reflection_lm``, ``track_stats``, ``num_threads=None``, ``seed=None``, ...) are real keywords of
:class:`~dspy_dlpo.DLPOTeleprompter`; this table covers everything else.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from typing import Any

from .validate import OptionTypeError

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
    "provide_traceback": (None, "a program error becomes the example's feedback (see detailed_results.faults)"),
    "minibatch": (None, "DLPO always steps on minibatches of batch_size and validates on the full valset"),
    # GEPA's defaults, passed explicitly by typical GEPA scripts: warned about, not refused
    "use_merge": (None, "DLPO has no merge step (it keeps one current program and the best validated one)"),
    "max_merge_invocations": (None, "DLPO has no merge step"),
    "candidate_selection_strategy": (None, "DLPO keeps one current program; annealing=... decides the moves"),
}

REJECTED: dict[str, str] = {
    "teacher_settings": "DLPO uses no teacher",
    "max_bootstrapped_demos": _DEMOS,
    "max_labeled_demos": _DEMOS,
    "fewshot_aware_proposer": _DEMOS,
    "num_candidates": "use max_steps or auto='light' | 'medium' | 'heavy' (MIPROv2's candidates are a pool "
                      "searched once; DLPO proposes per step: candidates_per_step=N rewrites, the best kept)",
    "num_trials": "use max_steps=N (one candidate per step) on DLPOTeleprompter(...)",
    "max_errors": "a failing example scores 0 with its error as feedback; the run never aborts on it",
    "init_temperature": "the optimizer LM writes at its own sampling temperature: set it on the LM, "
                        "prompt_model=dspy.LM(..., temperature=t) (DLPO's re-asks sample at 1.0); DLPO's "
                        "annealing=t0 is not a sampling temperature but how readily a worse rewrite is accepted",
    "metric_threshold": "scores are in [0, 1]; write the threshold into the metric",
    "minibatch_size": "pass batch_size=N to DLPOTeleprompter(...) (the minibatch of each step)",
    "minibatch_full_eval_steps": "DLPO validates every accepted candidate with a minibatch gain on the full valset",
    "instruction_proposer": "add a strategy: strategies=[MyStrategy()] (a dspy_dlpo.Strategy)",
    "code_proposer": "DLPO rewrites instructions only",
    "component_selector": "DLPO steps the predictors round-robin",
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
    "max_rounds": _DEMOS,
    "num_candidate_programs": _DEMOS,
    "restrict": _DEMOS,
    "labeled_sample": _DEMOS,
    "stop_at_score": "DLPO stops by itself at 100% validation; for a lower bar pass "
                     "stopper=lambda state: state.best_score >= 100 * threshold (best_score is in percent)",
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


def _problem(key: str, value: Any, known: Sequence[str], constructor: Sequence[str]) -> str | None:
    """What is wrong with ``key=value`` (None when it is accepted; a warning is logged for an ignored one)."""
    if key in REJECTED and _means_off(key, value):
        logger.debug("%s=%r accepted: DLPO behaves so already", key, value)
        return None
    if key in IGNORED:
        allowed, why = IGNORED[key]
        if allowed is not None and value not in allowed:
            return f"{key}={value!r} is not supported: {why}"
        if allowed is None and value is not None:
            logger.warning("%s=%r is ignored: %s", key, value, why)
        return None
    if key in REJECTED:
        return f"{key} (a MIPROv2/GEPA/COPRO keyword) has no DLPO equivalent as such: {REJECTED[key]}"
    if key in constructor:
        return f"{key} is an option of DLPOTeleprompter(...), not of compile(...)"
    close = difflib.get_close_matches(key, [*known, *IGNORED, *REJECTED], n=1, cutoff=0.75)
    return f"unexpected keyword argument {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def check_peer_keywords(where: str, options: dict[str, Any], *, known: Sequence[str] = (),
                        constructor: Sequence[str] = ()) -> None:
    """Accept, warn about or reject the MIPROv2/GEPA/COPRO keywords in ``options`` (``where``: for messages).

    A keyword without an equivalent is still accepted when its value switches the feature off
    (None, False) or asks for what DLPO does anyway (``max_labeled_demos=0``, ...). Every refused
    keyword is named in ONE error (an :class:`~dspy_dlpo.validate.OptionTypeError`, both a TypeError and
    a ValueError), a typo with the closest of ``known`` (the caller's own keywords) or of the peers' keywords;
    ``constructor``: the constructor's keywords, named as such when passed to ``compile``.
    """
    problems = [p for key, value in options.items() if (p := _problem(key, value, known, constructor))]
    if len(problems) == 1:
        raise OptionTypeError(f"{where}: {problems[0]}")
    if problems:
        raise OptionTypeError(f"{where}: {len(problems)} keywords are not supported:\n" +
                              "\n".join(f"- {p}" for p in problems))
