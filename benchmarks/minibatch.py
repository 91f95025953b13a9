"""The minibatch size, chosen by measurement (issue 31, item 3).

A step scores its rewrites on a minibatch and sends only those that beat the current instruction there
to validation. A small minibatch buys more proposals per budget but lets more bad rewrites through
(each costs a validation) and turns good ones away. This study measures that trade-off on real
proposals instead of guessing it:

1. ``--score``: every distinct rewrite proposed in the given cells (their ``details.proposals``) and the
   task's unoptimized program are scored on a pool of examples, the cells' training then validation
   rows (rows the runs optimized on, never their test rows). Per-example scores are written per task as
   they finish (``<results-dir>/<task>.json``); the same command continues.
2. ``--table``: for each minibatch size b, many random minibatches of b examples from each pool. The gate
   passes when the rewrite solves more minibatch examples than its parent; it was right when the rewrite
   solves more of the whole pool (the pool stands for the task). Per size: the pass rate,
   the share of passes that were right, the share of good rewrites found, and good rewrites found per
   100 metric calls when a minibatch costs b calls (the current program's scores are reused) and a pass
   costs a validation of V examples (V = 10 as in the development rows, 50 as in the powered grid).

    python -m benchmarks.minibatch --score --cells benchmarks/results/step --llm-threads 2
    python -m benchmarks.minibatch --table
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

if __package__ in (None, ""):  # allow ``python benchmarks/minibatch.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import dspy  # noqa: E402

from dspy_dlpo.checkpoint import atomic_write_json  # noqa: E402
from dspy_dlpo.program import evaluate  # noqa: E402
from dspy_dlpo.validate import number_type  # noqa: E402

from .harness import PROJECT_ROOT, RESULT_JSON, RESULTS_DIR, load_results, read_cell, relative_command  # noqa: E402

DEFAULT_DIR = RESULTS_DIR / "minibatch"
SIZES = (2, 3, 4, 5, 6, 8, 10)
VALIDATION_SIZES = (10, 50)
SPLITS = 2000
RNG_SEED = 20261205


def proposals_by_task(cells: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Distinct rewrite texts per task, in the order the cells proposed them."""
    found: dict[str, list[str]] = {}
    for cell in cells:
        for proposal in (cell.get("details") or {}).get("proposals") or []:
            text = (proposal.get("text") or "").strip()
            texts = found.setdefault(cell["task"], [])
            if text and text not in texts:
                texts.append(text)
    return found


def with_instruction(program: dspy.Module, text: str | None) -> dspy.Module:
    program = program.deepcopy()
    if text is not None:
        for _, predictor in program.named_predictors():
            predictor.signature = predictor.signature.with_instructions(text)
    return program


def score_task(args: argparse.Namespace, spec: str, texts: list[str], settings: dict[str, Any]) -> None:
    """Score the unoptimized program and every rewrite of ``spec`` on its pool; written after each one."""
    from dspy_dlpo.tasks import load_task

    from .cell import load_cell_task
    from .lms import build_lm

    task = load_cell_task(spec, load_task, data_dir=args.data_dir, n_train=settings["n_train"],
                          n_val=settings["n_val"], n_test=1)
    pool = list(task.trainset) + list(task.valset)
    path = Path(args.results_dir) / f"{spec.replace('/', '__')}.json"
    record = read_cell(path) or {"task": spec, "pool": len(pool), "settings": settings, "scores": {}}
    lm = build_lm(args.model, api_base=None, max_tokens=settings["max_tokens"], llm_threads=args.llm_threads)
    base = task.make_program()
    todo = [("(unoptimized)", None)] + [(text, text) for text in texts]
    with dspy.context(lm=lm):
        for key, text in todo:
            if key in record["scores"]:
                continue
            record["scores"][key] = evaluate(with_instruction(base, text), pool, task.metric, num_threads=1)
            record["command"] = relative_command("benchmarks.minibatch", args.argv, PROJECT_ROOT)
            atomic_write_json(path, record, **RESULT_JSON)
            logging.getLogger(__name__).info("%s: %d of %d scored", spec, len(record["scores"]), len(todo))


def gate_study(diffs: np.ndarray, sizes: tuple[int, ...] = SIZES, *, splits: int = SPLITS,
               seed: int = RNG_SEED, ties: bool = False) -> dict[int, dict[str, float]]:
    """Gate statistics per minibatch size from ``diffs`` (proposals x pool examples: rewrite minus
    unoptimized, per example). The pool stands for the task: a rewrite is good when it solves more of the
    pool than its parent. Each split draws a random minibatch of b pool examples. (Judging it on the rest of
    the pool instead would tie the two halves together: with the pool's total fixed, a lucky minibatch
    leaves an unlucky rest, more so the larger b.) Proposals weigh equally. ``ties``: a minibatch tie passes too (DLPO
    validates a tie when the budget allows)."""
    rng = np.random.default_rng(seed)
    n_props, n_pool = diffs.shape
    orders = np.argsort(rng.random((splits, n_pool)), axis=1)  # the same splits for every size
    out: dict[int, dict[str, float]] = {}
    for b in sizes:
        if not 1 <= b < n_pool:
            raise ValueError(f"minibatch size {b} must be at least 1 and below the pool of {n_pool}")
        gate = diffs[:, orders[:, :b]].sum(axis=2)              # proposals x splits
        gate = gate >= 0 if ties else gate > 0
        good = np.broadcast_to(diffs.sum(axis=1, keepdims=True) > 0, gate.shape)
        passed, right = gate.mean(), (gate & good).mean()
        row = {"pass": float(passed), "precision": float(right / passed) if passed else float("nan"),
               "recall": float(right / good.mean()) if good.mean() else float("nan"), "good_pass": float(right)}
        for v in VALIDATION_SIZES:
            row[f"found_per_100_v{v}"] = float(100.0 * right / (b + passed * v))
        out[b] = row
    return out


def load_diffs(results_dir: Path, parent: str = "unoptimized") -> tuple[np.ndarray, list[str], int]:
    """The per-example differences of every scored rewrite against its parent, pooled over tasks (rows:
    proposals). ``parent``: ``unoptimized`` (a run's first steps) or ``median`` (the task's rewrite with the
    median pool score, standing in for a later step whose current program is already a rewrite; the others
    are compared with it)."""
    rows, tasks, pool = [], [], None
    for path in sorted(Path(results_dir).glob("*.json")):
        record = read_cell(path)
        if not record or "(unoptimized)" not in record.get("scores", {}):
            continue
        scores = {k: np.asarray(v, dtype=float) for k, v in record["scores"].items()}
        ranked = sorted((k for k in scores if k != "(unoptimized)"), key=lambda k: scores[k].sum())
        base_key = "(unoptimized)" if parent == "unoptimized" or not ranked else ranked[len(ranked) // 2]
        base = scores[base_key]
        if pool not in (None, len(base)):
            raise ValueError(f"{path.name}: pool of {len(base)} examples, the others have {pool}")
        pool = len(base)
        tasks.append(record["task"])
        rows += [s - base for k, s in scores.items() if k not in ("(unoptimized)", base_key)]
    if not rows:
        raise ValueError(f"no scored proposals in {results_dir}")
    return np.vstack(rows), tasks, int(pool)


ROW = "| {b} | {pass_:.2f} | {precision:.2f} | {recall:.2f} | {v10:.2f} | {v50:.2f} |"
HEAD = ["| b | pass rate | right among passes | good rewrites found | found per 100 calls, V=10 | V=50 |",
        "|---|---|---|---|---|---|"]


def _rows(diffs: np.ndarray, ties: bool) -> list[str]:
    return [ROW.format(b=b, pass_=r["pass"], precision=r["precision"], recall=r["recall"], v10=r["found_per_100_v10"],
                       v50=r["found_per_100_v50"]) for b, r in gate_study(diffs, ties=ties).items()]


def relative_gain(diffs: np.ndarray, small: int, large: int, v: int, *, resamples: int = 300,
                  seed: int = RNG_SEED) -> tuple[float, float, float]:
    """Good rewrites found per call with minibatch ``small`` relative to ``large`` (0.05: 5% more) at
    validation size ``v``, with a 95% bootstrap interval over the rewrites."""
    def ratio(d: np.ndarray, splits: int) -> float:
        study = gate_study(d, sizes=(small, large), splits=splits, seed=seed)
        base = study[large][f"found_per_100_v{v}"]
        return study[small][f"found_per_100_v{v}"] / base - 1.0 if base else float("nan")
    rng = np.random.default_rng(seed + 1)  # apart from the splits' stream
    boot = [ratio(diffs[rng.integers(0, len(diffs), len(diffs))], 1000) for _ in range(resamples)]
    point = ratio(diffs, SPLITS)
    if np.isnan(point):
        return point, point, point
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    return point, float(low), float(high)


def tie_break_even(diffs: np.ndarray, b: int) -> float:
    """The validation size below which letting minibatch ties through finds more good rewrites per call:
    right passes g and passes p per rewrite, strict (s) and with ties (t); g_s / (b + p_s V) equals
    g_t / (b + p_t V) at V = b (g_t - g_s) / (g_s p_t - g_t p_s)."""
    strict, ties = gate_study(diffs, sizes=(b,))[b], gate_study(diffs, sizes=(b,), ties=True)[b]
    g_s, p_s, g_t, p_t = strict["good_pass"], strict["pass"], ties["good_pass"], ties["pass"]
    denominator = g_s * p_t - g_t * p_s
    return float("inf") if denominator <= 0 else b * (g_t - g_s) / denominator


def table(results_dir: Path) -> str:
    diffs, tasks, pool = load_diffs(results_dir)
    late, _, _ = load_diffs(results_dir, parent="median")
    changed = int((np.abs(diffs).sum(axis=1) > 0).sum())
    lines = ["# The minibatch size, chosen by measurement", "",
             f"{len(diffs)} distinct rewrites ({', '.join(tasks)}), each scored with the embedded model on a pool "
             f"of {pool} rows (the cells' training then validation rows); {changed} of them changed at least one "
             f"answer of the unoptimized program. For each minibatch size b, {SPLITS} random minibatches of b pool "
             "rows: the gate passes when the rewrite solves more minibatch rows than its parent, and was right when "
             "the rewrite solves more rows of the whole pool than its parent (the pool stands for the task). Found per 100 calls: right "
             "passes per 100 metric calls when a minibatch costs b calls (the parent's scores reused) and a pass "
             "costs a validation of V rows.", "",
             "Regenerate: `python -m benchmarks.minibatch --table`; scores: "
             "`python -m benchmarks.minibatch --score --cells benchmarks/results/step --llm-threads 2`.", "",
             "## Early in a run: every rewrite against the unoptimized program", "", *HEAD, *_rows(diffs, False), "",
             "A minibatch tie passes too (it is validated):", "", *HEAD, *_rows(diffs, True), "",
             f"## Later in a run: against a rewrite ({len(late)} others)", "",
             "The parent is each task's rewrite with the median pool score, standing in for a step whose current "
             "program is already a rewrite.", "", *HEAD, *_rows(late, False), "",
             "A minibatch tie passes too:", "", *HEAD, *_rows(late, True), "",
             "## b = 3 against b = 5, and when to validate ties", "",
             "Good rewrites found per call with b = 3 relative to b = 5 (95% bootstrap interval over the rewrites), "
             "and the validation size V below which letting ties through finds more per call at b = 5:", "",
             "| parent | V = 10 | V = 50 | ties pay below V = |", "|---|---|---|---|"]
    for name, d in (("unoptimized", diffs), ("a rewrite", late)):
        cells = [f"{g:+.0%} [{lo:+.0%}, {hi:+.0%}]" if g == g else "-"
                 for g, lo, hi in (relative_gain(d, 3, 5, v) for v in VALIDATION_SIZES)]
        lines.append(f"| {name} | {' | '.join(cells)} | {tie_break_even(d, 5):.0f} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--score", action="store_true", help="score the cells' rewrites on their pools")
    p.add_argument("--table", action="store_true", help="render <results-dir>/README.md")
    p.add_argument("--cells", nargs="+", type=Path, default=[RESULTS_DIR / "step"])
    p.add_argument("--optimizers", nargs="+", default=["dlpo"])
    p.add_argument("--model", default="local")
    p.add_argument("--llm-threads", type=number_type(int, 1), default=2)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--results-dir", type=Path, default=DEFAULT_DIR)
    args = p.parse_args(argv)
    if not (args.score or args.table):
        p.error("give --score, --table or both")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.score:
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
        cells = [c for d in args.cells for c in load_results(d) if c.get("optimizer") in args.optimizers]
        for spec, texts in proposals_by_task(cells).items():
            config = next(c["config"] for c in cells if c["task"] == spec)
            settings = {k: config[k] for k in ("n_train", "n_val", "max_tokens")}
            score_task(args, spec, texts, settings)
    if args.table:
        Path(args.results_dir).mkdir(parents=True, exist_ok=True)
        (Path(args.results_dir) / "README.md").write_text(table(args.results_dir))
        print((Path(args.results_dir) / "README.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
