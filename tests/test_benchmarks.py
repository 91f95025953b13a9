"""The benchmark harness end to end on scripted LMs: no network, no model, a few seconds."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root holds benchmarks/

from scripted import MAGIC, ScriptedOptimizer, chat_reply, exact_metric, reverse_examples, reverse_task_lm

from benchmarks import cell, environment, grid, lms, peers, report, run, stats
from benchmarks.report import cells as report_cells
from benchmarks.report import fair, fair_sections, figures, provenance, runs, tables
from benchmarks.chat_proposer import ChatInstructionProposer, clip, parse_instruction
from benchmarks.harness import (CountingMetric, bootstrap_ci, load_results, metered_lm, Meter, lm_call_count,
                                paired_diff_ci, relative_command, seed_mean_per_example)
from benchmarks.optimizers import (OptimizerSetup, capped_log, copro_plan, dlpo_flags, expand, mipro_plan,
                                   run_optimizer)
from benchmarks.proposals import distinct_count, dlpo_entries, recounted, summary
from dspy_dlpo.lm.engine import function_lm
from dspy_dlpo.program import score_with_metric


@dataclass
class ToyTask:
    """A 4-example stand-in for ``dspy_dlpo.tasks.Task``: reverse a word."""

    name: str = "toy/reverse"
    trainset: list = field(default_factory=lambda: reverse_examples(["apple", "stone", "river", "cloud"]))
    valset: list = field(default_factory=lambda: reverse_examples(["tiger", "piano"]))
    testset: list = field(default_factory=lambda: reverse_examples(["lemon", "grass", "candle", "bridge"]))
    split_note: str = "toy: fixed word lists"

    @staticmethod
    def metric(example: Any, pred: Any, trace: Any = None) -> Any:
        return exact_metric(example, pred, trace)

    @staticmethod
    def make_program() -> dspy.Module:
        return dspy.Predict("question -> answer")


class ScriptedPool(lms.LMPool):
    """LMs from scripts instead of ``make_lm``."""

    def __init__(self, args: Any) -> None:
        super().__init__(args)
        self.task = reverse_task_lm()
        self.optimizer = ScriptedOptimizer().lm()

    def base(self, spec: str) -> dspy.BaseLM:
        return self.optimizer

    def task_lm(self, task: str) -> dspy.BaseLM:
        return self.task


def _grid(tmp_path: Path, optimizers: list[str]) -> tuple[Any, list[dict[str, Any]]]:
    args = run.parse_args(["--tasks", "toy/reverse", "--optimizers", *optimizers, "--seeds", "0",
                           "--budget", "20", "--results-dir", str(tmp_path / "results"),
                           "--model", "scripted", "--threads", "2"])
    written = grid.run_grid(args, pool=ScriptedPool(args), loader=lambda name, **kw: ToyTask())
    return args, written


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


# --------------------------------------------------------------------------------------------
# The fair harness (issue 17 part A)
# --------------------------------------------------------------------------------------------
class PeerOptimizerScript:
    """An optimizer LM that answers DLPO's prompts like :class:`ScriptedOptimizer` and the peers' DSPy
    signatures (ChatAdapter or JSONAdapter) and gepa-chat's tagged prompt with a numbered variant of the
    magic instruction. Records every call's temperature."""

    def __init__(self) -> None:
        self.dlpo = ScriptedOptimizer()
        self.temperatures: list[float | None] = []
        self.count = 0

    def __call__(self, messages: list[dict[str, str]], options: dict[str, Any]) -> str:
        self.temperatures.append(options.get("temperature"))
        self.count += 1
        user, system = messages[-1]["content"], "\n".join(m["content"] for m in messages if m["role"] == "system")
        if "Your output fields are:" not in system:
            if "<new_instruction>" in user:
                return f"<new_instruction>{MAGIC} Variant {self.count}.</new_instruction>"
            return self.dlpo(messages, options)
        block = system.split("Your output fields are:")[1].split("All interactions")[0]
        names = re.findall(r"^\d+\. `(\w+)`", block, flags=re.MULTILINE)
        values = {n: f"{MAGIC} Variant {self.count}." if "instruction" in n else "Answer:" if "prefix" in n
                  else "Single words." for n in names}
        return json.dumps(values) if "JSON object" in system else chat_reply(**values)

    def lm(self) -> dspy.LM:
        return function_lm(self, name="peer-optimizer")


def _setup(optimizer_lm: dspy.BaseLM, budget: int = 40) -> OptimizerSetup:
    data = reverse_examples()
    return OptimizerSetup(program=dspy.Predict("question -> answer"), trainset=data[:8], valset=data[8:12],
                          metric=exact_metric, task_lm=reverse_task_lm(), optimizer_lm=optimizer_lm, budget=budget,
                          threads=1, seed=0)


def test_each_peer_gets_its_authors_proposal_temperature() -> None:
    greedy = metered_lm(PeerOptimizerScript().lm(), Meter("optimizer")).copy(temperature=0.0, max_tokens=600)
    for variant in peers.GEPA_VARIANTS:
        gepa, _, _, _ = peers.build_gepa(_setup(greedy), variant)
        assert gepa.reflection_lm.kwargs["temperature"] == 1.0 and gepa.reflection_lm.kwargs["max_tokens"] == 600
        assert lm_call_count(gepa.reflection_lm) == lm_call_count(greedy)  # still metered: a shallow copy
        assert isinstance(gepa.custom_instruction_proposer, ChatInstructionProposer) is (variant == "gepa-chat")
    assert isinstance(peers.build_gepa(_setup(greedy), "gepa-chatadapter")[0].custom_instruction_proposer.adapter,
                      dspy.ChatAdapter)
    with pytest.raises(ValueError, match="unknown GEPA variant 'gepa-x'"):
        peers.build_gepa(_setup(greedy), "gepa-x")
    mipro, _, plan = peers.build_miprov2(_setup(greedy))
    assert mipro.prompt_model.kwargs["temperature"] == 1.0 and mipro.init_temperature == 1.0
    copro, _, _ = peers.build_copro(_setup(greedy))
    assert copro.prompt_model.kwargs["temperature"] == 1.4 and copro.init_temperature == 1.4
    assert greedy.kwargs["temperature"] == 0.0  # the grid's own optimizer LM is left greedy (DLPO's first ask)


@pytest.mark.parametrize("name, temperatures", [("gepa", {1.0}), ("gepa-chat", {1.0}), ("gepa-chatadapter", {1.0}),
                                                ("miprov2", {1.0}),
                                                ("copro", {1.4})])
def test_peers_run_end_to_end_and_record_their_proposals(name: str, temperatures: set[float]) -> None:
    script = PeerOptimizerScript()
    setup = _setup(script.lm().copy(temperature=0.0, max_tokens=600))
    with dspy.context(lm=setup.task_lm):
        program, details = run_optimizer(name, setup)
    assert set(script.temperatures) == temperatures, script.temperatures  # every proposal call sampled
    assert MAGIC in program.signature.instructions
    assert details["settings"]["temperature"] == min(temperatures)
    assert details["distinct_proposals"] >= 1 and details["proposals_total"] >= details["distinct_proposals"]
    assert all(MAGIC in p["text"] or p["text"].startswith("Given the fields") for p in details["proposals"])
    assert details["metric_calls_counted"] <= 1.1 * setup.budget
    if name.startswith("gepa"):
        first = details["proposals"][0]
        assert first["accepted"] is True and first["val"] == 100.0
        assert (first["minibatch_before"], first["minibatch_after"]) == (0.0, 3.0)  # the gate: parent 0/3, child 3/3
    if name == "miprov2":
        assert details["plan"]["minibatch"] is False and details["bootstrap_metric_calls"] > 0
        assert len(details["proposals"]) == details["plan"]["new_instructions"] == 2
        assert details["metric_calls_counted"] == details["bootstrap_metric_calls"] + 4 * (1 + details["plan"]["trials_run"])
    if name == "copro":
        assert details["plan"]["scoring_set"] == "valset" and details["metric_calls_counted"] == 40


def test_dlpo_cell_records_its_own_proposal_setting_and_rewrites() -> None:
    setup = _setup(ScriptedOptimizer().lm().copy(temperature=0.0, max_tokens=600))
    with dspy.context(lm=setup.task_lm):
        _, details = run_optimizer("dlpo", setup)
    assert details["settings"]["temperature"] == 0.0 and details["settings"]["reask_temperature"] == 0.8
    assert details["distinct_proposals"] == 1 and details["proposals"][0]["text"] == MAGIC


def test_chat_proposer_parses_a_tagged_reply_from_the_reflection_lm() -> None:
    prompts: list[str] = []

    def reflect(messages: list[dict[str, str]], options: dict[str, Any]) -> str:
        prompts.append(messages[-1]["content"])
        return "Thinking first.\n<new_instruction>\nReverse the word, letter by letter.\n</new_instruction>"

    dataset = {"self": [{"Inputs": {"question": "stone"}, "Generated Outputs": {"answer": "stone"},
                         "Feedback": "Expected 'enots'."}]}
    proposer = ChatInstructionProposer()
    with dspy.context(lm=function_lm(reflect, name="reflect")):
        out = proposer({"self": "Answer the question."}, dataset, ["self"])
    assert out == {"self": "Reverse the word, letter by letter."}
    assert "Answer the question." in prompts[0] and "Expected 'enots'." in prompts[0] and "question: stone" in prompts[0]
    with dspy.context(lm=function_lm(lambda m, o: "<new_instruction>cut off by max_tokens", name="cut")):
        assert proposer({"self": "Answer."}, dataset, ["self"]) == {} and proposer.unparseable == 1
    setup = _setup(function_lm(lambda m, o: "no tags at all", name="untagged").copy(temperature=0.0), budget=20)
    with dspy.context(lm=setup.task_lm):
        _, details = run_optimizer("gepa-chat", setup)
    assert details["proposals_total"] == 0 and details["reflections"] >= 2
    assert details["reflections_without_proposal"] == details["reflections"] == details["unparseable_reflections"]
    assert parse_instruction("```text\nFenced one.\n```") == "Fenced one." and parse_instruction("plain") is None
    assert clip("a" * 10 + "b" * 10, limit=8).startswith("aaaa [... 12 characters cut ...] bbbb")


def test_mipro_plan_follows_miprov2s_own_rules() -> None:
    plan = mipro_plan(60, 10)
    assert plan["minibatch"] is False and plan["num_candidates"] == 3 and plan["new_instructions"] == 2
    assert plan["num_trials"] == 3 and plan["estimated_metric_calls"] == 60  # 10 default + 2 x 10 bootstrap + 3 x 10
    big = mipro_plan(400, 100)
    assert big["minibatch"] is True and big["minibatch_size"] == 35
    assert mipro_plan(400, 50)["minibatch"] is False  # MIPROv2 minibatches only above 50
    assert peers.mipro_recommended_trials(3) == 4 and peers.mipro_recommended_trials(6) == 9
    with pytest.raises(ValueError, match="val_size must be a positive integer, got 0"):
        mipro_plan(60, 0)
    with pytest.raises(ValueError, match="budget must be a positive integer, got -5"):
        copro_plan(-5, 10)


def test_copro_plan_says_what_the_authors_defaults_would_cost() -> None:
    plan = copro_plan(60, 10)
    assert (plan["breadth"], plan["depth"], plan["estimated_metric_calls"]) == (3, 2, 60)
    assert plan["authors_defaults_metric_calls"] == 300 and plan["new_proposals"] == 5
    assert copro_plan(25, 10)["depth"] == 1 and copro_plan(10, 10)["scoring_size"] == 5


def test_distinct_proposals_ignore_the_seed_echoes_and_whitespace() -> None:
    texts = ["Given x.", "Reverse it.", "Reverse  it.\n", "Spell it backwards.", "", "Given  x."]
    assert distinct_count(texts, "Given x.") == 2
    assert distinct_count([], "Given x.") == 0
    logs = [{"step": 0, "instruction_before": "A.", "instruction_after": "A."},
            {"step": 1, "instruction_before": "A.", "instruction_after": "B.", "batch_score_after": 0.6},
            {"step": 2, "instruction_before": "B.", "instruction_after": "D.", "val_score": 40.0, "accepted": True,
             "proposals": [{"instruction": "C.", "reason": "ok"}, {"instruction": None, "reason": "unparseable"},
                           {"instruction": "D.", "reason": "ok"}], "candidate_batch_scores": [0.2, 0.6]}]
    entries = dlpo_entries(logs)
    assert [e["text"] for e in entries] == ["A.", "B.", "C.", "D."] and entries[0]["echo"] is True
    assert entries[2]["minibatch_after"] == 0.2 and "val" not in entries[2]
    assert entries[3]["minibatch_after"] == 0.6 and entries[3]["val"] == 40.0 and entries[3]["accepted"] is True
    assert summary(entries, "A.")["distinct_proposals"] == 3
    stored = {"optimizer": "dlpo+k2", "details": {"trial_logs": logs, "proposals_total": 3, "distinct_proposals": 2}}
    fixed = recounted(stored)
    assert (fixed["details"]["proposals_total"], fixed["details"]["distinct_proposals"]) == (4, 3)
    assert stored["details"]["distinct_proposals"] == 2                       # the stored record is not altered
    assert recounted({"optimizer": "gepa", "details": {"distinct_proposals": 5}})["details"]["distinct_proposals"] == 5


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


def _fair_cell(optimizer: str, seed: int, scores: list[float], version: str | None = "abc1234567") -> dict[str, Any]:
    return {"status": "ok", "task": "bbh/t@predict", "optimizer": optimizer, "seed": seed, "code_version": version,
            "config": {"budget": 60}, "test": {"per_example": scores, "score": 100.0 * sum(scores) / len(scores)},
            "spend": {"metric_calls": 70 if optimizer == "gepa" else 60, "task_lm_billed_calls": 30,
                      "task_lm_calls": 64, "optimizer_billed_calls": 7, "optimizer_calls": 9},
            "details": {"distinct_proposals": 0, "proposals_total": 9,
                        "settings": {"role": "reflection_lm", "temperature": 1.0}}}


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
    assert report.main(["--results-dir", str(tmp_path / "fair")]) == 0
    text = (tmp_path / "fair" / "README.md").read_text()
    assert "python -m benchmarks.report --results-dir ../" in text  # the command renders this folder
    for heading in ("## How each peer was run", "## One frozen commit", "### Rows DLPO was never tuned on",
                    "## Proposals and spend per cell", "COPRO cannot operate at its authors' defaults",
                    "### How often each DLPO strategy acted", "### Rewrites that name a field the program lacks"):
        assert heading in text, heading
    assert "| distinct proposals | billed rollouts |" in text
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
