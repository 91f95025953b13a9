"""``DLPOTeleprompter``: DLPO as a DSPy optimizer (a drop-in for MIPROv2, GEPA, COPRO)."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dspy
from dspy.teleprompt import Teleprompter

from .autograd.client import OptimizerClient
from .autograd.loss import DEFAULT_MAX_LOSS_CHARS
from .budget import UsageMeter, few_proposals_warning, projection
from .callbacks import Callback, ProgressBar, StepLogger
from .checkpoint import describe_callable, fingerprint, load_state, run_lock, stable
from .config import DLPOConfig
from .console import run_console
from .contract import check_inputs, default_metric, metric_name
from .core import Strategy
from .dataloader import example_key, prepare_data
from .lm.llama import seed_sampling
from .options import alias, check_callbacks, check_lm, resolve_budget
from .peers import check_peer_keywords
from .program import DEFAULT_ROLLOUT_TIMEOUT, check_metric, get_params, with_params
from .redact import install_log_filter, register_lm
from .results import TrialLogs, build_results, save_programs
from .state import RunState
from .stopping import build_conditions
from .strategies.registry import defaults, keywords
from .tracking import mlflow_tracker, require_mlflow
from .trainer import Trainer, TrainerConfig

logger = logging.getLogger(__name__)
install_log_filter()

SETTINGS = frozenset(DLPOConfig.settings())


STRATEGY_DEFAULTS = defaults()  # the strategy keywords' defaults, from the registry


class DLPOTeleprompter(Teleprompter):
    """Prompt optimization as textual gradient descent with DLPO's seven strategies.

    Each predictor's instruction is a trainable parameter. A step draws a minibatch, runs the
    program (forward), turns each result into a textual loss, asks ``prompt_model`` for a critique
    of one instruction (backward), asks it for a rewrite (update) shaped by the strategies,
    scores the rewrite on the same minibatch, accepts or rejects it, and validates accepted
    rewrites on ``valset``. The best validated program is returned.

    Args:
        metric: ``metric(example, prediction, trace=None)`` returning a bool, a real number in [0, 1]
            (numpy and Decimal too), or ``dspy.Prediction(score=..., feedback=...)`` (feedback text
            reaches the critique). Called with ``trace=None`` as ``dspy.Evaluate`` calls it (GEPA-style
            5-argument metrics get ``pred_name=None, pred_trace=None``). A score outside [0, 1] at
            the baseline is an error. None (default): normalized exact match of the program's output
            fields against the examples' labels (as ``dspy.evaluate.answer_exact_match``).
        prompt_model: the optimizer LM that writes critiques and rewrites; defaults to the task LM.
        reflection_lm: GEPA's name for ``prompt_model`` (pass one of the two).
        task_model: MIPROv2's: the LM of the predictors that have none of their own (the run is
            compiled under ``dspy.context(lm=task_model)``); None: ``dspy.settings.lm``.
        auto: budget preset "light" | "medium" | "heavy": as many metric calls as ``dspy.GEPA`` gives the
            same preset for the same number of predictors and valset size (GEPA's formula); the default
            when no ``max_metric_calls``, ``max_full_evals`` or ``max_steps`` is given.
        max_metric_calls: budget in metric calls (one program run on one example, scored).
        max_full_evals: GEPA's: a budget of ``max_full_evals * (len(trainset) + len(valset))`` metric calls.
        max_steps: maximum number of steps (each step updates one predictor, round-robin).
        patience: early stopping: end the run after this many consecutive steps without a new best
            validation score, returning the unspent budget; None (default) runs until the budget.
        batch_size: minibatch size (default 3, chosen by measurement: ``benchmarks/results/minibatch``).
        reflection_minibatch_size: GEPA's name for ``batch_size``.
        num_threads: threads for evaluation; None = ``dspy.settings.num_threads`` (as dspy.Evaluate).
        seed: seed of minibatches, dropout and annealing draws (same seed + deterministic LMs
            = identical trial logs); None = 0, so a run is reproducible and resumable by default.
        log_dir: if set, the run is checkpointed there after every step and resumed from it;
            a ``STOP`` file there ends the run at the next step.
        progress: show a tqdm progress bar (it moves with every rollout).
        verbose: show the projection, one line per step and the warnings during ``compile`` (True, as
            DSPy's optimizers show theirs), written around the progress bar. False leaves the lines to
            ``logging`` (INFO on the ``dspy_dlpo`` logger: ``logging.basicConfig(level=logging.INFO)``
            shows them).
        track_stats: accepted for MIPROv2/GEPA/COPRO scripts: DLPO always attaches ``detailed_results``.
        use_mlflow: log the run to MLflow (opens a run when none is active); automatic under
            ``mlflow.dspy.autolog(log_compiles=True)``. See :mod:`dspy_dlpo.tracking`.
        max_optimizer_tokens: stop once the optimizer LM has used this many tokens (in + out).
        max_cost_usd: stop once the run costs this much (task + optimizer LM, litellm's prices).
        timeout_seconds: stop at the first step boundary after this much wall-clock time.
        stopper: a callable ``state -> bool`` (or a list of them) checked after the baseline and
            every step; True stops the run. All stops return the best program validated so far,
            with ``detailed_results.stop_reason`` saying which condition ended the run.
        learning_rate: TLR, max sentence edits per step (int, schedule, TextualLearningRate or False).
        lr_decay: TLRD, True (exponential 0.85/step), "exponential" | "linear" | "cosine" | "step",
            any ``step -> value`` schedule, or False (constant rate).
        dropout: TDO, fraction of sentences frozen per step (float in [0, 1), TextualDropout, False).
        feedback_dropout: fraction of per-example losses dropped before the critique (default 0).
        annealing: TSA, True, an initial temperature t0, a TextualSimulatedAnnealing, or False
            (greedy: accept only when the minibatch score does not drop).
        momentum: TMnt, number of past critiques shown (int, TextualMomentum or False).
        contrastive: TCL, True, a TextualContrastiveLearning, or False.
        regularization: TRegu, True, a penalty weight (points per word), a TextualRegularization
            (``max_words`` for a hard cap), or False.
        strategies: extra user strategies (subclasses of ``dspy_dlpo.Strategy``).
        rewrite_attempts: tries per update when a rewrite is unparseable, a no-op or breaks a rule.
        candidates_per_step: rewrites proposed per step from one critique. Each is scored on the step's
            minibatch (``batch_size`` metric calls each) and the best one goes on to acceptance, as in
            APO/ProTeGi. None (default): 3 with the learning rate on, where they are a line search over
            the edit bound (k, k/2, k/4 sentence edits), else 1.
        append_on_no_op: when a rewrite comes back unchanged, spend the remaining attempts asking for
            one new sentence to append (shown an example the program got wrong) instead of re-asking
            for a whole rewrite. Off by default: it gained nothing with the earlier step
            (``benchmarks/HISTORY.md``).
        max_loss_chars: characters per example in the critique prompt (int >= 400, default 2000).
            Each example is shown whole (every input field, the expected answer, every output
            field, the feedback) while it fits; beyond it, fields are trimmed in the middle, the
            reasoning before the question and the answer. The default shows every BBH and GSM8K
            question whole and keeps a minibatch of 5 within ~10,000 characters (~2,700 tokens),
            which fits a 4,096-token context with the template and the reply.
        callbacks: observers of the run (``dspy_dlpo.Callback`` instances), checked here.
        max_consecutive_failures: end the run after this many consecutive failed steps (every
            rollout failed, the optimizer LM never replied, or none of its rewrites could be parsed): a
            dead LM, or one that does not follow the rewrite format, stops the run instead of burning the
            budget; None never stops for this reason. Default 5.
        rollout_timeout: seconds one rollout (the program's LM calls plus the metric) may run; a longer
            one is scored as a failure whose feedback says it timed out (counted in ``faults`` as
            ``rollout_timeout``) and the run goes on without waiting for it; its late result and usage are
            ignored. Default 300: far above a normal rollout, even of a small CPU model, so that only a
            hung call (a stalled server, a metric that never returns) is cut off. None waits forever.
        leak_guard: refuse rewrites that copy from the training data what an instruction must not hold
            (e-mail addresses, phone numbers, URLs with credentials, key-like tokens, a run of 8 words or
            40 characters of a training input or expected output that the current instruction lacks):
            such a rewrite is re-asked with the problem stated and never adopted; caught kinds go into the
            trial record (``leaks``) and ``faults`` (``leak_<kind>``). See :mod:`dspy_dlpo.leakage`.
            Default True; False for users who mean the instruction to quote their data.
        leak_allow: strings the guard lets through (a support address the instruction should give).
        prompt_templates: your own critique and/or rewrite prompt, ``{"critique": ..., "rewrite": ...}``
            (``str.format`` templates; see :mod:`dspy_dlpo.autograd.templates` for the placeholders each
            may use and must use). Checked before any LM call; part of the run's configuration.
        reuse_rollouts: do not run the current program again on a training example it already ran on
            (its rollout is kept in the run's state, as GEPA keeps its parent's scores): more proposals for
            the same budget. None (default): only when every LM that runs the program decodes greedily
            (``temperature=0``), so that a rerun would give the same answer.
        **peer_options: other MIPROv2/GEPA/COPRO keywords: accepted when DLPO already behaves as they ask,
            otherwise rejected with the DLPO equivalent (see :mod:`dspy_dlpo.peers`).

    The returned program carries ``score`` (validation %), ``candidate_programs``, ``trial_logs``,
    ``detailed_results`` (a :class:`~dspy_dlpo.DLPOResults`), and MIPROv2's ``total_calls`` (metric
    calls) and ``prompt_model_total_calls`` (optimizer-LM calls). With ``log_dir`` every validated
    candidate and the best program are saved there as DSPy JSON (``dspy_dlpo.load_best``).
    """

    def __init__(self, metric: Callable | None = None, *, prompt_model: dspy.BaseLM | None = None,
                 reflection_lm: dspy.BaseLM | None = None, task_model: dspy.BaseLM | None = None,
                 auto: str | None = None, max_metric_calls: int | None = None, max_full_evals: int | None = None,
                 max_steps: int | None = None,
                 patience: int | None = None, batch_size: int = 3, reflection_minibatch_size: int | None = None,
                 num_threads: int | None = 1, seed: int | None = 0, log_dir: str | Path | None = None,
                 progress: bool = True, verbose: bool = True, track_stats: bool = True, use_mlflow: bool = False,
                 max_optimizer_tokens: int | None = None, max_cost_usd: float | None = None,
                 timeout_seconds: float | None = None, stopper: Any = None,
                 learning_rate: Any = STRATEGY_DEFAULTS["learning_rate"], lr_decay: Any = STRATEGY_DEFAULTS["lr_decay"],
                 dropout: Any = STRATEGY_DEFAULTS["dropout"], feedback_dropout: float = 0.0,
                 annealing: Any = STRATEGY_DEFAULTS["annealing"], momentum: Any = STRATEGY_DEFAULTS["momentum"],
                 contrastive: Any = STRATEGY_DEFAULTS["contrastive"],
                 regularization: Any = STRATEGY_DEFAULTS["regularization"],
                 strategies: Sequence[Strategy] = (), rewrite_attempts: int = 3, candidates_per_step: int | None = None,
                 append_on_no_op: bool = False, max_loss_chars: int = DEFAULT_MAX_LOSS_CHARS,
                 callbacks: Sequence[Callback] = (), max_consecutive_failures: int | None = 5,
                 rollout_timeout: float | None = DEFAULT_ROLLOUT_TIMEOUT, leak_guard: bool = True,
                 leak_allow: Sequence[str] = (), prompt_templates: Mapping[str, str] | None = None,
                 reuse_rollouts: bool | None = None,
                 **peer_options: Any) -> None:
        super().__init__()
        # a registered strategy without a keyword of its own here (one file + one registry line)
        switches = {k: peer_options.pop(k) for k in keywords() if k in peer_options}
        check_peer_keywords("DLPOTeleprompter", peer_options, known=list(inspect.signature(type(self)).parameters))
        if metric is not None:
            check_metric(metric)
        self.metric = metric
        self.prompt_model = alias("prompt_model", prompt_model, "reflection_lm", reflection_lm)
        check_lm("prompt_model", self.prompt_model)
        check_lm("task_model", task_model)
        self.task_model = task_model
        switches.update(learning_rate=learning_rate, lr_decay=lr_decay, dropout=dropout, annealing=annealing,
                        momentum=momentum, contrastive=contrastive, regularization=regularization,
                        feedback_dropout=feedback_dropout)
        batch_size = alias("batch_size", batch_size, "reflection_minibatch_size", reflection_minibatch_size,
                           default=DLPOConfig.defaults()["batch_size"])
        self.config = DLPOConfig(
            auto=auto, max_metric_calls=max_metric_calls, max_full_evals=max_full_evals, max_steps=max_steps,
            patience=patience, batch_size=batch_size, num_threads=num_threads, seed=seed,
            rewrite_attempts=rewrite_attempts, candidates_per_step=candidates_per_step,
            append_on_no_op=append_on_no_op, max_loss_chars=max_loss_chars,
            max_consecutive_failures=max_consecutive_failures, rollout_timeout=rollout_timeout,
            leak_guard=leak_guard, leak_allow=leak_allow, prompt_templates=prompt_templates,
            reuse_rollouts=reuse_rollouts, track_stats=track_stats, use_mlflow=use_mlflow,
            log_dir=log_dir, progress=progress, verbose=verbose, max_optimizer_tokens=max_optimizer_tokens,
            max_cost_usd=max_cost_usd, timeout_seconds=timeout_seconds, stopper=stopper,
            strategy_options=switches, extra_strategies=strategies)
        if self.config.use_mlflow:
            require_mlflow()
        # not `self.callbacks`: DSPy calls the objects there as its own BaseCallbacks around compile
        self.observers = check_callbacks(callbacks)

    def __getattr__(self, name: str) -> Any:
        """The settings read as attributes (``optimizer.batch_size``), from :attr:`config`."""
        config = self.__dict__.get("config")
        if config is not None and name in SETTINGS:
            return getattr(config, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def strategies(self) -> list[Strategy]:
        """The strategies of the run, in hook order (built by :class:`~dspy_dlpo.config.DLPOConfig`)."""
        return list(self.config.strategies)

    def get_params(self) -> dict[str, Any]:
        """JSON-friendly configuration of this optimizer."""
        return {"metric": metric_name(self.metric) if self.metric is not None else "exact match (default)",
                "prompt_model": getattr(self.prompt_model, "model", None),
                "task_model": getattr(self.task_model, "model", None), "auto": self.auto,
                "max_metric_calls": self.max_metric_calls, "max_full_evals": self.max_full_evals,
                "max_steps": self.max_steps, "patience": self.patience,
                "batch_size": self.batch_size, "num_threads": self.num_threads, "seed": self.seed,
                "log_dir": str(self.log_dir) if self.log_dir else None, "rewrite_attempts": self.rewrite_attempts,
                "candidates_per_step": self.candidates_per_step, "append_on_no_op": self.append_on_no_op,
                "max_loss_chars": self.max_loss_chars, "max_consecutive_failures": self.max_consecutive_failures,
                "max_optimizer_tokens": self.max_optimizer_tokens,
                "max_cost_usd": self.max_cost_usd, "timeout_seconds": self.timeout_seconds,
                "rollout_timeout": self.rollout_timeout, "leak_guard": self.leak_guard,
                "leak_allow": list(self.leak_allow), "prompt_templates": dict(self.prompt_templates),
                "reuse_rollouts": self.reuse_rollouts,
                "strategies": [s.get_config() for s in self.strategies]}

    def compile(self, student: dspy.Module, trainset: list[dspy.Example] | None = None, *,
                teacher: dspy.Module | None = None, valset: list[dspy.Example] | None = None,
                requires_permission_to_run: bool | None = None, **peer_options: Any) -> dspy.Module:
        """Optimize the instructions of ``student`` (left untouched) and return the best program.

        ``trainset`` may be passed positionally or by keyword; without ``valset`` half of it is held
        out for validation. ``teacher`` and ``requires_permission_to_run`` (MIPROv2's) are accepted
        and ignored; other MIPROv2 compile keywords are answered with their DLPO equivalent.
        """
        check_peer_keywords("compile", peer_options, known=list(inspect.signature(self.compile).parameters),
                            constructor=list(inspect.signature(type(self)).parameters))
        if not isinstance(student, dspy.Module):
            raise TypeError(f"student must be a dspy.Module, got {type(student).__name__}")
        if trainset is None:
            raise TypeError("compile() needs a trainset: compile(program, trainset) or compile(program, trainset=...)")
        if teacher is not None:
            logger.warning("DLPO does not use a teacher program: teacher=%s is ignored", type(teacher).__name__)
        task_lm = dspy.context(lm=self.task_model) if self.task_model is not None else contextlib.nullcontext()
        with run_console(verbose=self.verbose, progress=self.progress), task_lm:
            return self._compile(student, trainset, valset)

    def _compile(self, student: dspy.Module, trainset: list[dspy.Example], valset: list[dspy.Example] | None
                 ) -> dspy.Module:
        program = student.deepcopy()
        params = get_params(program)
        if not params:
            raise ValueError(f"the program {type(student).__name__} has no (unfrozen) predictors to optimize")
        train, val = prepare_data(trainset, valset, self.seed)
        check_inputs(program, {"trainset": train, "valset": val})
        metric = self.metric if self.metric is not None else default_metric(program, {"trainset": train,
                                                                                       "valset": val})
        batch = min(self.batch_size, len(train))
        budget = resolve_budget(auto=self.auto, max_metric_calls=self.max_metric_calls, max_steps=self.max_steps,
                                num_params=len(params), batch_size=batch, val_size=len(val),
                                candidates=self.candidates_per_step, max_full_evals=self.max_full_evals,
                                train_size=len(train))
        logger.info("%s", projection(budget, batch_size=batch, val_size=len(val), num_params=len(params),
                                     max_steps=self.max_steps, rewrite_attempts=self.rewrite_attempts,
                                     candidates=self.candidates_per_step))
        warning = few_proposals_warning(budget, batch_size=batch, val_size=len(val), max_steps=self.max_steps,
                                        candidates=self.candidates_per_step)
        if warning:
            logger.warning("%s", warning)
        client = OptimizerClient(self._optimizer_lm(program), UsageMeter(outer=dspy.settings.usage_tracker))
        install_log_filter()  # loggers of modules imported since this one was
        for lm in {id(lm): lm for lm in self._lms(program, client.lm)}.values():
            register_lm(lm)  # their keys are redacted from logs and error text
            seed_sampling(lm, self.seed)  # an embedded engine samples from the run's seed
        identity = self._identity(params, train, val)
        with run_lock(self.log_dir):
            return self._fit(program, params, identity, metric, train, val, client, budget)

    def _fit(self, program: dspy.Module, params: dict[str, str], identity: dict[str, Any], metric: Callable,
             train: list, val: list, client: OptimizerClient, budget: int) -> dspy.Module:
        callbacks = self._run_callbacks()
        trainer = Trainer(program=program, metric=metric, trainset=train, valset=val, client=client,
                          strategies=self.strategies, config=self._config(budget, program),
                          state=self._initial_state(params, identity), identity=identity, callbacks=callbacks)
        best = self._result(program, trainer.fit(), budget)
        for cb in callbacks:
            cb.on_result(best)
        return best

    def _reuse(self, program: dspy.Module) -> bool:
        """``reuse_rollouts`` as set, or (None) whether every LM that runs ``program`` decodes greedily."""
        if self.reuse_rollouts is not None:
            return self.reuse_rollouts
        lms = [getattr(p, "lm", None) or dspy.settings.lm for _, p in program.named_predictors()]
        return bool(lms) and all(lm is not None and (getattr(lm, "kwargs", {}) or {}).get("temperature") == 0
                                 for lm in lms)

    def _config(self, budget: int, program: dspy.Module) -> TrainerConfig:
        threads = self.num_threads if self.num_threads is not None else int(dspy.settings.num_threads or 1)
        stops = build_conditions(max_optimizer_tokens=self.max_optimizer_tokens, max_cost_usd=self.max_cost_usd,
                                 timeout_seconds=self.timeout_seconds, stoppers=list(self.config.stopper))
        return TrainerConfig(batch_size=self.batch_size, max_metric_calls=budget, max_steps=self.max_steps,
                             patience=self.patience, num_threads=threads, seed=self.seed,
                             rewrite_attempts=self.rewrite_attempts, candidates_per_step=self.candidates_per_step,
                             append_on_no_op=self.append_on_no_op, max_loss_chars=self.max_loss_chars,
                             log_dir=self.log_dir, max_consecutive_failures=self.max_consecutive_failures,
                             stop_conditions=stops, rollout_timeout=self.rollout_timeout,
                             leak_guard=self.leak_guard, leak_allow=self.leak_allow,
                             prompt_templates=dict(self.prompt_templates), reuse_rollouts=self._reuse(program))

    def _run_callbacks(self) -> list[Callback]:
        tracker = mlflow_tracker(self, forced=self.use_mlflow)
        return [StepLogger(), *([ProgressBar()] if self.progress else []), *([tracker] if tracker else []),
                *self.observers]

    def _optimizer_lm(self, program: dspy.Module) -> dspy.BaseLM:
        for name, pred in program.named_predictors():
            if getattr(pred, "lm", None) is None and dspy.settings.lm is None:
                raise ValueError(f"no task LM: predictor {name!r} has no LM and none is configured; use "
                                 "dspy.configure(lm=dspy.LM(...)), dspy.context(lm=...) or predictor.set_lm(...)")
        lm = self.prompt_model or dspy.settings.lm
        if lm is None:
            lm = next((p.lm for _, p in program.named_predictors() if getattr(p, "lm", None) is not None), None)
        if lm is None:
            raise ValueError("no optimizer LM: pass prompt_model=dspy.LM(...) or configure a task LM with "
                             "dspy.configure(lm=...)")
        return lm

    @staticmethod
    def _lms(program: dspy.Module, optimizer_lm: dspy.BaseLM) -> list[Any]:
        return [optimizer_lm, dspy.settings.lm, *(getattr(p, "lm", None) for _, p in program.named_predictors())]

    def _identity(self, params: dict[str, str], train: list, val: list) -> dict[str, Any]:
        config = {k: v for k, v in self.get_params().items() if k not in DLPOConfig.run_controls()}
        config["metric"] = describe_callable(self.metric)
        return {"predictors": sorted(params), "initial_instructions": fingerprint(params),
                "trainset": fingerprint([example_key(e) for e in train]),
                "valset": fingerprint([example_key(e) for e in val]), "config": stable(config)}

    def _initial_state(self, params: dict[str, str], identity: dict[str, Any]) -> RunState:
        saved = load_state(self.log_dir, identity) if self.log_dir is not None else None
        if saved is not None:
            state = RunState.from_json(saved)
            logger.info("resuming from %s at step %d (%d metric calls spent)", self.log_dir, state.step,
                        state.spend.metric_calls)
            return state
        return RunState(params=dict(params))

    def _result(self, program: dspy.Module, state: RunState, budget: int) -> dspy.Module:
        best = with_params(program, state.best_params)
        candidates = sorted(state.candidates, key=lambda c: (-c["score"], c["step"]))
        best.score = state.best_score
        best.candidate_programs = [{"score": c["score"], "step": c["step"], "instructions": dict(c["params"]),
                                    "program": with_params(program, c["params"])} for c in candidates]
        best.trial_logs = TrialLogs(state.history)
        best.detailed_results = build_results(state, budget, self.log_dir, program, self.seed)
        best.total_calls = state.spend.metric_calls               # MIPROv2's names
        best.prompt_model_total_calls = state.spend.optimizer_calls
        if self.log_dir is not None:
            try:
                save_programs(best.detailed_results, self.log_dir)
            except OSError as exc:  # the run's result is returned even when log_dir stopped taking writes
                logger.error("could not save the programs in %s: %s", self.log_dir, exc)
        return best
