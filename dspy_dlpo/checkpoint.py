"""Checkpoints: the run state as JSON, written atomically after every step.

No pickle: a run directory is safe to open. The state holds everything needed to continue
(step, instructions, best-so-far, validated candidates, trial history, spend); strategies are
stateless and randomness is derived from ``(seed, step, name)``, so nothing else is needed for a
resumed run to equal an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .redact import redact_data

SCHEMA_VERSION = 1
STATE_FILE = "dlpo_state.json"
STOP_FILE = "STOP"


def fingerprint(data: Any) -> str:
    """A short stable hash of JSON-serializable ``data``."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temp file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(redact_data(data), handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_state(log_dir: Path, identity: dict[str, Any], state: dict[str, Any]) -> None:
    atomic_write_json(Path(log_dir) / STATE_FILE, {"schema": SCHEMA_VERSION, "identity": identity, "state": state})


def _differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(current))
    return [f"{k}: saved {saved.get(k)!r} != now {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]


def load_state(log_dir: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The saved state in ``log_dir``, or None; refuses a state of another program or config."""
    path = Path(log_dir) / STATE_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"{path} has schema version {data.get('schema')!r}; this version reads {SCHEMA_VERSION}")
    diffs = _differences(data.get("identity", {}), identity)
    if diffs:
        raise ValueError(f"log_dir {str(log_dir)!r} holds a run of a different program or configuration; "
                         "use another log_dir or delete it. Differences: " + "; ".join(diffs))
    return data["state"]


def stop_requested(log_dir: Path | None) -> bool:
    """True when a ``STOP`` file exists in ``log_dir`` (a graceful stop at the next step)."""
    return log_dir is not None and (Path(log_dir) / STOP_FILE).exists()
