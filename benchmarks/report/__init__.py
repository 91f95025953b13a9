"""Write a results folder's ``README.md`` and ``plots/*.png`` from its result files only.

Every number in that README is computed here from ``<results-dir>/**/seed*.json`` (and
``<results-dir>/overhead.json`` if present); nothing is typed by hand::

    python -m benchmarks.report [--results-dir benchmarks/results/budget60] [--out <results-dir>/README.md]

The package, by seam: :mod:`.cells` (aggregates and paired differences of the result cells),
:mod:`.fair` (the fair comparison's statistics), :mod:`.tables`, :mod:`.runs`, :mod:`.provenance` and
:mod:`.fair_sections` (the Markdown tables and texts), :mod:`.figures` (the plots), and :mod:`.sections`
(the README as a list of sections, each a small function). The narrative across the folders is
``benchmarks/README.md``, written by hand.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..harness import DEFAULT_RESULTS_DIR, load_results
from ..proposals import recounted
from .cells import aggregate, order_optimizers, reference_of
from .figures import plot_ablation, plot_score_vs_calls
from .sections import Report, render


def _linked(path: Path, readme_dir: Path) -> str:
    """``path`` as the README links it: relative to the README's folder when inside it."""
    resolved, base = Path(path).resolve(), readme_dir.resolve()
    return str(resolved.relative_to(base) if resolved.is_relative_to(base) else path)


def build_report(results_dir: Path, out: Path, plots_dir: Path) -> str:
    """Draw the plots and render the README from the result files; returns its text."""
    records = [recounted(r) for r in load_results(results_dir)]
    agg = aggregate(records)
    tasks = sorted({r["task"] for r in records})
    main_optimizers = [o for o in order_optimizers({r["optimizer"] for r in records}) if not reference_of(o)]
    calls_plot, ablation_plot = plots_dir / "score_vs_metric_calls.png", plots_dir / "ablation.png"
    if agg:
        plot_score_vs_calls(agg, tasks, main_optimizers, calls_plot)
    has_ablation = plot_ablation(records, tasks, ablation_plot) if agg else False
    text = render(Report(records, results_dir, agg, tasks, main_optimizers, _linked(calls_plot, out.parent),
                         _linked(ablation_plot, out.parent) if has_ablation else None, plots_dir))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write the benchmark README and plots from the result files.")
    p.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR)
    p.add_argument("--out", type=Path, default=None, help="default: README.md in the results folder")
    p.add_argument("--plots-dir", type=Path, default=None, help="default: plots/ next to --out")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = args.results_dir / "README.md"
    if args.plots_dir is None:
        args.plots_dir = args.out.parent / "plots"
    build_report(args.results_dir, args.out, args.plots_dir)
    print(f"wrote {args.out}")
    return 0
