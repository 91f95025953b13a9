"""The ``dspy-dlpo`` command: ``optimize`` a task's program, or run the offline ``demo``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from .checkpoint import atomic_write_json
from .config import DLPOConfig
from .options import AUTO_PRESETS
from .strategies import registry
from .validate import number_type

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

OPTIMIZER_MAX_TOKENS = 600

# The demo: a real run that shows a gain on the embedded model on 2 cores, chosen by measurement (the
# step study's logical-deduction cell of seed 2, benchmarks/results/step: +22 points on its 100 test
# examples, +20 on the first 50). The 1.5B answers these multiple-choice puzzles with the option AND its
# text ("(B) The quail is ..."), which the strict metric scores 0; the failure analysis counts it, and a
# rewritten instruction asks for the label alone.
DEMO = {"task": "bbh/logical_deduction_three_objects", "module": "predict", "n_train": 20, "n_val": 10,
        "n_test": 50, "max_metric_calls": 60, "batch_size": 5, "seed": 2, "max_tokens": 100, "threads": 2}


def _version() -> str:
    from . import __version__

    return f"dspy-dlpo {__version__}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dspy-dlpo", description="DLPO prompt optimization for DSPy programs")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    opt = sub.add_parser("optimize", help="optimize a benchmark task's program (or your own)")
    opt.add_argument("--task", help="e.g. gsm8k, bbh/object_counting, mgsm/de, math500, biggsm (optional with "
                                    "--program and --trainset)")
    opt.add_argument("--program", help="your program instead of the task's: 'module:attr' or 'file.py:attr' "
                                       "(a dspy.Module or a function returning one)")
    for split, what in (("trainset", "training"), ("valset", "validation (default: half of --trainset)"),
                        ("testset", "test (optional)")):
        opt.add_argument(f"--{split}", help=f"your {what} examples: a JSON Lines file, one object per line; "
                                            "keys that are the program's inputs are inputs, the others labels")
    opt.add_argument("--metric", help="your metric: 'module:fn' or 'file.py:fn', fn(example, prediction, trace=None) "
                                      "(default: the task's, else exact match of the program's outputs)")
    opt.add_argument("--module", choices=("cot", "predict"), default="cot",
                     help="the task's program: dspy.ChainOfThought (cot, default) or dspy.Predict")
    _common(opt)
    opt.add_argument("--auto", choices=AUTO_PRESETS)
    opt.add_argument("--max-metric-calls", type=number_type())
    opt.add_argument("--max-steps", type=number_type())
    opt.add_argument("--patience", type=number_type(), help="stop after N steps without a new best validation score")
    opt.add_argument("--max-optimizer-tokens", type=number_type(), help="stop once the optimizer LM used N tokens")
    opt.add_argument("--max-cost-usd", type=number_type(float, 0, strict=True),
                     help="stop once the run cost this much (models litellm has a price for)")
    opt.add_argument("--timeout-seconds", type=number_type(float, 0, strict=True),
                     help="stop at the first step boundary after this much wall-clock time")
    opt.add_argument("--rollout-timeout", type=number_type(float, 0, strict=True),
                     help="seconds one rollout (LM calls + metric) may run before it is scored as a failure "
                          "(default 300)")
    opt.add_argument("--no-leak-guard", action="store_true",
                     help="let rewrites copy contact details, credentials or passages of the training data")
    opt.add_argument("--leak-allow", action="append", default=[], metavar="TEXT",
                     help="a string the leakage guard lets through (repeatable)")
    opt.add_argument("--batch-size", type=number_type(), default=DLPOConfig.defaults()["batch_size"])
    opt.add_argument("--append-on-no-op", action="store_true",
                     help="when a rewrite comes back unchanged, ask for one sentence to append instead")
    for entry in registry.BUILTIN:
        opt.add_argument(entry.flag, action="store_true",
                         help=f"switch {'off' if entry.default else 'on'} {entry.keyword}")
    for split in ("train", "val", "test"):
        opt.add_argument(f"--n-{split}", type=number_type(), help=f"use the first N examples of the {split} split")
    demo = sub.add_parser("demo", help="a short real run on the embedded local model (~12 min on 2 cores)")
    _common(demo)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="local", help="task LM: 'local', 'local:<name>', a .gguf path or a litellm "
                                                   "model string such as openai/gpt-4o-mini (default: local)")
    p.add_argument("--api-base", help="OpenAI-compatible server of --model (vLLM, SGLang, llama-server): "
                                      "http://host:8000/v1 with --model openai/<served name>")
    p.add_argument("--api-key", help="key for --model (prefer the environment: $DSPY_DLPO_API_KEY, or the "
                                     "provider's own such as $OPENAI_API_KEY)")
    p.add_argument("--optimizer-model", help="optimizer LM (prompt_model), on its own: it never inherits "
                                             "--api-base; default: the task LM")
    p.add_argument("--optimizer-api-base", help="OpenAI-compatible server of the optimizer LM (with no "
                                                "--optimizer-model: the task's model name there)")
    p.add_argument("--optimizer-api-key", help="key for the optimizer LM (prefer $DSPY_DLPO_OPTIMIZER_API_KEY)")
    p.add_argument("--max-tokens", type=number_type(), help="cap on generated tokens per call")
    p.add_argument("--threads", type=number_type(), default=2, help="evaluation threads")
    p.add_argument("--seed", type=number_type(int, 0), default=0)
    p.add_argument("--data-dir", help="folder with the benchmark files (default: ../shared/data or the HF hub)")
    p.add_argument("--out", default="runs/latest", help="output folder (program JSON, report, plot, checkpoint)")
    p.add_argument("--quiet", action="store_true", help="only warnings and the final table")


def check_api_keys(args: argparse.Namespace) -> None:
    """A hosted model whose API key is not in the environment: a one-line error before anything runs."""
    from .lm import local_model_spec

    specs = [("--model", args.model, args.api_base, args.api_key or os.environ.get("DSPY_DLPO_API_KEY")),
             ("--optimizer-model", args.optimizer_model, args.optimizer_api_base,
              args.optimizer_api_key or os.environ.get("DSPY_DLPO_OPTIMIZER_API_KEY"))]
    for flag, spec, api_base, key in specs:
        if not spec or api_base or key or local_model_spec(spec) is not None:
            continue
        import litellm

        missing = [k for k in litellm.validate_environment(model=spec).get("missing_keys", []) if k.endswith("_KEY")]
        if missing:
            raise ValueError(f"{flag} {spec!r} needs {' and '.join(missing)} in the environment (not set); "
                             "export it, or use --api-base for a local server")


def _lms(args: argparse.Namespace) -> tuple[Any, Any]:
    """The task and optimizer LMs of the flags, each checked with one tiny request before any run."""
    from .lm import optimizer_settings, preflight, role_lm, task_settings
    from .lm.roles import same_lm

    task = task_settings(args.model, args.api_base, args.api_key)
    opt = optimizer_settings(task, args.optimizer_model, args.optimizer_api_base, args.optimizer_api_key)
    task_lm = role_lm(task, max_tokens=args.max_tokens)
    # critiques and rewrites need more room than task answers; a copy shares the loaded model
    prompt_lm = task_lm.copy(max_tokens=max(OPTIMIZER_MAX_TOKENS, args.max_tokens or 0)) if same_lm(task, opt) \
        else role_lm(opt, max_tokens=OPTIMIZER_MAX_TOKENS)
    preflight(task_lm, task)
    if not same_lm(task, opt):
        preflight(prompt_lm, opt)
    return task_lm, prompt_lm


def run(args: argparse.Namespace, options: dict[str, Any]) -> dict[str, Any]:
    """Check every argument, load the task and models, optimize, evaluate before/after, write the outputs.

    Everything that can be wrong with the arguments is found before the first LM call: the flags by
    argparse, the API keys, the optimizer options (a trial construction), the program, the data
    and the budget (``compile`` checks them before its baseline); the test set is scored after.
    Each LM is checked with one tiny request (the preflight) before the run.
    """
    import dspy

    from . import DLPOTeleprompter
    from .program import evaluate, percent
    from .userdata import build_inputs

    check_api_keys(args)
    settings = {"num_threads": args.threads, "seed": args.seed, **options}
    DLPOTeleprompter(**settings)  # options are refused here, before any model is loaded
    task, program = build_inputs(args)
    task_lm, prompt_lm = _lms(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # the split is logged by load_task (one line, not printed again here)
    started = time.time()
    with dspy.context(lm=task_lm):
        optimizer = DLPOTeleprompter(task.metric, prompt_model=prompt_lm, log_dir=out / "checkpoint", **settings)
        best = optimizer.compile(program, trainset=task.trainset, valset=task.valset)
        test_before, test_after = (percent(evaluate(p, task.testset, task.metric, num_threads=args.threads,
                                                    progress=True)) if task.testset else None for p in (program, best))
    scores = {"before": test_before, "after": test_after, "wall_time": time.time() - started}
    return _write_outputs(args, task, program, best, optimizer, scores, out)


def _write_outputs(args: argparse.Namespace, task: Any, program: Any, best: Any, optimizer: Any,
                   scores: dict[str, Any], out: Path) -> dict[str, Any]:
    """Save the program, report and plot; print the accepted proposals, the optimized instructions,
    the table and, last, the saved paths."""
    from .text import word_count
    from .summary import plot_scores, proposal_line, run_title, summarize, table

    words = sum(word_count(p.signature.instructions) for _, p in program.named_predictors())
    details = best.detailed_results
    report = summarize(before={"val": details.initial_score, "test": scores["before"], "words": words},
                       after={"val": best.score, "test": scores["after"]}, program=best,
                       wall_time=scores["wall_time"])
    report.update(task=task.name, split=task.split_note, model=args.model,
                  optimizer_model=args.optimizer_model or args.model, options=optimizer.get_params(),
                  split_sizes={"train": len(task.trainset), "val": len(task.valset), "test": len(task.testset)})
    best.save(str(out / "program.json"))
    atomic_write_json(out / "report.json", report, indent=1, sort_keys=False, default=str)
    title = run_title(task=task.name, model=args.model, optimizer_model=args.optimizer_model, budget=details.budget)
    plot = plot_scores(best.trial_logs, details.initial_score, out / "scores.png",
                       test=(scores["before"], scores["after"]), title=title)
    lines = [proposal_line(e) for e in details.accepted_proposals] or ["none: the program is unchanged"]
    print("\naccepted proposals (the program returned is the best validated one):\n" + "\n".join(lines))
    for name, text in report["instructions"].items():
        print(f"\noptimized instruction of {name}:\n{text}")
    print("\n" + table(report))
    print(f"\nsaved: {out / 'program.json'}, {out / 'report.json'}" + (f", {plot}" if plot else ""))
    return report


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"batch_size": args.batch_size, "append_on_no_op": args.append_on_no_op,
                               "leak_guard": not args.no_leak_guard, "leak_allow": list(args.leak_allow)}
    for key in ("auto", "max_metric_calls", "max_steps", "patience", "max_optimizer_tokens", "max_cost_usd",
                "timeout_seconds", "rollout_timeout"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    for entry in registry.BUILTIN:
        if getattr(args, entry.flag.removeprefix("--").replace("-", "_")):
            options[entry.keyword] = not entry.default
    return options


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("LiteLLM", "httpx", "dspy", "datasets", "matplotlib"):  # matplotlib: "generated new fontManager"
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "demo":
        for key in ("task", "module", "n_train", "n_val", "n_test"):
            setattr(args, key, DEMO[key])
        args.program = args.trainset = args.valset = args.testset = args.metric = None
        args.max_tokens = args.max_tokens or DEMO["max_tokens"]
        args.threads = args.threads or DEMO["threads"]
        args.seed = DEMO["seed"]
        options = {"max_metric_calls": DEMO["max_metric_calls"], "batch_size": DEMO["batch_size"]}
    else:
        options = _options(args)
    from tqdm.contrib.logging import logging_redirect_tqdm

    try:
        with logging_redirect_tqdm():  # log lines above the progress bars, not through them
            run(args, options)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError, ImportError) as exc:
        print(f"dspy-dlpo: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
