"""How the results were produced: the machine and settings, the commands, and the overhead study."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..harness import DEFAULT_RESULTS_DIR, PROJECT_ROOT
from .markdown import fmt


def setup_section(records: list[dict[str, Any]]) -> str:
    configs = sorted({json.dumps(r["config"], sort_keys=True) for r in records})
    machine = records[0].get("machine", {}) if records else {}
    lines = [f"- Machine: {machine.get('nproc')} cores ({machine.get('cpu')}), {machine.get('ram_gb')} GB RAM, "
             f"{machine.get('platform')}; Python {machine.get('python')}, DSPy {machine.get('dspy')}."]
    for c in configs:
        c = json.loads(c)
        lines.append(f"- Task LM `{c['model']}` (max_tokens {c['max_tokens']}), optimizer LM `{c['optimizer_model']}` "
                     f"(max_tokens {c['optimizer_max_tokens']}); budget {c['budget']} metric calls; "
                     f"n_train {c['n_train']}, n_val {c['n_val']}, n_test {c['n_test']}; evaluation threads "
                     f"{c['threads']}; llama.cpp threads {c.get('llm_threads') or 'default'}.")
    notes = sorted({f"{r['task']}: {r.get('split_note')}" for r in records})
    lines += [f"- Split ({n})" for n in notes]
    return "\n".join(lines)


def as_module_command(command: str) -> str:
    """``/abs/path/benchmarks/run.py --x`` (how ``python -m`` fills argv[0]) as ``python -m benchmarks.run --x``."""
    head, _, rest = command.partition(" ")
    for script in ("run", "rescore"):
        if head.endswith(f"benchmarks/{script}.py"):
            return f"python -m benchmarks.{script} {rest}".strip()
    return command


def project_relative(path: Path) -> str:
    """``path`` relative to the project root, where the commands are run."""
    return os.path.relpath(Path(path).resolve(), PROJECT_ROOT)


def report_command(results_dir: Path) -> str:
    """The command that renders ``results_dir``'s README (``--results-dir`` unless it is the default folder)."""
    if Path(results_dir).resolve() == DEFAULT_RESULTS_DIR.resolve():
        return "python -m benchmarks.report"
    return f"python -m benchmarks.report --results-dir {project_relative(results_dir)}"


def commands_section(records: list[dict[str, Any]], results_dir: Path) -> str:
    ordered = sorted(records, key=lambda r: r.get("started_at", ""))
    commands = list(dict.fromkeys(as_module_command(r.get("command", "")) for r in ordered))
    lines = ["```bash", 'pip install -e ".[benchmarks]"   # optuna for dspy.MIPROv2, matplotlib for the plots']
    lines += [c for c in commands if c] + [report_command(results_dir)]
    if (results_dir / "overhead.json").exists():
        lines.insert(-1, json.loads((results_dir / "overhead.json").read_text()).get("command", ""))
    return "\n".join(lines + ["```"])


def overhead_section(results_dir: Path) -> str | None:
    path = results_dir / "overhead.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    rows = [f"Stub server latency {data['latency_s']} s per call; budget {data['budget']} metric calls; "
            f"task {data['task']}. Lower bound = LM calls x latency / threads; ratio = wall time / lower bound "
            "(1.0 = the optimizer keeps all threads waiting on the LM; higher = serial sections or "
            "framework overhead). Load average (1/5/15 min) of the machine before the study "
            f"{data.get('load_average_before')}, after {data.get('load_average_after')} on {data.get('nproc')} "
            "cores: other processes running at the same time inflate the ratios.", "",
            "The serial-aware bound charges optimizer-LM calls (sequential by nature) at full latency and only "
            "task-LM calls divided by threads: a ratio near 1 against it means the rest of the time is spent "
            "waiting on the LM.", "",
            "| optimizer | threads | LM calls | of which optimizer LM | metric calls | wall time (s) | lower bound (s) "
            "| ratio | serial-aware bound (s) | ratio to it | max concurrent requests | status |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lat = float(data["latency_s"])
    for run in data["runs"]:
        opt, task = run.get("client_optimizer_calls"), run.get("client_task_calls")
        serial = (opt * lat + task * lat / run["threads"]) if opt is not None and task is not None else None
        ratio2 = run["wall_time_s"] / serial if serial and run.get("wall_time_s") else None
        rows.append(f"| {run['optimizer']} | {run['threads']} | {run.get('lm_calls', '-')} | {opt if opt is not None else '-'} "
                    f"| {run.get('metric_calls', '-')} | {fmt(run.get('wall_time_s'), 2)} "
                    f"| {fmt(run.get('lower_bound_s'), 2)} | {fmt(run.get('ratio'), 2)} | {fmt(serial, 2)} "
                    f"| {fmt(ratio2, 2)} | {run.get('max_concurrent_requests', '-')} | {run.get('status')} |")
    rows += ["", f"Command: `{data.get('command', '')}`"]
    return "\n".join(rows)
