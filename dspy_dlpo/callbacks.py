"""Observers of a run: a progress bar and step logging. They read the state, never change it."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("dspy_dlpo")


class Callback:
    """Base observer; override what you need. Hooks, in order:

    * ``on_start(state, budget)``: before the baseline (``state.step`` > 0 on a resumed run);
    * ``on_metric_calls(n)``: after each finished rollout (may come from a worker thread, one at a time);
    * ``on_step_end(record, state)``: after each step, with its trial record;
    * ``on_end(state)``: when the run stops (``state.stop_reason`` says why);
    * ``on_result(program)``: with the returned best program (``detailed_results`` attached).
    """

    def on_start(self, state: Any, budget: int) -> None: ...

    def on_metric_calls(self, n: int) -> None: ...

    def on_step_end(self, record: dict[str, Any], state: Any) -> None: ...

    def on_end(self, state: Any) -> None: ...

    def on_result(self, program: Any) -> None: ...


class ProgressBar(Callback):
    """A tqdm bar over the metric-call budget with the best validation score (like DSPy's bars)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_start(self, state: Any, budget: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=budget, initial=state.spend.metric_calls, desc="DLPO", unit="call", dynamic_ncols=True)
        self._postfix(state)

    def _postfix(self, state: Any) -> None:
        if self.bar is not None and state.best_score != float("-inf"):
            self.bar.set_postfix_str(f"step {state.step} best {state.best_score:.1f}%")

    def on_metric_calls(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)
            # DSPy's ParallelExecutor forgets every tqdm bar (``tqdm._instances.clear()``): registered again,
            # the bar is cleared before a log line is written (``tqdm.write``) instead of gluing onto it
            instances = getattr(type(self.bar), "_instances", None)
            if instances is not None and self.bar not in instances:
                instances.add(self.bar)

    def on_step_end(self, record: dict[str, Any], state: Any) -> None:
        self._postfix(state)

    def on_end(self, state: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class StepLogger(Callback):
    """One INFO line per step: what changed, why it was accepted or not, and the spend."""

    def on_start(self, state: Any, budget: int) -> None:
        if state.step == 0 and not state.spend.metric_calls:
            logger.info("DLPO run: budget %d metric calls", budget)
        else:
            logger.info("DLPO run: budget %d metric calls, resuming at step %d, %d already spent",
                        budget, state.step, state.spend.metric_calls)

    def on_step_end(self, record: dict[str, Any], state: Any) -> None:
        after = record.get("batch_score_after")
        logger.info("step %d [%s] %s: %s | minibatch %.2f -> %s | val %s | best %.1f%% | calls %d",
                    record["step"], record["param"], record["outcome"], record["reason"],
                    record.get("batch_score_before") or 0.0, "-" if after is None else f"{after:.2f}",
                    "-" if record.get("val_score") is None else f"{record['val_score']:.1f}%",
                    state.best_score, state.spend.metric_calls)

    def on_end(self, state: Any) -> None:
        if not state.candidates:
            logger.info("DLPO stopped (%s) before the baseline was validated", state.stop_reason)
            return
        logger.info("DLPO stopped (%s) after %d steps: best validation %.1f%% from step %d",
                    state.stop_reason, state.step, state.best_score, state.best_step)
