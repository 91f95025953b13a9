"""Headroom: how much a one-line hand-written instruction gains over the unoptimized program (issue 32).

For each task, program form (``predict``: ``dspy.Predict("question -> answer")``; ``cot``: the task's
``ChainOfThought``) and instruction (``default``: the program's own; ``hand``: the pre-registered line of
``benchmarks/headroom/instructions.json``, committed before any score), the embedded model's score on the
first ``--n`` examples of the task's training and validation rows (train 50, then val): rows that the
powered grid uses for optimization, never its test rows. A task is instruction-sensitive when the
hand-written line gains at least 10 points in a form. Each cell is written as it finishes
(``<results-dir>/<task>/<form>/<variant>.json``); the same command continues an unfinished table, and
``--table`` renders ``<results-dir>/README.md`` from the cells.

    python -m benchmarks.headroom --tasks bbh/object_counting bbh/web_of_lies --forms predict --n 100
    python -m benchmarks.headroom --tasks screening --forms predict --n 100   # the declared order
    python -m benchmarks.headroom --table
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

if __package__ in (None, ""):  # allow ``python benchmarks/headroom.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import dspy  # noqa: E402

from .environment import code_version, machine_info  # noqa: E402
from dspy_dlpo.checkpoint import atomic_write_json  # noqa: E402
from dspy_dlpo.program import evaluate  # noqa: E402
from dspy_dlpo.validate import number_type  # noqa: E402

from .harness import PROJECT_ROOT, RESULT_JSON, RESULTS_DIR, Stopwatch, read_cell, relative_command  # noqa: E402
from .stats import bootstrap_ci  # noqa: E402
from .lms import build_lm, task_max_tokens  # noqa: E402
from .optimizers import with_hand_instruction  # noqa: E402

DEFAULT_DIR = RESULTS_DIR / "headroom"
FORMS = ("predict", "cot")
VARIANTS = ("default", "hand")
SENSITIVE_GAIN = 10.0  # points: the threshold for an instruction-sensitive task

# The screening order, declared before any headroom score (``--tasks screening``). Left out: the three
# development rows the step was tuned on (logical deduction, object counting and tracking with three
# objects) and the tasks with fewer than 100 test rows (causal judgement, penguins, snarks). The rest
# in ascending mean length of their inputs, because a grid cell's cost grows with the prompt: the
# cheapest instruction-sensitive tasks are found first. Screening stops once six tasks are
# instruction-sensitive in the Predict form or the list ends. (Amended 2026-12-05, before any
# ChainOfThought score: the grid runs the Predict form, because a ChainOfThought cell costs about three
# times as much CPU here; ChainOfThought headroom is measured with --forms cot where CPU allows.)
SCREENING = ("bbh/boolean_expressions", "bbh/word_sorting", "bbh/dyck_languages", "bbh/hyperbaton",
             "bbh/ruin_names", "bbh/web_of_lies", "bbh/date_understanding", "gsm8k", "bbh/geometric_shapes",
             "bbh/disambiguation_qa", "bbh/formal_fallacies", "bbh/temporal_sequences",
             "bbh/logical_deduction_five_objects", "bbh/tracking_shuffled_objects_five_objects",
             "bbh/logical_deduction_seven_objects", "bbh/tracking_shuffled_objects_seven_objects",
             "bbh/salient_translation_error_detection")


def program_for(task: Any, form: str, variant: str) -> dspy.Module:
    """The task's program in ``form`` with the ``variant`` instruction on every predictor."""
    program = dspy.Predict("question -> answer") if form == "predict" else task.make_program()
    return with_hand_instruction(program, task.name) if variant == "hand" else program


def headroom_rows(task: Any, n: int) -> list[dspy.Example]:
    """The first ``n`` of the task's training then validation rows (never its test rows)."""
    rows = list(task.trainset) + list(task.valset)
    if len(rows) < n:
        logging.getLogger(__name__).warning("%s has only %d train+val rows (asked %d)", task.name, len(rows), n)
    return rows[:n]


def cell_file(results_dir: Path, task: str, form: str, variant: str) -> Path:
    return Path(results_dir) / task / form / f"{variant}.json"


def run_cell(args: argparse.Namespace, task: Any, form: str, variant: str) -> dict[str, Any]:
    """Score one (task, form, instruction) and return its record."""
    spec = task.name + ("@predict" if form == "predict" else "")
    lm = build_lm(args.model, api_base=None, max_tokens=task_max_tokens(spec, None), llm_threads=args.llm_threads)
    program = program_for(task, form, variant)
    rows = headroom_rows(task, args.n)
    with dspy.context(lm=lm), Stopwatch() as clock:
        scores = evaluate(program, rows, task.metric, num_threads=1)
    instruction = next(iter(program.named_predictors()))[1].signature.instructions
    return {"task": task.name, "form": form, "variant": variant, "instruction": instruction, "n": len(scores),
            "score": 100.0 * sum(scores) / max(1, len(scores)), "ci95": list(bootstrap_ci(scores)),
            "per_example": scores, "model": args.model, "max_tokens": task_max_tokens(spec, None),
            "wall_time_s": round(clock.seconds, 1),
            "command": relative_command("benchmarks.headroom", args.argv, PROJECT_ROOT),
            "code_version": code_version(), "machine": machine_info()}


def gain(results_dir: Path, task: str, form: str) -> float | None:
    """The hand-written line's gain in points for (task, form), or None while a cell is missing."""
    default, hand = (read_cell(cell_file(results_dir, task, form, v)) for v in VARIANTS)
    return hand["score"] - default["score"] if default and hand else None


def screened_enough(results_dir: Path, form: str = "predict", wanted: int = 6) -> bool:
    """The declared stopping rule: ``wanted`` screening tasks are instruction-sensitive in ``form``."""
    return sum((gain(results_dir, t, form) or 0.0) >= SENSITIVE_GAIN for t in SCREENING) >= wanted


def table(results_dir: Path) -> str:
    """The headroom table from the cells: per task and form, both scores, the gain and the verdict."""
    rows = []
    for path in sorted(Path(results_dir).glob("**/default.json")):
        default, hand = read_cell(path), read_cell(path.with_name("hand.json"))
        if not default or not hand:
            continue
        points = hand["score"] - default["score"]
        paired = [h - d for h, d in zip(hand["per_example"], default["per_example"])]
        low, high = bootstrap_ci(paired)
        verdict = "**sensitive**" if points >= SENSITIVE_GAIN else "no"
        rows.append(f"| {default['task']} | {default['form']} | {default['n']} | {default['score']:.0f} | "
                    f"{hand['score']:.0f} | {points:+.0f} [{low:+.0f}, {high:+.0f}] | {verdict} |")
    head = ["# Headroom: unoptimized program vs a one-line hand-written instruction", "",
            "Embedded Qwen2.5-Coder-1.5B (greedy), the first n train+val rows of each task (never its test "
            "rows). The hand-written lines were committed before any score "
            "(`benchmarks/headroom/instructions.json`). Gain in points with a paired 95% bootstrap interval; "
            f"a task is instruction-sensitive when the gain is at least {SENSITIVE_GAIN:.0f} points.", "",
            "Screening (declared in `benchmarks/headroom.py` before any score): the development rows and the "
            "tasks with fewer than 100 test rows are left out; the rest are scored as Predict in ascending "
            "mean input length (a grid cell's cost grows with its prompt), and screening stops once six are "
            "instruction-sensitive: " + ", ".join(t.removeprefix("bbh/") for t in SCREENING) + ". The grid runs "
            "the Predict form (a ChainOfThought cell costs about three times the CPU here).", "",
            "Regenerate: `python -m benchmarks.headroom --table`; cells: "
            "`python -m benchmarks.headroom --tasks screening --forms predict --n 100` (the declared order and "
            "stopping rule; `--tasks <task> --forms cot` for the ChainOfThought form).", "",
            "| task | form | n | default % | hand-written % | gain | instruction-sensitive |",
            "|---|---|---|---|---|---|---|"]
    return "\n".join(head + rows) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=[], help="bbh/<name> or gsm8k, or 'screening' for the declared order")
    p.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS))
    p.add_argument("--n", type=number_type(int, 1), default=100, help="examples per cell (train then val rows)")
    p.add_argument("--model", default="local")
    p.add_argument("--llm-threads", type=number_type(int, 1), default=2)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--results-dir", type=Path, default=DEFAULT_DIR)
    p.add_argument("--table", action="store_true", help="render <results-dir>/README.md from the cells and exit")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    from dspy_dlpo.tasks import load_task

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.table:
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
        screening = args.tasks == ["screening"]
        for name in SCREENING if screening else args.tasks:
            if screening and args.forms == ["predict"] and screened_enough(args.results_dir):
                print("six instruction-sensitive tasks found: screening stops (the declared rule)", flush=True)
                break
            task = load_task(name, data_dir=args.data_dir)
            for form in args.forms:
                for variant in VARIANTS:
                    path = cell_file(args.results_dir, task.name, form, variant)
                    if read_cell(path):
                        print(f"skip (done): {path}", flush=True)
                        continue
                    record = run_cell(args, task, form, variant)
                    atomic_write_json(path, record, **RESULT_JSON)
                    print(f"{task.name} {form} {variant}: {record['score']:.1f}% on {record['n']}", flush=True)
    (Path(args.results_dir) / "README.md").parent.mkdir(parents=True, exist_ok=True)
    (Path(args.results_dir) / "README.md").write_text(table(args.results_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
