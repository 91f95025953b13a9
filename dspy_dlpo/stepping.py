"""One DLPO step: :class:`Step`.

Forward on the minibatch, loss, backward (the critique), update (one or more rewrites), the
candidates scored on the same minibatch, acceptance (:mod:`dspy_dlpo.acceptance`), validation and
the return to the best program. A step is built from what it uses, declared: the program, an
:class:`Evaluator` (rollouts, validation, minibatches and the budget's pending candidates: the
trainer), the optimizer client, the strategies and the loop's config; :meth:`Step.run` advances a
:class:`~dspy_dlpo.state.RunState` by one step and returns its :class:`~dspy_dlpo.record.StepRecord`.
The loop, budget and checkpoints stay in the trainer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

import dspy

from .acceptance import decide, distinct
from .autograd.backward import compute_gradient
from .autograd.client import OptimizerClient
from .autograd.diagnosis import analyze, summary_line
from .autograd.loss import loss_text
from .autograd.step import Update, propose_update
from .text import split_sentences, word_count
from .autograd.update_prompt import pick_failures
from .budget import StepPlan
from .health import reply_excerpt
from .program import Rollout, describe_role, signature_fields
from .core import Decision, StepContext, Strategy, derived_rng
from .record import StepRecord
from .leakage import LeakGuard
from .state import RunState
from .strategies.learning_rate import TextualLearningRate

if TYPE_CHECKING:
    from .trainer import TrainerConfig

logger = logging.getLogger(__name__)


def mean_score(rollouts: list[Rollout]) -> float:
    """Mean score of ``rollouts`` (in [0, 1])."""
    return sum(r.score for r in rollouts) / len(rollouts)


class Evaluator(Protocol):
    """What a step asks of the run (the trainer is one): rollouts, validation and minibatches, and
    the budget's bookkeeping of candidates left unvalidated."""

    def evaluate(self, params: dict[str, str], pairs: list[tuple[int, dspy.Example]],
                 split: str = "training") -> list[Rollout]: ...

    def validate(self, params: dict[str, str], step: int) -> tuple[float, list[Rollout]]: ...

    def batch(self, step: int, size: int | None = None) -> list[tuple[int, dspy.Example]]: ...

    def can_validate_tie(self) -> bool: ...

    def add_pending(self, params: dict[str, str], delta: float, step: int) -> None: ...

    def remaining(self) -> int: ...

    def current_rollouts(self, pairs: list[tuple[int, dspy.Example]]) -> tuple[list[Rollout], int]: ...

    def remember(self, params: dict[str, str], rollouts: Iterable[Rollout]) -> None: ...

    trainset: list[dspy.Example]
    valset: list[dspy.Example]


class Step:
    """One DLPO step (see the module docstring)."""

    def __init__(self, *, program: dspy.Module, evaluator: Evaluator, client: OptimizerClient,
                 strategies: list[Strategy], config: TrainerConfig, leak_guard: LeakGuard | None = None) -> None:
        self.program, self.runs, self.client = program, evaluator, client
        self.strategies, self.config, self.leak_guard = strategies, config, leak_guard
        acceptors = [s for s in strategies if type(s).accept is not Strategy.accept]
        if len(acceptors) > 1:
            raise ValueError(f"at most one acceptance strategy is allowed, got {[s.name for s in acceptors]}")
        self.acceptor = acceptors[0] if acceptors else None
        self._unreached_logged: set[str] = set()  # predictors already reported as not reached
        self.state: RunState = None  # type: ignore[assignment]  # the state being advanced (set by run)
        self.names: list[str] = []

    def run(self, state: RunState, plan: StepPlan | None = None) -> StepRecord:
        """One step on one parameter of ``state`` (round-robin over the predictors the minibatch reaches)
        sized by ``plan`` (minibatch size and candidates; the configured ones by default); returns its
        trial record."""
        self.state, self.names = state, list(state.params)
        step = state.step
        plan = plan or StepPlan(self.config.batch_size, self.config.candidates_per_step)
        pairs = self.runs.batch(step, plan.batch_size)
        calls0, opt0 = state.spend.metric_calls, self.client.calls
        current, reused = self.runs.current_rollouts(pairs)
        param, unreached = self._pick_param(step, current)
        instruction = state.params[param]
        ctx = StepContext(step=step, seed=self.config.seed, param=param, instruction=instruction,
                          sentences=split_sentences(instruction), rollouts=current, history=state.history,
                          candidates=state.candidates, params=dict(state.params),
                          fields=signature_fields(self.program, param), leak_guard=self.leak_guard)
        record = StepRecord(step=step, param=param, batch=[i for i, _ in pairs], instruction_before=instruction,
                            instruction_after=None, gradient=None, batch_score_before=mean_score(current),
                            batch_score_after=None, delta=None, accepted=False, val_score=None,
                            rollouts=[r.to_json() for r in current])
        if unreached:
            record.unreached = unreached
        if reused:
            record.reused = reused
        ctx.scratch["final"] = plan.final
        self._run_step(ctx, record, pairs, plan.candidates)
        record.acted = dict(ctx.acted)
        record.update(best_score=state.best_score, metric_calls=state.spend.metric_calls,
                      step_metric_calls=state.spend.metric_calls - calls0,
                      optimizer_calls=self.client.calls, step_optimizer_calls=self.client.calls - opt0)
        return record

    def _pick_param(self, step: int, rollouts: list[Rollout]) -> tuple[str, list[str]]:
        """The predictor of ``step``: the round-robin one, or the next one after it that the minibatch
        reaches, and the predictors passed over (no rollout ran them although every rollout ran to its end:
        a critique of them would be blind). When no rollout completed, the round-robin one."""
        order = [self.names[(step + k) % len(self.names)] for k in range(len(self.names))]
        completed = all(r.outputs is not None for r in rollouts)
        reached = [name for name in order if not completed or any(r.traces.get(name) for r in rollouts)]
        if not reached:
            return order[0], []
        unreached = order[:order.index(reached[0])]
        for name in unreached:
            if name not in self._unreached_logged:
                self._unreached_logged.add(name)
                logger.info("predictor %r: no example of the step-%d minibatch reached it: skipped, the step goes "
                            "to the next predictor the examples reach (recorded as 'unreached' in the trial log)",
                            name, step)
        return reached[0], unreached

    def _index_of(self, params: dict[str, str]) -> int:
        """Index of the validated candidate holding ``params`` (0 when none does)."""
        return next((i for i, c in enumerate(self.state.candidates) if c["params"] == params), 0)

    def _run_step(self, ctx: StepContext, record: StepRecord, pairs: list[tuple[int, dspy.Example]],
                  candidates: int) -> None:
        """Backward, update, acceptance and validation; fills ``record`` with what happened."""
        if all(r.score >= 1.0 for r in ctx.rollouts):
            record.update(outcome="skipped", reason="minibatch already solved")
            return
        role = describe_role(self.program, ctx.param)
        losses = [loss_text(r, i + 1, param=ctx.param, multi_predictor=len(self.names) > 1,
                            max_chars=self.config.max_loss_chars) for i, r in enumerate(ctx.rollouts)]
        failures = pick_failures([r.score for r in ctx.rollouts], losses)  # shown with the rewrite prompt
        for strategy in self.strategies:
            losses = strategy.shape_losses(ctx, losses)
        solved = sum(r.score >= 1.0 for r in ctx.rollouts)
        patterns = analyze(ctx.rollouts)  # what the failures share, counted before any LM call
        ctx.counted = summary_line(patterns)
        reask = derived_rng(self.config.seed, ctx.step, ctx.param, "critique").randrange(1, 10**9)
        gradient = compute_gradient(self.client, role=role, instruction=ctx.instruction, losses=losses,
                                    solved=solved, count=len(ctx.rollouts), patterns=patterns, reask_rollout_id=reask,
                                    **self._template("critique"))
        ctx.gradient = gradient.text or ""
        record.update(gradient=ctx.gradient or None, diagnosis=gradient.record())
        if not ctx.gradient:
            self.state.count_fault("no_gradient")
            record.update(outcome="skipped", reason="no gradient: the optimizer LM failed or replied empty")
            return
        updates = self._propose(ctx, role, failures, candidates)
        first = updates[0]
        record.update(attempts=sum(u.attempts for u in updates), problems=[p for u in updates for p in u.problems],
                      frozen=ctx.scratch.get("frozen", []), directives=first.directives,
                      shown=_shown_summary(ctx.scratch.get("shown")))
        if ctx.scratch.get("refused"):
            record.refused = sorted(set(ctx.scratch["refused"]))
        self._record_leaks(record, ctx.scratch.get("leaks"))
        if len(updates) > 1:
            record.proposals = [{"instruction": u.instruction, "reason": u.reason, "attempts": u.attempts}
                                   for u in updates]
        usable = distinct([u for u in updates if u.instruction is not None])
        if not usable:
            last = updates[-1]
            self.state.count_fault(f"update_{last.reason}")
            record.update(outcome=last.reason, reason=last.problems[-1] if last.problems else last.reason)
            if last.reason == "unparseable" and last.reply:
                record.reply = reply_excerpt(last.reply)
            return
        self._accept_or_reject(ctx, record, pairs, usable)

    def _template(self, kind: str) -> dict[str, str]:
        """The user's template of ``kind`` (``prompt_templates``) as a keyword, or none (the default)."""
        template = (self.config.prompt_templates or {}).get(kind)
        return {"template": template} if template else {}

    def _record_leaks(self, record: StepRecord, kinds: list[str] | None) -> None:
        """The kinds of leak the guard caught in this step's rewrites (one per kind per refused rewrite),
        in the trial record and counted as faults ``leak_<kind>``."""
        if kinds:
            record.leaks = list(kinds)
            for kind in kinds:
                self.state.count_fault(f"leak_{kind}")

    def _propose(self, ctx: StepContext, role: str, failures: list[str], n: int) -> list[Update]:
        """``n`` rewrites of one critique; every candidate after the first is sampled (its own rollout ids),
        so that it is not the first one served again from the cache. With the learning rate on they are
        a line search: each is bounded to its own number of sentence edits (k, k/2, k/4, ...)."""
        rate = next((s for s in self.strategies if isinstance(s, TextualLearningRate)), None)
        bounds = rate.line(ctx.step, n) if rate is not None else [None] * n
        updates = []
        for j, bound in enumerate(bounds):
            keys = ("rollout",) if j == 0 else ("rollout", j)
            base = derived_rng(self.config.seed, ctx.step, ctx.param, *keys).randrange(1, 10**9)
            ctx.edit_bound = bound
            updates.append(propose_update(self.client, ctx, role=role, strategies=self.strategies,
                                          attempts=self.config.rewrite_attempts, rollout_base=base,
                                          append_on_no_op=self.config.append_on_no_op, failures=failures,
                                          sample_first=j > 0, **self._template("rewrite")))
        # a small LM often writes the same rewrite at every bound: sample more, up to n extra asks, so that
        # the step scores the number of distinct candidates it planned
        for extra in range(n if n > 1 else 0):
            seen = [u.instruction for u in distinct([u for u in updates if u.instruction is not None])]
            if len(seen) >= n:
                break
            base = derived_rng(self.config.seed, ctx.step, ctx.param, "rollout", n + extra).randrange(1, 10**9)
            ctx.edit_bound = bounds[-1]
            updates.append(propose_update(self.client, ctx, role=role, strategies=self.strategies,
                                          attempts=1, rollout_base=base, failures=failures, sample_first=True,
                                          avoid=seen, **self._template("rewrite")))
        ctx.edit_bound = None
        if rate is not None and n > 1:
            ctx.acted["learning_rate"] = f"line search over {bounds} sentence edits"
        return updates

    def _score_candidates(self, ctx: StepContext, pairs: list[tuple[int, dspy.Example]],
                          updates: list[Update]) -> list[tuple[Update, list[Rollout], float, float]]:
        """Each candidate on the step's minibatch: ``(update, rollouts, score change in points, penalty)``."""
        scored = []
        for update in updates:
            after = self.runs.evaluate({**self.state.params, ctx.param: update.instruction}, pairs)
            penalty = sum(s.penalty(update.instruction) - s.penalty(ctx.instruction) for s in self.strategies)
            scored.append((update, after, 100.0 * (mean_score(after) - mean_score(ctx.rollouts)), penalty))
        return scored

    def _widen(self, ctx: StepContext, record: StepRecord, pairs: list[tuple[int, dspy.Example]],
               candidates: int) -> list[tuple[int, dspy.Example]]:
        """The last step's scoring set, widened so that the current program on the new examples and every
        candidate on all of them use what is left of the budget before one validation (a step whose
        rewrites collapsed to fewer distinct candidates than planned would leave that unspent)."""
        trainset = self.runs.trainset
        room = self.runs.remaining() - len(self.runs.valset) - candidates * len(pairs)
        extra = min(len(trainset) - len(pairs), max(0, room // (1 + candidates)))
        if not ctx.scratch.get("final") or extra <= 0:
            return pairs
        taken = {i for i, _ in pairs}
        order = [i for i in range(len(trainset)) if i not in taken]
        derived_rng(self.config.seed, ctx.step, "widen").shuffle(order)
        more = [(i, trainset[i]) for i in sorted(order[:extra])]
        added, _ = self.runs.current_rollouts(more)
        ctx.rollouts = [*ctx.rollouts, *added]
        record.update(batch=[i for i, _ in pairs + more], widened=len(more),
                      batch_score_before=mean_score(ctx.rollouts),
                      rollouts=record.rollouts + [r.to_json() for r in added])
        return pairs + more

    def _accept_or_reject(self, ctx: StepContext, record: StepRecord, pairs: list[tuple[int, dspy.Example]],
                          updates: list[Update]) -> None:
        pairs = self._widen(ctx, record, pairs, len(updates))
        scored = self._score_candidates(ctx, pairs, updates)
        # the best minibatch score wins; among equals the length penalty (regularization) decides, else the
        # first candidate, the smallest step of the line search
        order = {id(c[0]): -i for i, c in enumerate(scored)}
        update, after, score_delta, penalty = max(scored, key=lambda c: (c[2] - c[3], order[id(c[0])]))
        plain = max(scored, key=lambda c: (c[2], order[id(c[0])]))[0]
        if plain is not update:
            ctx.note("regularization", f"the length penalty chose a shorter candidate "
                                       f"({word_count(update.instruction)} words, not {word_count(plain.instruction)})")
        candidate = update.instruction
        params = {**self.state.params, ctx.param: candidate}
        # a tie is validated when the budget allows: the validation set, not the length, decides it
        validate_tie = score_delta == 0 and self.runs.can_validate_tie()
        decision = decide(self.acceptor, ctx, score_delta, penalty)
        if validate_tie and not decision.accepted:
            decision = Decision(True, f"tie on the minibatch, validated ({decision.reason})")
        if penalty and score_delta >= 0 and not decision.accepted:
            ctx.note("regularization", f"the length penalty ({penalty:.2f} points) decided: {decision.reason}")
        record.update(instruction_after=candidate, batch_score_after=mean_score(after), delta=score_delta - penalty,
                      score_delta=score_delta, penalty=penalty, accepted=decision.accepted,
                      outcome="accepted" if decision.accepted else "rejected", reason=decision.reason,
                      accept_probability=decision.probability, accept_draw=decision.draw,
                      clipped=update.reason == "clipped", appended=update.reason == "appended",
                      rollouts_after=[r.to_json() for r in after],
                      words_before=word_count(ctx.instruction), words_after=word_count(candidate))
        if len(scored) > 1:
            record.candidate_batch_scores = [mean_score(a) for _, a, _, _ in scored]
        validated = decision.accepted and (score_delta > 0 or validate_tie)
        # every candidate left unvalidated is kept: the end of the budget validates the most promising one
        for other, _, delta, _ in scored:
            if other is not update or not validated:
                self.runs.add_pending({**self.state.params, ctx.param: other.instruction}, delta, ctx.step)
        if not decision.accepted:
            return
        self.state.params = params
        self.runs.remember(params, after)  # the new current program's rollouts on this minibatch
        if validated:
            score, _ = self.runs.validate(params, ctx.step)
            record.val_score = score
            self._keep_best(record, score)
        else:
            # an annealing move or a tie the budget cannot validate: the search moves on without a
            # validation pass (GEPA gates validation on a minibatch gain the same way)
            self.state.current_score = None
            record.update(outcome="moved", reason=f"{decision.reason}; not validated (no minibatch gain)")

    def _keep_best(self, record: StepRecord, score: float) -> None:
        """After a validation: a program below the best validated one is left, and the next step
        starts from the best (the search never drifts away from what it has proven). One at or above
        the best stays current, though it becomes the best only with a clear margin (see
        :meth:`~dspy_dlpo.trainer.Trainer.validate`)."""
        if score >= self.state.best_score:
            self.state.current_score, self.state.origin = score, self._index_of(self.state.params)
            return
        self.state.params, self.state.current_score = dict(self.state.best_params), self.state.best_score
        self.state.origin = self._index_of(self.state.best_params)
        record.update(returned_to_best=True,
                      reason=f"{record.reason}; validated {score:.1f}% < best {self.state.best_score:.1f}%: "
                             "the next step starts from the best program")


def _shown_summary(shown: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the rewrite prompt showed, for the trial log (section names and counts, not the texts)."""
    if not shown:
        return None
    return {k: v for k, v in shown.items() if k != "rules"}
