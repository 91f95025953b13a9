"""What parallel server slots buy for one DLPO compile: in-process vs ``llama-server`` with N slots.

The same task, program, seed and metric-call budget is compiled once per configuration:

* ``inprocess``: the embedded model in this process (one llama.cpp context; DSPy's threads take
  turns), ``--inprocess-threads`` DSPy threads;
* ``server-N`` for each ``--slots N``: a ``llama-server`` with ``-np N`` on 127.0.0.1, reached through
  ``dspy.LM("openai/<name>", api_base=...)``, with ``num_threads = N``.

Both roles use the one model (the optimizer LM is a copy of the task LM with more tokens, as in
``dspy-dlpo optimize``). DSPy's cache is off, so every configuration computes every call. The
script prints a table (compile and test-evaluation wall time, scores, whether the final
instructions equal the in-process ones) and writes every run to ``--out`` as JSON.

Example (the integrator's measurement on the 1.5B; about an hour on 2 cores)::

    python -m benchmarks.slots --model qwen2.5-coder-1.5b --task bbh/logical_deduction_three_objects@predict \\
        --budget 60 --n-train 20 --n-val 10 --n-test 20 --slots 2 4 --out benchmarks/results/slots/1.5b.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

if __package__ in (None, ""):  # allow ``python benchmarks/slots.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import dspy  # noqa: E402

from dspy_dlpo.program import evaluate, get_params  # noqa: E402
from dspy_dlpo.validate import number_type  # noqa: E402

from .cell import load_cell_task  # noqa: E402
from .environment import machine_info  # noqa: E402
from .lms import task_max_tokens  # noqa: E402

logger = logging.getLogger("benchmarks.slots")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="qwen2.5-coder-1.5b", help="embedded model: registry name or .gguf path")
    p.add_argument("--task", default="bbh/logical_deduction_three_objects@predict")
    p.add_argument("--budget", type=number_type(int, 1), default=60, help="metric calls of the compile")
    p.add_argument("--batch-size", type=number_type(int, 1), default=4)
    p.add_argument("--n-train", type=number_type(int, 1), default=20)
    p.add_argument("--n-val", type=number_type(int, 1), default=10)
    p.add_argument("--n-test", type=number_type(int, 1), default=20)
    p.add_argument("--max-tokens", type=number_type(int, 1), default=None, help="task-LM tokens (default: as benchmarks.run)")
    p.add_argument("--optimizer-max-tokens", type=number_type(int, 1), default=600)
    p.add_argument("--slots", type=number_type(int, 1), nargs="*", default=[2, 4], help="server slot counts to compare")
    p.add_argument("--inprocess-threads", type=number_type(int, 1), default=2)
    p.add_argument("--no-inprocess", action="store_true", help="skip the in-process run")
    p.add_argument("--n-ctx", type=number_type(int, 256), default=4096, help="context per slot")
    p.add_argument("--seed", type=number_type(int, 0), default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", type=Path, default=None, help="JSON file for the runs")
    args = p.parse_args(argv)
    if args.no_inprocess and not args.slots:
        p.error("nothing to run: --no-inprocess and no --slots")
    return args


def compile_once(task: Any, task_lm: dspy.LM, *, args: argparse.Namespace, threads: int) -> dict[str, Any]:
    """One DLPO compile and test evaluation with ``task_lm`` for both roles; timings, scores, instructions."""
    from dspy_dlpo import DLPOTeleprompter

    prompt_lm = task_lm.copy(max_tokens=args.optimizer_max_tokens)
    with dspy.context(lm=task_lm):
        started = time.perf_counter()
        optimizer = DLPOTeleprompter(task.metric, prompt_model=prompt_lm, max_metric_calls=args.budget,
                                     batch_size=args.batch_size, num_threads=threads, seed=args.seed, progress=False)
        best = optimizer.compile(task.make_program(), trainset=list(task.trainset), valset=list(task.valset))
        compile_s = time.perf_counter() - started
        started = time.perf_counter()
        test = evaluate(best, list(task.testset), task.metric, num_threads=threads)
        eval_s = time.perf_counter() - started
    spend = best.detailed_results["spend"]
    tokens = spend["task_output_tokens"] + spend["optimizer_output_tokens"]
    return {"threads": threads, "compile_s": round(compile_s, 1), "eval_s": round(eval_s, 1),
            "output_tokens_per_s": round(tokens / compile_s, 1) if compile_s > 0 else None,
            "val_before": best.detailed_results["initial_score"], "val_after": best.score,
            "test": round(100.0 * sum(test) / len(test), 2), "test_per_example": test,
            "spend": spend, "steps": len(best.trial_logs),
            "instructions": get_params(best)}


def run_inprocess(task: Any, args: argparse.Namespace, max_tokens: int) -> dict[str, Any]:
    from dspy_dlpo.lm import make_lm

    lm = make_lm(f"local:{args.model}" if not args.model.endswith(".gguf") else args.model, backend="inprocess",
                 max_tokens=max_tokens, temperature=0.0, n_ctx=args.n_ctx, cache=False)
    return {"config": "inprocess", **compile_once(task, lm, args=args, threads=args.inprocess_threads)}


def run_server(task: Any, args: argparse.Namespace, max_tokens: int, slots: int) -> dict[str, Any]:
    from dspy_dlpo.lm.server import LlamaServer

    server = LlamaServer(args.model, parallel=slots, n_ctx=args.n_ctx, max_tokens=max_tokens, temperature=0.0,
                         cache=False)
    started = time.perf_counter()
    with server:
        startup_s = time.perf_counter() - started
        lm = dspy.LM(f"openai/{server.label}", api_base=server.api_base, api_key="local", max_tokens=max_tokens,
                     temperature=0.0, cache=False)
        record = compile_once(task, lm, args=args, threads=slots)
    return {"config": f"server-{slots}", "startup_s": round(startup_s, 1), **record}


def compare(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark each run with whether its final instructions equal the first run's."""
    reference = runs[0]["instructions"] if runs else {}
    return [{**r, "same_instructions_as_first": r["instructions"] == reference} for r in runs]


def table(runs: list[dict[str, Any]]) -> str:
    """A markdown table of the runs (output tokens/s: generated tokens of both roles per compile second)."""
    rows = ["| config | threads | compile s | output tokens/s | test eval s | val before -> after | test | steps | "
            "same instructions as first |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        rows.append(f"| {r['config']} | {r['threads']} | {r['compile_s']:.0f} | {r['output_tokens_per_s']} | "
                    f"{r['eval_s']:.0f} | "
                    f"{r['val_before']:.1f} -> {r['val_after']:.1f} | {r['test']:.1f} | {r['steps']} | "
                    f"{'yes' if r['same_instructions_as_first'] else 'no'} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("LiteLLM", "httpx", "dspy", "dspy_dlpo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from dspy_dlpo.tasks import load_task

    task = load_cell_task(args.task, load_task, data_dir=args.data_dir, n_train=args.n_train, n_val=args.n_val,
                          n_test=args.n_test)
    max_tokens = task_max_tokens(args.task, args.max_tokens)
    runs = [] if args.no_inprocess else [run_inprocess(task, args, max_tokens)]
    for slots in args.slots:
        logger.info("compiling on llama-server with %d slot(s)", slots)
        runs.append(run_server(task, args, max_tokens, slots))
    runs = compare(runs)
    print(table(runs), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = "python -m benchmarks.slots " + shlex.join(sys.argv[1:] if argv is None else argv)
        args.out.write_text(json.dumps({"command": command, "args": {k: str(v) for k, v in vars(args).items()},
                                        "machine": machine_info(), "runs": runs}, indent=1))
        print(f"saved {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
