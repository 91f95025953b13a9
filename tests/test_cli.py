"""The dspy-dlpo command end to end with a scripted task and scripted LMs (no model, no network)."""

import json

import dspy

from dspy_dlpo import cli
from dspy_dlpo.tasks import Task
from scripted import MAGIC, ScriptedOptimizer, exact_metric, reverse_examples, reverse_task_lm


def fake_task(name, **kwargs):
    data = reverse_examples()
    return Task(name=name, trainset=data[:6], valset=data[6:10], testset=data[10:], metric=exact_metric,
                make_program=lambda: dspy.Predict("question -> answer"), split_note="toy split")


def test_optimize_writes_program_report_and_table(tmp_path, monkeypatch, capsys):
    optimizer = ScriptedOptimizer()
    monkeypatch.setattr("dspy_dlpo.tasks.load_task", fake_task)
    monkeypatch.setattr("dspy_dlpo.lm.factory.make_lm", lambda spec, **kw: reverse_task_lm() if spec == "task"
                        else optimizer.lm())
    code = cli.main(["optimize", "--task", "toy", "--model", "task", "--optimizer-model", "opt", "--max-steps", "2",
                     "--patience", "2", "--batch-size", "3", "--threads", "1", "--no-dropout", "--append-on-no-op", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "validation score" in out and "test score" in out and MAGIC in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["before"]["test"] == 0.0 and report["after"]["test"] == 100.0
    assert report["after"]["val"] == 100.0 and report["spend"]["metric_calls"] > 0
    assert report["options"]["patience"] == 2 and report["options"]["max_steps"] == 2
    assert report["options"]["append_on_no_op"] is True
    assert [s["name"] for s in report["options"]["strategies"]] == ["momentum", "contrastive", "learning_rate",
                                                                    "regularization", "annealing"]
    saved = dspy.Predict("question -> answer")
    saved.load(str(tmp_path / "program.json"))
    assert saved.signature.instructions == MAGIC
    assert (tmp_path / "scores.png").stat().st_size > 1000


def test_bad_arguments_exit_with_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("dspy_dlpo.tasks.load_task", fake_task)
    monkeypatch.setattr("dspy_dlpo.lm.factory.make_lm", lambda spec, **kw: reverse_task_lm())
    code = cli.main(["optimize", "--task", "toy", "--max-metric-calls", "3", "--out", str(tmp_path), "--quiet"])
    assert code == 2
    assert "too small for even one step" in capsys.readouterr().err


def test_demo_runs_its_fixed_configuration(tmp_path, monkeypatch, capsys):
    optimizer, asked = ScriptedOptimizer(), {}

    def load(name, **kwargs):
        asked.update(kwargs, name=name)
        return fake_task(name)

    def make_lm(spec, **kw):
        asked["model"], asked["max_tokens"] = spec, kw.get("max_tokens")
        lm = reverse_task_lm()
        lm.copy = lambda **_: optimizer.lm()     # the demo's optimizer LM is a copy of the task LM
        return lm

    monkeypatch.setattr("dspy_dlpo.tasks.load_task", load)
    monkeypatch.setattr("dspy_dlpo.lm.factory.make_lm", make_lm)
    assert cli.main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    assert asked["name"] == cli.DEMO["task"] and asked["model"] == "local"
    assert (asked["n_train"], asked["n_val"], asked["n_test"]) == (cli.DEMO["n_train"], cli.DEMO["n_val"],
                                                                   cli.DEMO["n_test"])
    assert asked["max_tokens"] == cli.DEMO["max_tokens"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["options"]["max_metric_calls"] == cli.DEMO["max_metric_calls"]
    assert report["options"]["seed"] == cli.DEMO["seed"]
    assert report["after"]["test"] == 100.0
    assert "test score" in capsys.readouterr().out
