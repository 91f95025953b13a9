"""Statistics of the fair comparison: a two-level bootstrap over seeds and test examples, and Holm's correction.

A cell's test score varies for two reasons: the optimizer's own randomness (which program a seed ends with)
and the finite test slice (which examples were drawn). Resampling only the examples, with each example's
score averaged over the seeds, ignores the first: three seeds that returned very different programs look
like one confident run. The two-level bootstrap draws seeds with replacement, then test examples with
replacement, and averages the drawn seeds' scores on the drawn examples.

The examples are drawn once per resample and used for every drawn seed: every seed scores the *same* test
slice (a crossed design, not seeds nested over their own examples). Drawing examples afresh for each seed
would count one test example scored under three seeds as three independent examples and make the interval
narrower than the examples-only one whenever the seeds agree. Drawn this way, the interval equals the
examples-only one when the seeds agree and widens as they disagree.

Two optimizers are compared *paired*: one set of draws (the same seed positions and the same example
indices) is applied to both, so a hard example stays hard on both sides.

Every function takes a fixed RNG seed, so a report regenerated from the same files prints the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

N_BOOT = 4000
RNG_SEED = 20261202
LEVEL = 0.95


@dataclass(frozen=True)
class Draws:
    """Bootstrap indices: ``seeds[b, j]`` is the seed position drawn in slot j of resample b, and
    ``examples[b, :]`` the example indices of resample b, shared by its seed slots (see the module docstring)."""

    seeds: np.ndarray
    examples: np.ndarray


def two_level_draws(n_seeds: int, n_examples: int, *, n_boot: int = N_BOOT, seed: int = RNG_SEED) -> Draws:
    """Indices of ``n_boot`` two-level resamples (seeds, then examples within each drawn seed)."""
    if n_seeds < 1 or n_examples < 1:
        raise ValueError(f"need at least one seed and one example, got {n_seeds} seeds and {n_examples} examples")
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    examples = rng.integers(0, n_examples, size=(n_boot, n_examples))
    return Draws(seeds=seeds, examples=examples)


def as_matrix(per_seed: Sequence[Sequence[float]]) -> np.ndarray:
    """Scores as a (seeds x examples) array; every seed must have scored the same test slice."""
    lengths = {len(row) for row in per_seed}
    if len(lengths) != 1 or not per_seed:
        raise ValueError(f"seeds scored test slices of different sizes {sorted(lengths)}; cannot resample them jointly")
    return np.asarray([list(row) for row in per_seed], dtype=float)


def resampled_means(scores: np.ndarray, draws: Draws) -> np.ndarray:
    """The mean score (percent) of every resample."""
    picked = scores[draws.seeds[:, :, None], draws.examples[:, None, :]]  # (boot, seed slot, example)
    return 100.0 * picked.mean(axis=(1, 2))


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    return float(np.percentile(values, 100 * alpha)), float(np.percentile(values, 100 * (1 - alpha)))


def mean_ci(per_seed: Sequence[Sequence[float]], *, n_boot: int = N_BOOT, seed: int = RNG_SEED,
            level: float = LEVEL) -> tuple[float, float, float]:
    """``(mean %, lo, hi)``: the two-level bootstrap interval of one optimizer's mean test score."""
    scores = as_matrix(per_seed)
    draws = two_level_draws(*scores.shape, n_boot=n_boot, seed=seed)
    lo, hi = _interval(resampled_means(scores, draws), level)
    return 100.0 * float(scores.mean()), lo, hi


@dataclass(frozen=True)
class Difference:
    """``a - b`` in points with its two-level interval and a two-sided bootstrap p-value."""

    diff: float
    lo: float
    hi: float
    p: float
    resamples: np.ndarray

    def interval(self, level: float) -> tuple[float, float]:
        """The percentile interval of the difference at another level (e.g. Bonferroni's 1 - 0.05/m)."""
        return _interval(self.resamples, level)


def paired_difference(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], *, n_boot: int = N_BOOT,
                      seed: int = RNG_SEED, level: float = LEVEL) -> Difference:
    """Two-level paired bootstrap of ``mean(a) - mean(b)``: ``a[k]`` and ``b[k]`` are the two optimizers'
    per-example scores at the k-th shared seed, on the same test examples.

    The p-value is twice the smaller tail of the resampled differences beyond 0 (the percentile bootstrap's
    test of "no difference"), at least 1/n_boot and at most 1."""
    x, y = as_matrix(a), as_matrix(b)
    if x.shape != y.shape:
        raise ValueError(f"paired scores need the same seeds and examples, got {x.shape} and {y.shape}")
    draws = two_level_draws(*x.shape, n_boot=n_boot, seed=seed)
    diffs = resampled_means(x, draws) - resampled_means(y, draws)
    return from_resamples(100.0 * float(x.mean() - y.mean()), diffs, level=level)


def from_resamples(diff: float, resamples: np.ndarray, *, level: float = LEVEL) -> Difference:
    """A :class:`Difference` from its point estimate and bootstrap resamples (e.g. an average over rows)."""
    lo, hi = _interval(resamples, level)
    tail = min(float(np.mean(resamples <= 0.0)), float(np.mean(resamples >= 0.0)))
    p = min(1.0, max(2.0 * tail, 1.0 / resamples.size))
    return Difference(diff=diff, lo=lo, hi=hi, p=p, resamples=resamples)


def average_difference(parts: Sequence[Difference]) -> Difference:
    """The difference averaged over independent parts (rows with their own test slices), each part's
    resamples drawn with its own RNG seed: the resamples are averaged position by position."""
    if not parts:
        raise ValueError("need at least one part to average")
    resamples = np.mean(np.stack([p.resamples for p in parts]), axis=0)
    return from_resamples(float(np.mean([p.diff for p in parts])), resamples)


def examples_only_ci(per_seed: Sequence[Sequence[float]], *, n_boot: int = N_BOOT, seed: int = RNG_SEED,
                     level: float = LEVEL) -> tuple[float, float]:
    """The old single-level interval: each example's score averaged over seeds, examples resampled (the
    seeds held fixed). Kept to show, next to :func:`mean_ci`, how much the seeds widen the interval."""
    scores = as_matrix(per_seed)
    draws = two_level_draws(*scores.shape, n_boot=n_boot, seed=seed)
    fixed = Draws(seeds=np.tile(np.arange(scores.shape[0]), (n_boot, 1)), examples=draws.examples)
    return _interval(resampled_means(scores, fixed), level)


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone), keyed like ``pvalues``.

    With m tests sorted by p, the i-th smallest (i from 1) is multiplied by m - i + 1; each adjusted
    value is the running maximum so the order is kept, and capped at 1. Rejecting where the adjusted
    p is below alpha controls the family-wise error rate at alpha."""
    for key, p in pvalues.items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p-value of {key!r} must be in [0, 1], got {p}")
    order = sorted(pvalues, key=lambda k: pvalues[k])
    m, running, out = len(order), 0.0, {}
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * pvalues[key]))
        out[key] = running
    return out


def bonferroni_level(level: float, m: int) -> float:
    """The per-comparison interval level whose m intervals hold jointly with probability ``level``."""
    if m < 1:
        raise ValueError(f"need at least one comparison, got {m}")
    return 1.0 - (1.0 - level) / m


# --------------------------------------------------------------------------------------------
# Single-level intervals (seeds held fixed): the per-cell block and the larger-slice tables
# --------------------------------------------------------------------------------------------
def bootstrap_ci(scores: Sequence[float], *, n_boot: int = 2000, seed: int = 20250101,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean score, in percent (fixed seed: reproducible)."""
    values = np.asarray(list(scores), dtype=float)
    if values.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(n_boot, values.size))
    means = values[idx].mean(axis=1) * 100.0
    alpha = (1.0 - level) / 2.0
    return (float(np.percentile(means, 100 * alpha)), float(np.percentile(means, 100 * (1 - alpha))))


def paired_diff_ci(a: Sequence[float], b: Sequence[float], *, n_boot: int = 2000, seed: int = 20250101,
                   level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(a) - mean(b)`` in points, resampling examples in pairs.

    ``a[i]`` and ``b[i]`` are two optimizers' scores on the same test example ``i``; resampling the
    pairs keeps the per-example correlation, so this interval is narrower (and right) where two
    independent intervals would overlap.
    """
    x, y = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    if x.size != y.size:
        raise ValueError(f"paired scores need equal lengths, got {x.size} and {y.size}")
    if x.size == 0:
        return (float("nan"), float("nan"))
    return bootstrap_ci(x - y, n_boot=n_boot, seed=seed, level=level)


def seed_mean_per_example(per_seed: Sequence[Sequence[float]]) -> list[float]:
    """Each test example's score averaged over seeds (every seed scored the same fixed test split)."""
    lengths = {len(scores) for scores in per_seed}
    if len(lengths) != 1:
        raise ValueError(f"seeds scored test splits of different sizes {sorted(lengths)}; cannot pair examples")
    return [float(v) for v in np.mean(np.asarray(per_seed, dtype=float), axis=0)]
