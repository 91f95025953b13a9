"""Grid runner: optimizer x task x seed, with the same task LM, optimizer LM and metric-call budget.

Each finished cell is written at once to ``<results-dir>/<task>/<optimizer>/seed<k>.json``; a
rerun skips cells whose file exists (``--retry-errors`` reruns the ones that failed).

Three grids (``--grid``), each flag of which can be overridden one by one:

* ``default``: the three BBH rows where the embedded 1.5B is above its floor, as ``dspy.Predict``
  programs, seed 0, budget 60, 20 train / 10 val / 20 test, capped tokens; about two hours on a
  2-core machine. Cells go to ``benchmarks/results/budget60``.
* ``fair``: the fair re-measurement (issue 17): the same three rows, every optimizer (baseline dlpo tgd
  gepa gepa-chat miprov2 copro), seeds 0-2, budget 60, 20 train / 10 val / 100 test, task max tokens 100,
  optimizer max tokens 600, each peer at its authors' proposal temperature (:mod:`benchmarks.peers`).
  Cells go to ``benchmarks/results/fair``; run every cell of it on one frozen commit.
* ``full``: the paper's tasks (GSM8K, MGSM German, BigGSM, MATH-500 and four BBH tasks) with their
  ``ChainOfThought`` programs, seeds 0-2, budget 120, 50 train / 50 val / 100 test: hours per task
  on a CPU, meant for a hosted model or a vLLM server (``--model``, ``--api-base``). Cells go to
  ``benchmarks/results/full``.

Example (the embedded 1.5B model for both roles, offline)::

    python -m benchmarks.run --tasks bbh/object_counting gsm8k --optimizers baseline dlpo tgd gepa \\
        --seeds 0 --budget 120 --n-train 20 --n-val 15 --n-test 30

This module is the command line; the grids' presets, the resume checks and the cell loop are in
:mod:`benchmarks.grid`, one cell in :mod:`benchmarks.cell`, the LMs of both roles in :mod:`benchmarks.lms`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

if __package__ in (None, ""):  # allow ``python benchmarks/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import dspy  # noqa: E402

from dspy_dlpo.validate import number_type  # noqa: E402

from .grid import GRIDS, grid_cells, run_grid  # noqa: E402
from .harness import PROJECT_ROOT  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The grid's settings: ``--grid``'s preset (:data:`benchmarks.grid.GRIDS`) under the flags given explicitly."""
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
    p.add_argument("--seeds", nargs="+", type=number_type(int, 0), default=None)
    p.add_argument("--budget", type=number_type(int, 1), default=None, help="metric calls per optimization run")
    p.add_argument("--n-train", type=number_type(int, 1), default=None)
    p.add_argument("--n-val", type=number_type(int, 1), default=None)
    p.add_argument("--n-test", type=number_type(int, 1), default=None)
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
    p.add_argument("--threads", type=number_type(int, 1), default=1)
    p.add_argument("--max-tokens", type=number_type(int, 1), default=None,
                   help="task-LM max tokens; default 256 for math tasks, 160 for BBH, 100 for BBH as Predict")
    p.add_argument("--optimizer-max-tokens", type=number_type(int, 1), default=None)
    p.add_argument("--llm-threads", type=number_type(int, 1), default=None,
                   help="llama.cpp threads of an embedded model (1 is robust when other processes share the cores)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--results-dir", type=Path, default=None,
                   help="where the cells are written; default benchmarks/results/<the grid's folder>")
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
            setattr(args, key, value)
    if not args.tasks:
        p.error(f"the {args.grid} grid has no default tasks (the headroom table chooses them): give --tasks")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("LiteLLM", "httpx", "dspy.teleprompt", "dspy.evaluate", "gepa"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.dry_run:
        cells = grid_cells(args)
        print(f"{len(cells)} cells into {os.path.relpath(args.results_dir, PROJECT_ROOT)}:")
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
