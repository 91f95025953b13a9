"""Tables of each cell and run: DLPO's steps, metric calls to reach GEPA, early stopping replayed, how the budget
was given to each optimizer, failed and missing cells, wall time per row, and the final instructions."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .cells import MAIN_ORDER, PATIENCES, calls_to_reach, patience_stop
from .markdown import fmt


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


def error_table(records: list[dict[str, Any]]) -> str:
    bad = [r for r in records if r.get("status") != "ok"]
    if not bad:
        return "No cell failed."
    lines = ["| task | optimizer | seed | error |", "|---|---|---|---|"]
    for r in bad:
        err = str(r.get("error", "")).replace("|", "\\|").replace("\n", " ")[:300]
        lines.append(f"| {r['task']} | {r['optimizer']} | {r['seed']} | {err} |")
    return "\n".join(lines)


def missing_cells(records: list[dict[str, Any]], tasks: list[str]) -> str:
    """Main-optimizer cells this folder lacks: for every task, each main optimizer that has a cell in the folder
    and each seed that a main optimizer ran, the (optimizer, seed) pairs with no record (not run, or still
    running). An optimizer no task ran (``gepa-chatadapter`` outside the grids that include it) is not missing."""
    main = [r for r in records if r["optimizer"] in MAIN_ORDER]
    optimizers = [o for o in MAIN_ORDER if any(r["optimizer"] == o for r in main)]
    seeds = sorted({r["seed"] for r in main})
    have = {(r["task"], r["optimizer"], r["seed"]) for r in records}
    lines = []
    for t in tasks:
        gaps = [(o, [s for s in seeds if (t, o, s) not in have]) for o in optimizers]
        gaps = [f"{o} (seed{'s' if len(ss) > 1 else ''} {', '.join(map(str, ss))})" for o, ss in gaps if ss]
        if gaps:
            lines.append(f"- **{t}**: {', '.join(gaps)}")
    return "\n".join(lines) if lines else "Every task has a cell for every main optimizer and seed of this folder."


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


def instructions_section(records: list[dict[str, Any]]) -> str:
    out = []
    for r in records:
        if r.get("status") != "ok":
            continue
        body = "\n\n".join(f"`{name}`:\n\n```text\n{text}\n```" for name, text in r["instructions"].items())
        out.append(f"<details><summary>{r['task']} / {r['optimizer']} / seed {r['seed']} "
                   f"({r['instruction_words']} words)</summary>\n\n{body}\n\n</details>")
    return "\n\n".join(out)
