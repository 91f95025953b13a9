"""Write ``benchmarks/README.md`` and ``benchmarks/plots/*.png`` from the result files only.

Every number in the README is computed here from ``benchmarks/results/**/seed*.json`` (and
``benchmarks/results/overhead.json`` if present); nothing is typed by hand::

    python -m benchmarks.report [--results-dir benchmarks/results] [--out benchmarks/README.md]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from dspy_dlpo.trainer import out_of_patience  # noqa: E402

from . import report_fair  # noqa: E402
from .harness import APPEND, CANDIDATES, EXTENDED, bootstrap_ci, load_results, paired_diff_ci, seed_mean_per_example  # noqa: E402

logger = logging.getLogger("benchmarks.report")

HERE = Path(__file__).resolve().parent
MAIN_ORDER = ["baseline", "dlpo", "tgd", "gepa", "gepa-chat", "gepa-chatadapter", "miprov2", "copro"]
PEERS = ["baseline", "tgd", "gepa", "gepa-chat", "gepa-chatadapter", "miprov2", "copro"]


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------
def _mean(values: Iterable[float]) -> float:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(values) / len(values) if values else float("nan")


def aggregate(records: list[dict[str, Any]], test_key: str = "test") -> dict[tuple[str, str], dict[str, Any]]:
    """Per (task, optimizer): test score averaged over seeds, its bootstrap CI, and mean costs (ok cells only).

    Every seed scores the same fixed test split, so the interval resamples test examples (each
    example's score averaged over seeds), not seed x example pairs: pooling would count one
    example once per seed and make the interval too narrow. ``test_key`` names the test block
    (``"test_extended"``: the re-scored larger slice of :mod:`benchmarks.rescore`; cells without it
    are left out).
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("status") == "ok" and r.get(test_key):
            groups[(r["task"], r["optimizer"])].append(r)
    out = {}
    for key, cells in groups.items():
        cells = sorted(cells, key=lambda c: c["seed"])
        per_example = seed_mean_per_example([c[test_key]["per_example"] for c in cells])
        lo, hi = bootstrap_ci(per_example)
        spend = lambda k: _mean(c["spend"].get(k, 0) for c in cells)  # noqa: E731
        out[key] = {"seeds": [c["seed"] for c in cells], "n_test": len(per_example), "per_example": per_example,
                    "per_seed": [c[test_key]["score"] for c in cells],
                    "test": 100.0 * _mean(per_example), "ci": (lo, hi), "val": _mean(c["val"]["score"] for c in cells),
                    "metric_calls": spend("metric_calls"), "optimizer_calls": spend("optimizer_calls"),
                    "task_tokens": spend("task_input_tokens") + spend("task_output_tokens"),
                    "optimizer_tokens": spend("optimizer_input_tokens") + spend("optimizer_output_tokens"),
                    "wall_time_s": _mean(c["wall_time_s"] for c in cells),
                    "distinct_proposals": _mean((c.get("details") or {}).get("distinct_proposals") for c in cells),
                    "billed_rollouts": _mean(c["spend"].get("task_lm_billed_calls") for c in cells),
                    "instruction_words": _mean(c["instruction_words"] for c in cells), "cells": cells}
    return out


def order_optimizers(names: Iterable[str]) -> list[str]:
    names = set(names)
    main = [n for n in MAIN_ORDER if n in names]
    return main + sorted(names - set(main))


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def fmt_int(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.0f}"


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
def main_table(agg: dict[tuple[str, str], dict[str, Any]], tasks: list[str], optimizers: list[str]) -> str:
    head = ("| task | optimizer | seeds | test % [95% CI] | test % per seed | Δ vs baseline | val % | metric calls "
            "| optimizer calls | distinct proposals | billed rollouts "
            "| task tokens | optimizer tokens | wall time (min) | instruction words |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for task in tasks:
        base = agg.get((task, "baseline"))
        for opt in optimizers:
            a = agg.get((task, opt))
            if a is None:
                continue
            delta = a["test"] - base["test"] if base else float("nan")
            lines.append(f"| {task} | {opt} | {','.join(map(str, a['seeds']))} | {fmt(a['test'])} "
                         f"[{fmt(a['ci'][0])}, {fmt(a['ci'][1])}] | {', '.join(fmt(v) for v in a['per_seed'])} "
                         f"| {'' if opt == 'baseline' else '-' if math.isnan(delta) else f'{delta:+.1f}'} "
                         f"| {fmt(a['val'])} | {fmt_int(a['metric_calls'])} | {fmt_int(a['optimizer_calls'])} "
                         f"| {fmt(a.get('distinct_proposals'))} | {fmt_int(a.get('billed_rollouts'))} "
                         f"| {fmt_int(a['task_tokens'])} | {fmt_int(a['optimizer_tokens'])} "
                         f"| {fmt(a['wall_time_s'] / 60.0)} | {fmt_int(a['instruction_words'])} |")
    return "\n".join(lines)


def missing_cells(records: list[dict[str, Any]], tasks: list[str]) -> str:
    """Main optimizers without a finished cell for a task (not run, or still running)."""
    have = {(r["task"], r["optimizer"]) for r in records}
    lines = [f"- **{t}**: {', '.join(o for o in MAIN_ORDER if (t, o) not in have)}" for t in tasks
             if any((t, o) not in have for o in MAIN_ORDER)]
    return "\n".join(lines) if lines else "Every task has a cell for every main optimizer."


def error_table(records: list[dict[str, Any]]) -> str:
    bad = [r for r in records if r.get("status") != "ok"]
    if not bad:
        return "No cell failed."
    lines = ["| task | optimizer | seed | error |", "|---|---|---|---|"]
    for r in bad:
        err = str(r.get("error", "")).replace("|", "\\|").replace("\n", " ")[:300]
        lines.append(f"| {r['task']} | {r['optimizer']} | {r['seed']} | {err} |")
    return "\n".join(lines)


def resolution(agg: dict[tuple[str, str], dict[str, Any]], tasks: list[str]) -> str:
    """How finely this grid can tell optimizers apart: mean CI width and significant gaps vs baseline."""
    lines = []
    for task in tasks:
        cells = {o: a for (t, o), a in agg.items() if t == task}
        if not cells:
            continue
        width = _mean(a["ci"][1] - a["ci"][0] for a in cells.values())
        base = cells.get("baseline")
        sig = [o for o, a in cells.items() if base and o != "baseline" and significant(a, base)]
        lines.append(f"- **{task}**: mean width of the test 95% intervals {fmt(width)} points on "
                     f"{fmt_int(_mean(a['n_test'] for a in cells.values()))} test examples; optimizers whose paired "
                     f"95% interval of the difference with the baseline excludes 0: {', '.join(sig) if sig else 'none'}.")
    return "\n".join(lines)


def paired_ci(me: dict[str, Any], other: dict[str, Any]) -> tuple[float, float] | None:
    """95% interval of ``me - other`` in points over shared test examples; None if the splits differ."""
    if len(me["per_example"]) != len(other["per_example"]):
        return None
    return paired_diff_ci(me["per_example"], other["per_example"])


def _excludes_zero(ci: tuple[float, float] | None) -> bool:
    return ci is not None and (ci[0] > 0 or ci[1] < 0)


def significant(me: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether the paired 95% interval of the difference excludes 0."""
    return _excludes_zero(paired_ci(me, other))


def paired_note(me: dict[str, Any], other: dict[str, Any]) -> str:
    """``; paired 95% CI [lo, hi], (not) significant`` for two optimizers scored on the same test examples."""
    ci = paired_ci(me, other)
    if ci is None:
        return "; different test splits, not paired"
    return f"; paired 95% CI [{ci[0]:+.1f}, {ci[1]:+.1f}], {'significant' if _excludes_zero(ci) else 'not significant'}"


def _paired_diff_text(me: dict[str, Any], other: dict[str, Any]) -> str:
    """``+d.d [lo, hi]`` (and `` significant``) for ``me - other``, or why it cannot be paired."""
    ci = paired_ci(me, other)
    if ci is None:
        return "different slices"
    return f"{me['test'] - other['test']:+.1f} [{ci[0]:+.1f}, {ci[1]:+.1f}]" + (" significant" if _excludes_zero(ci) else "")


def _agreement(cells: list[dict[str, Any]]) -> str:
    """``agreed/compared`` summed over cells: re-scored original test examples that kept their score."""
    agree = sum(c[EXTENDED].get("agrees_with_original", 0) for c in cells)
    return f"{agree}/{sum(c[EXTENDED].get('compared_with_original', 0) for c in cells)}"


def extended_section(records: list[dict[str, Any]], small: dict[tuple[str, str], dict[str, Any]],
                     subject: str = "dlpo") -> str | None:
    """The main optimizers re-scored on a larger test slice (``test_extended``), with paired CIs vs ``subject``;
    ``small`` is :func:`aggregate` of the original test blocks, for comparison."""
    agg = aggregate(records, EXTENDED)
    if not agg:
        return None
    rows = ["| task | optimizer | seeds | test % [95% CI] | test % per seed | same cells on the original test "
            f"| {subject} minus it: paired 95% CI | rebuilt program agrees with the recorded test scores |",
            "|---|---|---|---|---|---|---|---|"]
    for task in sorted({t for t, _ in agg}):
        me = agg.get((task, subject))
        for opt in [o for o in MAIN_ORDER if (task, o) in agg]:
            a = agg[(task, opt)]
            cells = a["cells"]
            orig = small.get((task, opt))
            same = orig is not None and orig["seeds"] == a["seeds"]
            diff = "-" if opt == subject or me is None else _paired_diff_text(me, a)
            rows.append(f"| {task} | {opt} | {','.join(map(str, a['seeds']))} | {fmt(a['test'])} "
                        f"[{fmt(a['ci'][0])}, {fmt(a['ci'][1])}] on {a['n_test']} "
                        f"| {', '.join(fmt(v) for v in a['per_seed'])} "
                        f"| {fmt(orig['test']) + ' on ' + str(orig['n_test']) if same else '-'} | {diff} "
                        f"| {_agreement(cells)} |")
    return "\n".join(rows)


def largest_slice(small: dict[tuple[str, str], dict[str, Any]], extended: dict[tuple[str, str], dict[str, Any]],
                  tasks: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per task, the re-scored larger test slice if every main optimizer of the task has it on the seeds of its
    original cells, else the original test blocks: a task is never compared across two slices."""
    out = {}
    for task in tasks:
        keys = [(task, o) for o in MAIN_ORDER if (task, o) in small]
        use_extended = bool(keys) and all(k in extended and extended[k]["seeds"] == small[k]["seeds"] for k in keys)
        out.update({k: (extended if use_extended else small)[k] for k in keys})
    return out


def win_loss(agg: dict[tuple[str, str], dict[str, Any]], tasks: list[str], subject: str = "dlpo") -> str:
    """Plain statements of where ``subject`` loses, ties and wins, computed from the table (``agg`` may mix test
    slices across tasks, see :func:`largest_slice`; each statement names its number of test examples)."""
    losses, ties, wins = [], [], []
    for task in tasks:
        me = agg.get((task, subject))
        if me is None:
            continue
        for peer in PEERS:
            other = agg.get((task, peer))
            if other is None:
                continue
            diff = me["test"] - other["test"]
            text = (f"**{task}**: {subject} {fmt(me['test'])} vs {peer} {fmt(other['test'])} on "
                    f"{me['n_test']} test examples ({diff:+.1f} points{paired_note(me, other)})")
            (losses if diff < 0 else ties if diff == 0 else wins).append(text)
    out = [f"### Where {subject} loses (lower test score than the named optimizer)", ""]
    out += [f"- {t}" for t in losses] or ["- nowhere in this grid."]
    out += ["", f"### Ties", ""] + ([f"- {t}" for t in ties] or ["- none."])
    out += ["", f"### Where {subject} wins", ""] + ([f"- {t}" for t in wins] or ["- nowhere in this grid."])
    cost = []
    for task in tasks:
        me = agg.get((task, subject))
        if me is None:
            continue
        for peer in ("gepa", "miprov2", "copro", "tgd"):
            other = agg.get((task, peer))
            if other and me["wall_time_s"] > other["wall_time_s"]:
                cost.append(f"**{task}**: {subject} took {fmt(me['wall_time_s'] / 60)} min vs {peer} "
                            f"{fmt(other['wall_time_s'] / 60)} min ({fmt_int(me['optimizer_calls'])} vs "
                            f"{fmt_int(other['optimizer_calls'])} optimizer-LM calls)")
    out += ["", f"### Where {subject} costs more wall time", ""] + ([f"- {t}" for t in cost] or ["- nowhere."])
    return "\n".join(out)


def _step_story(log: dict[str, Any]) -> str:
    """One step in a few characters: outcome, validation score, and how the rewrite was obtained."""
    text = str(log.get("outcome", "?"))
    if log.get("val_score") is not None:
        text += f" (val {fmt(log['val_score'])})"
    marks = [f"{log['attempts'] - 1} re-ask{'s' if log['attempts'] > 2 else ''}"] if log.get("attempts", 1) > 1 else []
    marks += [mark for mark in ("clipped", "appended") if log.get(mark)]
    return text + (f" [{', '.join(marks)}]" if marks else "")


def dlpo_diagnostics(records: list[dict[str, Any]]) -> str:
    """Steps, outcomes and stop reason of every DLPO-family run (from its trial logs)."""
    rows = ["| task | optimizer | seed | steps: outcome (validation) [re-asks, clipped or appended] | best step "
            "| stop reason | faults |", "|---|---|---|---|---|---|---|"]
    for r in records:
        d = r.get("details") or {}
        if r.get("status") != "ok" or "trial_logs" not in d:
            continue
        story = "; ".join(f"{log.get('step')}: {_step_story(log)}" for log in d["trial_logs"]) or "-"
        faults = ", ".join(f"{k}: {v}" for k, v in sorted((d.get("faults") or {}).items())) or "-"
        rows.append(f"| {r['task']} | {r['optimizer']} | {r['seed']} | {story} "
                    f"| {d.get('best_step')} | {d.get('stop_reason')} | {faults} |")
    return "\n".join(rows) if len(rows) > 2 else "No DLPO-family cell finished."


def calls_to_reach(record: dict[str, Any], target: float) -> int | None:
    """Metric calls after which a DLPO-family run's best validation score first reached ``target``.

    Read from the run's own trial logs: the baseline validation (``val_size`` calls), then each
    step's cumulative ``metric_calls`` and ``best_score``. None if it never got there."""
    d = record.get("details") or {}
    if d.get("initial_score") is not None and d["initial_score"] >= target:
        return record["val"]["n"]
    for log in d.get("trial_logs") or []:
        if log.get("best_score") is not None and log["best_score"] >= target:
            return log.get("metric_calls")
    return None


def reach_gepa_table(records: list[dict[str, Any]], runs: tuple[str, ...] = ("dlpo", "tgd")) -> str:
    """Per task and seed: GEPA's final validation score and its metric calls, against the calls DLPO
    (and TGD) needed to reach that validation score."""
    cells = {(r["task"], r["optimizer"], r["seed"]): r for r in records if r.get("status") == "ok"}
    rows = ["| task | seed | GEPA val % | GEPA metric calls | " + " | ".join(f"{o}: calls to reach it" for o in runs)
            + " |", "|---|---|---|---|" + "---|" * len(runs)]
    for (task, opt, seed), gepa in sorted(cells.items()):
        if opt != "gepa":
            continue
        target = gepa["val"]["score"]
        reached = []
        for name in runs:
            mine = cells.get((task, name, seed))
            calls = calls_to_reach(mine, target) if mine else None
            reached.append("not run" if mine is None else str(calls) if calls is not None
                           else f"not reached (best {fmt(mine['val']['score'])})")
        rows.append(f"| {task} | {seed} | {fmt(target)} | {gepa['spend']['metric_calls']} | {' | '.join(reached)} |")
    return "\n".join(rows) if len(rows) > 2 else "No task has both a GEPA and a DLPO cell."


PATIENCES = (2, 3, 5)


def patience_stop(record: dict[str, Any], patience: int) -> tuple[int, int, bool]:
    """``(steps, metric calls, same final program)`` had the run used ``patience``.

    Exact, not estimated: a DLPO step depends only on the state before it and on randomness derived
    from (seed, step), so early stopping only cuts the recorded trial log short. The stop rule is the
    trainer's own (:func:`dspy_dlpo.trainer.out_of_patience`)."""
    d = record["details"]
    logs = d.get("trial_logs") or []
    best_step, best, calls = -1, d.get("initial_score"), record["val"]["n"]
    for t, log in enumerate(logs):
        if out_of_patience(t, best_step, patience):
            return t, calls, d.get("best_step") == best_step
        if log.get("best_score") is not None and (best is None or log["best_score"] > best):
            best_step, best = t, log["best_score"]
        calls = log.get("metric_calls", calls)
    return len(logs), calls, True


def patience_table(records: list[dict[str, Any]], patiences: tuple[int, ...] = PATIENCES) -> str:
    """Per DLPO-family cell: the steps and metric calls each patience would have used."""
    rows = ["| task | optimizer | seed | steps, metric calls (best step) | "
            + " | ".join(f"patience {k}" for k in patiences) + " |", "|---|---|---|---|" + "---|" * len(patiences)]
    for r in records:
        d = r.get("details") or {}
        if r.get("status") != "ok" or "trial_logs" not in d or not d["trial_logs"]:
            continue
        cells = []
        for k in patiences:
            steps, calls, same = patience_stop(r, k)
            cells.append(f"{steps}, {calls}" + ("" if same else " **worse program**"))
        rows.append(f"| {r['task']} | {r['optimizer']} | {r['seed']} | {len(d['trial_logs'])}, "
                    f"{d['trial_logs'][-1].get('metric_calls')} ({d.get('best_step')}) | {' | '.join(cells)} |")
    return "\n".join(rows) if len(rows) > 2 else "No DLPO-family cell finished."


def peer_budget_table(records: list[dict[str, Any]]) -> str:
    """How each peer's knobs were set from the budget, and the metric calls they really made."""
    rows = ["| task | optimizer | seed | budget | plan | metric calls counted | code |", "|---|---|---|---|---|---|---|"]
    for r in records:
        if r.get("status") != "ok" or r["optimizer"] == "baseline":
            continue
        plan = (r.get("details") or {}).get("plan")
        plan_text = ", ".join(f"{k}={v}" for k, v in plan.items()) if plan else f"max_metric_calls={r['config']['budget']}"
        rows.append(f"| {r['task']} | {r['optimizer']} | {r['seed']} | {r['config']['budget']} | {plan_text} "
                    f"| {r['spend']['metric_calls']} | {r.get('code_version') or 'not recorded'} |")
    return "\n".join(rows)


def reference_of(name: str) -> str | None:
    """The run a variant is compared with: ``<run>+append`` and ``<run>+k<N>`` with ``<run>``,
    ``dlpo-only-*`` with TGD, ``dlpo-minus-*`` with DLPO; None for the main optimizers."""
    head, sep, tail = name.rpartition(CANDIDATES)
    if sep and tail.isdigit():
        return head
    if name.endswith(APPEND):
        return name.removesuffix(APPEND)
    if name.startswith("dlpo-only-"):
        return "tgd"
    return "dlpo" if name.startswith("dlpo-minus-") else None


def ablation_table(agg: dict[tuple[str, str], dict[str, Any]], tasks: list[str]) -> str | None:
    names = sorted({o for (_, o) in agg if reference_of(o)})
    if not names:
        return None
    rows = ["| task | variant | test % [95% CI] | Δ test vs reference | val % | Δ val vs reference | metric calls "
            "| wall time (min) | instruction words |", "|---|---|---|---|---|---|---|---|---|"]
    for task in tasks:
        for name in names:
            a = agg.get((task, name))
            if a is None:
                continue
            ref_name = reference_of(name)
            ref = agg.get((task, ref_name))
            dt = f"{a['test'] - ref['test']:+.1f} vs {ref_name}" if ref else "-"
            dv = f"{a['val'] - ref['val']:+.1f} vs {ref_name}" if ref else "-"
            rows.append(f"| {task} | {name} | {fmt(a['test'])} [{fmt(a['ci'][0])}, {fmt(a['ci'][1])}] | {dt} "
                        f"| {fmt(a['val'])} | {dv} | {fmt_int(a['metric_calls'])} | {fmt(a['wall_time_s'] / 60)} "
                        f"| {fmt_int(a['instruction_words'])} |")
    return "\n".join(rows)


def instructions_section(records: list[dict[str, Any]]) -> str:
    out = []
    for r in records:
        if r.get("status") != "ok":
            continue
        body = "\n\n".join(f"`{name}`:\n\n```text\n{text}\n```" for name, text in r["instructions"].items())
        out.append(f"<details><summary>{r['task']} / {r['optimizer']} / seed {r['seed']} "
                   f"({r['instruction_words']} words)</summary>\n\n{body}\n\n</details>")
    return "\n\n".join(out)


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


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------
def plot_score_vs_calls(agg: dict[tuple[str, str], dict[str, Any]], tasks: list[str], optimizers: list[str],
                        path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = min(2, max(1, len(tasks)))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4.2 * rows), squeeze=False)
    markers = "osD^v<>P*X"
    for ax, task in zip(axes.flat, tasks):
        for i, opt in enumerate(o for o in optimizers if not o.startswith("dlpo-")):
            a = agg.get((task, opt))
            if a is None:
                continue
            ax.errorbar([a["metric_calls"]], [a["test"]], yerr=[[a["test"] - a["ci"][0]], [a["ci"][1] - a["test"]]],
                        fmt=markers[i % len(markers)], capsize=4, label=opt)
        ax.set_title(task)
        ax.set_xlabel("metric calls spent in optimization")
        ax.set_ylabel("test accuracy % (95% bootstrap CI)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_ablation(agg: dict[tuple[str, str], dict[str, Any]], tasks: list[str], path: Path) -> bool:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tasks = [t for t in tasks if any(o.startswith("dlpo-only-") or o.startswith("dlpo-minus-")
                                     for (tt, o) in agg if tt == t)]
    if not tasks:
        return False
    fig, axes = plt.subplots(len(tasks), 1, figsize=(11, 4.5 * len(tasks)), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        names = ["tgd"] + sorted(o for (t, o) in agg if t == task and o.startswith("dlpo-only-")) + \
                ["dlpo"] + sorted(o for (t, o) in agg if t == task and o.startswith("dlpo-minus-"))
        names = [n for n in names if (task, n) in agg]
        tests = [agg[(task, n)]["test"] for n in names]
        vals = [agg[(task, n)]["val"] for n in names]
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], tests, width=0.4, label="test")
        ax.bar([i + 0.2 for i in x], vals, width=0.4, label="val")
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("accuracy %")
        ax.set_title(f"{task}: add-one (dlpo-only-*, vs tgd) and remove-one (dlpo-minus-*, vs dlpo)")
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(0, max([*tests, *vals, 1.0]) * 1.3)  # headroom: the legend must not cover a bar
        ax.legend(loc="upper right", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------------------------
# README
# --------------------------------------------------------------------------------------------
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


def row_time_table(records: list[dict[str, Any]]) -> str:
    """Wall time of each row (task and settings) of the head-to-head, summed over its main-optimizer cells
    and seeds: optimization, then the final validation and test scoring (which scales with n_val + n_test)."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("status") == "ok" and r["optimizer"] in MAIN_ORDER:
            c = r["config"]
            settings = (f"`{c['model']}`, budget {c['budget']}, {c['n_train']} / {c['n_val']} / {c['n_test']}, "
                        f"max_tokens {c['max_tokens']} / {c['optimizer_max_tokens']}")
            rows[(r["task"], settings)].append(r)
    out = ["| task | task LM, budget, train / val / test, max tokens task / optimizer | seeds | cells "
           "| optimization (min) | final scoring (min) | total (min) |", "|---|---|---|---|---|---|---|"]
    for (task, settings), cells in sorted(rows.items()):
        opt = sum(c["wall_time_s"] for c in cells) / 60
        ev = sum(c.get("eval_wall_time_s", 0.0) for c in cells) / 60
        seeds = ",".join(map(str, sorted({c["seed"] for c in cells})))
        out.append(f"| {task} | {settings} | {seeds} | {len(cells)} | {fmt(opt)} | {fmt(ev)} | {fmt(opt + ev)} |")
    return "\n".join(out)


def as_module_command(command: str) -> str:
    """``/abs/path/benchmarks/run.py --x`` (how ``python -m`` fills argv[0]) as ``python -m benchmarks.run --x``."""
    head, _, rest = command.partition(" ")
    for script in ("run", "rescore"):
        if head.endswith(f"benchmarks/{script}.py"):
            return f"python -m benchmarks.{script} {rest}".strip()
    return command


def commands_section(records: list[dict[str, Any]], results_dir: Path) -> str:
    ordered = sorted(records, key=lambda r: r.get("started_at", ""))
    commands = list(dict.fromkeys(as_module_command(r.get("command", "")) for r in ordered))
    lines = ["```bash", 'pip install -e ".[benchmarks]"   # optuna for dspy.MIPROv2, matplotlib for the plots']
    lines += [c for c in commands if c] + ["python -m benchmarks.report"]
    if (results_dir / "overhead.json").exists():
        lines.insert(-1, json.loads((results_dir / "overhead.json").read_text()).get("command", ""))
    return "\n".join(lines + ["```"])


def extended_ablation_table(records: list[dict[str, Any]]) -> str | None:
    """Variants on the larger test slice, each against its reference (:func:`reference_of`) on the same
    seeds, with the paired 95% CI of the difference."""
    variants = sorted({(r["task"], r["optimizer"]) for r in records
                       if r.get(EXTENDED) and reference_of(r["optimizer"])})
    if not variants:
        return None
    rows = ["| task | variant | seeds | test % [95% CI] | reference, same seeds | variant minus reference: "
            "paired 95% CI | instruction words | rebuilt program agrees |", "|---|---|---|---|---|---|---|---|"]
    for task, name in variants:
        seeds = {r["seed"] for r in records if r["task"] == task and r["optimizer"] == name and r.get(EXTENDED)}
        ref_name = reference_of(name)
        agg = aggregate([r for r in records if r["task"] == task and r["seed"] in seeds
                         and r["optimizer"] in (name, ref_name)], EXTENDED)
        a, ref = agg[(task, name)], agg.get((task, ref_name))
        if ref is None or ref["seeds"] != a["seeds"]:
            ref_text, diff = f"{ref_name}: not scored on these seeds", "-"
        else:
            ref_text, diff = f"{ref_name} {fmt(ref['test'])}", _paired_diff_text(a, ref)
        rows.append(f"| {task} | {name} | {','.join(map(str, a['seeds']))} | {fmt(a['test'])} "
                    f"[{fmt(a['ci'][0])}, {fmt(a['ci'][1])}] on {a['n_test']} | {ref_text} | {diff} "
                    f"| {fmt_int(a['instruction_words'])} | {_agreement(a['cells'])} |")
    return "\n".join(rows)


def extended_parts(records: list[dict[str, Any]], agg: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The README section of the re-scored larger test slices, if any cell has one (``agg``: :func:`aggregate`)."""
    table = extended_section(records, agg)
    if table is None:
        return []
    commands = list(dict.fromkeys(r[EXTENDED].get("command", "") for r in records if r.get(EXTENDED)))
    parts = ["## The same final programs on a larger test slice", "",
             "`python -m benchmarks.rescore` rebuilds each cell's final program from its recorded instructions (every "
             "optimizer here returns 0 demos) and scores it on the first n examples of the same fixed test split; "
             "nothing is optimized again and the validation scores are unchanged. The original test examples are the "
             "first ones of the slice: the last column counts how many of them got the same score again (a check "
             "that the rebuilt program is the one the optimizer returned; llama.cpp decoding is not bit-exact "
             "across batch layouts, so a few flips are possible). Seeds are averaged per example as above; "
             "the paired interval resamples examples.", "", table, ""]
    ablation = extended_ablation_table(records)
    if ablation:
        parts += ["The ablation and `+append` variants on the same slice, each against its reference run on the same "
                  "seeds:", "",
                  ablation, ""]
    return parts + ["```bash", *[as_module_command(c) for c in commands if c], "```", ""]


def build_report(results_dir: Path, out: Path, plots_dir: Path) -> str:
    """Render the README from the result files; returns its text."""
    records = load_results(results_dir)
    agg = aggregate(records)
    tasks = sorted({r["task"] for r in records})
    optimizers = order_optimizers({r["optimizer"] for r in records})
    main_opts = [o for o in optimizers if not reference_of(o)]
    rel = lambda p: Path(p).resolve().relative_to(out.parent.resolve()) if Path(p).resolve().is_relative_to(out.parent.resolve()) else p  # noqa: E731
    plot1 = plots_dir / "score_vs_metric_calls.png"
    if agg:
        plot_score_vs_calls(agg, tasks, main_opts, plot1)
    plot2 = plots_dir / "ablation.png"
    has_ablation = plot_ablation(agg, tasks, plot2) if agg else False
    parts = ["# Benchmarks: DLPO vs. textual gradient descent, GEPA, MIPROv2 and COPRO", "",
             "Generated by `python -m benchmarks.report` from the files in "
             f"`{os.path.relpath(Path(results_dir).resolve(), HERE.parent)}`; no number in this file is typed by hand. "
             f"Last generated {datetime.now(timezone.utc).isoformat(timespec='minutes')}; "
             f"{sum(r.get('status') == 'ok' for r in records)} finished cells, "
             f"{sum(r.get('status') != 'ok' for r in records)} failed.", "",
             "All optimizers of a task share the task LM, the optimizer LM (DLPO's `prompt_model`, GEPA's "
             "`reflection_lm`, MIPROv2's and COPRO's `prompt_model`), the train/val/test split and the budget in "
             "metric calls. Metric calls are counted by one thread-safe wrapper around the task metric for every "
             "optimizer; LM calls and tokens by usage meters (cached answers are not billed, so not counted as "
             "tokens). The test split is scored only after the optimizer returned. `baseline` is the unoptimized "
             "program; `tgd` is DLPO with all seven strategies off (vanilla textual gradient descent). The "
             "in-memory LM cache is emptied before every cell and the disk cache is off, so no cell reuses "
             "another cell's LM answers.", "",
             "## Setup", "", setup_section(records), "",
             *report_fair.settings_sections(records),
             *report_fair.fair_sections(records),
             "## Results", "", main_table(agg, tasks, main_opts), "",
             "Test % is each test example's score averaged over the seeds, then averaged over examples; its 95% "
             "interval is a percentile bootstrap over test examples (2,000 resamples, fixed seed); the two-level "
             "intervals that resample the seeds too are in the fair-comparison section above. The seeds change "
             "only the optimizer's randomness: every seed scores the same fixed test split. "
             "costs are means over seeds and cover the optimization only (the final val/test scoring is "
             "recorded separately in each cell file as `eval_spend`).", "",
             f"![test score vs metric calls]({rel(plot1)})", "",
             "## How much this grid can resolve", "", resolution(agg, tasks), "",
             *extended_parts(records, agg),
             "## Where DLPO wins and loses", "",
             "Each task on its largest test slice: the re-scored one above where every main optimizer of the task "
             "has it, else the original test split.", "",
             win_loss(largest_slice(agg, aggregate(records, EXTENDED), tasks), tasks), "",
             "## Metric calls to reach GEPA's validation score", "",
             "Can DLPO reach GEPA's final score with fewer metric calls? The validation score is the one every "
             "optimizer selects on, so it is the one compared. DLPO's count comes from its trial logs (the "
             "baseline validation, then each step's cumulative calls and best validation score); it also counts "
             "rollouts that failed before reaching the metric, so it can only be higher than the harness count. "
             "A baseline that already matches GEPA's score counts as reached after the baseline validation.", "",
             reach_gepa_table(records), "",
             "## Early stopping: what `patience` would have saved", "",
             "DLPO's `patience=k` ends a run after k steps without a new best validation score. Replayed "
             "from each run's trial log (exact: a step depends only on the state before it and on randomness "
             "derived from the seed and the step number, so stopping early only cuts the log short). Each cell "
             "gives the steps and metric calls the run would have used; **worse program** marks a cell where "
             "the stop comes before the step that found the returned program.", "",
             patience_table(records), "",
             "## DLPO run diagnostics", "", dlpo_diagnostics(records), "",
             "## Wall time per row", "",
             "Summed over the main optimizers' cells of a row (loading the model and the data not included).", "",
             row_time_table(records), "",
             "## How the budget was given to each optimizer", "",
             "`code`: the last commit that changed the code a cell ran on (`dspy_dlpo/` and the runner); "
             "cells run before 2026-11-28 17:40 UTC did not record it.", "", peer_budget_table(records), "",
             "## Failed cells", "", error_table(records), "",
             "## Cells without a result (not run, or unfinished when this file was generated)", "",
             missing_cells(records, tasks), ""]
    ablation = ablation_table(agg, tasks)
    if ablation:
        parts += ["## Ablation: add one strategy to vanilla TGD, remove one from full DLPO", "",
                  "`<run>+append` rows are `<run>` with `append_on_no_op=True` (an unchanged rewrite is followed by "
                  "asks for one sentence to append), compared with `<run>`.", "", ablation, "",
                  f"![ablation]({rel(plot2)})" if has_ablation else "", ""]
    overhead = overhead_section(results_dir)
    if overhead:
        parts += ["## Study 3: framework overhead against a fixed-latency stub LM", "", overhead, ""]
    parts += ["## Commands", "", commands_section(records, results_dir), "",
              "## Final instructions", "", instructions_section(records), ""]
    text = "\n".join(parts)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write the benchmark README and plots from the result files.")
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    p.add_argument("--out", type=Path, default=None,
                   help="default benchmarks/README.md for benchmarks/results, else README.md in the results folder")
    p.add_argument("--plots-dir", type=Path, default=None, help="default: plots/ next to --out")
    args = p.parse_args(argv)
    if args.out is None:
        default = args.results_dir.resolve() == (HERE / "results").resolve()
        args.out = HERE / "README.md" if default else args.results_dir / "README.md"
    if args.plots_dir is None:
        args.plots_dir = args.out.parent / "plots"
    build_report(args.results_dir, args.out, args.plots_dir)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
