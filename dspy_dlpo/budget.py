"""Cost accounting: metric calls (rollouts), optimizer-LM calls and tokens, thread-safe.

Token counts come from DSPy's ``usage_tracker`` hook: a :class:`UsageMeter` installed with
``dspy.context(usage_tracker=meter)`` receives every billed (non-cached) LM call. DSPy's
``ParallelExecutor`` deep-copies the tracker into worker threads, which is why
``dspy.track_usage()`` loses counts under threads; the meter returns itself from
``__deepcopy__`` so every thread adds to the same totals.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass
from typing import Any

from .validate import is_real


UNPRICED_PROVIDERS = ("custom", "local")  # dspy.LM(..., engine=...) models of this package and its tests


class UsageMeter:
    """Counts billed LM calls, their input/output tokens and their USD cost, across threads.

    ``outer``: a usage tracker to forward every call to (e.g. the ``dspy.track_usage()`` tracker
    that was active when the run started), so that DSPy's own tracking also sees the run's usage.
    Cost comes from the usage itself when the provider reports it, else from litellm's price table;
    ``cost_usd`` stays None while no call of a priced model was seen (local models have no price).
    """

    _unpriced: set[str] = set()

    def __init__(self, outer: Any = None) -> None:
        self._lock = threading.Lock()
        self.outer = outer
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd: float | None = None

    def add_usage(self, model: str, usage: dict[str, Any]) -> None:
        """DSPy's usage-tracker hook: one call per billed LM response."""
        usage = dict(usage or {})
        prompt = int(usage.get("prompt_tokens", usage.get("input_tokens")) or 0)
        completion = int(usage.get("completion_tokens", usage.get("output_tokens")) or 0)
        cost = call_cost(model, usage, prompt, completion)
        with self._lock:
            self.calls += 1
            self.input_tokens += prompt
            self.output_tokens += completion
            if cost is not None:
                self.cost_usd = (self.cost_usd or 0.0) + cost
        if self.outer is not None and self.outer is not self:
            self.outer.add_usage(model, usage)

    def __deepcopy__(self, memo: dict) -> "UsageMeter":
        return self

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": self.calls, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                    "cost_usd": self.cost_usd}

    def restore(self, data: dict[str, Any]) -> None:
        with self._lock:
            self.calls = int(data.get("calls", 0))
            self.input_tokens = int(data.get("input_tokens", 0))
            self.output_tokens = int(data.get("output_tokens", 0))
            cost = data.get("cost_usd")
            self.cost_usd = None if cost is None else float(cost)


def call_cost(model: str, usage: dict[str, Any], prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD cost of one LM call: the provider's own figure if the usage has one, else litellm's
    price for ``model``; None for a model litellm has no price for and for in-process models
    (``custom/...``, ``local/...``: no price, and importing litellm to learn that costs seconds)."""
    reported = usage.get("cost")
    if is_real(reported):
        return float(reported)
    if str(model).split("/", 1)[0] in UNPRICED_PROVIDERS or model in UsageMeter._unpriced:
        return None
    try:
        import litellm

        prompt_cost, completion_cost = litellm.cost_per_token(model=model, prompt_tokens=prompt_tokens,
                                                              completion_tokens=completion_tokens)
    except Exception:  # litellm raises for every model it has no price for
        UsageMeter._unpriced.add(model)
        return None
    return float(prompt_cost) + float(completion_cost)


@dataclass
class Spend:
    """What a run has spent so far; JSON-serializable and restored on resume."""

    metric_calls: int = 0
    optimizer_calls: int = 0
    task_lm_calls: int = 0
    task_input_tokens: int = 0
    task_output_tokens: int = 0
    optimizer_input_tokens: int = 0
    optimizer_output_tokens: int = 0
    task_cost_usd: float | None = None
    optimizer_cost_usd: float | None = None

    @property
    def optimizer_tokens(self) -> int:
        return self.optimizer_input_tokens + self.optimizer_output_tokens

    @property
    def cost_usd(self) -> float | None:
        """Total USD cost of the run (task + optimizer LM), None when no call had a known price."""
        if self.task_cost_usd is None and self.optimizer_cost_usd is None:
            return None
        return (self.task_cost_usd or 0.0) + (self.optimizer_cost_usd or 0.0)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Spend":
        costs = ("task_cost_usd", "optimizer_cost_usd")
        return cls(**{k: (None if v is None else float(v)) if k in costs else int(v)
                      for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class StepPlan:
    """The size of one step: its minibatch and the number of candidates written from its critique."""

    batch_size: int
    candidates: int
    final: bool = False  # the last step: its scoring may widen to spend what is left (see StepMixin)

    def cost(self, val_size: int) -> int:
        """Metric calls of the step at most: the current program and each candidate on the minibatch,
        then one validation."""
        return step_cost(self.batch_size, val_size, self.candidates)


def plan_step(remaining: int, *, batch_size: int, candidates: int, train_size: int, val_size: int) -> StepPlan | None:
    """The next step within ``remaining`` metric calls, or None when no step fits.

    A full step is planned while it leaves room for a last one (with its validation and at least two
    minibatch examples). Near the end the last step is sized to what is left, so that a run spends
    its budget instead of leaving a step's reserve unspent: the candidates first, then a minibatch
    as large as the rest allows (up to the trainset); never beyond ``remaining``.
    """
    full = StepPlan(min(batch_size, train_size), candidates)
    if remaining >= full.cost(val_size) + val_size + 2 * (1 + candidates):
        return full
    room = remaining - val_size
    for k in range(candidates, 0, -1):
        b = min(train_size, room // (1 + k))
        if b >= 2 or (k == 1 and b >= 1):
            return StepPlan(b, k, final=True)
    return None


def step_cost(batch_size: int, val_size: int, candidates: int = 1) -> int:
    """Metric calls one step may need: the current instruction and each of ``candidates`` rewrites on
    the minibatch, then the validation of the one kept."""
    return (1 + candidates) * batch_size + val_size


def minimum_budget(batch_size: int, val_size: int, candidates: int = 1) -> int:
    """Smallest ``max_metric_calls`` that allows the baseline validation plus one full step."""
    return val_size + step_cost(batch_size, val_size, candidates)


AUTO_CANDIDATES = {"light": 6, "medium": 12, "heavy": 18}  # GEPA's AUTO_RUN_SETTINGS


def auto_budget(preset: str, *, num_params: int, val_size: int) -> int:
    """Metric-call budget of an ``auto`` preset: GEPA's own formula (``dspy.GEPA.auto_budget``), so that
    ``auto="light"`` buys the same number of metric calls as in GEPA for the same program and valset size.

    GEPA sizes it as a MIPROv2-style search over ``n`` candidates (light 6, medium 12, heavy 18):
    ``T = max(4 P log2 n, 1.5 n)`` trials for ``P`` predictors, then ``V`` (baseline) + ``5 n`` + ``35 T``
    + ``V`` per full evaluation (one every 5 trials, plus one; one more when ``T < 5``), for a
    valset of ``V``. DLPO spends that budget on its own steps (see :func:`projection`).
    """
    n = AUTO_CANDIDATES[preset]
    trials = int(max(4 * max(1, num_params) * math.log2(n), 1.5 * n))
    full_evals = (trials + 1) // 5 + 1 + (1 if trials < 5 else 0)
    return val_size + 5 * n + 35 * trials + full_evals * val_size


def step_range(budget: int, *, batch_size: int, val_size: int, max_steps: int | None,
               candidates: int = 1) -> tuple[int, int]:
    """``(fewest, most)`` steps ``budget`` buys after the baseline validation: fewest when every
    step's candidate is validated, most when none is; both capped by ``max_steps``."""
    after_baseline = budget - val_size
    per_step = (1 + candidates) * batch_size  # the current instruction and each candidate on the minibatch
    fewest = after_baseline // step_cost(batch_size, val_size, candidates)
    most = (after_baseline - step_cost(batch_size, val_size, candidates)) // per_step + 1  # none validated
    if max_steps is not None:
        fewest, most = min(fewest, max_steps), min(most, max_steps)
    return max(fewest, 0), max(most, 0)


def projection(budget: int, *, batch_size: int, val_size: int, num_params: int, max_steps: int | None,
               rewrite_attempts: int, candidates: int = 1) -> str:
    """What ``budget`` buys, logged before a run (as MIPROv2 does): steps, metric calls and
    optimizer-LM calls, between the worst case (every candidate validated) and the best."""
    per_step = (1 + candidates) * batch_size
    fewest, most = step_range(budget, batch_size=batch_size, val_size=val_size, max_steps=max_steps,
                              candidates=candidates)
    return (f"projection: {budget} metric calls = baseline validation {val_size} + {fewest}-{most} steps over "
            f"{num_params} predictor(s) (each step {per_step} minibatch calls, + {val_size} when its "
            f"candidate is validated); optimizer LM about {(1 + candidates) * fewest}-"
            f"{(1 + candidates * rewrite_attempts) * most} calls (a critique and {candidates}-"
            f"{candidates * rewrite_attempts} rewrites per step)")


MIN_PROPOSALS = 3       # fewer rewrites than this seldom find a better instruction: warned before the run
ADVISED_PROPOSALS = 10  # what the warning advises


def budget_for_proposals(proposals: int, *, batch_size: int, val_size: int, candidates: int = 1) -> int:
    """The ``max_metric_calls`` that buys ``proposals`` rewrites even when every step's candidate is
    validated (the baseline validation plus ``ceil(proposals / candidates)`` full steps)."""
    return val_size + -(-proposals // candidates) * step_cost(batch_size, val_size, candidates)


def few_proposals_warning(budget: int, *, batch_size: int, val_size: int, max_steps: int | None,
                          candidates: int = 1) -> str | None:
    """A warning when ``budget`` (and ``max_steps``) guarantee fewer than :data:`MIN_PROPOSALS`
    rewrites, saying what budget would buy :data:`ADVISED_PROPOSALS`; None otherwise."""
    fewest, _ = step_range(budget, batch_size=batch_size, val_size=val_size, max_steps=max_steps,
                           candidates=candidates)
    if fewest * candidates >= MIN_PROPOSALS:
        return None
    steps = -(-ADVISED_PROPOSALS // candidates)
    needed = budget_for_proposals(ADVISED_PROPOSALS, batch_size=batch_size, val_size=val_size, candidates=candidates)
    limit = (f"max_steps={max_steps}" if max_steps is not None and max_steps == fewest
             else f"a budget of {budget} metric calls")
    return (f"{limit} allows as few as {fewest * candidates} proposal(s) (rewrites; {candidates} per step, "
            f"each step {step_cost(batch_size, val_size, candidates)} metric calls when its candidate is "
            f"validated): fewer than {MIN_PROPOSALS} seldom find a better instruction; max_metric_calls="
            f"{needed} (max_steps={steps}) would allow {ADVISED_PROPOSALS}")
