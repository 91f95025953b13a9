"""Checkpoints: the run state as JSON, written atomically after every step.

No pickle: a run directory is safe to open. The state holds everything needed to continue
(step, instructions, best-so-far, validated candidates, trial history, spend); strategies are
stateless and randomness is derived from ``(seed, step, name)``, so nothing else is needed for a
resumed run to equal an uninterrupted one. A checkpoint is validated when it is loaded, and it
records the run's configuration itself so that a refused resume names the option that differs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .redact import redact_data
from .state import state_problems

SCHEMA_VERSION = 2
STATE_FILE = "dlpo_state.json"
STOP_FILE = "STOP"
LOCK_FILE = ".dlpo.lock"
_ADDRESS = re.compile(r" (?:object )?at 0x[0-9A-Fa-f]+")
_CREDENTIAL = re.compile(r"(?i)(key|token|secret|password|auth|header)")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, malformed, or of another run."""


def describe_callable(fn: Any) -> str:
    """A description of ``fn`` that is the same in every process (no memory addresses)."""
    if isinstance(fn, functools.partial):
        return f"partial({describe_callable(fn.func)}, args={stable(fn.args)}, kwargs={stable(fn.keywords)})"
    owner = getattr(fn, "__self__", None)
    if getattr(fn, "__qualname__", None) and owner is not None and not isinstance(owner, type):
        return f"{describe_callable(owner)}.{fn.__name__}"  # a bound method: its object's description
    if getattr(fn, "__qualname__", None):
        return f"{getattr(fn, '__module__', None) or ''}.{fn.__qualname__}".lstrip(".")
    cls = type(fn)
    return f"{cls.__module__}.{cls.__qualname__}({json.dumps(_settings(fn), sort_keys=True)})"


def _settings(obj: Any) -> dict[str, Any]:
    """The public attributes of ``obj`` that are plain numbers or text (its settings), credentials excluded;
    nothing else is described (an object may hold LMs, clients or keys)."""
    found = getattr(obj, "__dict__", {})
    return {k: stable(v) for k, v in sorted(found.items()) if not k.startswith("_") and not _CREDENTIAL.search(k)
            and (v is None or isinstance(v, (bool, int, float, str)))}


def stable(data: Any) -> Any:
    """``data`` as JSON whose text is the same in every process: sets sorted, callables described,
    other objects by their repr without memory addresses."""
    if data is None or isinstance(data, (bool, int, str)):
        return data
    if isinstance(data, float):
        return data if math.isfinite(data) else repr(data)
    if isinstance(data, dict):
        return {str(k): stable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [stable(v) for v in data]
    if isinstance(data, (set, frozenset)):
        return sorted((stable(v) for v in data), key=lambda v: json.dumps(v, sort_keys=True))
    if callable(data):
        return describe_callable(data)
    return _ADDRESS.sub("", repr(data))


def fingerprint(data: Any) -> str:
    """A short hash of ``data`` that is the same in every process (see :func:`stable`)."""
    return hashlib.sha256(json.dumps(stable(data), sort_keys=True).encode()).hexdigest()[:16]


def atomic_write_json(path: Path, data: Any, *, indent: int | None = 1, sort_keys: bool = True,
                      default: Callable[[Any], Any] | None = None) -> None:
    """Write ``data`` as JSON to ``path`` through a synced temp file and ``os.replace``: a reader
    sees the old file or the new one, never half of one, even after a crash. ``indent``,
    ``sort_keys`` and ``default`` are ``json.dump``'s.

    Configured secrets (see :mod:`dspy_dlpo.redact`) are masked as a last safety net; no other
    text is changed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(redact_data(data), handle, indent=indent, sort_keys=sort_keys, default=default)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_state(log_dir: Path, identity: dict[str, Any], state: dict[str, Any]) -> None:
    atomic_write_json(Path(log_dir) / STATE_FILE, {"schema": SCHEMA_VERSION, "identity": identity, "state": state})


def _differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """Each differing leaf as ``"name: saved X != now Y"`` (dicts and equal-length lists descend)."""
    if isinstance(saved, dict) and isinstance(current, dict):
        keys = sorted(set(saved) | set(current))
        return [d for k in keys for d in _differences(saved.get(k), current.get(k), f"{prefix}{k}.")]
    if isinstance(saved, list) and isinstance(current, list) and len(saved) == len(current) and saved:
        return [d for i, (a, b) in enumerate(zip(saved, current))
                for d in _differences(a, b, f"{prefix.rstrip('.')}[{i}].")]
    name = prefix.rstrip(".")
    return [] if saved == current else [f"{name}: saved {saved!r} != now {current!r}"]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); "
                              "delete it or use another log_dir") from None
    if not isinstance(data, dict) or not {"schema", "identity", "state"} <= set(data):
        raise CheckpointError(f"checkpoint {path} is not a DLPO checkpoint: expected an object with 'schema', "
                              "'identity' and 'state'; delete it or use another log_dir")
    if data["schema"] != SCHEMA_VERSION:
        raise CheckpointError(f"checkpoint {path} has schema version {data['schema']!r}; this version reads "
                              f"{SCHEMA_VERSION}; delete it or use another log_dir")
    return data


def load_state(log_dir: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The saved state in ``log_dir``, or None. Raises :class:`CheckpointError` naming the file and the
    problem when it is unreadable or invalid, or holds a run of another program or configuration."""
    path = Path(log_dir) / STATE_FILE
    if not path.exists():
        return None
    data = _read(path)
    diffs = _differences(data["identity"], stable(identity))
    if diffs:
        raise CheckpointError(f"log_dir {str(log_dir)!r} holds a run of a different program or configuration; "
                              "use another log_dir or delete it. Differences: " + "; ".join(diffs))
    problems = state_problems(data["state"])
    if problems:
        raise CheckpointError(f"checkpoint {path} is invalid: " + "; ".join(problems[:5])
                              + "; delete it or use another log_dir")
    return data["state"]


def stop_requested(log_dir: Path | None) -> bool:
    """True when a ``STOP`` file exists in ``log_dir`` (a graceful stop at the next step)."""
    return log_dir is not None and (Path(log_dir) / STOP_FILE).exists()


def consume_stop_file(log_dir: Path | None) -> None:
    """Remove the ``STOP`` file once it has been honored, so that the next run is not stopped by it."""
    if log_dir is not None:
        (Path(log_dir) / STOP_FILE).unlink(missing_ok=True)


def check_writable(log_dir: Path | None) -> None:
    """Raise a PermissionError naming ``log_dir`` unless a checkpoint can be written there."""
    if log_dir is None:
        return
    try:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=log_dir, prefix=".write-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"log_dir {str(log_dir)!r} is not writable ({type(exc).__name__}: {exc}); "
                              "the run could not be checkpointed") from None


@contextlib.contextmanager
def run_lock(log_dir: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on ``log_dir`` for the duration of a run; a second run on the same
    ``log_dir`` (another process or thread) is refused at once with a RuntimeError. The operating
    system releases the lock when its process dies, so a killed run never blocks its resume."""
    if log_dir is None:
        yield
        return
    check_writable(log_dir)
    lock = FileLock(str(Path(log_dir) / LOCK_FILE), timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise RuntimeError(f"log_dir {str(log_dir)!r} is in use by another run (its lock {LOCK_FILE} is held); "
                           "wait for that run to end or use another log_dir") from None
    try:
        yield
    finally:
        lock.release()
