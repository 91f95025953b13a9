"""The training loop: minibatch forward, loss, backward, update, acceptance, validation.

:class:`Trainer` owns a :class:`~dspy_dlpo.state.RunState` and advances it one step at a time;
everything DSPy-specific goes through :mod:`dspy_dlpo.program`, every optimizer-LM prompt through
:mod:`dspy_dlpo.autograd`, and every heuristic through the strategies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy

from .autograd.backward import compute_gradient
from .autograd.client import OptimizerClient
from .autograd.loss import loss_text
from .autograd.step import propose_update
from .autograd.text import split_sentences, word_count
from .budget import UsageMeter, step_cost
from .callbacks import Callback
from .checkpoint import save_state, stop_requested
from .contract import check_baseline_scores
from .program import Rollout, describe_role, run_batch, with_params
from .state import RunState
from .strategies.base import Decision, StepContext, Strategy, derived_rng, greedy_accept

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
    append_on_no_op: bool = False
    max_loss_chars: int = 900
    log_dir: Path | None = None
    stop_conditions: Sequence[Callable[[RunState], str | None]] = ()


def out_of_patience(step: int, best_step: int, patience: int | None) -> bool:
    """Early stopping: True before ``step`` when ``patience`` steps have passed since ``best_step``
    set the best validation score (-1: the baseline did)."""
    return patience is not None and step - (best_step + 1) >= patience


def _mean(rollouts: list[Rollout]) -> float:
    return sum(r.score for r in rollouts) / len(rollouts)


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
        self.task_meter = UsageMeter(outer=dspy.settings.usage_tracker)  # dspy.track_usage() sees the run
        self.task_meter.restore({"calls": state.spend.task_lm_calls, "input_tokens": state.spend.task_input_tokens,
                                 "output_tokens": state.spend.task_output_tokens,
                                 "cost_usd": state.spend.task_cost_usd})
        self.client.meter.restore({"calls": 0, "input_tokens": state.spend.optimizer_input_tokens,
                                   "output_tokens": state.spend.optimizer_output_tokens,
                                   "cost_usd": state.spend.optimizer_cost_usd})
        self.client.calls, self.client.errors = state.spend.optimizer_calls, state.faults
        acceptors = [s for s in strategies if type(s).accept is not Strategy.accept]
        if len(acceptors) > 1:
            raise ValueError(f"at most one acceptance strategy is allowed, got {[s.name for s in acceptors]}")
        self.acceptor = acceptors[0] if acceptors else None
        self._snapshot: dict[str, Any] | None = None

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(self, params: dict[str, str], pairs: list[tuple[int, dspy.Example]]) -> list[Rollout]:
        """Roll out ``params`` on ``pairs``; each rollout is one metric call."""
        program = with_params(self.program, params)

        def progress() -> None:  # per rollout, so a long validation moves the progress bar
            for cb in self.callbacks:
                cb.on_metric_calls(1)

        with dspy.context(usage_tracker=self.task_meter):
            rollouts = run_batch(program, self.metric, pairs, self.config.num_threads, on_rollout=progress)
        self.state.spend.metric_calls += len(pairs)
        for r in rollouts:
            kind = None if r.error is None else ("metric_error" if r.error.startswith("metric error") else
                                                 "parse_error" if r.error == "AdapterParseError" else "program_error")
            if kind:
                self.state.count_fault(kind)
        return rollouts

    def validate(self, params: dict[str, str], step: int) -> tuple[float, list[Rollout]]:
        """Validation accuracy (percent) of ``params`` and its rollouts; a known program costs nothing."""
        for cand in self.state.candidates:
            if cand["params"] == params:
                return cand["score"], []
        rollouts = self.evaluate(params, list(enumerate(self.valset)))
        score = 100.0 * _mean(rollouts)
        self.state.candidates.append({"params": dict(params), "score": score, "step": step,
                                      "val_scores": [r.score for r in rollouts]})
        if score > self.state.best_score:
            self.state.best_params, self.state.best_score, self.state.best_step = dict(params), score, step
        return score, rollouts

    def batch(self, step: int) -> list[tuple[int, dspy.Example]]:
        """Minibatch of ``step``: epoch-shuffled with a permutation derived from the seed."""
        n, size = len(self.trainset), min(self.config.batch_size, len(self.trainset))
        pairs = []
        for position in range(step * size, (step + 1) * size):
            order = list(range(n))
            derived_rng(self.config.seed, "epoch", position // n).shuffle(order)
            index = order[position % n]
            pairs.append((index, self.trainset[index]))
        return pairs

    # -- the loop -------------------------------------------------------------------------
    def stop_reason(self) -> str | None:
        remaining = self.config.max_metric_calls - self.state.spend.metric_calls
        if remaining < step_cost(min(self.config.batch_size, len(self.trainset)), len(self.valset)):
            return "budget"
        if self.config.max_steps is not None and self.state.step >= self.config.max_steps:
            return "max_steps"
        if self.state.best_score >= 100.0:
            return "validation solved"
        if out_of_patience(self.state.step, self.state.best_step, self.config.patience):
            return "patience"
        if stop_requested(self.config.log_dir):
            return "stop file"
        return next((r for r in (c(self.state) for c in self.config.stop_conditions) if r), None)

    def fit(self) -> RunState:
        """Run steps until a stop condition; returns the final state (best program inside)."""
        for cb in self.callbacks:
            cb.on_start(self.state, self.config.max_metric_calls)
        try:
            if not self.state.candidates:
                self._baseline()
            while (reason := self.stop_reason()) is None:
                record = self.train_step()
                self.state.history.append(record)
                self.state.step += 1
                self._checkpoint()
                for cb in self.callbacks:
                    cb.on_step_end(record, self.state)
        except KeyboardInterrupt:
            # roll back to the last step boundary so that a resumed run equals an uninterrupted one
            reason = "interrupted"
            self.state = RunState.from_json(self._snapshot) if self._snapshot else self.state
            logger.warning("interrupted: returning the best program validated so far")
        self.state.stop_reason = reason
        self._checkpoint()
        for cb in self.callbacks:
            cb.on_end(self.state)
        return self.state

    def _baseline(self) -> None:
        score, rollouts = self.validate(self.state.params, step=-1)
        self.state.current_score = score
        check_baseline_scores(self.metric, rollouts)
        metric_errors = [r.error for r in rollouts if r.error and r.error.startswith("metric error")]
        if rollouts and len(metric_errors) == len(rollouts):
            name = getattr(self.metric, "__name__", repr(self.metric))
            raise ValueError(f"the metric {name!r} failed on every validation example of the baseline "
                             f"(first error: {metric_errors[0]}); it is almost surely a bug in the metric")
        crashes = [r.error for r in rollouts if r.error and r.error != "AdapterParseError"
                   and not r.error.startswith("metric error")]
        if rollouts and len(crashes) == len(rollouts):
            raise RuntimeError(f"the program failed on every validation example (first error: {crashes[0]}); "
                               "check that a task LM is configured and reachable")
        logger.info("baseline validation score %.1f%% on %d examples", score, len(self.valset))
        self._checkpoint()

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

    # -- one step ---------------------------------------------------------------------------
    def train_step(self) -> dict[str, Any]:
        """One step on one parameter (round-robin over predictors); returns its trial record."""
        state, step = self.state, self.state.step
        param = self.names[step % len(self.names)]
        pairs = self.batch(step)
        calls0, opt0 = state.spend.metric_calls, self.client.calls
        current = self.evaluate(state.params, pairs)
        instruction = state.params[param]
        ctx = StepContext(step=step, seed=self.config.seed, param=param, instruction=instruction,
                          sentences=split_sentences(instruction), rollouts=current, history=state.history,
                          candidates=state.candidates)
        record: dict[str, Any] = {
            "step": step, "param": param, "batch": [i for i, _ in pairs], "instruction_before": instruction,
            "instruction_after": None, "gradient": None, "batch_score_before": _mean(current),
            "batch_score_after": None, "delta": None, "accepted": False, "val_score": None,
            "rollouts": [r.to_json() for r in current]}
        self._run_step(ctx, record, pairs)
        record.update(best_score=state.best_score, metric_calls=state.spend.metric_calls,
                      step_metric_calls=state.spend.metric_calls - calls0,
                      optimizer_calls=self.client.calls, step_optimizer_calls=self.client.calls - opt0)
        return record

    def _run_step(self, ctx: StepContext, record: dict[str, Any], pairs: list[tuple[int, dspy.Example]]) -> None:
        """Backward, update, acceptance and validation; fills ``record`` with what happened."""
        if all(r.score >= 1.0 for r in ctx.rollouts):
            record.update(outcome="skipped", reason="minibatch already solved")
            return
        role = describe_role(self.program, ctx.param)
        losses = [loss_text(r, i + 1, param=ctx.param, multi_predictor=len(self.names) > 1,
                            max_chars=self.config.max_loss_chars) for i, r in enumerate(ctx.rollouts)]
        worst = losses[min(range(len(losses)), key=lambda i: ctx.rollouts[i].score)]  # for a no-op fallback
        for strategy in self.strategies:
            losses = strategy.shape_losses(ctx, losses)
        solved = sum(r.score >= 1.0 for r in ctx.rollouts)
        ctx.gradient = compute_gradient(self.client, role=role, instruction=ctx.instruction, losses=losses,
                                        solved=solved, count=len(ctx.rollouts)) or ""
        record["gradient"] = ctx.gradient or None
        if not ctx.gradient:
            self.state.count_fault("no_gradient")
            record.update(outcome="skipped", reason="no gradient: the optimizer LM failed or replied empty")
            return
        rollout_base = derived_rng(self.config.seed, ctx.step, ctx.param, "rollout").randrange(1, 10**9)
        update = propose_update(self.client, ctx, role=role, strategies=self.strategies,
                                attempts=self.config.rewrite_attempts, rollout_base=rollout_base,
                                append_on_no_op=self.config.append_on_no_op, failure=worst)
        record.update(attempts=update.attempts, problems=update.problems, frozen=ctx.scratch.get("frozen", []),
                      directives=update.directives)
        if update.instruction is None:
            self.state.count_fault(f"update_{update.reason}")
            record.update(outcome=update.reason, reason=update.problems[-1] if update.problems else update.reason)
            return
        record["clipped"], record["appended"] = update.reason == "clipped", update.reason == "appended"
        self._accept_or_reject(ctx, record, pairs, update.instruction)

    def _accept_or_reject(self, ctx: StepContext, record: dict[str, Any], pairs: list[tuple[int, dspy.Example]],
                          candidate: str) -> None:
        params = {**self.state.params, ctx.param: candidate}
        after = self.evaluate(params, pairs)
        penalty = sum(s.penalty(candidate) - s.penalty(ctx.instruction) for s in self.strategies)
        delta = 100.0 * (_mean(after) - _mean(ctx.rollouts)) - penalty
        decision: Decision = self.acceptor.accept(ctx, delta) if self.acceptor else greedy_accept(delta)
        record.update(instruction_after=candidate, batch_score_after=_mean(after), delta=delta, penalty=penalty,
                      accepted=decision.accepted, outcome="accepted" if decision.accepted else "rejected",
                      reason=decision.reason, accept_probability=decision.probability,
                      words_before=word_count(ctx.instruction), words_after=word_count(candidate))
        if not decision.accepted:
            return
        self.state.params = params
        if _mean(after) > _mean(ctx.rollouts):
            self.state.current_score, _ = self.validate(params, ctx.step)
            record["val_score"] = self.state.current_score
        else:
            # a tie or an annealing move: the search moves on, but without a minibatch gain there is
            # no evidence worth a validation pass (GEPA gates validation the same way)
            self.state.current_score = None
            record.update(outcome="moved", reason=f"{decision.reason}; not validated (no minibatch gain)")
