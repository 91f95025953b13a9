"""The training rollouts a run keeps so that it need not run a program again on an example it ran on.

``RunState.known`` holds, for the :data:`KNOWN_PROGRAMS` programs used last (the current one and the best
one the search returns to), their rollouts as JSON (:func:`~dspy_dlpo.program.rollout_state`), so that a
resumed run reuses the same ones: ``{"programs": [{"params": {...}, "rollouts": {str(index): {...}}}]}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .program import Rollout, rollout_state

KNOWN_PROGRAMS = 3


def recall(known: dict[str, Any], params: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The kept rollouts of the program ``params`` (example index as text -> rollout state)."""
    entry = next((k for k in known.get("programs", []) if k["params"] == params), None)
    return entry["rollouts"] if entry is not None else {}


def keep(known: dict[str, Any], params: dict[str, str], rollouts: Iterable[Rollout]) -> None:
    """Keep ``rollouts`` of the program ``params``; it becomes the most recent of the programs kept."""
    programs = known.setdefault("programs", [])
    entry = next((k for k in programs if k["params"] == params), None)
    if entry is None:
        entry = {"params": dict(params), "rollouts": {}}
    else:
        programs.remove(entry)
    programs.append(entry)  # most recent last
    del programs[:-KNOWN_PROGRAMS]
    for r in rollouts:
        entry["rollouts"][str(r.index)] = rollout_state(r)
