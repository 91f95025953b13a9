"""A grid of cells (task x seed x optimizer): its presets, its cells, resuming it, and the loop that runs them.

A rerun skips cells whose file exists (``retry_errors`` reruns the ones that failed). Before anything
runs, a grid whose recorded cells ran with other settings or on other code is refused: resuming would
mix two experiments, or two code versions, in one results folder.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cell import cell_config, load_cell_task, run_and_record
from .environment import code_version
from .harness import DEFAULT_RESULTS_DIR, RESULTS_DIR, cell_path, read_cell
from .lms import LMPool
from .optimizers import expand

DEFAULT_OPTIMIZERS = ["baseline", "dlpo", "tgd", "gepa", "miprov2", "copro"]
FAIR_OPTIMIZERS = ["baseline", "dlpo", "tgd", "gepa", "gepa-chat", "miprov2", "copro"]
DEFAULT_ROWS = ["bbh/logical_deduction_three_objects@predict", "bbh/object_counting@predict",
                "bbh/tracking_shuffled_objects_three_objects@predict"]
# Settings of each grid; an explicit flag overrides its entry.
GRIDS: dict[str, dict[str, Any]] = {
    "default": {"tasks": DEFAULT_ROWS, "optimizers": DEFAULT_OPTIMIZERS, "seeds": [0], "budget": 60,
                "n_train": 20, "n_val": 10, "n_test": 20, "optimizer_max_tokens": 600,
                "results_dir": DEFAULT_RESULTS_DIR},
    "fair": {"tasks": DEFAULT_ROWS, "optimizers": FAIR_OPTIMIZERS, "seeds": [0, 1, 2], "budget": 60, "n_train": 20,
             "n_val": 10, "n_test": 100, "max_tokens": 100, "optimizer_max_tokens": 600,
             "results_dir": RESULTS_DIR / "fair"},
    "full": {"tasks": ["gsm8k", "mgsm/de", "biggsm", "math500", "bbh/object_counting", "bbh/word_sorting",
                       "bbh/logical_deduction_three_objects", "bbh/tracking_shuffled_objects_three_objects"],
             "optimizers": DEFAULT_OPTIMIZERS, "seeds": [0, 1, 2], "budget": 120, "n_train": 50, "n_val": 50,
             "n_test": 100, "optimizer_max_tokens": 768, "results_dir": RESULTS_DIR / "full"},
    # issue 32: the tasks come from the headroom table (benchmarks/results/headroom), given with --tasks
    "powered": {"tasks": [], "optimizers": ["baseline", "hand", "dlpo", "tgd", "gepa", "miprov2"], "seeds": [0, 1, 2],
                "budget": 300, "n_train": 50, "n_val": 50, "n_test": 150, "optimizer_max_tokens": 600,
                "results_dir": RESULTS_DIR / "powered"},
    "pilot": {"tasks": [], "optimizers": ["dlpo", "gepa"], "seeds": [0, 1, 2], "budget": 300, "n_train": 50,
              "n_val": 50, "n_test": 150, "optimizer_max_tokens": 600,
              "results_dir": RESULTS_DIR / "powered"},  # the pilot's cells are the grid's first cells
}
# The settings that define a cell's experiment; evaluation and llama.cpp threads only change its speed.
EXPERIMENT_KEYS = ("budget", "n_train", "n_val", "n_test", "model", "optimizer_model", "max_tokens",
                   "optimizer_max_tokens")

Cell = tuple[str, str, int]  # (task, optimizer, seed)


def grid_cells(args: argparse.Namespace) -> list[Cell]:
    """The grid's cells in run order (task, optimizer, seed)."""
    return [(t, o, s) for t in args.tasks for s in args.seeds for o in expand(args.optimizers)]


def check_recorded_settings(args: argparse.Namespace, cells: list[Cell], pool: LMPool) -> None:
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


def check_recorded_code(args: argparse.Namespace, cells: list[Cell]) -> None:
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
    """Whether the cell file at ``path`` needs no rerun (it exists, and is not an error to retry)."""
    record = read_cell(path)
    if record is None:
        return False
    return not (retry_errors and record.get("status") != "ok")


def summary_line(record: dict[str, Any]) -> str:
    """One line of a finished cell: its scores and spend, or its error."""
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
    """Run every unfinished cell of the grid; returns the records written by this call.

    Progress goes to stdout (this is the command line's loop): the cell count, each skipped or run cell
    and its :func:`summary_line`.
    """
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
