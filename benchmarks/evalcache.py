"""Per-example scores of a final program, reused across cells when nothing that decides them differs.

Scoring a final program on a 100-example test slice with the embedded 1.5B takes about five minutes,
and many cells return the same program (the seed instruction, most often). Under a greedy task LM run
in-process the scores are a function of the program's saved state (instructions, demos, fields), the
examples, the task LM and its settings, and the DSPy version: :func:`cache_key` hashes exactly these,
and :class:`EvalCache` stores the per-example scores under that key. A cell that reuses them records
so (``from_cache`` in its score block). Use it only with a deterministic task LM (temperature 0, no
parallel server slots, whose batching changes greedy outputs); the grid runner decides that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dspy

from dspy_dlpo.checkpoint import atomic_write_json


def cache_key(program: dspy.Module, examples: Sequence[dspy.Example], *, task: str, task_lm: dict[str, Any]) -> str:
    """sha256 of what decides a greedy evaluation: program state, examples, task LM settings, DSPy version."""
    material = {"task": task, "task_lm": task_lm, "dspy": getattr(dspy, "__version__", "?"),
                "program": program.dump_state(), "program_type": type(program).__name__,
                "examples": [dict(e.items()) for e in examples]}
    blob = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


class EvalCache:
    """Scores on disk, one small JSON file per key under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str, n: int) -> list[float] | None:
        """The ``n`` stored scores of ``key``, or None (absent, unreadable, or of another length)."""
        path = self._path(key)
        try:
            scores = json.loads(path.read_text())["scores"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(scores, list) or len(scores) != n:
            return None
        return [float(s) for s in scores]

    def put(self, key: str, scores: Sequence[float], note: dict[str, Any] | None = None) -> None:
        """Store ``scores`` atomically (the library's atomic JSON writer)."""
        atomic_write_json(self._path(key), {"scores": [float(s) for s in scores], **(note or {})}, indent=None,
                          sort_keys=False)
