"""Where a cell ran: the machine it ran on and the version of the code it ran (recorded in every cell file)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import dspy

from .harness import PROJECT_ROOT

# The benchmark modules a cell runs (everything ``benchmarks.run`` imports); the report is not among them.
CELL_CODE = ("run.py", "grid.py", "cell.py", "lms.py", "environment.py", "harness.py", "optimizers.py", "peers.py",
             "proposals.py", "chat_proposer.py", "stats.py", "evalcache.py", "anytime.py",
             "headroom/instructions.json")


def _proc_field(path: str, name: str) -> str | None:
    """The value of the first ``name: value`` line of a ``/proc`` file, or None where there is none."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """nproc, RAM, CPU model and Python/DSPy versions of this machine."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or ""
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    ram_gb = round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None
    return {"nproc": os.cpu_count(), "ram_gb": ram_gb, "cpu": cpu, "python": platform.python_version(),
            "dspy": getattr(dspy, "__version__", "?"), "platform": platform.platform()}


def code_version() -> str | None:
    """The last git commit that changed the code a cell runs (``dspy_dlpo/`` and :data:`CELL_CODE`, not
    the report), with ``+dirty`` when that code has uncommitted changes; None outside a git checkout.
    Commits that only add results or change the report keep it, so cells run on the same code match."""
    paths = ["--", "dspy_dlpo", *(f"benchmarks/{name}" for name in CELL_CODE)]
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%h", "--abbrev=10", *paths], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", *paths], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None
