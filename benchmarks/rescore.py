"""Re-score finished cells on a larger slice of their task's test split, without optimizing again.

A cell's final program is fully described by its instructions (every optimizer in the grid is
instruction-only: 0 demos), so its test score on more examples can be measured later. The slice
is the first ``--n-test`` examples of the same fixed test split; the cell's original test
examples are its first ones, and the re-scored per-example results on them are compared with the
recorded ones (``agrees_with_original``), which checks that the rebuilt program is the same.

The result goes into the cell file as ``test_extended`` (the original ``test`` block is kept);
a rerun skips cells that already have a ``test_extended`` block of that size::

    python -m benchmarks.rescore --tasks bbh/logical_deduction_three_objects@predict --n-test 100 \\
        --llm-threads 2

The task LM is the one the cell was optimized with (its ``config``: model and max_tokens).
Cells with the same instructions share the in-memory LM cache, so a program that several
optimizers returned unchanged is scored once.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # allow ``python benchmarks/rescore.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import dspy  # noqa: E402

from dspy_dlpo.program import get_params, with_params  # noqa: E402

from .cell import load_cell_task, score_block  # noqa: E402
from .environment import code_version  # noqa: E402
from .harness import (DEFAULT_RESULTS_DIR, EXTENDED, PROJECT_ROOT, load_results,  # noqa: E402
                      RESULT_JSON, relative_command)
from dspy_dlpo.checkpoint import atomic_write_json  # noqa: E402
from dspy_dlpo.program import evaluate  # noqa: E402
from dspy_dlpo.validate import number_type  # noqa: E402
from .lms import build_lm  # noqa: E402

logger = logging.getLogger("benchmarks.rescore")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tasks", nargs="+", required=True, help="task names as in the cell files (e.g. 'x@predict')")
    p.add_argument("--n-test", type=number_type(int, 1), required=True, help="score the first n examples of the test split")
    p.add_argument("--optimizers", nargs="+", default=None, help="only these optimizers (default: every one)")
    p.add_argument("--seeds", nargs="+", type=number_type(int, 0), default=None, help="only these seeds (default: every one)")
    p.add_argument("--api-base", default=None)
    p.add_argument("--threads", type=number_type(int, 1), default=1, help="evaluation threads")
    p.add_argument("--llm-threads", type=number_type(int, 1), default=None, help="llama.cpp threads of an embedded model")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR)
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def rebuild(task: Any, record: dict[str, Any]) -> dspy.Module:
    """The cell's final program: the task's unoptimized program with the recorded instructions."""
    if record.get("demos"):
        raise ValueError(f"{record['task']} / {record['optimizer']} / seed {record['seed']} has "
                         f"{record['demos']} demos, which cell files do not store; it cannot be rebuilt")
    program, recorded = task.make_program(), record["instructions"]
    if set(recorded) != set(get_params(program)):
        raise ValueError(f"{record['task']} / {record['optimizer']} / seed {record['seed']}: recorded predictors "
                         f"{sorted(recorded)} do not match the program's {sorted(get_params(program))}")
    return with_params(program, recorded)


def agreement(original: list[float], rescored: list[float]) -> int:
    """How many of the original test examples (the first ones) got the same score again."""
    return sum(abs(a - b) < 1e-9 for a, b in zip(original, rescored))


def selected(records: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status") == "ok" and r["task"] in args.tasks
            and (args.optimizers is None or r["optimizer"] in args.optimizers)
            and (args.seeds is None or r["seed"] in args.seeds)]


def rescore(args: argparse.Namespace, *, loader: Callable[..., Any] | None = None,
            lm_factory: Callable[[str, int], dspy.BaseLM] | None = None) -> list[dict[str, Any]]:
    """Add a ``test_extended`` block of ``args.n_test`` examples to every selected cell lacking one.

    ``lm_factory(model, max_tokens)`` builds the task LM (default: :func:`benchmarks.lms.build_lm`).
    Returns the updated records."""
    if loader is None:
        from dspy_dlpo.tasks import load_task as loader
    if lm_factory is None:
        def lm_factory(model: str, max_tokens: int) -> dspy.BaseLM:
            return build_lm(model, api_base=args.api_base, max_tokens=max_tokens, llm_threads=args.llm_threads)
    records = selected(load_results(args.results_dir), args)
    missing = sorted(set(args.tasks) - {r["task"] for r in records})
    if missing:
        raise SystemExit(f"no finished cells for {missing} under {args.results_dir}")
    tasks: dict[str, Any] = {}
    lms: dict[tuple[str, int], dspy.BaseLM] = {}
    version, command = code_version(), relative_command("benchmarks.rescore", args.argv, PROJECT_ROOT)
    updated = []
    for record in records:
        label = f"{record['task']} / {record['optimizer']} / seed {record['seed']}"
        if (record.get(EXTENDED) or {}).get("n") == args.n_test:
            print(f"skip (done): {label}", flush=True)
            continue
        if record["task"] not in tasks:
            tasks[record["task"]] = load_cell_task(record["task"], loader, data_dir=args.data_dir, n_test=args.n_test)
        task = tasks[record["task"]]
        if len(task.testset) < args.n_test:
            raise SystemExit(f"{record['task']}'s test split has {len(task.testset)} examples, fewer than "
                             f"--n-test {args.n_test}")
        key = (record["config"]["model"], int(record["config"]["max_tokens"]))
        if key not in lms:
            lms[key] = lm_factory(*key)
        program = rebuild(task, record)
        start = time.perf_counter()
        with dspy.context(lm=lms[key]):
            scores = evaluate(program, task.testset, task.metric, num_threads=args.threads)
        original = record["test"]["per_example"]
        block = {**score_block(scores), "agrees_with_original": agreement(original, scores),
                 "compared_with_original": min(len(original), len(scores)),
                 "eval_wall_time_s": round(time.perf_counter() - start, 2), "code_version": version,
                 "command": command, "scored_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        record[EXTENDED] = block
        path = Path(record.pop("_path"))
        atomic_write_json(path, record, **RESULT_JSON)
        updated.append(record)
        print(f"{label}: test {block['score']:.1f} [{block['ci95'][0]:.1f}, {block['ci95'][1]:.1f}] on "
              f"{block['n']} examples; first {block['compared_with_original']} agree with the recorded scores on "
              f"{block['agrees_with_original']}; {block['eval_wall_time_s']:.0f}s", flush=True)
    return updated


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("LiteLLM", "httpx", "dspy.evaluate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    rescore(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
