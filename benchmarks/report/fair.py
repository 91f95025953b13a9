"""The fair comparison's statistics (issue 17): DLPO minus each peer, paired on shared seeds and refused when
the cells do not share one clean commit or one test slice, with Holm's correction over a table."""

from __future__ import annotations

from typing import Any

from .. import stats

SUBJECT = "dlpo"
DEVELOPMENT_ROWS = ("bbh/logical_deduction_three_objects@predict",)


def ok_cells(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status") == "ok" and r.get("test")]


def version_problem(versions: set[str | None]) -> str | None:
    """Why cells with these ``code_version`` values must not be paired, or None if they may."""
    if None in versions:
        return "a cell did not record its code version"
    dirty = sorted(v for v in versions if v.endswith("+dirty"))
    if dirty:
        return f"uncommitted code ({', '.join(dirty)})"
    if len(versions) > 1:
        return f"different commits ({', '.join(sorted(versions))})"
    return None


def cells_of(records: list[dict[str, Any]], task: str, optimizer: str) -> dict[int, dict[str, Any]]:
    return {r["seed"]: r for r in ok_cells(records) if r["task"] == task and r["optimizer"] == optimizer}


def matrix(cells: dict[int, dict[str, Any]], seeds: list[int]) -> list[list[float]]:
    return [cells[s]["test"]["per_example"] for s in seeds]


def row_mean(records: list[dict[str, Any]], task: str, optimizer: str, seeds: list[int]) -> float:
    """Mean test score (percent) of ``optimizer`` on ``task`` over ``seeds`` and the test examples."""
    scores = stats.as_matrix(matrix(cells_of(records, task, optimizer), seeds))
    return 100.0 * float(scores.mean())


def compare(records: list[dict[str, Any]], task: str, peer: str, *, seed: int = stats.RNG_SEED,
            subject: str = SUBJECT) -> dict[str, Any] | None:
    """``subject`` (DLPO unless given) minus ``peer`` on ``task``, paired on their shared seeds; ``refused``
    says why it was not paired."""
    mine, other = cells_of(records, task, subject), cells_of(records, task, peer)
    if not mine or not other:
        return None
    seeds = sorted(set(mine) & set(other))
    versions = {mine[s].get("code_version") for s in seeds} | {other[s].get("code_version") for s in seeds}
    problem = version_problem(versions) if seeds else "no shared seed"
    sizes = {len(c["test"]["per_example"]) for c in [*mine.values(), *other.values()]}
    if problem is None and len(sizes) != 1:
        problem = f"different test slices {sorted(sizes)}"
    if problem:
        return {"task": task, "peer": peer, "refused": problem}
    d = stats.paired_difference(matrix(mine, seeds), matrix(other, seeds), seed=seed)
    return {"task": task, "peer": peer, "seeds": seeds, "diff": d.diff, "ci": (d.lo, d.hi), "p": d.p, "result": d}


def average_over(records: list[dict[str, Any]], tasks: list[str], peer: str) -> tuple[stats.Difference, float] | None:
    """DLPO minus ``peer`` averaged over ``tasks`` (each task resampled with its own RNG seed, the resamples
    averaged) and the peer's mean over them, or None when a task has no paired comparison."""
    parts = [compare(records, t, peer, seed=stats.RNG_SEED + i) for i, t in enumerate(tasks)]
    if not all(c is not None and "result" in c for c in parts):
        return None
    mean = sum(row_mean(records, t, peer, c["seeds"]) for t, c in zip(tasks, parts)) / len(tasks)
    return stats.average_difference([c["result"] for c in parts]), mean


def corrected(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Holm-adjusted p-values and Bonferroni-level intervals across the paired comparisons of one table."""
    paired = [c for c in comparisons if "p" in c]
    adjusted = stats.holm({f"{c['task']}|{c['peer']}": c["p"] for c in paired})
    level = stats.bonferroni_level(stats.LEVEL, max(1, len(paired)))
    for c in paired:
        c["p_holm"] = adjusted[f"{c['task']}|{c['peer']}"]
        c["ci_bonferroni"] = c["result"].interval(level)
    return comparisons
