"""Grid runner: optimizer x task x seed, with the same task LM, optimizer LM and metric-call budget.

Each finished cell is written at once to ``<results-dir>/<task>/<optimizer>/seed<k>.json``; a
rerun skips cells whose file exists (``--retry-errors`` reruns the ones that failed).

Three grids (``--grid``), each flag of which can be overridden one by one:

* ``default``: the three BBH rows where the embedded 1.5B is above its floor, as ``dspy.Predict``
  programs, seed 0, budget 60, 20 train / 10 val / 20 test, capped tokens; about two hours on a
  2-core machine. Cells go to ``benchmarks/results``.
* ``fair``: the fair re-measurement (issue 17): the same three rows, every optimizer (baseline dlpo tgd
  gepa gepa-chat miprov2 copro), seeds 0-2, budget 60, 20 train / 10 val / 100 test, task max tokens 100,
  optimizer max tokens 600, each peer at its authors' proposal temperature (:mod:`benchmarks.peers`).
  Cells go to ``benchmarks/results_fair``; run every cell of it on one frozen commit.
* ``full``: the paper's tasks (GSM8K, MGSM German, BigGSM, MATH-500 and four BBH tasks) with their
  ``ChainOfThought`` programs, seeds 0-2, budget 120, 50 train / 50 val / 100 test: hours per task
  on a CPU, meant for a hosted model or a vLLM server (``--model``, ``--api-base``).

Example (the embedded 1.5B model for both roles, offline)::

    python -m benchmarks.run --tasks bbh/object_counting gsm8k --optimizers baseline dlpo tgd gepa \\
        --seeds 0 --budget 120 --n-train 20 --n-val 15 --n-test 30
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

if __package__ in (None, ""):  # allow ``python benchmarks/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import dspy  # noqa: E402

from dspy_dlpo.autograd.text import word_count  # noqa: E402
from dspy_dlpo.program import get_params  # noqa: E402

from .harness import (SCHEMA_VERSION, Meter, Stopwatch, at_least, bootstrap_ci, cell_path, demo_count,  # noqa: E402
                      evaluate, lm_call_count, metered_lm, read_cell, relative_command, write_json_atomic)
from .evalcache import EvalCache, cache_key  # noqa: E402
from .optimizers import OptimizerSetup, expand, run_optimizer  # noqa: E402

logger = logging.getLogger("benchmarks.run")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OPTIMIZERS = ["baseline", "dlpo", "tgd", "gepa", "miprov2", "copro"]
FAIR_OPTIMIZERS = ["baseline", "dlpo", "tgd", "gepa", "gepa-chat", "miprov2", "copro"]
DEFAULT_ROWS = ["bbh/logical_deduction_three_objects@predict", "bbh/object_counting@predict",
                "bbh/tracking_shuffled_objects_three_objects@predict"]
# Settings of each grid; an explicit flag overrides its entry. ``results_dir`` is relative to benchmarks/.
GRIDS: dict[str, dict[str, Any]] = {
    "default": {"tasks": DEFAULT_ROWS, "optimizers": DEFAULT_OPTIMIZERS, "seeds": [0], "budget": 60,
                "n_train": 20, "n_val": 10, "n_test": 20, "optimizer_max_tokens": 600, "results_dir": "results"},
    "fair": {"tasks": DEFAULT_ROWS, "optimizers": FAIR_OPTIMIZERS, "seeds": [0, 1, 2], "budget": 60, "n_train": 20,
             "n_val": 10, "n_test": 100, "max_tokens": 100, "optimizer_max_tokens": 600, "results_dir": "results_fair"},
    "full": {"tasks": ["gsm8k", "mgsm/de", "biggsm", "math500", "bbh/object_counting", "bbh/word_sorting",
                       "bbh/logical_deduction_three_objects", "bbh/tracking_shuffled_objects_three_objects"],
             "optimizers": DEFAULT_OPTIMIZERS, "seeds": [0, 1, 2], "budget": 120, "n_train": 50, "n_val": 50,
             "n_test": 100, "optimizer_max_tokens": 768, "results_dir": "results"},
}


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--grid", choices=sorted(GRIDS), default="default",
                   help="preset of tasks, seeds, budget, split sizes and optimizer tokens (see the module docstring); "
                        "each of these flags given explicitly overrides the preset")
    p.add_argument("--tasks", nargs="+", default=None,
                   help="task names; '<task>@predict' optimizes dspy.Predict instead of the task's ChainOfThought")
    p.add_argument("--optimizers", nargs="+", default=None,
                   help="baseline dlpo tgd gepa gepa-chat gepa-chatadapter miprov2 copro, dlpo-only-<s>, "
                        "dlpo-minus-<s>, or 'ablation' (all 14 variants), 'ablation-only', 'ablation-minus'")
    p.add_argument("--seeds", nargs="+", type=at_least(0), default=None)
    p.add_argument("--budget", type=at_least(1), default=None, help="metric calls per optimization run")
    p.add_argument("--n-train", type=at_least(1), default=None)
    p.add_argument("--n-val", type=at_least(1), default=None)
    p.add_argument("--n-test", type=at_least(1), default=None)
    p.add_argument("--model", default="local", help="task LM: 'local', 'local:<name>' or a litellm model")
    p.add_argument("--optimizer-model", default=None,
                   help="optimizer LM (reflection_lm / prompt_model); default: the same as --model")
    p.add_argument("--api-base", default=None,
                   help="OpenAI-compatible server of --model (vLLM, SGLang, llama-server), with --model openai/<name>")
    p.add_argument("--api-key", default=None, help="key for --model (prefer $DSPY_DLPO_API_KEY or the provider's own)")
    p.add_argument("--optimizer-api-base", default=None,
                   help="server of the optimizer LM; --api-base is never inherited by --optimizer-model")
    p.add_argument("--optimizer-api-key", default=None, help="key for the optimizer LM "
                                                             "(prefer $DSPY_DLPO_OPTIMIZER_API_KEY)")
    p.add_argument("--threads", type=at_least(1), default=1)
    p.add_argument("--max-tokens", type=at_least(1), default=None,
                   help="task-LM max tokens; default 256 for math tasks, 160 for BBH, 100 for BBH as Predict")
    p.add_argument("--optimizer-max-tokens", type=at_least(1), default=None)
    p.add_argument("--llm-threads", type=at_least(1), default=None,
                   help="llama.cpp threads of an embedded model (1 is robust when other processes share the cores)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--results-dir", type=Path, default=None,
                   help="where the cells are written; default benchmarks/<the grid's folder>")
    p.add_argument("--retry-errors", action="store_true", help="rerun cells whose record has status 'error'")
    p.add_argument("--no-eval-cache", action="store_true",
                   help="score every final program afresh instead of reusing stored scores of the same program "
                        "(the cache is used only with an embedded, greedy task LM)")
    p.add_argument("--dry-run", action="store_true", help="list the cells and exit")
    p.add_argument("--allow-mixed-code", action="store_true",
                   help="resume a results folder whose recorded cells ran on other code (the report then refuses "
                        "to pair those rows)")
    args = p.parse_args(argv)
    for key, value in GRIDS[args.grid].items():
        if getattr(args, key) is None:
            setattr(args, key, HERE / value if key == "results_dir" else value)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def task_max_tokens(task: str, override: int | None) -> int:
    """Max new tokens of the task LM for ``task`` (BBH answers are short, and shortest without reasoning;
    math needs room to reason)."""
    if override is not None:
        return override
    if task.startswith("bbh/"):
        return 100 if task.endswith("@predict") else 160
    return 256


def machine_info() -> dict[str, Any]:
    """nproc, RAM, CPU model and Python/DSPy versions of this machine."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "ram_gb": ram_gb, "cpu": cpu, "python": platform.python_version(),
            "dspy": getattr(dspy, "__version__", "?"), "platform": platform.platform()}


# The benchmark modules a cell runs (everything ``run`` imports from benchmarks/); the report is not among them.
CELL_CODE = ("run.py", "harness.py", "optimizers.py", "peers.py", "proposals.py", "chat_proposer.py", "stats.py",
             "evalcache.py")


def code_version() -> str | None:
    """The last git commit that changed the code a cell runs (``dspy_dlpo/`` and the benchmark runner, not
    the report), with ``+dirty`` when that code has uncommitted changes; None outside a git checkout.
    Commits that only add results or change the report keep it, so cells run on the same code match."""
    root = Path(__file__).resolve().parent.parent
    paths = ["--", "dspy_dlpo", *(f"benchmarks/{name}" for name in CELL_CODE)]
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%h", "--abbrev=10", *paths], cwd=root,
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", *paths], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


# --------------------------------------------------------------------------------------------
# LMs
# --------------------------------------------------------------------------------------------
def is_local(spec: str) -> bool:
    return spec == "local" or spec.startswith("local:") or spec.endswith(".gguf")


def build_lm(spec: str, *, api_base: str | None, max_tokens: int, llm_threads: int | None = None,
             api_key: str | None = None, role: str = "task") -> dspy.BaseLM:
    """An LM from a spec ("local", "local:<name>" or a litellm model string) for ``role``, greedy decoding.

    ``llm_threads`` sets llama.cpp's thread count for embedded models: on a shared 2-core machine
    one thread is far faster than two when another process competes for the cores (llama.cpp's
    threads spin on a barrier and stall when one of them is descheduled).
    """
    from dspy_dlpo.lm import RoleSettings, role_lm

    extra = {"n_threads": llm_threads} if (llm_threads and is_local(spec)) else {}
    return role_lm(RoleSettings(role, spec, api_base, api_key), max_tokens=max_tokens, temperature=0.0, **extra)


def redacted_args(argv: list[str]) -> list[str]:
    """The arguments with the values of ``--*api-key`` flags hidden (the command is written into every cell)."""
    out, hide = [], False
    for arg in argv:
        name, eq, _ = arg.partition("=")
        out.append("[REDACTED]" if hide else f"{name}=[REDACTED]" if eq and name.endswith("api-key") else arg)
        hide = not eq and arg.startswith("--") and arg.endswith("api-key")
    return out


class LMPool:
    """Builds each role's LM once (an embedded model is loaded once and shared by copies).

    The task role is ``--model``/``--api-base``/``--api-key``; the optimizer role is
    ``--optimizer-model``/``--optimizer-api-base``/``--optimizer-api-key`` (see
    :func:`dspy_dlpo.lm.optimizer_settings`: with none of them it is the task LM).
    """

    def __init__(self, args: argparse.Namespace) -> None:
        from dspy_dlpo.lm import optimizer_settings, task_settings

        self.args = args
        self._base: dict[tuple[str | None, ...], dspy.BaseLM] = {}
        self.task_role = task_settings(args.model, args.api_base, getattr(args, "api_key", None))
        self.optimizer_role = optimizer_settings(self.task_role, args.optimizer_model,
                                                 getattr(args, "optimizer_api_base", None),
                                                 getattr(args, "optimizer_api_key", None))

    def _lm(self, settings: Any) -> dspy.BaseLM:
        key = (settings.model, settings.api_base, settings.api_key)
        if key not in self._base:
            logger.info("loading %s", settings.describe())
            self._base[key] = build_lm(settings.model, api_base=settings.api_base, api_key=settings.api_key,
                                       role=settings.role, max_tokens=self.args.optimizer_max_tokens,
                                       llm_threads=self.args.llm_threads)
        return self._base[key]

    def base(self, spec: str) -> dspy.BaseLM:
        """The LM of the role whose model ``spec`` is (the optimizer's when both roles name it)."""
        return self._lm(self.optimizer_role if spec == self.optimizer_spec() else self.task_role)

    def task_lm(self, task: str) -> dspy.BaseLM:
        return self._lm(self.task_role).copy(max_tokens=task_max_tokens(task, self.args.max_tokens))

    def optimizer_spec(self) -> str:
        return self.optimizer_role.model

    def preflight(self) -> None:
        """Build both roles' LMs and send each one tiny request: a bad server, model name or key stops the
        grid here, in one line naming the role and URL, instead of failing every cell."""
        from dspy_dlpo.lm import preflight
        from dspy_dlpo.lm.roles import same_lm

        preflight(self.task_lm(self.args.tasks[0]), self.task_role)
        if not same_lm(self.task_role, self.optimizer_role):
            preflight(self.base(self.optimizer_spec()), self.optimizer_role)


# --------------------------------------------------------------------------------------------
# One cell
# --------------------------------------------------------------------------------------------
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
    task_meter, opt_meter, eval_meter = Meter("task"), Meter("optimizer"), Meter("eval")
    metered_task = metered_lm(task_lm, task_meter)
    opt_lm = metered_lm(optimizer_lm, opt_meter)
    setup = OptimizerSetup(program=task.make_program(), trainset=list(task.trainset), valset=list(task.valset),
                           metric=task.metric, task_lm=metered_task, optimizer_lm=opt_lm, budget=budget,
                           threads=threads, seed=seed)
    with dspy.context(lm=metered_task), Stopwatch() as opt_clock:
        program, details = run_optimizer(optimizer, setup)
    spend = spend_record(task_meter, opt_meter, metered_task, opt_lm, details.get("metric_calls_counted", 0))
    spend["metric_feedback_calls"] = details.get("predictor_feedback_calls", 0)

    eval_lm = metered_lm(task_lm, eval_meter)
    with dspy.context(lm=eval_lm), Stopwatch() as eval_clock:
        val_scores, val_cached = scored(program, list(task.valset), task, threads=threads, cache=eval_cache)
        test_scores, test_cached = scored(program, list(task.testset), task, threads=threads, cache=eval_cache)
    instructions = get_params(program)
    return {"status": "ok", "test": {**score_block(test_scores), "from_cache": test_cached},
            "val": {**score_block(val_scores), "from_cache": val_cached},
            "spend": spend, "eval_spend": {**eval_meter.snapshot(), "calls_incl_cached": lm_call_count(eval_lm)},
            "wall_time_s": round(opt_clock.seconds, 2), "eval_wall_time_s": round(eval_clock.seconds, 2),
            "instructions": instructions, "instruction_words": sum(map(word_count, instructions.values())),
            "demos": demo_count(program), "details": details}


def cell_config(args: argparse.Namespace, task_name: str, pool: LMPool) -> dict[str, Any]:
    return {"budget": args.budget, "n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test,
            "model": args.model, "optimizer_model": pool.optimizer_spec(), "threads": args.threads,
            "max_tokens": task_max_tokens(task_name, args.max_tokens),
            "optimizer_max_tokens": args.optimizer_max_tokens, "llm_threads": args.llm_threads}


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


def eval_cache_for(args: argparse.Namespace, task_name: str) -> tuple[EvalCache, dict[str, Any]] | None:
    """The evaluation cache of a grid (``<results-dir>/_evalcache``): only for an embedded task LM, which
    decodes greedily in-process, so that the same program on the same examples scores the same."""
    if not is_local(args.model) or args.no_eval_cache:
        return None
    settings = {"model": args.model, "max_tokens": task_max_tokens(task_name, args.max_tokens),
                "llm_threads": args.llm_threads}
    return EvalCache(Path(args.results_dir) / "_evalcache"), settings


def run_and_record(args: argparse.Namespace, pool: LMPool, task: Any, optimizer: str, seed: int) -> dict[str, Any]:
    """Run one cell and write its record (``status`` "ok" or "error") immediately."""
    path = cell_path(args.results_dir, task.name, optimizer, seed)
    record: dict[str, Any] = {"schema": SCHEMA_VERSION, "task": task.name, "optimizer": optimizer, "seed": seed,
                              "config": cell_config(args, task.name, pool), "split_note": task.split_note,
                              "split_sizes": {"train": len(task.trainset), "val": len(task.valset),
                                              "test": len(task.testset)},
                              "command": relative_command("benchmarks.run", redacted_args(args.argv), ROOT),
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
    write_json_atomic(path, record)
    return record


# The settings that define a cell's experiment; evaluation and llama.cpp threads only change its speed.
EXPERIMENT_KEYS = ("budget", "n_train", "n_val", "n_test", "model", "optimizer_model", "max_tokens",
                   "optimizer_max_tokens")


def check_recorded_settings(args: argparse.Namespace, cells: list[tuple[str, str, int]], pool: LMPool) -> None:
    """Raise ValueError naming every recorded cell of this grid that ran with other settings: resuming would
    skip it and mix two experiments in one results folder (the report pairs seeds and optimizers by name)."""
    clashes = []
    for task_name, optimizer, seed in cells:
        path = cell_path(args.results_dir, task_name, optimizer, seed)
        recorded = (read_cell(path) or {}).get("config")
        if not recorded:
            continue
        wanted = cell_config(args, task_name, pool)
        diff = [f"{k} {recorded[k]!r} (now {wanted[k]!r})" for k in EXPERIMENT_KEYS
                if k in recorded and recorded[k] != wanted[k]]
        if diff:
            clashes.append(f"{path}: {', '.join(diff)}")
    if clashes:
        raise ValueError(f"{len(clashes)} recorded cell(s) in {args.results_dir} ran with other settings; pass the "
                         "same flags to resume them, or --results-dir for a new grid:\n  " + "\n  ".join(clashes[:10]))


def check_recorded_code(args: argparse.Namespace, cells: list[tuple[str, str, int]]) -> None:
    """Raise ValueError if recorded cells of this grid ran on another code version than the one now checked
    out (one comparison, one frozen commit), unless ``--allow-mixed-code``."""
    if args.allow_mixed_code:
        return
    recorded = {(read_cell(cell_path(args.results_dir, *cell)) or {}).get("code_version", "absent")
                for cell in cells if cell_path(args.results_dir, *cell).exists()}
    now = code_version()
    other = sorted(str(v) for v in recorded - {now})
    if other:
        raise ValueError(f"recorded cells in {args.results_dir} ran on code {', '.join(other)}, the checkout is {now}: "
                         "resuming would mix code versions in one comparison; check out that commit, use a new "
                         "--results-dir, or pass --allow-mixed-code")


def is_done(path: Path, retry_errors: bool) -> bool:
    record = read_cell(path)
    if record is None:
        return False
    return not (retry_errors and record.get("status") != "ok")


def summary_line(record: dict[str, Any]) -> str:
    if record.get("status") != "ok":
        return f"{record['task']:<22} {record['optimizer']:<24} seed{record['seed']}  ERROR {record.get('error', '')[:120]}"
    s = record["spend"]
    return (f"{record['task']:<22} {record['optimizer']:<24} seed{record['seed']}  test {record['test']['score']:5.1f} "
            f"[{record['test']['ci95'][0]:.1f}, {record['test']['ci95'][1]:.1f}]  val {record['val']['score']:5.1f}  "
            f"metric calls {s['metric_calls']}  opt calls {s['optimizer_calls']}  "
            f"distinct proposals {record['details'].get('distinct_proposals', '-')}  "
            f"billed rollouts {s['task_lm_billed_calls']}/{s['task_lm_calls']}  {record['wall_time_s']:.0f}s")


def run_grid(args: argparse.Namespace, *, pool: LMPool | None = None,
             loader: Callable[..., Any] | None = None) -> list[dict[str, Any]]:
    """Run every unfinished cell of the grid; returns the records written by this call."""
    optimizers = expand(args.optimizers)
    cells = grid_cells(args)
    if loader is None:
        from dspy_dlpo.tasks import load_task as loader
    pool = pool or LMPool(args)
    check_recorded_settings(args, cells, pool)
    check_recorded_code(args, cells)
    if not all(is_done(cell_path(args.results_dir, *cell), args.retry_errors) for cell in cells):
        pool.preflight()  # a bad server, model name or key stops the grid here, not in every cell
    tasks: dict[str, Any] = {}
    written = []
    print(f"{len(cells)} cells: tasks {args.tasks}, optimizers {optimizers}, seeds {args.seeds}", flush=True)
    for task_name, optimizer, seed in cells:
        path = cell_path(args.results_dir, task_name, optimizer, seed)
        if is_done(path, args.retry_errors):
            print(f"skip (done): {path}", flush=True)
            continue
        if task_name not in tasks:
            tasks[task_name] = load_cell_task(task_name, loader, data_dir=args.data_dir, n_train=args.n_train,
                                              n_val=args.n_val, n_test=args.n_test)
        print(f"run: {task_name} / {optimizer} / seed {seed}", flush=True)
        record = run_and_record(args, pool, tasks[task_name], optimizer, seed)
        written.append(record)
        print(summary_line(record), flush=True)
    return written


def grid_cells(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """The grid's cells in run order (task, optimizer, seed)."""
    return [(t, o, s) for t in args.tasks for s in args.seeds for o in expand(args.optimizers)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("LiteLLM", "httpx", "dspy.teleprompt", "dspy.evaluate", "gepa"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.dry_run:
        cells = grid_cells(args)
        print(f"{len(cells)} cells into {os.path.relpath(args.results_dir, ROOT)}:")
        for cell in cells:
            print(*cell)
        return 0
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    try:
        run_grid(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
