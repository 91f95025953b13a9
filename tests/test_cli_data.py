"""``dspy-dlpo optimize`` on your own program, JSON Lines data and metric (scripted LMs, no task)."""

import json

import dspy
import pytest

from dspy_dlpo import cli
from dspy_dlpo.userdata import program_inputs, read_examples
from scripted import MAGIC, ScriptedOptimizer, reverse_examples, reverse_task_lm

CODE = '''
import dspy
NOT_CALLABLE = 3

def make():
    return dspy.Predict("question -> answer")

def exact(example, pred, trace=None):
    return float(pred.answer.strip() == example.answer)

def one_argument(example):
    return 1.0
'''


@pytest.fixture
def files(tmp_path):
    """train/val/test JSON Lines of the reversing task and a module with a program and metrics."""
    rows = [{"question": e.question, "answer": e.answer} for e in reverse_examples()]
    paths = {}
    for name, part in (("train", rows[:6]), ("val", rows[6:10]), ("test", rows[10:])):
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in part))
    paths["code"] = tmp_path / "mine.py"
    paths["code"].write_text(CODE)
    return paths


@pytest.fixture
def lms(monkeypatch):
    """Scripted LMs; records whether a task was loaded or an LM made (neither may happen on an error)."""
    reached = []
    optimizer = ScriptedOptimizer()

    def make_lm(spec, **kwargs):
        reached.append("lm")
        return reverse_task_lm() if spec == "task" else optimizer.lm()

    monkeypatch.setattr("dspy_dlpo.lm.factory.make_lm", make_lm)
    monkeypatch.setattr("dspy_dlpo.tasks.load_task", lambda *a, **k: reached.append("task"))
    return reached


def optimize(files, tmp_path, *extra, program="make", metric="exact"):
    flags = ["optimize", "--model", "task", "--optimizer-model", "opt", "--max-steps", "2", "--batch-size", "3",
             "--threads", "1", "--out", str(tmp_path / "out"), "--quiet"]
    if program:
        flags += ["--program", f"{files['code']}:{program}"]
    if metric:
        flags += ["--metric", f"{files['code']}:{metric}"]
    return cli.main(flags + list(extra))


def test_your_own_program_data_and_metric(files, lms, tmp_path, capsys):
    code = optimize(files, tmp_path, "--trainset", str(files["train"]), "--valset", str(files["val"]),
                    "--testset", str(files["test"]))
    assert code == 0, capsys.readouterr().err
    assert "task" not in lms
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["task"] == "train.jsonl" and report["split_sizes"] == {"train": 6, "val": 4, "test": 6}
    assert report["split"] == "your data: train.jsonl (6) / val.jsonl (4) / test.jsonl (6)"
    assert report["options"]["metric"] == "exact"
    assert report["before"]["test"] == 0.0 and report["after"]["test"] == 100.0
    assert MAGIC in capsys.readouterr().out


def test_without_valset_testset_or_metric(files, lms, tmp_path, capsys):
    code = optimize(files, tmp_path, "--trainset", str(files["train"]), metric=None)
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["split_sizes"] == {"train": 3, "val": 3, "test": 0}       # half held out for validation
    assert report["split"] == "your data: train.jsonl (3) / held out of train.jsonl (3) / no test set (0)"
    assert report["options"]["metric"] == "exact_match(answer)"
    assert report["before"]["test"] is None and report["after"]["test"] is None
    test_row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("test score")]
    assert test_row[0].split()[-2:] == ["-", "-"]


def write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case, message", [
    ("bad json", "--trainset '{train}' line 7: bad JSON (Expecting ',' delimiter at column 18)"),
    ("not an object", "--trainset '{train}' line 2: expected a JSON object, got a list"),
    ("wrong keys", "--trainset '{train}' line 3: the example lacks the input field(s) ['question']; its keys are "
                   "['answer', 'q'] and the program Predict takes the inputs ['question']"),
    ("no label", "--trainset '{train}' line 1: the example has no label field (an expected output)"),
    ("empty", "--trainset '{train}': the file holds no examples"),
    ("absent", "--trainset '{absent}': cannot read the file (FileNotFoundError"),
])
def test_bad_data_names_the_file_and_line(case, message, files, lms, tmp_path, capsys):
    good = files["train"].read_text().splitlines()
    train = tmp_path / "train.jsonl"
    text = {"bad json": "\n".join(good) + '\n{"question": "x" "answer": "y"}\n',
            "not an object": good[0] + "\n[1, 2]\n",
            "wrong keys": "\n".join(good[:2]) + '\n{"q": "apple", "answer": "elppa"}\n',
            "no label": '{"question": "apple"}\n', "empty": "\n\n", "absent": ""}[case]
    write(train, text)
    absent = tmp_path / "absent.jsonl"
    path = absent if case == "absent" else train
    assert optimize(files, tmp_path, "--trainset", str(path)) == 2
    assert message.format(train=train, absent=absent) in capsys.readouterr().err
    assert lms == []


@pytest.mark.parametrize("spec, message", [
    ("nope", "--metric '{code}:nope': '{code}' has no attribute 'nope'"),
    ("NOT_CALLABLE", "--metric '{code}:NOT_CALLABLE' is a int, not callable"),
    ("one_argument", "--metric '{code}:one_argument': metric must accept (example, prediction[, trace])"),
])
def test_a_bad_metric_is_named(spec, message, files, lms, tmp_path, capsys):
    assert optimize(files, tmp_path, "--trainset", str(files["train"]), metric=spec) == 2
    assert message.format(code=files["code"]) in capsys.readouterr().err and lms == []


def test_a_missing_program_attribute_is_named(files, lms, tmp_path, capsys):
    assert optimize(files, tmp_path, "--trainset", str(files["train"]), program="absent") == 2
    assert f"--program '{files['code']}:absent': '{files['code']}' has no attribute 'absent'" in capsys.readouterr().err


@pytest.mark.parametrize("flags, program, message", [
    ([], None, "give --task NAME, or your own --program module:attr with --trainset file.jsonl"),
    (["--valset", "v.jsonl"], "make", "--valset need(s) --trainset"),
    (["--trainset", "t.jsonl"], None, "--trainset needs --program module:attr (the program to optimize) or --task"),
])
def test_which_flags_go_together(flags, program, message, files, lms, tmp_path, capsys):
    assert optimize(files, tmp_path, *flags, program=program, metric=None) == 2
    assert message in capsys.readouterr().err and lms == []


class TwoInputs(dspy.Module):
    def __init__(self):
        super().__init__()
        self.answer = dspy.Predict("context, question -> answer")

    def forward(self, question, context="none"):
        return self.answer(question=question, context=context)


def test_inputs_are_the_programs_inputs_and_the_rest_are_labels(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"question": "q", "answer": "a", "note": "n"}\n'
                                       '{"question": "q2", "context": "c", "answer": "a2"}\n')
    first, second = read_examples("--trainset", path, TwoInputs())
    assert set(first.inputs().keys()) == {"question"} and set(first.labels().keys()) == {"answer", "note"}
    assert set(second.inputs().keys()) == {"question", "context"}
    assert program_inputs(dspy.ChainOfThought("question, hint -> answer")) == ({"question", "hint"},) * 2
    assert len(read_examples("--trainset", path, TwoInputs(), limit=1)) == 1


def test_a_task_lends_its_metric_to_your_data(files, lms, tmp_path, monkeypatch, capsys):
    from test_cli import fake_task

    monkeypatch.setattr("dspy_dlpo.tasks.load_task", fake_task)
    code = optimize(files, tmp_path, "--task", "toy", "--trainset", str(files["train"]), "--valset",
                    str(files["val"]), program=None, metric=None)
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["task"] == "toy" and report["options"]["metric"] == "exact_metric"
    assert report["split_sizes"] == {"train": 6, "val": 4, "test": 0}
