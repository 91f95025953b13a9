"""The training loop: baseline, steps until a stop condition, checkpoints, the run's end.

:class:`Trainer` owns a :class:`~dspy_dlpo.state.RunState` and advances it one step at a time (the
step itself is in :mod:`dspy_dlpo.stepping`);
everything DSPy-specific goes through :mod:`dspy_dlpo.program`, every optimizer-LM prompt through
:mod:`dspy_dlpo.autograd`, and every heuristic through the strategies.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy

from .autograd.client import OptimizerClient
from .autograd.loss import DEFAULT_MAX_LOSS_CHARS
from .budget import StepPlan, UsageMeter, plan_step
from .callbacks import Callback
from .checkpoint import check_writable, consume_stop_file, save_state, stop_requested
from .contract import MetricScaleError, check_scores, metric_name
from .dataloader import minibatch
from .health import describe_error, failure_summary, step_failure, trailing_failures, unparseable_warning
from .leakage import LeakGuard
from .program import (DEFAULT_ROLLOUT_TIMEOUT, Rollout, RunCounter, fault_kind, rollout_from_state, run_batch,
                      with_params)
from .reuse import keep, recall
from .record import StepRecord
from .state import RunState
from .stepping import Step, mean_score
from .core import Strategy

logger = logging.getLogger(__name__)


@dataclass
class TrainerConfig:
    """Loop settings (validated by the teleprompter)."""

    batch_size: int
    max_metric_calls: int
    max_steps: int | None
    num_threads: int
    seed: int
    patience: int | None = None
    rewrite_attempts: int = 3
    candidates_per_step: int = 1
    append_on_no_op: bool = False
    max_loss_chars: int = DEFAULT_MAX_LOSS_CHARS
    log_dir: Path | None = None
    max_consecutive_failures: int | None = 5
    stop_conditions: Sequence[Callable[[RunState], str | None]] = ()
    rollout_timeout: float | None = DEFAULT_ROLLOUT_TIMEOUT
    leak_guard: bool = True
    leak_allow: tuple[str, ...] = ()
    prompt_templates: Mapping[str, str] = field(default_factory=dict)
    reuse_rollouts: bool = False


NEW_BEST_MARGIN = 1.0  # validation examples (summed scores) a new best must gain over the incumbent, exclusive


def out_of_patience(step: int, best_step: int, patience: int | None) -> bool:
    """Early stopping: True before ``step`` when ``patience`` steps have passed since ``best_step``
    set the best validation score (-1: the baseline did)."""
    return patience is not None and step - (best_step + 1) >= patience


class Trainer:
    """Runs DLPO steps on ``program`` until the budget, ``max_steps`` or a stop request ends it."""

    def __init__(self, *, program: dspy.Module, metric: Callable, trainset: Sequence[dspy.Example],
                 valset: Sequence[dspy.Example], client: OptimizerClient, strategies: list[Strategy],
                 config: TrainerConfig, state: RunState, identity: dict[str, Any],
                 callbacks: Sequence[Callback] = ()) -> None:
        self.program, self.metric = program, metric
        self.trainset, self.valset = list(trainset), list(valset)
        self.client, self.strategies, self.config = client, strategies, config
        self.state, self.identity, self.callbacks = state, identity, list(callbacks)
        self.names = list(state.params)
        # the training inputs and expected outputs, indexed once per run for the leakage guard
        self.leak_guard = LeakGuard.build(([*map(str, e.inputs().values()), *map(str, e.labels().values())]
                                           for e in self.trainset), config.leak_allow) if config.leak_guard else None
        self.task_meter = UsageMeter(outer=dspy.settings.usage_tracker)  # dspy.track_usage() sees the run
        self._restore_meters()
        self.stepper = Step(program=program, evaluator=self, client=client, strategies=strategies, config=config,
                            leak_guard=self.leak_guard)
        self._snapshot: dict[str, Any] | None = None
        self._failures_from = 0  # history index from which consecutive failures count
        self._metric_errors = 0  # rollouts of this process whose metric raised or returned a non-number

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(self, params: dict[str, str], pairs: list[tuple[int, dspy.Example]],
                 split: str = "training") -> list[Rollout]:
        """Roll out ``params`` on ``pairs`` (examples of ``split``); each rollout is one metric call.
        A score outside [0, 1] raises :class:`~dspy_dlpo.contract.MetricScaleError`."""
        program = with_params(self.program, params)
        counter = RunCounter()  # counts what is run: a rollout abandoned at its deadline counts once

        def progress() -> None:  # per rollout, so a long validation moves the progress bar
            for cb in self.callbacks:
                cb.on_metric_calls(1)

        with dspy.context(usage_tracker=self.task_meter):
            rollouts = run_batch(program, self.metric, pairs, self.config.num_threads, counter, on_rollout=progress,
                                 timeout=self.config.rollout_timeout)
        self.state.spend.metric_calls += counter.runs
        check_scores(self.metric, rollouts, split)
        for r in rollouts:
            if (kind := fault_kind(r.error)) is not None:
                self.state.count_fault(kind)
            if kind == "metric_error":
                self._note_metric_error(r, split)
        return rollouts

    def _note_metric_error(self, rollout: Rollout, split: str) -> None:
        """One WARNING at the first metric error of the run, a count at its end (:meth:`_end`)."""
        self._metric_errors += 1
        if self._metric_errors == 1:
            logger.warning("the metric failed on %s example %d (%s): scored 0; further metric errors are only "
                           "counted (detailed_results.faults['metric_error'])", split, rollout.index,
                           rollout.error.removeprefix("metric error: ")[:300])

    def validate(self, params: dict[str, str], step: int) -> tuple[float, list[Rollout]]:
        """Validation accuracy (percent) of ``params`` and its rollouts; a known program costs nothing.

        The first validated program is the best; a later one replaces it only when it solves more than
        one validation example more (its per-example scores summed, :data:`NEW_BEST_MARGIN`): a
        one-example win is within the noise of a small valset, and the peers that took such wins
        (MIPROv2 and COPRO on the fair grid) returned instructions that tested 2 to 11 points lower."""
        for cand in self.state.candidates:
            if cand["params"] == params:
                return cand["score"], []
        self.state.pending = [p for p in self.state.pending if p["params"] != params]
        discovered_at = self.state.spend.metric_calls
        rollouts = self.evaluate(params, list(enumerate(self.valset)), "validation")
        score = 100.0 * mean_score(rollouts)
        scores = [r.score for r in rollouts]
        best = next((c for c in self.state.candidates if c["params"] == self.state.best_params), None)
        self.state.candidates.append({"params": dict(params), "score": score, "step": step, "val_scores": scores,
                                      "discovered_at": discovered_at,
                                      "parent": self.state.origin if self.state.candidates else None})
        if best is None or sum(scores) - sum(best.get("val_scores") or []) > NEW_BEST_MARGIN:
            self.state.best_params, self.state.best_score, self.state.best_step = dict(params), score, step
        return score, rollouts

    def batch(self, step: int, size: int | None = None) -> list[tuple[int, dspy.Example]]:
        """Minibatch of ``step`` (:func:`~dspy_dlpo.dataloader.minibatch`): no example twice in one batch."""
        indices = minibatch(len(self.trainset), size or self.config.batch_size, seed=self.config.seed, step=step)
        return [(i, self.trainset[i]) for i in indices]

    # -- the budget -----------------------------------------------------------------------
    def remaining(self) -> int:
        return self.config.max_metric_calls - self.state.spend.metric_calls

    def plan(self) -> StepPlan | None:
        """The next step's size within the budget (:func:`~dspy_dlpo.budget.plan_step`), or None."""
        return plan_step(self.remaining(), batch_size=self.config.batch_size,
                         candidates=self.config.candidates_per_step, train_size=len(self.trainset),
                         val_size=len(self.valset))

    def can_validate_tie(self) -> bool:
        """A minibatch tie is validated only when its validation costs no more than a full step's minibatch
        calls (the current program and each candidate), and a full step still fits after it. Measured on
        real rewrites (``benchmarks/results/minibatch``): validating ties finds more good rewrites per metric
        call with 10 validation examples and fewer with 50; the break-even lies near a step's calls."""
        full = StepPlan(min(self.config.batch_size, len(self.trainset)), self.config.candidates_per_step)
        return (len(self.valset) <= full.cost(0)  # cost(0): the step's minibatch calls alone
                and self.remaining() - len(self.valset) >= full.cost(len(self.valset)))

    def current_rollouts(self, pairs: list[tuple[int, dspy.Example]]) -> tuple[list[Rollout], int]:
        """The current program's rollouts on ``pairs`` and how many of them were reused: with
        ``reuse_rollouts``, an example the current program already ran on is not run (or counted) again,
        as GEPA does not re-run its parent; the rest are run and remembered."""
        params = self.state.params
        known = recall(self.state.known, params) if self.config.reuse_rollouts else {}
        missing = [(i, e) for i, e in pairs if str(i) not in known]
        fresh = {r.index: r for r in self.evaluate(params, missing)} if missing else {}
        self.remember(params, fresh.values())
        rollouts = [fresh[i] if i in fresh else rollout_from_state(i, e, known[str(i)]) for i, e in pairs]
        return rollouts, len(pairs) - len(missing)

    def remember(self, params: dict[str, str], rollouts: Iterable[Rollout]) -> None:
        """With ``reuse_rollouts``, keep ``rollouts`` of the program ``params`` (:func:`~dspy_dlpo.reuse.keep`)."""
        if self.config.reuse_rollouts:
            keep(self.state.known, params, rollouts)

    def add_pending(self, params: dict[str, str], delta: float, step: int) -> None:
        """Remember a candidate scored on a minibatch and not validated (the budget's end may validate it)."""
        if any(c["params"] == params for c in self.state.candidates) or \
                any(p["params"] == params for p in self.state.pending):
            return
        self.state.pending.append({"params": dict(params), "delta": delta, "step": step})

    def next_pending(self) -> dict[str, Any] | None:
        """The most promising unvalidated program (largest minibatch gain, then the latest) when the
        budget can still validate it."""
        if not self.state.pending or self.remaining() < len(self.valset):
            return None
        return max(self.state.pending, key=lambda p: (p["delta"], p["step"]))

    def validate_pending(self) -> StepRecord:
        """Spend the end of the budget on validating :meth:`next_pending`; returns its trial record."""
        pending, calls0 = self.next_pending(), self.state.spend.metric_calls
        score, _ = self.validate(pending["params"], self.state.step)
        changed = [k for k in pending["params"] if pending["params"][k] != self.state.params.get(k)]
        param = changed[0] if changed else self.names[0]
        record = StepRecord(step=self.state.step, param=param, batch=[], instruction_before=self.state.params[param],
                            rollouts=[], batch_score_before=None, outcome="validated",
                            reason=f"the budget's end: validated the most promising unvalidated candidate of step "
                                   f"{pending['step']} (minibatch {pending['delta']:+.1f} points)",
                            instruction_after=pending["params"].get(changed[0]) if changed else None,
                            val_score=score, accepted=False, acted={})
        if self.state.best_params == pending["params"]:
            self.state.params, self.state.current_score = dict(pending["params"]), score
            record.accepted = True
        record.update(best_score=self.state.best_score, metric_calls=self.state.spend.metric_calls,
                      step_metric_calls=self.state.spend.metric_calls - calls0,
                      optimizer_calls=self.client.calls, step_optimizer_calls=0)
        return record

    # -- the loop -------------------------------------------------------------------------
    def stop_reason(self) -> str | None:
        if self.state.best_score >= 100.0:
            return "validation solved"
        if self.plan() is None and self.next_pending() is None:
            return "budget"
        if self.config.max_steps is not None and self.state.step >= self.config.max_steps:
            return "max_steps"
        if out_of_patience(self.state.step, self.state.best_step, self.config.patience):
            return "patience"
        limit = self.config.max_consecutive_failures
        if limit is not None and trailing_failures(self.state.history[self._failures_from:]) >= limit:
            return "consecutive failures"
        if stop_requested(self.config.log_dir):
            return "stop file"
        return next((r for r in (c(self.state) for c in self.config.stop_conditions) if r), None)

    def fit(self) -> RunState:
        """Run steps until a stop condition; returns the final state (best program inside).

        Ctrl-C or an error after the baseline (an LM that can no longer be used, a ``log_dir`` that
        became unwritable, a schedule or callback that raises) ends the run at the last step
        boundary, state and meters alike, with the error in ``state.error``; only an error before
        anything was validated is raised."""
        check_writable(self.config.log_dir)
        if stop_requested(self.config.log_dir):
            logger.warning("a STOP file was found in log_dir %s at start: the run stops before its next step "
                           "(the file is removed)", self.config.log_dir)
        if self.state.stop_reason == "consecutive failures":  # resumed after fixing the LMs: count afresh
            self._failures_from = len(self.state.history)
        self.state.error = None
        self._snapshot = self.state.to_json() if self.state.candidates else None
        try:
            for cb in self.callbacks:
                cb.on_start(self.state, self.config.max_metric_calls)
            if not self.state.candidates:
                self._baseline()
            reason = self._loop()
        except KeyboardInterrupt:
            if self._snapshot is None:  # nothing validated yet: no program to return
                self._abort("interrupted")
                raise
            # roll back to the last step boundary so that a resumed run equals an uninterrupted one
            reason = "interrupted"
            self._rollback()
            logger.warning("interrupted: returning the best program validated so far")
        except Exception as exc:
            if self._snapshot is None or isinstance(exc, MetricScaleError):
                self._abort("error")  # nothing validated yet, or a metric on another scale: raised
                raise
            reason = "error"
            self._rollback()
            self.state.error = describe_error(exc)
            logger.error("the run ended early on an error: %s; returning the best program validated so far",
                         self.state.error)
        self.state.stop_reason = reason
        self._final_checkpoint()
        self._end()
        return self.state

    def _loop(self) -> str:
        while (reason := self.stop_reason()) is None:
            calls, replies = self.client.calls, self.client.replies
            plan = self.plan()
            step = self.stepper.run(self.state, plan) if plan is not None else self.validate_pending()
            step.failed = step_failure(step.to_json(), asked=self.client.calls > calls,
                                       replied=self.client.replies > replies)
            record = step.to_json()  # the run's history holds JSON: checkpoints and trial logs
            self.state.history.append(record)
            self.state.step += 1
            if warning := unparseable_warning(self.state.history):
                logger.warning("%s", warning)
            self._checkpoint()
            for cb in self.callbacks:
                cb.on_step_end(record, self.state)
        if reason == "stop file":
            consume_stop_file(self.config.log_dir)
        elif reason == "consecutive failures":
            self.state.error = failure_summary(self.state.history)
            logger.error("stopping: %s", self.state.error)
        return reason

    def _baseline(self) -> None:
        score, rollouts = self.validate(self.state.params, step=-1)
        self.state.current_score = score
        metric_errors = [r.error for r in rollouts if r.error and r.error.startswith("metric error")]
        if rollouts and len(metric_errors) == len(rollouts):
            raise ValueError(f"the metric {metric_name(self.metric)!r} failed on every validation example of the baseline "
                             f"(first error: {metric_errors[0]}); it is almost surely a bug in the metric")
        # a reply that cannot be parsed is as useless as a call that raised
        failures = [r.feedback if r.error == "AdapterParseError" else r.error for r in rollouts
                    if r.error and not r.error.startswith("metric error")]
        if rollouts and len(failures) == len(rollouts):
            raise RuntimeError(f"the program failed on every validation example (first error: {failures[0][:300]}); "
                               "check that a task LM is configured, reachable and answers in the expected format")
        logger.info("baseline validation score %.1f%% on %d examples", score, len(self.valset))
        self._checkpoint()

    def _restore_meters(self) -> None:
        """Set the task and optimizer meters to the spend recorded in the state (init, resume, rollback)."""
        spend = self.state.spend
        self.task_meter.restore({"calls": spend.task_lm_calls, "input_tokens": spend.task_input_tokens,
                                 "output_tokens": spend.task_output_tokens, "cost_usd": spend.task_cost_usd})
        self.client.meter.restore({"calls": 0, "input_tokens": spend.optimizer_input_tokens,
                                   "output_tokens": spend.optimizer_output_tokens,
                                   "cost_usd": spend.optimizer_cost_usd})
        self.client.calls, self.client.errors = spend.optimizer_calls, self.state.faults

    def _rollback(self) -> None:
        """Back to the last checkpointed step boundary: state and meters (a partial step is not counted)."""
        if self._snapshot is not None:
            self.state = RunState.from_json(copy.deepcopy(self._snapshot))
            self._restore_meters()

    def _checkpoint(self) -> None:
        spend = self.state.spend
        task, opt = self.task_meter.snapshot(), self.client.meter.snapshot()
        spend.task_lm_calls, spend.task_input_tokens, spend.task_output_tokens = (
            task["calls"], task["input_tokens"], task["output_tokens"])
        spend.optimizer_calls = self.client.calls
        spend.optimizer_input_tokens, spend.optimizer_output_tokens = opt["input_tokens"], opt["output_tokens"]
        spend.task_cost_usd, spend.optimizer_cost_usd = task["cost_usd"], opt["cost_usd"]
        self._snapshot = self.state.to_json()
        if self.config.log_dir is not None:
            save_state(self.config.log_dir, self.identity, self._snapshot)

    def _final_checkpoint(self) -> None:
        try:
            self._checkpoint()
        except OSError as exc:
            self.state.error = self.state.error or describe_error(exc)
            logger.error("could not write the final checkpoint to %s: %s", self.config.log_dir, describe_error(exc))

    def _abort(self, reason: str) -> None:
        """Before an error or Ctrl-C is raised out of the run: observers see its end (the bar closes)."""
        self._rollback()
        self.state.stop_reason = reason
        self._end()

    def _end(self) -> None:
        if self._metric_errors:
            logger.warning("the metric failed on %d rollout(s) of this run, each scored 0 (first: see above)",
                           self._metric_errors)
        for cb in self.callbacks:
            try:
                cb.on_end(self.state)
            except Exception as exc:  # the run is over: a failing observer must not lose its result
                self.state.error = self.state.error or describe_error(exc)
                logger.error("callback %s failed at the end of the run: %s", type(cb).__name__, describe_error(exc))
