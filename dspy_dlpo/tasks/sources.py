"""Where benchmark rows come from: local copies of the files, or the Hugging Face hub.

Both routes go through ``datasets.load_dataset``. The data directory is, in order of precedence:

1. the ``data_dir`` argument;
2. the ``DSPY_DLPO_DATA`` environment variable;
3. ``../shared/data`` next to the project root (found from this package's file, then from the
   current working directory), when it holds the needed file;
4. the hub: ``openai/gsm8k`` (config ``main``), ``lukaemon/bbh`` (one config per task),
   ``juletxara/mgsm`` (one config per language), ``HuggingFaceH4/MATH-500``. BigGSM has no hub
   copy, so it needs a local ``biggsm/data.jsonl``.

``data_dir="hub"`` (or ``DSPY_DLPO_DATA=hub``) skips local files. An explicit directory (1 or 2)
must hold the file asked for; a missing file there is an error rather than a silent download.
Every loader returns plain dicts with string ``question`` and ``answer`` fields.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any

from .numeric import format_number, parse_number

logger = logging.getLogger(__name__)

ENV_VAR = "DSPY_DLPO_DATA"
HUB = "hub"
MGSM_LANGUAGES = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
BBH_HUB_TASKS = (
    "boolean_expressions", "causal_judgement", "date_understanding", "disambiguation_qa", "dyck_languages",
    "formal_fallacies", "geometric_shapes", "hyperbaton", "logical_deduction_five_objects",
    "logical_deduction_seven_objects", "logical_deduction_three_objects", "movie_recommendation",
    "multistep_arithmetic_two", "navigate", "object_counting", "penguins_in_a_table",
    "reasoning_about_colored_objects", "ruin_names", "salient_translation_error_detection", "snarks",
    "sports_understanding", "temporal_sequences", "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects", "tracking_shuffled_objects_three_objects", "web_of_lies",
    "word_sorting")


def _candidate_dirs() -> list[Path]:
    """``../shared/data`` beside the project root (from this file) and beside the cwd."""
    project_root = Path(__file__).resolve().parents[2]
    found: list[Path] = []
    for base in (project_root, Path.cwd()):
        path = (base / ".." / "shared" / "data").resolve()
        if path not in found:
            found.append(path)
    return found


def explicit_dir(data_dir: str | os.PathLike | None) -> Path | str | None:
    """The directory chosen by ``data_dir`` or ``$DSPY_DLPO_DATA``: a Path, ``"hub"`` or None."""
    chosen, origin = (data_dir, "data_dir") if data_dir is not None else (os.environ.get(ENV_VAR) or None, ENV_VAR)
    if chosen is None:
        return None
    if not isinstance(chosen, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a path or 'hub', got {type(chosen).__name__}: {chosen!r}")
    if isinstance(chosen, str) and chosen.strip().lower() == HUB:
        return HUB
    if isinstance(chosen, str) and not chosen.strip():
        raise ValueError(f"{origin} must be a directory or 'hub', got an empty string")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{origin}={str(chosen)!r} is not a directory")
    return path


def data_root(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The local data directory in use, or None when data comes from the hub."""
    chosen = explicit_dir(data_dir)
    if chosen is not None:
        return None if chosen == HUB else chosen
    return next((path for path in _candidate_dirs() if path.is_dir()), None)


def local_file(relative: str, data_dir: str | os.PathLike | None) -> Path | None:
    """The local copy of ``relative`` (e.g. ``gsm8k/test.jsonl``), or None to use the hub."""
    chosen = explicit_dir(data_dir)
    if chosen == HUB:
        return None
    if chosen is not None:
        path = Path(chosen) / relative
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: the data directory {str(chosen)!r} has no {relative} "
                                    f"(see the layout in dspy_dlpo/tasks/sources.py or use data_dir='hub')")
        return path
    for base in _candidate_dirs():
        if (base / relative).is_file():
            return base / relative
    logger.info("no local copy of %s next to the project; using the Hugging Face hub", relative)
    return None


def _load_local(path: Path, **kwargs: Any) -> list[dict[str, Any]]:
    import datasets

    builder = "csv" if path.suffix == ".tsv" else "json"
    logger.debug("loading %s with the datasets %s builder", path, builder)
    return datasets.load_dataset(builder, data_files=str(path), split="train", **kwargs).to_list()


def _load_hub(name: str, config: str | None, split: str) -> list[dict[str, Any]]:
    import datasets

    logger.info("loading %s%s (%s split) from the Hugging Face hub", name, f"/{config}" if config else "", split)
    try:
        rows = datasets.load_dataset(name, config, split=split) if config else \
            datasets.load_dataset(name, split=split)
    except Exception as exc:
        raise RuntimeError(f"could not load {name!r} (config {config!r}, split {split!r}) from the Hugging Face "
                           f"hub: {type(exc).__name__}: {exc}. For offline use, pass data_dir= (or set "
                           f"{ENV_VAR}) to a folder holding the benchmark files.") from exc
    return list(rows.to_list() if hasattr(rows, "to_list") else rows)


def _number_text(value: Any, where: str) -> str:
    """A reference number as canonical text (``2,125`` -> ``2125``, ``192157.`` -> ``192157``)."""
    parsed = parse_number(str(value))
    if parsed is None:
        raise ValueError(f"{where}: the reference answer {value!r} is not a number")
    return format_number(parsed)


def _gsm_rows(records: list[dict[str, Any]], where: str) -> list[dict[str, str]]:
    """GSM8K-style rows: the final answer follows ``#### `` in the worked solution."""
    rows = []
    for i, record in enumerate(records):
        solution = str(record["answer"])
        if "####" not in solution:
            raise ValueError(f"{where} row {i}: no '#### <answer>' in {solution[-80:]!r}")
        final = solution.rsplit("####", 1)[1]
        rows.append({"question": str(record["question"]), "answer": _number_text(final, f"{where} row {i}"),
                     "solution": solution})
    return rows


def read_gsm8k(split: str, data_dir: str | os.PathLike | None = None) -> list[dict[str, str]]:
    """GSM8K rows of the official ``train`` or ``test`` split."""
    if split not in ("train", "test"):
        raise ValueError(f"GSM8K split must be 'train' or 'test', got {split!r}")
    path = local_file(f"gsm8k/{split}.jsonl", data_dir)
    records = _load_local(path) if path else _load_hub("openai/gsm8k", "main", split)
    return _gsm_rows(records, f"gsm8k/{split}")


def read_biggsm(data_dir: str | os.PathLike | None = None) -> list[dict[str, str]]:
    """BigGSM rows (local only: the set has no copy on the Hugging Face hub)."""
    path = local_file("biggsm/data.jsonl", data_dir)
    if path is None:
        raise FileNotFoundError("BigGSM has no copy on the Hugging Face hub: pass data_dir= (or set "
                                f"{ENV_VAR}) to a folder holding biggsm/data.jsonl")
    return _gsm_rows(_load_local(path), "biggsm")


def read_math500(data_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """MATH-500 rows: ``problem`` becomes ``question``; solution, subject, level, unique_id kept."""
    path = local_file("math500/test.jsonl", data_dir)
    records = _load_local(path) if path else _load_hub("HuggingFaceH4/MATH-500", None, "test")
    keep = ("solution", "subject", "level", "unique_id")
    return [{"question": str(r["problem"]), "answer": str(r["answer"]), **{k: r[k] for k in keep if k in r}}
            for r in records]


def read_bbh(task: str, data_dir: str | os.PathLike | None = None) -> list[dict[str, str]]:
    """BIG-Bench Hard rows of ``task``: ``input`` becomes ``question``, ``target`` ``answer``."""
    path = local_file(f"bbh/{task}.json", data_dir)
    records = _load_local(path, field="examples") if path else _load_hub("lukaemon/bbh", task, "test")
    return [{"question": str(r["input"]), "answer": str(r["target"])} for r in records]


def read_mgsm(language: str, data_dir: str | os.PathLike | None = None) -> list[dict[str, str]]:
    """MGSM rows of ``language`` (250 test problems) with integer answers as text."""
    import datasets

    path = local_file(f"mgsm/mgsm_{language}.tsv", data_dir)
    if path:
        features = datasets.Features({"question": datasets.Value("string"), "answer": datasets.Value("string")})
        records = _load_local(path, delimiter="\t", column_names=["question", "answer"], quoting=csv.QUOTE_NONE,
                              features=features)
    else:
        records = [{"question": r["question"], "answer": r["answer_number"]}
                   for r in _load_hub("juletxara/mgsm", language, "test")]
    return [{"question": str(r["question"]), "answer": _number_text(r["answer"], f"mgsm/{language} row {i}")}
            for i, r in enumerate(records)]


def bbh_tasks(data_dir: str | os.PathLike | None = None) -> list[str]:
    """BBH tasks available: the JSON files of the local ``bbh/`` folder, else the 27 on the hub."""
    root = data_root(data_dir)
    folder = root / "bbh" if root else None
    if folder is not None and folder.is_dir():
        return sorted(p.stem for p in folder.glob("*.json"))
    return list(BBH_HUB_TASKS)


def mgsm_languages(data_dir: str | os.PathLike | None = None) -> list[str]:
    """MGSM languages available: the local ``mgsm_<lang>.tsv`` files, else the 11 on the hub."""
    root = data_root(data_dir)
    folder = root / "mgsm" if root else None
    if folder is not None and folder.is_dir():
        return sorted(p.stem.removeprefix("mgsm_") for p in folder.glob("mgsm_*.tsv"))
    return list(MGSM_LANGUAGES)
