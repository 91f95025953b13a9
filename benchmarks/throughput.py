"""Throughput of the embedded model: in-process llama.cpp vs llama-server with parallel slots.

    python -m benchmarks.throughput --model qwen2.5-coder-0.5b --threads 4 --parallel 4 --max-tokens 128

Runs ``dspy.ChainOfThought("question -> answer")`` (``--module predict``: ``dspy.Predict``) over
8 short GSM8K-style questions with ``--threads``
DSPy worker threads (no cache, greedy), after one warm-up call per backend, and logs wall time,
LM calls and generated tokens per second. ``--json PATH`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # allow ``python benchmarks/throughput.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import dspy  # noqa: E402
from dspy.utils.parallelizer import ParallelExecutor  # noqa: E402

from dspy_dlpo.checkpoint import atomic_write_json  # noqa: E402
from dspy_dlpo.lm import BACKENDS  # noqa: E402
from dspy_dlpo.lm.llama import local_lm  # noqa: E402
from dspy_dlpo.lm.models import REGISTRY  # noqa: E402
from dspy_dlpo.lm.server import LlamaServer  # noqa: E402

logger = logging.getLogger("benchmarks.throughput")

QUESTIONS = [
    "Tom has 3 boxes with 12 pencils each. He gives away 9 pencils. How many pencils does he have left?",
    "A bakery sells 45 muffins in the morning and twice as many in the afternoon. How many muffins in total?",
    "Sara reads 15 pages a day. How many days does she need to finish a 240-page book?",
    "A shirt costs $20 and is discounted by 25%. What is the new price in dollars?",
    "There are 7 rows of chairs with 14 chairs in each row. 19 chairs are empty. How many are taken?",
    "Mike earns $12 per hour and works 6 hours a day for 5 days. How much does he earn in dollars?",
    "A train travels 60 miles per hour for 3.5 hours. How many miles does it travel?",
    "Anna had 50 stickers, bought 3 packs of 8 stickers, then gave 17 to her brother. How many remain?",
]


MODULES = {"cot": dspy.ChainOfThought, "predict": dspy.Predict}


def _run_batch(lm: dspy.LM, questions: list[str], threads: int, module: str) -> dict[str, Any]:
    """Answer ``questions`` with ``threads`` DSPy workers; wall time, calls and tokens of the batch."""
    predict = MODULES[module]("question -> answer")
    start_calls = len(lm.history)

    def answer(question: str) -> str:
        with dspy.context(lm=lm):
            try:
                return predict(question=question).answer
            except dspy.utils.exceptions.AdapterParseError:
                return ""

    started = time.perf_counter()
    answers = ParallelExecutor(num_threads=threads, disable_progress_bar=True, timeout=1800).execute(answer, questions)
    wall = time.perf_counter() - started
    entries = lm.history[start_calls:]
    out_tokens = sum((e.get("usage") or {}).get("completion_tokens") or 0 for e in entries)
    in_tokens = sum((e.get("usage") or {}).get("prompt_tokens") or 0 for e in entries)
    return {"wall_s": round(wall, 2), "questions": len(questions), "lm_calls": len(entries),
            "prompt_tokens": in_tokens, "completion_tokens": out_tokens,
            "gen_tok_per_s": round(out_tokens / wall, 1), "s_per_question": round(wall / len(questions), 2),
            "answers": answers}


def _measure(lm: dspy.LM, threads: int, module: str) -> dict[str, Any]:
    _run_batch(lm, ["What is 1 + 1?"], 1, module)  # warm-up: page the weights in, start the slots
    return _run_batch(lm, QUESTIONS, threads, module)


def measure(model: str, backend: str, *, threads: int, parallel: int, max_tokens: int,
            n_threads: int | None, module: str = "cot") -> dict[str, Any]:
    """Throughput of one backend ("inprocess" or "server")."""
    if module not in MODULES:
        raise ValueError(f"module must be one of {sorted(MODULES)}, got {module!r}")
    common = {"max_tokens": max_tokens, "temperature": 0.0, "cache": False, "n_threads": n_threads}
    if backend == "inprocess":
        result = _measure(local_lm(model, **common), threads, module)
    elif backend == "server":
        with LlamaServer(model, parallel=parallel, **common) as lm:
            result = _measure(lm, threads, module)
    else:
        raise ValueError(f"backend must be 'inprocess' or 'server', got {backend!r}")
    result.update(backend=backend, model=model, module=module, threads=threads,
                  parallel=parallel if backend == "server" else 1)
    logger.info("%s: %s", backend, {k: v for k, v in result.items() if k != "answers"})
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="qwen2.5-coder-0.5b", help=f"one of {sorted(REGISTRY)} or a .gguf path")
    p.add_argument("--backends", nargs="+", default=["inprocess", "server"],
                   choices=[b for b in BACKENDS if b != "auto"])
    p.add_argument("--threads", type=int, default=4, help="DSPy worker threads")
    p.add_argument("--parallel", type=int, default=4, help="llama-server slots (-np)")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--module", choices=sorted(MODULES), default="cot", help="DSPy module answering the questions")
    p.add_argument("--n-threads", type=int, default=None, help="llama.cpp CPU threads (default: all cores)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    return p


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Command-line entry point."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    results = [measure(args.model, b, threads=args.threads, parallel=args.parallel, max_tokens=args.max_tokens,
                       n_threads=args.n_threads, module=args.module) for b in args.backends]
    if args.json:
        atomic_write_json(args.json, results, indent=1, sort_keys=False)
    return results


if __name__ == "__main__":
    main()
