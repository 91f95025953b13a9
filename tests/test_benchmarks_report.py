"""The benchmark report on scripted cells: the fair statistics (two-level bootstrap, Holm), the rows apart,
the ablation, the patience replay, the code-version checks and the report's sections."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import dspy
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root holds benchmarks/

from scripted import ScriptedOptimizer, exact_metric, reverse_examples, reverse_task_lm

from benchmarks import environment, grid, report, run, stats
from benchmarks.report import cells as report_cells
from benchmarks.report import fair, fair_sections, runs
from benchmarks.harness import load_results, relative_command
from benchmarks.optimizers import expand, run_optimizer
from dspy_dlpo.lm.engine import function_lm

from bench_helpers import PeerOptimizerScript, ScriptedPool, ToyTask, _fair_cell, _grid, _setup


def test_patience_replay_matches_a_real_run_with_patience() -> None:
    from dspy_dlpo import DLPOTeleprompter

    data = reverse_examples()
    # every rewrite ties at 0: no step ever sets a new best
    def compile_with(**options: Any) -> dspy.Module:
        optimizer = ScriptedOptimizer(rewrite=lambda prompt, n: f"<instruction>Variant {n}.</instruction>")
        with dspy.context(lm=reverse_task_lm()):
            return DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), max_metric_calls=60, batch_size=4,
                                    progress=False, candidates_per_step=1, **options).compile(dspy.Predict("question -> answer"),
                                                                        trainset=data[:8], valset=data[8:])

    def as_record(result: dspy.Module) -> dict[str, Any]:
        return {"status": "ok", "task": "toy", "optimizer": "dlpo", "seed": 0, "val": {"n": 8},
                "details": {**result.detailed_results, "trial_logs": result.trial_logs}}

    full = as_record(compile_with())
    # ties validated while a full step still fits (8 + 16 + 16), a last step sized to the rest (12), the
    # budget's last 8 calls on validating its unvalidated candidate
    assert full["details"]["steps"] == 4
    for k, calls in ((2, 40), (3, 52)):
        stopped = compile_with(patience=k).detailed_results
        assert report_cells.patience_stop(full, k) == (stopped["steps"], stopped["spend"]["metric_calls"], True) == \
            (k, calls, True)
    table = runs.patience_table([full], patiences=(2, 9))
    assert "| toy | dlpo | 0 | 4, 60 (-1) | 2, 40 | 4, 60 |" in table
    # a best found at step 3 is lost by patience 3 (3 steps without a new best: the stop comes before step 3)
    late = {**full, "details": {**full["details"], "best_step": 3, "initial_score": 0.0,
                                "trial_logs": [{**log, "best_score": 50.0 if log["step"] >= 3 else 0.0}
                                               for log in full["details"]["trial_logs"]]}}
    assert report_cells.patience_stop(late, 3) == (3, 52, False) and report_cells.patience_stop(late, 4) == (4, 60, True)
    assert "**worse program**" in runs.patience_table([late], patiences=(2,))


def test_two_level_bootstrap_widens_where_seeds_disagree_and_is_deterministic() -> None:
    # three seeds that ended with very different programs: per example, the seed mean is always 1/3
    per_seed = [[1.0] * 30, [0.0] * 30, [0.0] * 30]
    lo, hi = stats.examples_only_ci(per_seed)
    assert hi - lo < 1e-9  # examples only: no uncertainty at all
    mean, tlo, thi = stats.mean_ci(per_seed)
    assert round(mean, 6) == 33.333333 and thi - tlo > 50.0  # seeds resampled: 0% to 66.7% are both plausible
    assert stats.mean_ci(per_seed) == (mean, tlo, thi)  # fixed RNG seed
    a = [[1.0] * 20 + [0.0] * 10] * 3
    b = [[1.0] * 10 + [0.0] * 20] * 3
    d = stats.paired_difference(a, b)
    assert round(d.diff, 6) == 33.333333 and 0.0 < d.lo <= d.hi and d.p == 1.0 / stats.N_BOOT
    assert stats.paired_difference(a, a).p == 1.0
    with pytest.raises(ValueError, match="same seeds and examples"):
        stats.paired_difference(a, b[:2])


def test_holm_correction_on_known_p_values() -> None:
    adjusted = stats.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.5})
    assert adjusted == pytest.approx({"a": 0.04, "c": 0.09, "b": 0.09, "d": 0.5})  # b keeps c's value: monotone
    assert stats.bonferroni_level(0.95, 5) == pytest.approx(0.99)
    with pytest.raises(ValueError, match="'x'"):
        stats.holm({"x": 1.5})



def test_report_refuses_to_pair_cells_of_mixed_or_dirty_code() -> None:
    clean = [_fair_cell(o, s, [1.0, 0.0, 1.0, 1.0] if o == "dlpo" else [0.0, 0.0, 1.0, 0.0])
             for o in ("dlpo", "gepa") for s in (0, 1)]
    assert "Every row ran on one clean commit" in fair_sections.commit_section(clean)
    assert "p_holm" in fair.corrected([fair.compare(clean, "bbh/t@predict", "gepa")])[0]
    for versions, reason in ((("abc1234567", "def7654321"), "different commits"),
                             (("abc1234567+dirty", "abc1234567+dirty"), "uncommitted code"),
                             ((None, "abc1234567"), "did not record")):
        mixed = [_fair_cell("dlpo", 0, [1.0, 0.0], versions[0]), _fair_cell("gepa", 0, [0.0, 0.0], versions[1])]
        assert reason in fair.compare(mixed, "bbh/t@predict", "gepa")["refused"]
        assert "WARNING, bbh/t@predict" in fair_sections.commit_section(mixed)
        row = fair_sections.comparison_table(mixed, ["bbh/t@predict"], ["dlpo", "gepa"]).splitlines()[-1]
        assert "| refused: " in row and reason in row
    table = fair_sections.spend_table(clean)
    assert "| bbh/t@predict | gepa | 0 | reflection_lm T=1.0 | 7 / 9 | 0 / 9 | 30 / 64 | 70 / 60 **over budget** |" in table
    assert "| 60 / 60 |" in table
    mipro = {**clean[0], "optimizer": "miprov2", "details": {**clean[0]["details"], "bootstrap_metric_calls": 22}}
    assert "| 60 / 60 (bootstrapping 22) |" in fair_sections.spend_table([mipro])


def test_ablation_table_pairs_each_variant_with_its_reference_on_shared_seeds_with_holm() -> None:
    good, bad = [1.0, 1.0, 1.0, 0.0] * 5, [0.0, 0.0, 1.0, 0.0] * 5
    cells = [_fair_cell("dlpo", s, bad) for s in (0, 1, 2)] + [_fair_cell("tgd", s, good) for s in (0, 1, 2)]
    cells += [_fair_cell("dlpo-minus-contrastive", s, good) for s in (0, 1, 2)]
    cells += [_fair_cell("dlpo-only-momentum", s, good) for s in (0, 2)]           # one seed fewer than tgd
    cells += [_fair_cell("dlpo-only-dropout", 0, good, "def7654321")]             # another commit: refused
    table = fair_sections.ablation_comparison_table(cells, ["bbh/t@predict"])
    rows = {line.split(" | ")[1]: line for line in table.splitlines()[2:]}
    assert set(rows) == {"dlpo-minus-contrastive", "dlpo-only-momentum", "dlpo-only-dropout"}
    assert "| 0,1,2 | 75.0 | dlpo 25.0 | +50.0 [" in rows["dlpo-minus-contrastive"]
    assert rows["dlpo-minus-contrastive"].endswith("| **yes** |")                # 2 paired comparisons, p = 1/N_BOOT
    assert "| 0,2 | 75.0 | tgd 75.0 | +0.0 [+0.0, +0.0] |" in rows["dlpo-only-momentum"]
    assert "refused: different commits" in rows["dlpo-only-dropout"]
    assert fair_sections.ablation_comparison_table(cells[:6], ["bbh/t@predict"]) is None


def test_fair_grid_dry_run_lists_the_cells(capsys: pytest.CaptureFixture[str]) -> None:
    args = run.parse_args(["--grid", "fair"])
    assert (args.budget, args.n_train, args.n_val, args.n_test, args.max_tokens, args.optimizer_max_tokens) == \
        (60, 20, 10, 100, 100, 600)
    assert args.results_dir.parts[-2:] == ("results", "fair") and args.seeds == [0, 1, 2]
    assert run.main(["--grid", "fair", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "63 cells into benchmarks/results/fair:"
    cells = [tuple(line.split()) for line in lines[1:]]
    assert len(cells) == 63 and len(set(cells)) == 63
    assert {c[1] for c in cells} == {"baseline", "dlpo", "tgd", "gepa", "gepa-chat", "miprov2", "copro"}
    assert ("bbh/object_counting@predict", "gepa-chat", "2") in cells


def test_recorded_command_is_relative(tmp_path: Path) -> None:
    root = Path(run.__file__).resolve().parent.parent
    command = relative_command("benchmarks.run", ["--results-dir", str(root / "benchmarks" / "results" / "fair"),
                                                  f"--data-dir={root / 'data'}", "--seeds", "0"], root)
    assert command == "python -m benchmarks.run --results-dir benchmarks/results/fair --data-dir=data --seeds 0"
    _, (record,) = _grid(tmp_path, ["baseline"])
    assert record["command"].startswith("python -m benchmarks.run --tasks toy/reverse")
    assert not any(part.startswith("/") for part in record["command"].split())  # outside the project: ../ paths


def test_development_row_is_reported_apart_from_the_held_out_rows() -> None:
    dev, held = fair.DEVELOPMENT_ROWS[0], "bbh/object_counting@predict"
    mine, theirs = [1.0] * 15 + [0.0] * 5, [1.0] * 5 + [0.0] * 15
    records = [{**_fair_cell(o, s, mine if o == "dlpo" else theirs), "task": t}
               for t in (dev, held) for o in ("dlpo", "tgd", "gepa") for s in (0, 1, 2)]
    text = "\n".join(fair_sections.fair_sections(records))
    dev_part = text.split("### Development row (DLPO was tuned on it)")[1].split("### Rows DLPO was never tuned on")[0]
    held_part = text.split("### Rows DLPO was never tuned on")[1]
    assert dev in dev_part and held not in dev_part and held in held_part and dev not in held_part
    # each table is its own Holm family of 2 comparisons: dlpo vs tgd and vs gepa, identical data, p = 1/N_BOOT
    held_rows = [line for line in held_part.splitlines() if line.startswith(f"| {held} | ") and "| **yes** |" in line]
    assert len(held_rows) == 2 and all("+50.0 [" in line for line in held_rows)
    assert all(f"| {1 / stats.N_BOOT:.3f} / {2 / stats.N_BOOT:.3f} |" in line for line in held_rows)


def test_fair_grid_end_to_end_on_scripted_lms_renders_the_report(tmp_path: Path) -> None:
    class PeerPool(ScriptedPool):
        def __init__(self, args: Any) -> None:
            super().__init__(args)
            self.optimizer = PeerOptimizerScript().lm().copy(temperature=0.0, max_tokens=600)

    names = ["baseline", "dlpo", "tgd", "gepa", "gepa-chat", "miprov2", "copro"]
    args = run.parse_args(["--grid", "fair", "--tasks", "toy/reverse", "--optimizers", *names, "--seeds", "0", "1",
                           "--budget", "40", "--results-dir", str(tmp_path / "fair"), "--model", "scripted"])
    data = reverse_examples()
    task = ToyTask(trainset=data[:8], valset=data[8:12], testset=data[12:])
    written = grid.run_grid(args, pool=PeerPool(args), loader=lambda name, **kw: task)
    assert [r["status"] for r in written] == ["ok"] * 14, [r.get("error") for r in written]
    assert all("distinct_proposals" in r["details"] for r in written)
    for r in written:  # the anytime curve (issue 32): four points with a test score, COPRO has none
        if r["optimizer"] == "copro":
            assert r["anytime"] is None
            continue
        assert [p["calls"] for p in r["anytime"]] == [10, 20, 30, 40], r["optimizer"]
        assert all(0.0 <= p["test"] <= 100.0 for p in r["anytime"])
        final = r["anytime"][-1]
        if r["spend"]["metric_calls"] <= 40:  # within the budget, the 100% point is the returned program
            assert final["is_returned_program"] and final["test"] == r["test"]["score"], r["optimizer"]
    assert report.main(["--results-dir", str(tmp_path / "fair")]) == 0
    text = (tmp_path / "fair" / "README.md").read_text()
    assert "python -m benchmarks.report --results-dir ../" in text  # the command renders this folder
    for heading in ("## How each peer was run", "## One frozen commit", "### Rows DLPO was never tuned on",
                    "## Proposals and spend per cell", "COPRO cannot operate at its authors' defaults",
                    "### How often each DLPO strategy acted", "### Rewrites that name a field the program lacks"):
        assert heading in text, heading
    assert "| distinct proposals | billed rollouts |" in text
    assert "## Anytime: the best program at each fraction of the budget" in text and "![anytime](plots/anytime.png)" in text
    assert (tmp_path / "fair" / "plots" / "anytime.png").exists()
    assert "| dlpo at 50% minus gepa at 100% [95% CI, seeds and examples] | p |" in text
    assert "| copro |" not in text.split("## Anytime")[1].split("###")[0]  # no curve without validations
    assert "| toy/reverse | gepa-chat | 0,1 |" in text


def test_two_level_interval_equals_examples_only_when_the_seeds_agree() -> None:
    per_seed = [[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]] * 3  # one test slice, shared by the seeds
    _, lo, hi = stats.mean_ci(per_seed)
    assert (lo, hi) == stats.examples_only_ci(per_seed) and hi - lo > 30.0


def test_average_over_held_out_rows_resamples_each_row_on_its_own() -> None:
    rows = ["bbh/object_counting@predict", "bbh/tracking_shuffled_objects_three_objects@predict"]
    mine, theirs = [1.0] * 15 + [0.0] * 5, [1.0] * 5 + [0.0] * 15
    records = [{**_fair_cell(o, s, (mine if o == "dlpo" else theirs) if t == rows[0] else theirs), "task": t}
               for t in rows for o in ("dlpo", "gepa") for s in (0, 1, 2)]
    table = fair_sections.average_table(records, rows, ["dlpo", "gepa"])
    (row,) = [line for line in table.splitlines() if line.startswith("| gepa |")]
    assert row.startswith("| gepa | 25.0 | +25.0 [")  # +50 on the first row, 0 on the second
    assert fair_sections.average_table(records, rows[:1], ["dlpo", "gepa"]) is None  # one row: nothing to average
    parts = [stats.paired_difference([mine] * 3, [theirs] * 3, seed=1), stats.paired_difference([theirs] * 3, [theirs] * 3)]
    avg = stats.average_difference(parts)
    assert avg.diff == pytest.approx(25.0) and avg.lo < 25.0 < avg.hi


def test_gepa_records_proposals_that_lost_apart_from_echoes() -> None:
    def reflector(echo: bool) -> dspy.LM:
        def reply(messages: list[dict[str, str]], options: dict[str, Any]) -> str:
            current = re.search(r"<current_instruction>\n(.*?)\n</current_instruction>", messages[-1]["content"],
                                flags=re.DOTALL).group(1)
            return f"<new_instruction>{current if echo else 'Answer in capitals.'}</new_instruction>"
        return function_lm(reply, name="reflect").copy(temperature=0.0)

    for echo, distinct in ((False, 1), (True, 0)):
        setup = _setup(reflector(echo), budget=25)
        with dspy.context(lm=setup.task_lm):
            program, details = run_optimizer("gepa-chat", setup)
        assert program.signature.instructions.startswith("Given the fields")
        assert details["proposals_total"] >= 2 and details["distinct_proposals"] == distinct
        assert all(p["accepted"] is False and p["minibatch_before"] == p["minibatch_after"] == 0.0
                   for p in details["proposals"])


def test_code_version_covers_every_module_a_cell_runs() -> None:
    import subprocess
    code = ("import sys, benchmarks.run; print(' '.join(sorted(m.split('.')[1] + '.py' for m in sys.modules "
            "if m.startswith('benchmarks.'))))")
    root = Path(run.__file__).resolve().parent.parent
    loaded = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                            timeout=120).stdout.split()
    assert "peers.py" in loaded and set(loaded) <= set(environment.CELL_CODE), sorted(set(loaded) - set(environment.CELL_CODE))


def test_resuming_on_other_code_is_refused_unless_allowed(tmp_path: Path) -> None:
    _, (record,) = _grid(tmp_path, ["baseline"])
    path = tmp_path / "results" / "toy/reverse" / "baseline" / "seed0.json"
    path.write_text(json.dumps({**record, "code_version": "0000000000"}))
    with pytest.raises(ValueError, match=r"ran on code 0000000000, the checkout is "):
        _grid(tmp_path, ["baseline", "tgd"])
    assert not (tmp_path / "results" / "toy/reverse" / "tgd").exists()
    args = run.parse_args(["--tasks", "toy/reverse", "--optimizers", "baseline", "--seeds", "0", "--budget", "20",
                           "--results-dir", str(tmp_path / "results"), "--model", "scripted", "--threads", "2",
                           "--allow-mixed-code"])
    assert grid.run_grid(args, pool=ScriptedPool(args), loader=lambda name, **kw: ToyTask()) == []  # skipped, done


def test_candidates_per_step_variant_is_named_parsed_and_compared_with_its_run() -> None:
    from benchmarks.harness import dlpo_variant
    from benchmarks.optimizers import expand
    from benchmarks.report.cells import reference_of

    assert dlpo_variant("dlpo+k3") == ("dlpo", False, 3)
    assert dlpo_variant("tgd+append+k2") == ("tgd", True, 2)
    assert dlpo_variant("dlpo") == ("dlpo", False, None) and dlpo_variant("dlpo+append") == ("dlpo", True, None)
    assert expand(["dlpo+k3", "dlpo-minus-momentum+k2"]) == ["dlpo+k3", "dlpo-minus-momentum+k2"]
    assert reference_of("dlpo+k3") == "dlpo" and reference_of("tgd+append") == "tgd"
    for bad in ("gepa+k3", "dlpo+kx", "dlpo+k0"):
        with pytest.raises(ValueError, match="unknown optimizer"):
            expand([bad])


def test_throughput_study_lives_in_the_benchmarks_and_checks_its_arguments_before_loading(tmp_path) -> None:
    from benchmarks import throughput

    common = {"threads": 1, "parallel": 1, "max_tokens": 8, "n_threads": 1}
    with pytest.raises(ValueError, match="module must be one of \\['cot', 'predict'\\], got 'nope'"):
        throughput.measure("missing.gguf", "inprocess", module="nope", **common)
    with pytest.raises(ValueError, match="backend must be 'inprocess' or 'server', got 'gpu'"):
        throughput.measure("missing.gguf", "gpu", **common)
    assert throughput._parser().parse_args(["--backends", "server"]).backends == ["server"]


def test_the_report_is_a_list_of_sections_and_empty_ones_leave_no_heading(tmp_path: Path) -> None:
    from benchmarks.report import sections

    assert sections.section("## T", "a", "b") == ["## T", "", "a", "", "b", ""]
    empty = sections.Report([], tmp_path, {}, [], [], "plots/x.png", None)
    assert sections.ablation(empty) == [] and sections.overhead(empty) == [] and sections.larger_slice(empty) == []
    headings = [line for line in sections.render(empty).splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## Setup", "## How each peer was run"] and headings[-1] == "## Final instructions"
    assert not any(h.startswith(("## Ablation", "## Study 3")) for h in headings)


def test_a_rerun_folder_supersedes_an_optimizers_cells_and_is_paired_across_commits(tmp_path: Path) -> None:
    from benchmarks.report import reruns
    from dspy_dlpo.checkpoint import atomic_write_json

    grid_dir, rerun_dir = tmp_path / "fair", tmp_path / "copro-seeded"
    dlpo = [1.0, 1.0, 1.0, 0.0] * 5
    for seed in range(3):
        for folder, optimizer, scores, version in ((grid_dir, "dlpo", dlpo, "aaa1111111"),
                                                   (grid_dir, "copro", [0.0, 0.0, 1.0, 0.0] * 5, "aaa1111111"),
                                                   (rerun_dir, "copro", [1.0] * seed + [0.0] * (20 - seed), "bbb2222222")):
            cell = {**_fair_cell(optimizer, seed, scores, version), "schema": report_schema()}
            atomic_write_json(folder / "bbh/t@predict" / optimizer / f"seed{seed}.json", cell)
    records = load_results(grid_dir)
    assert reruns.rerun_sections(records, grid_dir) == []  # no reruns.json: nothing
    (grid_dir / "reruns.json").write_text(json.dumps([{"optimizer": "copro", "folder": "../copro-seeded",
                                                       "why": "Its seeds were one run."}]))
    text = "\n".join(reruns.rerun_sections(records, grid_dir))
    assert "### copro: rerun in" in text and "Its seeds were one run." in text
    assert "The rerun ran on bbb2222222; this grid's dlpo cells on aaa1111111." in text
    (row,) = [line for line in text.splitlines() if line.startswith("| bbh/t@predict")]
    assert row.startswith("| bbh/t@predict | 25, 25, 25 | 0, 5, 10 | 5.0 [") and "| +70.0 [" in row
    from benchmarks.report import sections
    r = sections.Report(records, grid_dir, {}, [], [], "", None)
    assert sections.superseded in sections.SECTIONS and sections.superseded(r)[0].startswith("## Reruns")


def report_schema() -> int:
    from benchmarks.harness import SCHEMA_VERSION
    return SCHEMA_VERSION


def test_the_share_of_the_hand_written_gain_per_task_and_on_average() -> None:
    from benchmarks.report import powered
    means = {("t1", "baseline"): 20.0, ("t1", "hand"): 40.0, ("t1", "dlpo"): 30.0, ("t1", "gepa"): 50.0,
             ("t2", "baseline"): 50.0, ("t2", "hand"): 50.0, ("t2", "dlpo"): 60.0, ("t2", "gepa"): 30.0}
    records = [{"status": "ok", "task": t, "optimizer": o, "seed": s, "test": {"score": m + (s - 1)}}
               for (t, o), m in means.items() for s in range(3)]  # seeds 19/20/21: the mean is m
    table = powered.hand_share_table(records)
    assert "| t1 | 20.0 | 40.0 | 0.50 | 1.50 |" in table  # dlpo reaches half the gap, gepa beats the line
    assert "| t2 | 50.0 | 50.0 | - | - |" in table        # the line gains nothing: no share
    assert "| average | 35.0 | 45.0 | 1.00 | 0.50 |" in table  # on the task means: (45-35)/10, (40-35)/10


def _goal_cell(task: str, optimizer: str, seed: int, correct: int, n: int = 20) -> dict[str, Any]:
    scores = [1.0] * correct + [0.0] * (n - correct)
    return {"status": "ok", "task": task, "optimizer": optimizer, "seed": seed, "code_version": "abc1234567",
            "config": {"budget": 300}, "val": {"score": 50.0}, "wall_time_s": 60.0 * (seed + 1),
            "instruction_words": 10, "test": {"per_example": scores, "score": 100.0 * correct / n},
            "spend": {"metric_calls": 300, "optimizer_calls": 10, "optimizer_input_tokens": 900,
                      "optimizer_output_tokens": 100}}


def test_the_goal_check_names_the_best_peer_and_where_dlpo_is_below() -> None:
    from benchmarks.report import powered
    correct = {("t1", "dlpo"): 16, ("t1", "gepa"): 10, ("t1", "miprov2"): 12, ("t1", "hand"): 12, ("t1", "baseline"): 2,
               ("t2", "dlpo"): 10, ("t2", "gepa"): 12, ("t2", "miprov2"): 4, ("t2", "hand"): 10, ("t2", "baseline"): 2}
    records = [_goal_cell(t, o, s, c) for (t, o), c in correct.items() for s in range(3)]
    text = powered.goal_check(records)
    assert "Over the 2 task(s)" in text
    assert "**not met**: below gepa on t2 (-10.0)" in text  # 10 vs 12 of 20 correct
    # the best peer on average is GEPA (55%) over MIPROv2 (40%); DLPO averages 65%: +10 points
    margin = next(line for line in text.splitlines() if "the best peer is gepa (mean 55.0); dlpo minus it +10.0" in line)
    assert margin.endswith("**not met**")  # +10 on average, but the interval reaches below 0 (t2 goes the other way)
    hand = next(line for line in text.splitlines() if "hand-written instruction on average (mean 55.0)" in line)
    assert "dlpo minus it +10.0" in hand and hand.endswith("**met**")
    # a task a peer has not run yet leaves it out of the averages
    partial = [r for r in records if not (r["task"] == "t2" and r["optimizer"] == "miprov2")]
    assert "Over the 1 task(s)" in powered.goal_check(partial)
    cost = powered.cost_table(records)
    assert "| dlpo | 6 | 300 | 10 | 1,000 | 2.0 |" in cost  # wall times 1, 2, 3 min: mean 2
    assert "| hand |" not in cost and "| baseline |" not in cost
