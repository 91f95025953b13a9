"""The fair-comparison sections of the benchmark README (issue 17): one frozen commit, the peers' settings,
what each optimizer proposed and spent, and two-level bootstrap intervals with Holm's correction.

Rows are split into the development row (DLPO's defaults were tuned while looking at it) and the rows
DLPO was never tuned on; each table is its own family for the multiple-comparison correction.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..activity import activity_table, field_invention_table
from .. import stats
from .cells import PEERS, reference_of
from .fair import (DEVELOPMENT_ROWS, SUBJECT, average_over, cells_of, compare, corrected, matrix, ok_cells, row_mean,
                   version_problem)

OVER_BUDGET = 1.10  # a cell that used more than 10% over its budget is flagged


def commit_section(records: list[dict[str, Any]]) -> str:
    """The commit(s) the cells ran on, and a loud warning per row whose cells do not share one clean commit."""
    cells = ok_cells(records)
    by_task: dict[str, set[str | None]] = defaultdict(set)
    for r in cells:
        by_task[r["task"]].add(r.get("code_version"))
    used = sorted({str(v) for vs in by_task.values() for v in vs})
    lines = [f"Cells ran on code version(s): {', '.join(f'`{v}`' for v in used) or 'none'}."]
    for task, versions in sorted(by_task.items()):
        problem = version_problem(versions)
        if problem:
            lines.append(f"- **WARNING, {task}: {problem}.** Its cells are not one experiment; the paired "
                         "differences of this row are refused below. Rerun the row on one commit.")
    if len(lines) == 1:
        lines.append("Every row ran on one clean commit.")
    return "\n".join(lines)


def _mean_text(cells: dict[int, dict[str, Any]]) -> tuple[str, str]:
    seeds = sorted(cells)
    try:
        mean, lo, hi = stats.mean_ci(matrix(cells, seeds))
        elo, ehi = stats.examples_only_ci(matrix(cells, seeds))
    except ValueError as exc:
        return f"- ({exc})", "-"
    return f"{mean:.1f} [{lo:.1f}, {hi:.1f}]", f"[{elo:.1f}, {ehi:.1f}]"


def _diff_text(c: dict[str, Any] | None) -> str:
    if c is None:
        return "- | - | - | -"
    if "refused" in c:
        return f"refused: {c['refused']} | - | - | -"
    lo, hi = c["ci"]
    blo, bhi = c["ci_bonferroni"]
    verdict = "**yes**" if c["p_holm"] < 1.0 - stats.LEVEL else "no"
    return f"{c['diff']:+.1f} [{lo:+.1f}, {hi:+.1f}] | [{blo:+.1f}, {bhi:+.1f}] | {c['p']:.3f} / {c['p_holm']:.3f} | {verdict}"


def comparison_table(records: list[dict[str, Any]], tasks: list[str], optimizers: list[str]) -> str:
    """Per row and optimizer: two-level mean and interval, the examples-only interval, DLPO minus it."""
    peers = [o for o in PEERS if o in optimizers]
    comps = corrected([c for t in tasks for p in peers if (c := compare(records, t, p)) is not None])
    by_key = {(c["task"], c["peer"]): c for c in comps}
    head = ("| task | optimizer | seeds | test % [95% CI, seeds and examples] | examples-only 95% CI "
            f"| {SUBJECT} minus it [95% CI] | Bonferroni-level CI | p / Holm p | significant after Holm |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for task in tasks:
        for opt in [SUBJECT, *peers]:
            cells = cells_of(records, task, opt)
            if not cells:
                continue
            mean, only = _mean_text(cells)
            diff = "- | - | - | -" if opt == SUBJECT else _diff_text(by_key.get((task, opt)))
            lines.append(f"| {task} | {opt} | {','.join(map(str, sorted(cells)))} | {mean} | {only} | {diff} |")
    return "\n".join(lines) if len(lines) > 2 else "No finished cells."


def average_table(records: list[dict[str, Any]], tasks: list[str], optimizers: list[str]) -> str | None:
    """DLPO minus each peer averaged over ``tasks`` (each row resampled with its own RNG seed, the row
    resamples averaged), Holm-corrected across the peers; a peer missing or refused on a row is left out."""
    if len(tasks) < 2:
        return None
    comps, means = [], {}
    for peer in [o for o in PEERS if o in optimizers]:
        averaged = average_over(records, tasks, peer)
        if averaged:
            d, means[peer] = averaged
            comps.append({"task": "average", "peer": peer, "diff": d.diff, "ci": (d.lo, d.hi), "p": d.p, "result": d})
    if not comps:
        return None
    lines = [f"| peer | peer's mean over the {len(tasks)} rows | {SUBJECT} minus it [95% CI] | Bonferroni-level CI "
             "| p / Holm p | significant after Holm |", "|---|---|---|---|---|---|"]
    for c in corrected(comps):
        lines.append(f"| {c['peer']} | {means[c['peer']]:.1f} | {_diff_text(c)} |")
    return "\n".join(lines)


def ablation_comparison_table(records: list[dict[str, Any]], tasks: list[str]) -> str | None:
    """Each ablation variant (:func:`reference_of` gives its reference) minus its reference with the two-level
    paired interval on their shared seeds, Holm-corrected across every variant of the table; None without
    variants."""
    variants = sorted({r["optimizer"] for r in ok_cells(records) if reference_of(r["optimizer"])})
    comps = []
    for task in tasks:
        for name in variants:
            c = compare(records, task, str(reference_of(name)), subject=name)
            if c is not None:
                comps.append({**c, "peer": name, "reference": reference_of(name)})
    if not comps:
        return None
    lines = ["| task | variant | seeds | variant's mean | reference, same seeds | variant minus reference [95% CI] "
             "| Bonferroni-level CI | p / Holm p | significant after Holm |", "|---|---|---|---|---|---|---|---|---|"]
    for c in corrected(comps):
        if "refused" in c:
            lines.append(f"| {c['task']} | {c['peer']} | - | - | {c['reference']} | {_diff_text(c)} |")
            continue
        mean = row_mean(records, c["task"], c["peer"], c["seeds"])
        ref = row_mean(records, c["task"], c["reference"], c["seeds"])
        lines.append(f"| {c['task']} | {c['peer']} | {','.join(map(str, c['seeds']))} | {mean:.1f} "
                     f"| {c['reference']} {ref:.1f} | {_diff_text(c)} |")
    return "\n".join(lines)


def fair_sections(records: list[dict[str, Any]]) -> list[str]:
    """The README parts: the commit check, then the development row and the held-out rows apart."""
    tasks = sorted({r["task"] for r in ok_cells(records)})
    optimizers = sorted({r["optimizer"] for r in ok_cells(records)})
    dev = [t for t in tasks if t in DEVELOPMENT_ROWS]
    held = [t for t in tasks if t not in DEVELOPMENT_ROWS]
    note = (f"Intervals are two-level percentile bootstraps ({stats.N_BOOT:,} resamples, RNG seed {stats.RNG_SEED}): "
            "seeds are drawn with replacement, then test examples, one draw of examples shared by the drawn seeds "
            "(every seed scores the same test slice; drawing examples afresh per seed would count one example three "
            "times and narrow the interval); a difference applies one set of draws to both optimizers (paired on their shared seeds and the same examples). The examples-only "
            "interval (each example averaged over seeds, examples resampled) is shown to tell how much the seeds "
            "add. p is the bootstrap's two-sided p-value for no difference; Holm's step-down correction runs over "
            "every paired comparison of the table, and the Bonferroni-level interval is the interval at level "
            "1 - 0.05/m for the table's m comparisons.")
    parts = ["## One frozen commit", "", commit_section(records), "", "## Fair comparison: statistics", "", note, ""]
    if dev:
        parts += ["### Development row (DLPO was tuned on it)", "",
                  "DLPO's defaults were changed while looking at this row's cells, and its leak filter quotes "
                  "outputs of it; no peer was tuned. Read it apart from the rows below.", "",
                  comparison_table(records, dev, optimizers), ""]
    if held:
        parts += ["### Rows DLPO was never tuned on", "", comparison_table(records, held, optimizers), ""]
        average = average_table(records, held, optimizers)
        if average:
            parts += ["Averaged over these rows (the rows' test slices are independent: each row is resampled on its "
                      "own and the resamples averaged; peers refused or missing on a row are left out):", "",
                      average, ""]
    logged = [r for r in ok_cells(records) if (r.get("details") or {}).get("trial_logs")]
    activity = activity_table(logged)
    if activity:
        parts += ["### How often each DLPO strategy acted", "", ACTIVITY_NOTE, "", activity, ""]
    ablation = ablation_comparison_table(records, tasks)
    if ablation:
        parts += ["### Ablation: each variant minus its reference, seeds and examples resampled", "",
                  "`dlpo-minus-<s>` and `dlpo+k<N>` against `dlpo`, `dlpo-only-<s>` against `tgd`, paired on their "
                  "shared seeds with the two-level bootstrap above; Holm's correction runs over every variant of "
                  "the table. The \"Ablation\" section below resamples test examples only, the seeds fixed.", "",
                  ablation, ""]
    invention = field_invention_table(logged)
    if invention:
        parts += ["### Rewrites that name a field the program lacks", "", INVENTION_NOTE, "", invention, ""]
    return parts


ACTIVITY_NOTE = ("Steps of the DLPO-family cells in which a strategy changed what the step did, summed over rows and "
                 "seeds (`benchmarks/activity.py`): learning rate = a rewrite broke the edit bound (re-asked or "
                 "clipped); dropout = sentences were frozen; annealing draws = a minibatch drop was put to the draw, "
                 "annealing accepted = the draw accepted it; momentum = earlier critiques were shown; contrastive = "
                 "better/worse instructions or a run pair were shown; regularization = the length penalty decided a "
                 "tie (or `max_words` was broken). TGD has every strategy off.")


INVENTION_NOTE = ("Rewrites proposed by the DLPO-family cells (every proposal of a step that made several) from an "
                  "instruction naming only the program's fields, counted when they name in backticks a field the "
                  "program does not have (`benchmarks/activity.py`; the program's fields are the backticked names of "
                  "the run's seed instruction), apart for update prompts that showed the contrast section and those "
                  "that did not. Steps that started from an instruction already naming a missing field are left out.")


SETTINGS_TEXT = """Each peer proposes at the temperature its authors use (read from dspy 3.4.1 and gepa 0.1.4; each \
cell records it in `details.settings`): GEPA's `reflection_lm` is a copy of the optimizer LM at temperature 1.0 (the \
`dspy.GEPA` docstring's recommendation; the grid's optimizer max_tokens kept), with its defaults otherwise \
(reflection minibatch 3, Pareto selection, merge on). `gepa-chat` is the same GEPA with an instruction proposer of \
this project that asks in tagged plain text instead of DSPy's JSONAdapter-based proposer \
(`benchmarks/chat_proposer.py`); `gepa-chatadapter`, where run, is DSPy's own proposer with \
`adapter=dspy.ChatAdapter()`. MIPROv2 proposes at its `init_temperature` 1.0 (its GroundedProposer copies the \
prompt model at that temperature with a fresh rollout_id); with a valset of at most 50 it scores every trial on the \
whole valset (`minibatch=False`, its own auto rule); `num_candidates=N` proposes N-1 new instructions (slot 0 is the \
original); zero-shot MIPROv2 still bootstraps N-1 demo sets on the trainset to ground its proposals (it cannot skip \
that without being patched), which the cell measures as `bootstrap_metric_calls`, and its trials are cut to what \
that left. COPRO proposes at its `init_temperature` 1.4. DLPO keeps its own setting: the first ask at the optimizer \
LM's temperature (greedy here), re-asks at 0.8 with a fresh rollout_id."""


BUDGET_TEXT = """Budgets are compared at matched spend, not capped: one counting wrapper around the task metric \
counts every optimizer's metric calls, and each cell shows the calls it used against its budget. A hard cap would \
have to stop a peer in the middle of an iteration: GEPA checks its budget only between iterations (so it may \
overshoot by one), `dspy.GEPA` runs with `raise_on_exception=True`, and MIPROv2's bootstrapping cost is known only \
after it ran; a stopped peer would return no program. Cells more than 10% over budget are flagged \
**over budget**; compare them with care."""


def copro_statement(records: list[dict[str, Any]]) -> str | None:
    plans = [(r.get("details") or {}).get("plan") or {} for r in ok_cells(records) if r["optimizer"] == "copro"]
    plans = [p for p in plans if "authors_defaults" in p]
    if not plans:
        return None
    p = plans[0]
    d = p["authors_defaults"]
    return (f"**COPRO cannot operate at its authors' defaults at this budget.** Breadth {d['breadth']} x depth "
            f"{d['depth']} on its {p['scoring_size']}-example scoring set costs {p['authors_defaults_metric_calls']} "
            f"metric calls; the budget allows breadth {p['breadth']} x depth {p['depth']} "
            f"({p['estimated_metric_calls']} calls, {p['new_proposals']} new proposals), scored on the valset (COPRO "
            "has no valset argument; the valset is the set every other optimizer selects on).")


def _temperature(d: dict[str, Any]) -> str:
    s = d.get("settings")
    if not s:
        return "-" if "proposals" in d else "not recorded"
    text = f"{s.get('role')} T={s.get('temperature')}"
    if s.get("init_temperature") is not None:
        text += f", init {s['init_temperature']}"
    if s.get("reask_temperature") is not None:
        text += f", re-asks {s['reask_temperature']}"
    return text


def spend_table(records: list[dict[str, Any]]) -> str:
    """Per cell: proposal temperature, distinct proposals, billed rollouts, metric calls against the budget."""
    rows = ["| task | optimizer | seed | proposal LM | optimizer-LM calls billed / made | distinct proposals / proposals "
            "| billed rollouts / task-LM calls | metric calls / budget | code |", "|---|---|---|---|---|---|---|---|---|"]
    for r in ok_cells(records):
        d, s, budget = r.get("details") or {}, r.get("spend") or {}, r["config"]["budget"]
        calls = s.get("metric_calls", 0)
        flag = " **over budget**" if calls > OVER_BUDGET * budget else ""
        if "bootstrap_metric_calls" in d:  # MIPROv2: what grounding its proposals cost
            flag += f" (bootstrapping {d['bootstrap_metric_calls']})"
        distinct = (f"{d['distinct_proposals']} / {d.get('proposals_total', '-')}" if "distinct_proposals" in d
                    else "not recorded")
        rows.append(f"| {r['task']} | {r['optimizer']} | {r['seed']} | {_temperature(d)} "
                    f"| {s.get('optimizer_billed_calls', '-')} / {s.get('optimizer_calls', '-')} | {distinct} "
                    f"| {s.get('task_lm_billed_calls', '-')} / {s.get('task_lm_calls', '-')} "
                    f"| {calls} / {budget}{flag} | {r.get('code_version') or 'not recorded'} |")
    return "\n".join(rows) if len(rows) > 2 else "No finished cells."


def settings_sections(records: list[dict[str, Any]]) -> list[str]:
    parts = ["## How each peer was run", "", SETTINGS_TEXT, ""]
    copro = copro_statement(records)
    if copro:
        parts += [copro, ""]
    parts += [BUDGET_TEXT, "", "## Proposals and spend per cell", "",
              "Distinct proposals: candidate instructions that differ from the seed instruction and from each other "
              "(whitespace normalized), from each optimizer's own record (GEPA's proposal events, MIPROv2's proposed "
              "instructions, COPRO's evaluated candidates, DLPO's trial logs, every candidate of a step that proposed "
              "several, counted by the report from the logs: the cells' stored count kept one per step). Billed "
              "rollouts: task-LM calls not "
              "served from the cache; a peer whose rollouts are mostly cached re-ran programs it had already run.", "",
              spend_table(records), ""]
    return parts
