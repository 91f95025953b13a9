"""MLflow tracking of a DLPO run, as ``mlflow.dspy.autolog(log_compiles=True)`` users expect.

``mlflow.dspy.autolog`` patches the ``compile`` of every direct subclass of DSPy's
``Teleprompter`` that exists when it is called (so ``import dspy_dlpo`` must come first) and, with
``log_compiles=True``, opens a run around ``compile``, logs its scalar arguments, the datasets and
the LM state, and saves the returned program as ``best_model.json``. DLPO validates without
``dspy.Evaluate``, so the per-step metrics come from :class:`MLflowTracker`, added automatically
when such an autolog is active (or always with ``use_mlflow=True``): the optimizer's parameters, one
metric row per step, and the best program and ``detailed_results`` as artifacts under ``dlpo/``.
When no run is active (``use_mlflow`` without autolog, or autolog enabled before ``dspy_dlpo`` was
imported) the tracker opens one itself and closes it after ``compile``.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from .callbacks import Callback

logger = logging.getLogger(__name__)

MAX_PARAM_CHARS = 500


def require_mlflow() -> Any:
    """The mlflow module; an ImportError that says how to install it otherwise."""
    try:
        import mlflow
    except ImportError:
        raise ImportError("use_mlflow=True needs MLflow: pip install 'dspy-dlpo[mlflow]'") from None
    return mlflow


def _autolog_logs_compiles() -> bool:
    """True when ``mlflow.dspy.autolog(log_compiles=True)`` is active (without importing mlflow)."""
    if sys.modules.get("mlflow") is None:  # not imported by the user (or blocked)
        return False
    from mlflow.utils.autologging_utils import autologging_is_disabled, get_autologging_config

    return not autologging_is_disabled("dspy") and bool(get_autologging_config("dspy", "log_compiles", False))


def mlflow_tracker(optimizer: Any, *, forced: bool) -> "MLflowTracker | None":
    """The tracker for one compile, or None when MLflow is not in use."""
    if forced:
        require_mlflow()
    return MLflowTracker(optimizer.get_params()) if forced or _autolog_logs_compiles() else None


def _safe(method: Any) -> Any:
    """A tracking failure is logged, never raised: it must not end an optimization run."""
    @functools.wraps(method)
    def wrapper(self: "MLflowTracker", *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as exc:
            logger.warning("MLflow tracking failed in %s: %s: %s", method.__name__, type(exc).__name__, exc)
    return wrapper


def flat_params(params: dict[str, Any]) -> dict[str, str]:
    """MLflow parameters: scalars as they are, anything else as (truncated) JSON."""
    flat = {}
    for key, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
        flat[key] = text[:MAX_PARAM_CHARS]
    return flat


class MLflowTracker(Callback):
    """Logs a DLPO run to the active MLflow run, or to a run it opens when none is active.

    Metrics, at MLflow step = DLPO step + 1 (step 0 is the baseline): ``best_score`` and
    ``val_score`` (percent), ``metric_calls``, ``optimizer_calls``, ``optimizer_tokens`` and,
    where litellm prices the models, ``cost_usd``.
    """

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.mlflow: Any = None
        self.owns_run = False
        self.baseline_logged = False

    @_safe
    def on_start(self, state: Any, budget: int) -> None:
        import mlflow

        if mlflow.active_run() is None:
            mlflow.start_run(run_name="dlpo")
            self.owns_run = True
        self.mlflow = mlflow
        mlflow.log_params(flat_params({**self.params, "budget": budget}))

    def _log(self, state: Any, step: int, extra: dict[str, float]) -> None:
        spend = state.spend
        metrics = {"best_score": state.best_score, "metric_calls": spend.metric_calls,
                   "optimizer_calls": spend.optimizer_calls, "optimizer_tokens": spend.optimizer_tokens, **extra}
        if spend.cost_usd is not None:
            metrics["cost_usd"] = spend.cost_usd
        self.mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def _log_baseline(self, state: Any) -> None:
        baseline = next((c for c in state.candidates if c["step"] == -1), None)
        if baseline is not None and not self.baseline_logged:
            self.baseline_logged = True
            self.mlflow.log_metrics({"val_score": baseline["score"], "best_score": baseline["score"]}, step=0)

    @_safe
    def on_step_end(self, record: dict[str, Any], state: Any) -> None:
        if self.mlflow is None:
            return
        self._log_baseline(state)
        extra = {} if record.get("val_score") is None else {"val_score": record["val_score"]}
        self._log(state, record["step"] + 1, {**extra, "accepted": float(bool(record.get("accepted")))})

    @_safe
    def on_end(self, state: Any) -> None:
        if self.mlflow is None:
            return
        self._log_baseline(state)
        self._log(state, state.step, {})
        self.mlflow.set_tags({"dlpo.stop_reason": str(state.stop_reason), "dlpo.steps": str(state.step)})

    @_safe
    def on_result(self, program: Any) -> None:
        if self.mlflow is None:
            return
        try:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "best_program.json"
                program.save(str(path))
                self.mlflow.log_artifact(str(path), artifact_path="dlpo")
            self.mlflow.log_dict(program.detailed_results.to_dict(), "dlpo/detailed_results.json")
        finally:
            if self.owns_run:
                self.mlflow.end_run()
                self.owns_run = False
