"""The result tables: scores with intervals, what the grid can resolve, wins and losses, the ablation, and the
re-scored larger test slices."""

from __future__ import annotations

import math
from typing import Any

from ..harness import EXTENDED
from .cells import MAIN_ORDER, PEERS, aggregate, excludes_zero, mean_of, paired_ci, reference_of, significant
from .markdown import fmt, fmt_int


def main_table(agg: dict[tuple[str, str], dict[str, Any]], tasks: list[str], optimizers: list[str]) -> str:
    head = ("| task | optimizer | seeds | test % [95% CI] | test % per seed | Δ vs baseline | val % | val % per seed "
            "| metric calls | optimizer calls | distinct proposals | billed rollouts "
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
                         f"| {fmt(a['val'])} | {', '.join(fmt(v) for v in a['val_per_seed'])} | {fmt_int(a['metric_calls'])} | {fmt_int(a['optimizer_calls'])} "
                         f"| {fmt(a.get('distinct_proposals'))} | {fmt_int(a.get('billed_rollouts'))} "
                         f"| {fmt_int(a['task_tokens'])} | {fmt_int(a['optimizer_tokens'])} "
                         f"| {fmt(a['wall_time_s'] / 60.0)} | {fmt_int(a['instruction_words'])} |")
    return "\n".join(lines)


def resolution(agg: dict[tuple[str, str], dict[str, Any]], tasks: list[str]) -> str:
    """How finely this grid can tell optimizers apart: mean CI width and significant gaps vs baseline."""
    lines = []
    for task in tasks:
        cells = {o: a for (t, o), a in agg.items() if t == task}
        if not cells:
            continue
        width = mean_of(a["ci"][1] - a["ci"][0] for a in cells.values())
        base = cells.get("baseline")
        sig = [o for o, a in cells.items() if base and o != "baseline" and significant(a, base)]
        lines.append(f"- **{task}**: mean width of the test 95% intervals {fmt(width)} points on "
                     f"{fmt_int(mean_of(a['n_test'] for a in cells.values()))} test examples; optimizers whose paired "
                     f"95% interval of the difference with the baseline excludes 0: {', '.join(sig) if sig else 'none'}.")
    return "\n".join(lines)


def paired_note(me: dict[str, Any], other: dict[str, Any]) -> str:
    """``; paired 95% CI [lo, hi], (not) significant`` for two optimizers scored on the same test examples."""
    ci = paired_ci(me, other)
    if ci is None:
        return "; different test splits, not paired"
    return f"; paired 95% CI [{ci[0]:+.1f}, {ci[1]:+.1f}], {'significant' if excludes_zero(ci) else 'not significant'}"


def _paired_diff_text(me: dict[str, Any], other: dict[str, Any]) -> str:
    """``+d.d [lo, hi]`` (and `` significant``) for ``me - other``, or why it cannot be paired."""
    ci = paired_ci(me, other)
    if ci is None:
        return "different slices"
    return f"{me['test'] - other['test']:+.1f} [{ci[0]:+.1f}, {ci[1]:+.1f}]" + (" significant" if excludes_zero(ci) else "")


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
    out += ["", "### Ties", ""] + ([f"- {t}" for t in ties] or ["- none."])
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


def same_seed_pair(records: list[dict[str, Any]], task: str, name: str, test_key: str = "test"
                   ) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
    """A variant's aggregate, its reference's name (:func:`reference_of`) and the reference aggregated over the
    variant's seeds only (None if the reference did not run on every one of them): a variant run on seeds 0 and
    1 is never compared with a reference averaged over seeds 0 to 2."""
    seeds = {r["seed"] for r in records if r.get("status") == "ok" and r["task"] == task
             and r["optimizer"] == name and r.get(test_key)}
    ref_name = reference_of(name) or ""
    agg = aggregate([r for r in records if r["task"] == task and r["seed"] in seeds
                     and r["optimizer"] in (name, ref_name)], test_key)
    a, ref = agg[(task, name)], agg.get((task, ref_name))
    return a, ref_name, ref if ref is not None and ref["seeds"] == a["seeds"] else None


def ablation_table(records: list[dict[str, Any]], tasks: list[str]) -> str | None:
    """Each ablation or ``+append`` variant against its reference on the same seeds, with the paired 95% CI
    of the test difference (test examples resampled, the seeds fixed)."""
    names = sorted({r["optimizer"] for r in records if r.get("status") == "ok" and reference_of(r["optimizer"])})
    if not names:
        return None
    rows = ["| task | variant | seeds | test % [95% CI] | reference, same seeds | variant minus reference: paired "
            "95% CI | val % | Δ val vs reference | metric calls | wall time (min) | instruction words |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for task in tasks:
        for name in names:
            if not any(r["task"] == task and r["optimizer"] == name and r.get("status") == "ok" for r in records):
                continue
            a, ref_name, ref = same_seed_pair(records, task, name)
            if ref is None:
                ref_text, diff, dv = f"{ref_name}: not run on these seeds", "-", "-"
            else:
                ref_text, diff = f"{ref_name} {fmt(ref['test'])}", _paired_diff_text(a, ref)
                dv = f"{a['val'] - ref['val']:+.1f}"
            rows.append(f"| {task} | {name} | {','.join(map(str, a['seeds']))} | {fmt(a['test'])} "
                        f"[{fmt(a['ci'][0])}, {fmt(a['ci'][1])}] | {ref_text} | {diff} | {fmt(a['val'])} | {dv} "
                        f"| {fmt_int(a['metric_calls'])} | {fmt(a['wall_time_s'] / 60)} "
                        f"| {fmt_int(a['instruction_words'])} |")
    return "\n".join(rows)


def extended_ablation_table(records: list[dict[str, Any]]) -> str | None:
    """Variants on the larger test slice, each against its reference (:func:`reference_of`) on the same
    seeds, with the paired 95% CI of the difference."""
    variants = sorted({(r["task"], r["optimizer"]) for r in records
                       if r.get(EXTENDED) and r.get("status") == "ok" and reference_of(r["optimizer"])})
    if not variants:
        return None
    rows = ["| task | variant | seeds | test % [95% CI] | reference, same seeds | variant minus reference: "
            "paired 95% CI | instruction words | rebuilt program agrees |", "|---|---|---|---|---|---|---|---|"]
    for task, name in variants:
        a, ref_name, ref = same_seed_pair(records, task, name, EXTENDED)
        if ref is None:
            ref_text, diff = f"{ref_name}: not scored on these seeds", "-"
        else:
            ref_text, diff = f"{ref_name} {fmt(ref['test'])}", _paired_diff_text(a, ref)
        rows.append(f"| {task} | {name} | {','.join(map(str, a['seeds']))} | {fmt(a['test'])} "
                    f"[{fmt(a['ci'][0])}, {fmt(a['ci'][1])}] on {a['n_test']} | {ref_text} | {diff} "
                    f"| {fmt_int(a['instruction_words'])} | {_agreement(a['cells'])} |")
    return "\n".join(rows)
