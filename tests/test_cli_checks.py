"""The command line refuses bad input before any model or evaluation runs, in one line."""

import os
import subprocess
import sys
from pathlib import Path

import dspy
import pytest

from dspy_dlpo import __version__, cli
from dspy_dlpo.summary import score_series, table
from dspy_dlpo.userdata import load_program
from dspy_dlpo.lm.engine import function_lm
from scripted import ScriptedOptimizer, chat_reply, reverse_task_lm
from test_cli import fake_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def guarded(monkeypatch):
    """load_task and make_lm that record whether they were reached."""
    reached = []

    def load(name, **kwargs):
        reached.append("task")
        return fake_task(name)

    def make_lm(spec, **kwargs):
        reached.append("lm")
        return reverse_task_lm() if spec != "opt" else ScriptedOptimizer().lm()

    monkeypatch.setattr("dspy_dlpo.tasks.load_task", load)
    monkeypatch.setattr("dspy_dlpo.lm.factory.make_lm", make_lm)
    return reached


def test_python_m_dspy_dlpo_and_version():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "dspy_dlpo", "--version"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"dspy-dlpo {__version__}"


@pytest.mark.parametrize("flags, message", [
    (["--batch-size", "0"], "argument --batch-size: expected an integer >= 1, got '0'"),
    (["--threads", "two"], "argument --threads: expected an integer >= 1, got 'two'"),
    (["--seed", "-1"], "argument --seed: expected an integer >= 0, got '-1'"),
    (["--max-cost-usd", "0"], "argument --max-cost-usd: expected a number > 0, got '0'"),
    (["--n-test", "0"], "argument --n-test: expected an integer >= 1, got '0'"),
])
def test_bad_flags_stop_before_anything_runs(flags, message, guarded, capsys, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["optimize", "--task", "toy", "--out", str(tmp_path), *flags])
    assert stopped.value.code == 2 and message in capsys.readouterr().err and guarded == []


def test_a_budget_too_small_is_refused_before_any_evaluation(monkeypatch, capsys, tmp_path):
    calls = []
    monkeypatch.setattr("dspy_dlpo.tasks.load_task", fake_task)
    monkeypatch.setattr("dspy_dlpo.lm.factory.make_lm", lambda spec, **kw: function_lm(
        lambda messages, options: calls.append(1) or chat_reply(answer="x"), name="counting"))
    code = cli.main(["optimize", "--task", "toy", "--max-metric-calls", "3", "--out", str(tmp_path), "--quiet"])
    assert code == 2 and "too small for even one step" in capsys.readouterr().err
    assert calls == [] and not (tmp_path / "report.json").exists()   # not even the test set was scored


def test_a_missing_api_key_is_one_line(guarded, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = cli.main(["optimize", "--task", "toy", "--model", "openai/gpt-4o-mini", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and guarded == []
    assert err == ("dspy-dlpo: error: --model 'openai/gpt-4o-mini' needs OPENAI_API_KEY in the environment "
                   "(not set); export it, or use --api-base for a local server")


def test_a_local_server_needs_no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    args = cli._parser().parse_args(["optimize", "--task", "toy", "--model", "openai/x", "--api-base",
                                     "http://127.0.0.1:1/v1"])
    cli.check_api_keys(args)      # no error: a local server is given


PROGRAMS = '''
import dspy
TEXT = "not a program"
def make():
    return dspy.Predict("question -> answer")
def make_number():
    return 3
def needs_args(x):
    return dspy.Predict("question -> answer")
program = dspy.ChainOfThought("question -> answer")
'''


@pytest.mark.parametrize("attr, message", [
    ("TEXT", "is a str, not a dspy.Module or a function returning one"),
    ("make_number", "make_number() returned a int, not a dspy.Module"),
    ("needs_args", "calling needs_args() without arguments failed"),
    ("missing", "has no attribute 'missing'"),
])
def test_program_that_is_not_a_program_says_so(attr, message, tmp_path, guarded, capsys):
    path = tmp_path / "programs.py"
    path.write_text(PROGRAMS)
    code = cli.main(["optimize", "--task", "toy", "--program", f"{path}:{attr}", "--out", str(tmp_path)])
    assert code == 2 and message in capsys.readouterr().err and guarded == []


def test_program_loading_accepts_instances_and_factories(tmp_path):
    path = tmp_path / "programs.py"
    path.write_text(PROGRAMS)
    assert isinstance(load_program(f"{path}:make"), dspy.Predict)
    assert isinstance(load_program(f"{path}:program"), dspy.ChainOfThought)
    with pytest.raises(ValueError, match="cannot import 'no_such_module_xyz'"):
        load_program("no_such_module_xyz:thing")
    with pytest.raises(ValueError, match="no such file"):
        load_program(f"{tmp_path / 'absent.py'}:make")


def report_with(spend):
    base = {"metric_calls": 1, "optimizer_calls": 1, "task_input_tokens": 1, "task_output_tokens": 1,
            "optimizer_input_tokens": 1, "optimizer_output_tokens": 1}
    return {"spend": {**base, **spend}, "before": {}, "after": {}, "instruction_words": {}, "wall_time_s": 1,
            "steps": 1, "stop_reason": "budget"}


def test_the_table_shows_cost_where_known():
    assert "$0.0125" in table(report_with({"task_cost_usd": 0.01, "optimizer_cost_usd": 0.0025}))
    row = [line for line in table(report_with({})).splitlines() if line.startswith("cost")]
    assert row and row[0].split()[-1] == "-"


def test_the_plot_series_start_at_the_baseline_and_skip_what_a_step_lacks():
    logs = [{"step": 0, "best_score": 60.0, "val_score": 60.0, "batch_score_before": 0.5, "batch_score_after": 1.0},
            {"step": 1, "best_score": 60.0, "val_score": None, "batch_score_before": 1.0, "batch_score_after": None}]
    series = score_series(logs, 40.0)
    assert series["validated"] == [(0, 60.0)] and series["best"] == [(-1, 40.0), (0, 60.0), (1, 60.0)]
    assert series["batch_before"] == [(0, 50.0), (1, 100.0)] and series["batch_after"] == [(0, 100.0)]
