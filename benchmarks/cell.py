"""One cell of a grid: optimize a task's program with one optimizer and seed, score it, write its record.

A cell's record is ``<results-dir>/<task>/<optimizer>/seed<k>.json``: its settings (:func:`cell_config`),
split, command, machine and code version, then what :func:`run_cell` measured (validation and test
scores with bootstrap intervals, spend, wall time, the final instructions), or the error.
"""

from __future__ import annotations

import argparse
import copy
import logging
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dspy

from dspy_dlpo.text import word_count
from dspy_dlpo.checkpoint import atomic_write_json
from dspy_dlpo.lm.llama import seed_sampling
from dspy_dlpo.program import evaluate, get_params, with_params

from .anytime import anytime_points
from .environment import code_version, machine_info
from .evalcache import EvalCache, cache_key
from .harness import (PROJECT_ROOT, RESULT_JSON, SCHEMA_VERSION, Meter, Stopwatch, bootstrap_ci, cell_path,
                      demo_count, lm_call_count, metered_lm, relative_command)
from .lms import LMPool, is_local, task_max_tokens
from .optimizers import REFERENCE_ROWS, OptimizerSetup, run_optimizer

logger = logging.getLogger(__name__)


def load_cell_task(spec: str, loader: Callable[..., Any], **kwargs: Any) -> Any:
    """The task of a ``--tasks`` entry: ``name`` (its ChainOfThought program) or ``name@predict``."""
    name, _, module = spec.partition("@")
    if module not in ("", "predict"):
        raise ValueError(f"task {spec!r}: the only program variant is '@predict', got '@{module}'")
    task = loader(name, **kwargs)
    if module:
        task = copy.copy(task)
        task.name, task.make_program = spec, lambda: dspy.Predict("question -> answer")
    return task


def reset_cache() -> None:
    """Start each cell with an empty in-memory LM cache, so no cell profits from an earlier one."""
    cache = getattr(dspy, "cache", None)
    if cache is not None and hasattr(cache, "reset_memory_cache"):
        cache.reset_memory_cache()


def spend_record(task_meter: Meter, opt_meter: Meter, task_lm: dspy.BaseLM, opt_lm: dspy.BaseLM,
                 metric_calls: int) -> dict[str, int]:
    """What the optimization spent: metric calls, LM calls (all / billed) and billed tokens per role."""
    task, opt = task_meter.snapshot(), opt_meter.snapshot()
    return {"metric_calls": metric_calls, "optimizer_calls": lm_call_count(opt_lm),
            "optimizer_billed_calls": opt["calls"], "optimizer_input_tokens": opt["input_tokens"],
            "optimizer_output_tokens": opt["output_tokens"], "task_lm_calls": lm_call_count(task_lm),
            "task_lm_billed_calls": task["calls"], "task_input_tokens": task["input_tokens"],
            "task_output_tokens": task["output_tokens"]}


def score_block(scores: list[float]) -> dict[str, Any]:
    """Mean score (percent), bootstrap 95% interval and per-example scores."""
    mean = 100.0 * sum(scores) / len(scores) if scores else float("nan")
    lo, hi = bootstrap_ci(scores)
    return {"score": round(mean, 2), "ci95": [round(lo, 2), round(hi, 2)], "n": len(scores),
            "per_example": [round(s, 4) for s in scores]}


def scored(program: dspy.Module, examples: list[dspy.Example], task: Any, *, threads: int,
           cache: tuple[EvalCache, dict[str, Any]] | None) -> tuple[list[float], bool]:
    """Per-example scores of ``program`` on ``examples``, and whether they came from ``cache``
    (``(EvalCache, task-LM settings)``, given only for a greedy in-process task LM)."""
    if cache is None:
        return evaluate(program, examples, task.metric, num_threads=threads), False
    store, lm_settings = cache
    key = cache_key(program, examples, task=task.name, task_lm=lm_settings)
    hit = store.get(key, len(examples))
    if hit is not None:
        return hit, True
    scores = evaluate(program, examples, task.metric, num_threads=threads)
    store.put(key, scores, {"task": task.name, "n": len(examples)})
    return scores, False


def run_cell(task: Any, optimizer: str, seed: int, *, task_lm: dspy.BaseLM, optimizer_lm: dspy.BaseLM,
             budget: int, threads: int, eval_cache: tuple[EvalCache, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Optimize ``task.make_program()`` with ``optimizer``, then score it on val and test.

    The test split is used only after the optimizer returned. Returns the cell record (without
    config), raising if the optimizer fails. With ``eval_cache``, a final program whose scores on a
    split are stored (the same saved state, examples and greedy task LM) reuses them; the score
    block says ``from_cache``.
    """
    reset_cache()
    for lm in (task_lm, optimizer_lm):  # the cell's seed reaches every sampler (COPRO's, MIPROv2's, GEPA's)
        seed_sampling(lm, seed)
    task_meter, opt_meter, eval_meter = Meter("task"), Meter("optimizer"), Meter("eval")
    metered_task = metered_lm(task_lm, task_meter)
    opt_lm = metered_lm(optimizer_lm, opt_meter)
    setup = OptimizerSetup(program=task.make_program(), trainset=list(task.trainset), valset=list(task.valset),
                           metric=task.metric, task_lm=metered_task, optimizer_lm=opt_lm, budget=budget,
                           threads=threads, seed=seed, task=task.name)
    with dspy.context(lm=metered_task), Stopwatch() as opt_clock:
        program, details = run_optimizer(optimizer, setup)
    spend = spend_record(task_meter, opt_meter, metered_task, opt_lm, details.get("metric_calls_counted", 0))
    spend["metric_feedback_calls"] = details.get("predictor_feedback_calls", 0)

    eval_lm = metered_lm(task_lm, eval_meter)
    with dspy.context(lm=eval_lm), Stopwatch() as eval_clock:
        val_scores, val_cached = scored(program, list(task.valset), task, threads=threads, cache=eval_cache)
        test_scores, test_cached = scored(program, list(task.testset), task, threads=threads, cache=eval_cache)
        curve = anytime_curve(task, optimizer, details, program, budget=budget, threads=threads,
                              cache=eval_cache, final_test=test_scores)
    instructions = get_params(program)
    return {"status": "ok", "test": {**score_block(test_scores), "from_cache": test_cached}, "anytime": curve,
            "val": {**score_block(val_scores), "from_cache": val_cached},
            "spend": spend, "eval_spend": {**eval_meter.snapshot(), "calls_incl_cached": lm_call_count(eval_lm)},
            "wall_time_s": round(opt_clock.seconds, 2), "eval_wall_time_s": round(eval_clock.seconds, 2),
            "instructions": instructions, "instruction_words": sum(map(word_count, instructions.values())),
            "demos": demo_count(program), "details": details}


def anytime_curve(task: Any, optimizer: str, details: dict[str, Any], program: dspy.Module, *, budget: int,
                  threads: int, cache: tuple[EvalCache, dict[str, Any]] | None,
                  final_test: list[float]) -> list[dict[str, Any]] | None:
    """The best program at 25/50/75/100% of the budget (:mod:`benchmarks.anytime`) with its test score;
    the returned program's test scores are reused, any other program is scored (from ``cache`` if known).
    None for an optimizer whose record holds no validations (COPRO)."""
    final = get_params(program)
    seed = final if optimizer in REFERENCE_ROWS else get_params(task.make_program())
    points = anytime_points(optimizer, details, budget=budget, n_val=len(task.valset), seed_instructions=seed)
    if points is None:
        return None
    tested = {tuple(sorted(final.items())): final_test}  # each program scored once, whatever the cache
    for point in points:
        key = tuple(sorted(point["instructions"].items()))
        if key not in tested:
            tested[key], _ = scored(with_params(program, point["instructions"]), list(task.testset), task,
                                    threads=threads, cache=cache)
        block = score_block(tested[key])
        point["test"], point["test_per_example"] = block["score"], block["per_example"]
        point["is_returned_program"] = point["instructions"] == final
    return points


def cell_config(args: argparse.Namespace, task_name: str, pool: LMPool) -> dict[str, Any]:
    """The settings a cell of ``task_name`` runs with (recorded as its ``config``)."""
    return {"budget": args.budget, "n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test,
            "model": args.model, "optimizer_model": pool.optimizer_spec(), "threads": args.threads,
            "max_tokens": task_max_tokens(task_name, args.max_tokens),
            "optimizer_max_tokens": args.optimizer_max_tokens, "llm_threads": args.llm_threads}


def eval_cache_for(args: argparse.Namespace, task_name: str) -> tuple[EvalCache, dict[str, Any]] | None:
    """The evaluation cache of a grid (``<results-dir>/_evalcache``): only for an embedded task LM, which
    decodes greedily in-process, so that the same program on the same examples scores the same."""
    if not is_local(args.model) or args.no_eval_cache:
        return None
    settings = {"model": args.model, "max_tokens": task_max_tokens(task_name, args.max_tokens),
                "llm_threads": args.llm_threads}
    return EvalCache(Path(args.results_dir) / "_evalcache"), settings


def redacted_args(argv: list[str]) -> list[str]:
    """The arguments with the values of ``--*api-key`` flags hidden (the command is written into every cell)."""
    out, hide = [], False
    for arg in argv:
        name, eq, _ = arg.partition("=")
        out.append("[REDACTED]" if hide else f"{name}=[REDACTED]" if eq and name.endswith("api-key") else arg)
        hide = not eq and arg.startswith("--") and arg.endswith("api-key")
    return out


def run_and_record(args: argparse.Namespace, pool: LMPool, task: Any, optimizer: str, seed: int) -> dict[str, Any]:
    """Run one cell and write its record (``status`` "ok" or "error") immediately."""
    path = cell_path(args.results_dir, task.name, optimizer, seed)
    record: dict[str, Any] = {"schema": SCHEMA_VERSION, "task": task.name, "optimizer": optimizer, "seed": seed,
                              "config": cell_config(args, task.name, pool), "split_note": task.split_note,
                              "split_sizes": {"train": len(task.trainset), "val": len(task.valset),
                                              "test": len(task.testset)},
                              "command": relative_command("benchmarks.run", redacted_args(args.argv), PROJECT_ROOT),
                              "machine": machine_info(),
                              "code_version": code_version(),
                              "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    start = time.perf_counter()
    try:
        record.update(run_cell(task, optimizer, seed, task_lm=pool.task_lm(task.name),
                               optimizer_lm=pool.base(pool.optimizer_spec()), budget=args.budget,
                               threads=args.threads, eval_cache=eval_cache_for(args, task.name)))
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a failing optimizer is a result, not the end of the grid
        logger.exception("cell %s / %s / seed %d failed", task.name, optimizer, seed)
        record.update(status="error", error=f"{type(exc).__name__}: {exc}"[:2000],
                      traceback=traceback.format_exc()[-6000:], wall_time_s=round(time.perf_counter() - start, 2))
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_json(path, record, **RESULT_JSON)
    return record
