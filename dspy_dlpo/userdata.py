"""The user's own program, data and metric for ``dspy-dlpo optimize``.

``--program`` and ``--metric`` name an object as ``module:attr`` or ``file.py:attr``;
``--trainset``, ``--valset`` and ``--testset`` are JSON Lines files (one JSON object per line).
Each row's input keys are the program's inputs (the named parameters of its ``forward``, else its
signature's input fields); the row's other keys are labels. Every error names the flag, the file,
the line or the attribute at fault, and all of it is checked before any LM call.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import dspy

from .contract import expected_inputs
from .program import check_metric

SPLITS = ("trainset", "valset", "testset")


def _import_target(flag: str, spec: str, target: str) -> Any:
    try:
        if not target.endswith(".py"):
            return importlib.import_module(target)
        module_spec = importlib.util.spec_from_file_location(Path(target).stem, target)
        if module_spec is None or module_spec.loader is None or not Path(target).is_file():
            raise FileNotFoundError(f"no such file {target!r}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module
    except (ImportError, OSError, SyntaxError) as exc:
        raise ValueError(f"{flag} {spec!r}: cannot import {target!r} ({type(exc).__name__}: {exc})") from None


def load_object(flag: str, spec: str) -> Any:
    """The attribute named by ``module:attr`` or ``file.py:attr``; a ValueError naming ``flag``,
    the module and the attribute otherwise."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ValueError(f"{flag} must look like 'module:attr' or 'file.py:attr', got {spec!r}")
    module = _import_target(flag, spec, target)
    if not hasattr(module, attr):
        raise ValueError(f"{flag} {spec!r}: {target!r} has no attribute {attr!r}")
    return getattr(module, attr)


def load_program(spec: str) -> dspy.Module:
    """The ``dspy.Module`` named by ``--program`` (an instance, or a class or function returning one)."""
    obj = load_object("--program", spec)
    if isinstance(obj, dspy.Module):
        return obj
    if not callable(obj):
        raise ValueError(f"--program {spec!r} is a {type(obj).__name__}, not a dspy.Module or a function "
                         "returning one")
    attr = spec.rpartition(":")[2]
    try:
        made = obj()
    except TypeError as exc:
        raise ValueError(f"--program {spec!r}: calling {attr}() without arguments failed: {exc}") from None
    if not isinstance(made, dspy.Module):
        raise ValueError(f"--program {spec!r}: {attr}() returned a {type(made).__name__}, not a dspy.Module")
    return made


def load_metric(spec: str) -> Any:
    """The metric named by ``--metric``: a callable taking ``(example, prediction[, trace])``."""
    metric = load_object("--metric", spec)
    if not callable(metric):
        raise ValueError(f"--metric {spec!r} is a {type(metric).__name__}, not callable: it must be a function "
                         "metric(example, prediction, trace=None)")
    try:
        check_metric(metric)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--metric {spec!r}: {exc}") from None
    return metric


def program_inputs(program: dspy.Module) -> tuple[set[str], set[str]]:
    """``(required, known)`` input keys of ``program``; a ValueError when they cannot be told."""
    expected = expected_inputs(program)
    if expected is None or not expected[1]:
        raise ValueError(f"cannot tell the input fields of the program {type(program).__name__}: give its "
                         "forward() named parameters (def forward(self, question): ...)")
    return expected[0], expected[1]


def read_jsonl(flag: str, path: str) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of the JSON Lines file ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{flag} {path!r}: cannot read the file ({type(exc).__name__}: {exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{flag} {path!r} line {number}: bad JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{flag} {path!r} line {number}: expected a JSON object, got a {type(row).__name__}")
        rows.append((number, row))
    if not rows:
        raise ValueError(f"{flag} {path!r}: the file holds no examples (one JSON object per line)")
    return rows


def read_examples(flag: str, path: str, program: dspy.Module, limit: int | None = None) -> list[dspy.Example]:
    """The examples of the JSON Lines file ``path`` (its first ``limit``), their inputs set to the
    program's input fields; an error naming the line whose keys do not fit the program."""
    required, known = program_inputs(program)
    examples = []
    for number, row in read_jsonl(flag, path)[:limit]:
        missing = sorted(required - set(row))
        inputs = [k for k in row if k in known]
        labels = [k for k in row if k not in known]
        if missing or not labels:
            problem = f"lacks the input field(s) {missing}" if missing else "has no label field (an expected output)"
            raise ValueError(f"{flag} {path!r} line {number}: the example {problem}; its keys are {sorted(row)} "
                             f"and the program {type(program).__name__} takes the inputs {sorted(known)}")
        examples.append(dspy.Example(**row).with_inputs(*inputs))
    return examples


def check_split_flags(args: Any) -> None:
    """``--valset``/``--testset`` need ``--trainset``; a run needs ``--task`` or ``--program`` with
    ``--trainset``."""
    if getattr(args, "trainset", None) is None:
        given = [f"--{s}" for s in SPLITS[1:] if getattr(args, s, None) is not None]
        if given:
            raise ValueError(f"{' and '.join(given)} need(s) --trainset (your own data replaces all of the task's)")
        if args.task is None:
            raise ValueError("give --task NAME, or your own --program module:attr with --trainset file.jsonl")
    elif args.task is None and args.program is None:
        raise ValueError("--trainset needs --program module:attr (the program to optimize) or --task NAME")


def _own_splits(args: Any, program: dspy.Module) -> dict[str, list[dspy.Example]]:
    from .dataloader import split_valset

    limits = {"trainset": args.n_train, "valset": args.n_val, "testset": args.n_test}
    splits = {s: read_examples(f"--{s}", getattr(args, s), program, limits[s]) for s in SPLITS
              if getattr(args, s) is not None}
    if "valset" not in splits:
        splits["trainset"], splits["valset"] = split_valset(splits["trainset"], args.seed)
    splits.setdefault("testset", [])
    return splits


def _split_note(args: Any, splits: dict[str, list[dspy.Example]]) -> str:
    files = {s: Path(getattr(args, s)).name if getattr(args, s) else None for s in SPLITS}
    parts = [f"{files[s] or ('held out of ' + files['trainset'] if s == 'valset' else 'no test set')} "
             f"({len(splits[s])})" for s in SPLITS]
    return "your data: " + " / ".join(parts)


def build_inputs(args: Any) -> tuple[Any, dspy.Module]:
    """The task (splits and metric) and the program of the CLI flags, everything checked before
    any LM call: ``--task`` alone as before; ``--program``, ``--trainset``, ``--valset``,
    ``--testset`` and ``--metric`` each replace the task's part (the task is optional when
    ``--program`` and ``--trainset`` are given; without ``--metric`` and ``--task`` the metric is
    exact match of the program's outputs)."""
    from . import tasks
    from .contract import default_metric

    check_split_flags(args)
    program = load_program(args.program) if args.program else None
    metric = load_metric(args.metric) if args.metric else None
    task = None
    if args.task is not None:
        task = tasks.load_task(args.task, data_dir=args.data_dir, n_train=args.n_train, n_val=args.n_val,
                               n_test=args.n_test)
    if program is None:  # check_split_flags: there is a task
        program = dspy.Predict("question -> answer") if args.module == "predict" else task.make_program()
    if args.trainset is not None:
        splits = _own_splits(args, program)
        task = tasks.Task(name=task.name if task else Path(args.trainset).name, metric=task.metric if task else None,
                          make_program=lambda: program, split_note=_split_note(args, splits), **splits)
    task.metric = metric or task.metric or default_metric(program, task.trainset + task.valset)
    return task, program
