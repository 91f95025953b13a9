"""The benchmark harness end to end on scripted LMs: no network, no model, a few seconds (grids, statistics,
metering, re-scoring, report tables; the peers and the fair harness are in test_benchmarks_fair.py)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import dspy
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root holds benchmarks/

from scripted import ScriptedOptimizer, reverse_examples, reverse_task_lm

from benchmarks import cell, grid, lms, report, run
from benchmarks.report import cells as report_cells
from benchmarks.report import figures, provenance, runs, tables
from benchmarks.harness import (CountingMetric, bootstrap_ci, load_results, metered_lm, Meter, lm_call_count,
                                paired_diff_ci, seed_mean_per_example)
from benchmarks.optimizers import capped_log, copro_plan, dlpo_flags, expand, mipro_plan
from dspy_dlpo.program import score_with_metric

from bench_helpers import ScriptedPool, ToyTask, _grid



def test_grid_writes_cells_skips_on_rerun_and_reports(tmp_path: Path) -> None:
    args, written = _grid(tmp_path, ["baseline", "dlpo", "tgd"])
    assert [r["optimizer"] for r in written] == ["baseline", "dlpo", "tgd"]
    for record in written:
        path = tmp_path / "results" / "toy/reverse" / record["optimizer"] / "seed0.json"
        saved = json.loads(path.read_text())
        assert saved["status"] == "ok", saved.get("traceback")
        for key in ("test", "val", "spend", "eval_spend", "wall_time_s", "instructions", "instruction_words",
                    "config", "split_note", "machine", "command"):
            assert key in saved, key
        if (Path(__file__).resolve().parent.parent / ".git").exists():  # which code produced the cell
            assert re.fullmatch(r"[0-9a-f]{7,40}(\+dirty)?", saved["code_version"]), saved["code_version"]
        lo, hi = saved["test"]["ci95"]
        assert 0.0 <= lo <= saved["test"]["score"] <= hi <= 100.0
        assert saved["test"]["n"] == 4 and saved["val"]["n"] == 2
        for key in ("metric_calls", "optimizer_calls", "optimizer_input_tokens", "task_input_tokens"):
            assert isinstance(saved["spend"][key], int)
    by_name = {r["optimizer"]: r for r in written}
    assert by_name["baseline"]["spend"]["metric_calls"] == 0
    assert by_name["baseline"]["test"]["score"] == 0.0
    for name in ("dlpo", "tgd"):
        spend = by_name[name]["spend"]
        assert 0 < spend["metric_calls"] <= 20
        assert spend["optimizer_calls"] > 0 and spend["optimizer_input_tokens"] > 0
        assert spend["task_lm_calls"] > 0 and spend["task_input_tokens"] > 0
        assert by_name[name]["test"]["score"] == 100.0
        assert "reverse the letters" in by_name[name]["instructions"]["self"].lower()
        first_step = by_name[name]["details"]["trial_logs"][0]  # the minibatch outcomes stay readable
        assert first_step["rollouts"] and all({"score", "feedback"} <= set(r) for r in first_step["rollouts"])
        assert any(r["score"] < 1.0 and r["feedback"] for r in first_step["rollouts"])

    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("seed0.json")}
    _, rerun = _grid(tmp_path, ["baseline", "dlpo", "tgd"])
    assert rerun == []
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("seed0.json")} == mtimes
    # resuming with other settings would mix two experiments: refused before anything runs, naming the cells
    other = run.parse_args(["--tasks", "toy/reverse", "--optimizers", "baseline", "dlpo", "gepa", "--seeds", "0",
                            "--budget", "30", "--results-dir", str(tmp_path / "results"), "--model", "scripted"])
    with pytest.raises(ValueError, match=r"(?s)2 recorded cell\(s\).*dlpo/seed0.json: budget 20 \(now 30\)"):
        grid.run_grid(other, pool=ScriptedPool(other), loader=lambda name, **kw: ToyTask())
    assert not (tmp_path / "results" / "toy" / "reverse" / "gepa").exists()
    assert run.main(["--tasks", "toy/reverse", "--optimizers", "dlpo", "--seeds", "0", "--budget", "30",
                     "--results-dir", str(tmp_path / "results"), "--model", "scripted"]) == 2

    readme = tmp_path / "README.md"
    report.build_report(tmp_path / "results", readme, tmp_path / "plots")
    text = readme.read_text()
    assert "toy/reverse" in text and "dlpo" in text and "tgd" in text
    assert "python" in text  # the exact commands
    assert (tmp_path / "plots" / "score_vs_metric_calls.png").exists()
    assert len(load_results(tmp_path / "results")) == 3


def test_append_variant_runs_with_the_fallback_on(tmp_path: Path) -> None:
    _, (record,) = _grid(tmp_path, ["tgd+append"])
    assert record["status"] == "ok" and record["optimizer"] == "tgd+append"
    assert record["details"]["flags"]["append_on_no_op"] is True and not record["details"]["flags"]["dropout"]
    assert (tmp_path / "results" / "toy/reverse" / "tgd+append" / "seed0.json").exists()


def test_grid_presets_fill_only_the_flags_not_given() -> None:
    args = run.parse_args([])
    assert args.grid == "default" and args.seeds == [0] and args.budget == 60
    assert (args.n_train, args.n_val, args.n_test, args.optimizer_max_tokens) == (20, 10, 20, 600)
    assert all(t.startswith("bbh/") and t.endswith("@predict") for t in args.tasks) and len(args.tasks) == 3
    assert [lms.task_max_tokens(t, None) for t in ("bbh/x@predict", "bbh/x", "gsm8k")] == [100, 160, 256]
    assert lms.task_max_tokens("bbh/x@predict", 120) == 120
    full = run.parse_args(["--grid", "full", "--budget", "30"])
    assert full.budget == 30 and full.seeds == [0, 1, 2] and full.n_test == 100
    assert {"gsm8k", "mgsm/de", "biggsm", "math500", "bbh/object_counting", "bbh/word_sorting"} <= set(full.tasks)
    assert args.results_dir.parts[-3:] == ("benchmarks", "results", "budget60")  # one folder per grid
    assert full.results_dir.parts[-2:] == ("results", "full")
    with pytest.raises(SystemExit):
        run.parse_args(["--grid", "huge"])


@pytest.mark.parametrize("argv, message", [(["--budget", "0"], "argument --budget: expected an integer >= 1, got '0'"),
                                           (["--seeds", "0", "-1"], "argument --seeds: expected an integer >= 0, got '-1'"),
                                           (["--n-test", "x"], "argument --n-test: expected an integer >= 1, got 'x'")])
def test_grid_flags_name_a_bad_value(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run.parse_args(argv)
    assert message in capsys.readouterr().err


def test_bootstrap_ci_is_fixed_and_sane() -> None:
    assert bootstrap_ci([1.0] * 10) == (100.0, 100.0)
    scores = [1.0, 0.0] * 15
    lo, hi = bootstrap_ci(scores)
    assert (lo, hi) == bootstrap_ci(scores)  # fixed seed
    assert lo < 50.0 < hi and hi - lo < 50.0


def test_paired_interval_is_narrower_than_two_independent_ones() -> None:
    # b is right on the same 10 examples as a, plus 6 more: a real, consistent gain.
    a = [1.0] * 10 + [0.0] * 20
    b = [1.0] * 16 + [0.0] * 14
    lo, hi = paired_diff_ci(b, a)
    assert 0.0 < lo <= 20.0 <= hi  # the paired difference excludes 0 ...
    a_lo, a_hi = bootstrap_ci(a)
    b_lo, b_hi = bootstrap_ci(b)
    assert b_lo < a_hi  # ... where the two unpaired intervals overlap
    assert paired_diff_ci(a, a) == (0.0, 0.0)
    with pytest.raises(ValueError, match="equal lengths"):
        paired_diff_ci([1.0], [1.0, 0.0])


def test_seeds_are_averaged_per_example_not_pooled() -> None:
    assert seed_mean_per_example([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]) == [0.5, 0.0, 1.0]
    with pytest.raises(ValueError, match="different sizes"):
        seed_mean_per_example([[1.0, 0.0], [1.0]])
    cells = [{"status": "ok", "task": "t", "optimizer": "dlpo", "seed": seed,
              "test": {"score": 100.0 * sum(scores) / 4, "per_example": scores}, "val": {"score": 50.0},
              "spend": {"metric_calls": 10}, "wall_time_s": 1.0, "instruction_words": 5}
             for seed, scores in ((1, [1.0, 1.0, 0.0, 0.0]), (0, [1.0, 0.0, 0.0, 0.0]))]
    agg = report_cells.aggregate(cells)[("t", "dlpo")]
    assert agg["seeds"] == [0, 1] and agg["per_seed"] == [25.0, 50.0]
    assert agg["n_test"] == 4 and agg["per_example"] == [1.0, 0.5, 0.0, 0.0] and agg["test"] == 37.5


def test_trial_logs_keep_capped_rollouts() -> None:
    log = {"step": 0, "outcome": "rejected",
           "rollouts": [{"index": 3, "score": 0.0, "feedback": "x" * 1000, "error": None}]}
    kept = capped_log(log, max_chars=50)
    assert kept["step"] == 0 and kept["rollouts"][0]["feedback"] == "x" * 50 + "..."
    assert kept["rollouts"][0]["index"] == 3 and log["rollouts"][0]["feedback"] == "x" * 1000
    assert "rollouts" not in capped_log({"step": 1})


def test_calls_to_reach_reads_the_trial_logs() -> None:
    record = {"val": {"n": 10, "score": 50.0},
              "details": {"initial_score": 20.0, "trial_logs": [
                  {"step": 0, "metric_calls": 20, "best_score": 20.0},
                  {"step": 1, "metric_calls": 40, "best_score": 50.0}]}}
    assert report_cells.calls_to_reach(record, 10.0) == 10  # the baseline already had it
    assert report_cells.calls_to_reach(record, 30.0) == 40
    assert report_cells.calls_to_reach(record, 60.0) is None
    gepa = {"status": "ok", "task": "t", "optimizer": "gepa", "seed": 0, "val": {"score": 30.0, "n": 10},
            "spend": {"metric_calls": 62}}
    table = runs.reach_gepa_table([gepa, {**record, "status": "ok", "task": "t", "optimizer": "dlpo", "seed": 0}])
    assert "| t | 0 | 30.0 | 62 | 40 | not run |" in table


def test_counting_metric_and_metered_lm() -> None:
    metric = CountingMetric(lambda ex, pred: dspy.Prediction(score=1.0, feedback="ok"), feedback=False)
    assert metric(None, None, None, "self", None) == 1.0 and metric(None, None) == 1.0
    assert metric.calls == 1 and metric.predictor_feedback_calls == 1
    meter = Meter("optimizer")
    lm = metered_lm(ScriptedOptimizer().lm(), meter)
    lm("hello")
    lm.copy(temperature=0.5)("again")
    assert lm_call_count(lm) == 2 and meter.calls == 2 and meter.input_tokens > 0


def test_counting_metric_calls_and_normalizes_like_the_library() -> None:
    seen: list[int] = []

    def star(*args: Any) -> float:  # *args: the library passes (example, pred, trace), not GEPA's five
        seen.append(len(args))
        return 1.5

    scored = CountingMetric(star, feedback=True)(None, None, None, "p", None)
    assert seen == [3] and score_with_metric(star, None, None, None)[0] == scored.score == 1.0  # clipped
    text = CountingMetric(lambda ex, pred: "0.5", feedback=True)(None, None)
    assert (text.score, text.feedback) == score_with_metric(lambda ex, pred: "0.5", None, None, None)[:2]
    assert text.feedback.startswith("The metric returned a non-number")
    with pytest.raises(TypeError, match="positional argument"):
        CountingMetric(lambda ex: 1.0)


def test_budget_mapping_and_variants() -> None:
    plan = copro_plan(120, 20)
    assert plan["breadth"] >= 2 and plan["breadth"] * plan["depth"] * 20 <= 132
    plan = mipro_plan(120, 15)
    assert plan["estimated_metric_calls"] <= 120 and plan["num_trials"] >= 1
    assert dlpo_flags("tgd") == {k: False for k in dlpo_flags("tgd")}
    assert dlpo_flags("dlpo-only-momentum")["momentum"] == 3 and not dlpo_flags("dlpo-only-momentum")["dropout"]
    assert dlpo_flags("dlpo-minus-dropout")["dropout"] is False and dlpo_flags("dlpo-minus-dropout")["momentum"]
    assert len(expand(["ablation"])) == 14
    assert expand(["dlpo+append", "tgd+append", "dlpo-minus-momentum+append"]) == \
        ["dlpo+append", "tgd+append", "dlpo-minus-momentum+append"]
    for bad in ("nope", "gepa+append", "dlpo+append+append"):
        with pytest.raises(ValueError, match="unknown optimizer"):
            expand([bad])


def test_predict_variant_of_a_task() -> None:
    loaded = []

    def loader(name: str, **kw: Any) -> ToyTask:
        loaded.append(name)
        return ToyTask(name=name)

    task = cell.load_cell_task("toy/reverse@predict", loader, n_train=4)
    assert loaded == ["toy/reverse"] and task.name == "toy/reverse@predict"
    assert type(task.make_program()) is dspy.Predict
    assert cell.load_cell_task("toy/reverse", loader).name == "toy/reverse"
    with pytest.raises(ValueError, match="@cot"):
        cell.load_cell_task("toy/reverse@cot", loader)


def test_diagnostics_tell_each_step() -> None:
    logs = [{"step": 0, "outcome": "rejected", "val_score": None, "attempts": 2, "clipped": True},
            {"step": 1, "outcome": "accepted", "val_score": 50.0, "attempts": 1, "clipped": False},
            {"step": 2, "outcome": "no-op", "val_score": None, "attempts": 3}]
    record = {"status": "ok", "task": "t", "optimizer": "dlpo", "seed": 0,
              "details": {"trial_logs": logs, "best_step": 1, "stop_reason": "budget", "faults": {}}}
    table = runs.dlpo_diagnostics([record])
    assert "| 0: rejected [1 re-ask, clipped]; 1: accepted (val 50.0); 2: no-op [2 re-asks] | 1 | budget | - |" \
        in table


def test_rescore_adds_a_larger_test_block_and_checks_the_rebuilt_program(tmp_path: Path) -> None:
    from benchmarks import rescore

    _grid(tmp_path, ["baseline", "dlpo"])
    bigger = ToyTask(testset=reverse_examples(["lemon", "grass", "candle", "bridge", "orange", "pencil"]))
    calls = []

    def lm_factory(model: str, max_tokens: int) -> dspy.BaseLM:
        calls.append((model, max_tokens))
        return reverse_task_lm()

    args = rescore.parse_args(["--tasks", "toy/reverse", "--n-test", "6", "--results-dir", str(tmp_path / "results")])
    updated = rescore.rescore(args, loader=lambda name, **kw: bigger, lm_factory=lm_factory)
    assert sorted(r["optimizer"] for r in updated) == ["baseline", "dlpo"]
    assert calls == [("scripted", 256)]  # the cell's own task-LM config, built once
    cells = {r["optimizer"]: r for r in load_results(tmp_path / "results")}
    for name, expected in (("baseline", 0.0), ("dlpo", 100.0)):
        block = cells[name]["test_extended"]
        assert block["n"] == 6 and block["score"] == expected, block
        assert block["agrees_with_original"] == block["compared_with_original"] == 4
        assert block["command"].startswith("python -m benchmarks.rescore --tasks toy/reverse --n-test 6")
        assert cells[name]["test"]["n"] == 4  # the original block is kept
    assert rescore.rescore(args, loader=lambda name, **kw: bigger, lm_factory=lm_factory) == []  # skips done cells
    records = load_results(tmp_path / "results")
    table = tables.extended_section(records, report_cells.aggregate(records))
    baseline_row = next(line for line in table.splitlines() if "| baseline |" in line)
    assert "0.0 [0.0, 0.0] on 6" in baseline_row and "| 0.0 on 4 |" in baseline_row
    assert "+100.0 [+100.0, +100.0] significant" in baseline_row and baseline_row.endswith("| 4/4 |")
    assert provenance.as_module_command("/x/benchmarks/rescore.py --n-test 6") == "python -m benchmarks.rescore --n-test 6"
    report.build_report(tmp_path / "results", tmp_path / "README.md", tmp_path / "plots")
    assert "## The same final programs on a larger test slice" in (tmp_path / "README.md").read_text()
    assert tables.extended_ablation_table(load_results(tmp_path / "results")) is None

    # A rebuilt program that differs from the recorded one shows up as disagreement.
    path = tmp_path / "results" / "toy/reverse" / "dlpo" / "seed0.json"
    record = json.loads(path.read_text())
    record["instructions"]["self"] = "Answer."
    del record["test_extended"]
    path.write_text(json.dumps(record))
    (block,) = [r["test_extended"] for r in rescore.rescore(args, loader=lambda name, **kw: bigger,
                                                              lm_factory=lm_factory)]
    assert block["agrees_with_original"] == 0 and block["score"] == 0.0

    record["demos"] = 2
    with pytest.raises(ValueError, match="2 demos"):
        rescore.rebuild(bigger, record)
    with pytest.raises(SystemExit, match="fewer than"):
        rescore.rescore(rescore.parse_args(["--tasks", "toy/reverse", "--n-test", "9", "--optimizers", "baseline",
                                            "--results-dir", str(tmp_path / "results")]),
                        loader=lambda name, **kw: bigger, lm_factory=lm_factory)
    with pytest.raises(SystemExit):
        rescore.parse_args(["--tasks", "toy/reverse", "--n-test", "0"])


def test_main_table_without_a_baseline_cell_shows_no_delta() -> None:
    agg = {("t", "dlpo"): {"seeds": [0], "test": 44.0, "ci": (35.0, 54.0), "per_seed": [44.0], "val": 50.0, "val_per_seed": [50.0],
                           "metric_calls": 105, "optimizer_calls": 49, "task_tokens": 1, "optimizer_tokens": 2,
                           "wall_time_s": 60.0, "instruction_words": 44}}
    row = tables.main_table(agg, ["t"], ["dlpo"]).splitlines()[-1]
    assert "| 44.0 | - | 50.0 |" in row and "nan" not in row


def test_extended_ablation_rows_pair_each_variant_with_its_reference_on_the_same_seeds() -> None:
    def cell(optimizer: str, seed: int, scores: list[float]) -> dict[str, Any]:
        block = {"score": 100.0 * sum(scores) / len(scores), "per_example": scores, "n": len(scores)}
        return {"status": "ok", "task": "t", "optimizer": optimizer, "seed": seed, "instruction_words": 5,
                "val": {"score": 50.0}, "spend": {}, "wall_time_s": 1.0, "test": block,
                "test_extended": {**block, "agrees_with_original": 3, "compared_with_original": 4}}
    records = [cell("dlpo", 0, [1, 1, 1, 0]), cell("dlpo", 1, [0, 0, 0, 0]), cell("tgd", 0, [1, 0, 0, 0]),
               cell("dlpo-minus-momentum", 0, [1, 1, 1, 1]), cell("dlpo-only-dropout", 0, [1, 1, 0, 0]),
               cell("dlpo-only-annealing", 1, [1, 1, 0, 0]), cell("tgd+append", 0, [0, 0, 0, 0])]
    rows = {line.split(" | ")[1]: line for line in tables.extended_ablation_table(records).splitlines()[2:]}
    assert "| dlpo 75.0 | +25.0 [" in rows["dlpo-minus-momentum"]  # against dlpo seed 0 only, not the seed mean
    assert "| tgd 25.0 | +25.0 [" in rows["dlpo-only-dropout"] and rows["dlpo-only-dropout"].endswith("| 3/4 |")
    assert "tgd: not scored on these seeds" in rows["dlpo-only-annealing"]
    assert "| tgd 25.0 | -25.0 [" in rows["tgd+append"]                 # +append against the same run without it
    assert [report_cells.reference_of(n) for n in ("dlpo+append", "dlpo-only-x", "dlpo-minus-x", "dlpo", "gepa")] == \
        ["dlpo", "tgd", "dlpo", None, None]


def test_missing_cells_lists_unrun_seeds_of_the_folders_optimizers_only() -> None:
    def cell(task: str, optimizer: str, seed: int) -> dict[str, Any]:
        return {"status": "ok", "task": task, "optimizer": optimizer, "seed": seed}
    records = [cell("a", "dlpo", 0), cell("a", "dlpo", 1), cell("a", "gepa", 0), cell("b", "dlpo", 0),
               cell("b", "gepa", 0), cell("b", "gepa", 1), cell("b", "dlpo-minus-momentum", 2)]
    text = runs.missing_cells(records, ["a", "b"])
    assert text.splitlines() == ["- **a**: gepa (seed 1)", "- **b**: dlpo (seed 1)"]   # no gepa-chatadapter, no seed 2
    full = records + [cell("a", "gepa", 1), cell("b", "dlpo", 1)]
    assert runs.missing_cells(full, ["a", "b"]).startswith("Every task has a cell")


def test_ablation_rows_compare_each_variant_with_its_reference_on_the_variants_seeds(tmp_path: Path) -> None:
    def cell(optimizer: str, seed: int, scores: list[float], val: float = 50.0) -> dict[str, Any]:
        block = {"score": 100.0 * sum(scores) / len(scores), "per_example": scores, "n": len(scores)}
        return {"status": "ok", "task": "t", "optimizer": optimizer, "seed": seed, "instruction_words": 5,
                "val": {"score": val}, "spend": {"metric_calls": 60}, "wall_time_s": 60.0, "test": block}
    records = [cell("dlpo", 0, [1, 1, 1, 0], 60.0), cell("dlpo", 1, [0, 0, 0, 0], 20.0),
               cell("dlpo", 2, [0, 0, 0, 0], 20.0), cell("tgd", 0, [1, 0, 0, 0]),
               cell("dlpo-minus-momentum", 0, [1, 1, 1, 1], 70.0), cell("dlpo-minus-momentum", 1, [1, 0, 0, 0], 30.0),
               cell("dlpo-only-annealing", 2, [1, 1, 0, 0]), {**cell("dlpo-only-dropout", 0, [0, 0, 0, 0]),
                                                               "status": "error"}]
    rows = {line.split(" | ")[1]: line for line in tables.ablation_table(records, ["t"]).splitlines()[2:]}
    # dlpo on seeds 0 and 1 scores 37.5 (its three-seed mean, 25.0, would be the wrong reference)
    assert "| 0,1 | 62.5 [" in rows["dlpo-minus-momentum"] and "| dlpo 37.5 | +25.0 [" in rows["dlpo-minus-momentum"]
    assert "| 50.0 | +10.0 |" in rows["dlpo-minus-momentum"]           # val 50 against dlpo's 40 on seeds 0, 1
    assert "| tgd: not run on these seeds | - |" in rows["dlpo-only-annealing"]
    assert "dlpo-only-dropout" not in rows                            # a failed cell is no variant row
    assert figures.plot_ablation(records, ["t"], tmp_path / "ablation.png") and (tmp_path / "ablation.png").stat().st_size


def test_win_loss_uses_a_tasks_larger_slice_only_when_every_optimizer_has_it() -> None:
    def cell(task: str, optimizer: str, small: list[float], large: list[float] | None) -> dict[str, Any]:
        block = lambda xs: {"score": 100.0 * sum(xs) / len(xs), "per_example": xs, "n": len(xs)}  # noqa: E731
        record = {"status": "ok", "task": task, "optimizer": optimizer, "seed": 0, "instruction_words": 5,
                  "val": {"score": 50.0}, "spend": {}, "wall_time_s": 1.0, "test": block(small)}
        return {**record, "test_extended": block(large)} if large else record
    records = [cell("a", "dlpo", [1, 0], [1] * 40), cell("a", "gepa", [1, 0], [0] * 40),
               cell("b", "dlpo", [1, 1], [1] * 40), cell("b", "gepa", [0, 0], None)]
    tasks = ["a", "b"]
    agg = report_cells.largest_slice(report_cells.aggregate(records), report_cells.aggregate(records, "test_extended"), tasks)
    assert agg[("a", "dlpo")]["n_test"] == 40 and agg[("b", "gepa")]["n_test"] == 2
    text = tables.win_loss(agg, tasks)
    wins = text.split("### Where dlpo wins")[1].split("###")[0]
    assert "**a**: dlpo 100.0 vs gepa 0.0 on 40 test examples (+100.0 points; paired 95% CI [+100.0, +100.0], " \
        "significant)" in wins
    assert "**b**: dlpo 100.0 vs gepa 0.0 on 2 test examples" in wins   # b keeps its original split for both
    assert "**a**" not in text.split("### Ties")[1].split("###")[0]     # on the 2-example split, a was a tie
