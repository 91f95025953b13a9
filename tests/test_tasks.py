"""Benchmark task loaders: the real files in ../shared/data, the splits, and the hub route (faked)."""

import json
import random
from pathlib import Path

import datasets
import dspy
import pytest

from dspy_dlpo import tasks
from dspy_dlpo.tasks import available_tasks, load_task, sources
from dspy_dlpo.tasks.splits import drop_repeats

PROJECT = Path(__file__).resolve().parents[1]
DATA = (PROJECT / ".." / "shared" / "data").resolve()
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="needs the benchmark files in ../shared/data")

BBH = ["boolean_expressions", "causal_judgement", "date_understanding", "disambiguation_qa", "dyck_languages",
       "formal_fallacies", "geometric_shapes", "hyperbaton", "logical_deduction_five_objects",
       "logical_deduction_seven_objects", "logical_deduction_three_objects", "object_counting",
       "penguins_in_a_table", "ruin_names", "salient_translation_error_detection", "snarks", "temporal_sequences",
       "tracking_shuffled_objects_five_objects", "tracking_shuffled_objects_seven_objects",
       "tracking_shuffled_objects_three_objects", "web_of_lies", "word_sorting"]
MGSM = ["bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh"]
SIZES = {"gsm8k": (200, 300, 1319), "biggsm": (100, 100, 410), "math500": (100, 100, 300),
         **{f"bbh/{t}": (50, 100, 100) for t in BBH}, **{f"mgsm/{lang}": (50, 100, 100) for lang in MGSM},
         "bbh/causal_judgement": (50, 66, 67), "bbh/snarks": (50, 64, 64), "bbh/penguins_in_a_table": (50, 48, 48)}


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(sources.ENV_VAR, raising=False)


_CACHE: dict = {}


def real(name):
    """The task loaded once from the real files (found through ../shared/data)."""
    if name not in _CACHE:
        _CACHE[name] = load_task(name)
    return _CACHE[name]


@needs_data
def test_data_dir_is_found_next_to_the_project_from_any_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sources.data_root() == DATA
    assert available_tasks() == ["gsm8k", "biggsm", "math500"] + [f"bbh/{t}" for t in BBH] + \
        [f"mgsm/{lang}" for lang in MGSM]


@needs_data
@pytest.mark.parametrize("name", sorted(SIZES))
def test_split_sizes_fields_and_disjointness(name):
    task = real(name)
    assert task.name == name and task.split_note
    assert (len(task.trainset), len(task.valset), len(task.testset)) == SIZES[name]
    for example in task.trainset + task.valset + task.testset:
        assert set(example.inputs().keys()) == {"question"}
        assert isinstance(example.question, str) and example.question.strip()
        assert isinstance(example.answer, str) and example.answer.strip()
    train, val, test = ({e.question for e in s} for s in (task.trainset, task.valset, task.testset))
    assert not test & (train | val) and not train & val


@needs_data
@pytest.mark.parametrize("name", sorted(SIZES))
def test_reference_answers_score_one(name):
    task = real(name)
    for example in task.trainset + task.valset + task.testset:
        result = task.metric(example, dspy.Prediction(answer=example.answer))
        assert result.score == 1.0, (name, example.answer, result.feedback)


@needs_data
def test_answers_are_normalized():
    gsm = real("gsm8k")
    assert all(e.answer.lstrip("-").isdigit() for e in gsm.trainset + gsm.testset)
    assert all("####" in e.solution for e in gsm.trainset)
    assert all(e.answer.isdigit() for e in real("biggsm").testset)  # "192157." in the file
    mgsm_en = real("mgsm/en")
    assert "2125" in {e.answer for e in mgsm_en.trainset + mgsm_en.valset + mgsm_en.testset}  # "2,125" in the file
    assert all(e.answer.lstrip("-").isdigit() for lang in MGSM for e in real(f"mgsm/{lang}").testset)
    math = real("math500").testset[0]
    assert {"solution", "subject", "level", "unique_id"} <= set(math.keys())
    assert real("bbh/word_sorting").metric.__name__ == "bbh_word_sorting_metric"


def test_drop_repeats_keeps_first_copies_and_drops_conflicts():
    rows = [{"question": q, "answer": a} for q, a in [("a", "1"), ("b", "2"), ("a", "1"), ("c", "Yes"), ("c", "No")]]
    assert drop_repeats(rows, "t") == [{"question": "a", "answer": "1"}, {"question": "b", "answer": "2"}]


@needs_data
def test_causal_judgement_loses_its_conflicting_repeats():
    rows = json.loads((DATA / "bbh" / "causal_judgement.json").read_text())["examples"]
    task = real("bbh/causal_judgement")
    kept = task.trainset + task.valset + task.testset
    assert len(rows) == 187 and len(kept) == 183
    assert {r["input"] for r in rows} == {e.question for e in kept} | {rows[32]["input"], rows[36]["input"]}


@needs_data
def test_gsm8k_follows_dspy_convention():
    rows = [json.loads(line) for line in (DATA / "gsm8k" / "train.jsonl").read_text().splitlines()]
    random.Random(0).shuffle(rows)
    task = real("gsm8k")
    assert [e.question for e in task.trainset] == [r["question"] for r in rows[:200]]
    assert [e.question for e in task.valset] == [r["question"] for r in rows[200:500]]


@needs_data
def test_bbh_follows_textgrad_convention_in_file_order():
    rows = json.loads((DATA / "bbh" / "object_counting.json").read_text())["examples"]
    task = real("bbh/object_counting")
    assert [e.question for e in task.trainset] == [r["input"] for r in rows[:50]]
    assert [e.question for e in task.valset] == [r["input"] for r in rows[50:150]]
    assert [e.answer for e in task.testset] == [r["target"] for r in rows[150:]]


@needs_data
def test_mgsm_splits_are_parallel_across_languages():
    answers = {lang: [e.answer for e in real(f"mgsm/{lang}").testset] for lang in MGSM}
    assert all(a == answers["en"] for a in answers.values())


@needs_data
def test_limits_take_the_first_n_and_splits_are_deterministic():
    full = real("math500")
    small = load_task("math500", n_train=3, n_val=2, n_test=5)
    assert [e.question for e in small.trainset] == [e.question for e in full.trainset[:3]]
    assert [e.question for e in small.testset] == [e.question for e in full.testset[:5]]
    assert len(small.valset) == 2
    assert len(load_task("mgsm/de", n_test=10_000).testset) == 100


@needs_data
def test_make_program_gives_fresh_programs():
    task = real("bbh/snarks")
    first, second = task.make_program(), task.make_program()
    assert isinstance(first, dspy.ChainOfThought) and first is not second
    assert list(first.predict.signature.input_fields) == ["question"]
    assert "answer" in first.predict.signature.output_fields


@pytest.mark.parametrize("name", ["gsm9k", "bbh/nope", "mgsm/xx", "bbh", "mgsm", "gsm8k/train", "", "  ", None, 42])
def test_unknown_names_are_rejected_with_the_allowed_list(name):
    with pytest.raises(ValueError, match="unknown task") as info:
        load_task(name, data_dir="hub")
    assert repr(name) in str(info.value) and "gsm8k" in str(info.value) and "bbh/word_sorting" in str(info.value)


@pytest.mark.parametrize("kwargs,error", [
    ({"n_train": 0}, ValueError), ({"n_val": -1}, ValueError), ({"n_test": 1.5}, TypeError),
    ({"n_train": "3"}, TypeError), ({"n_test": True}, TypeError),
])
def test_bad_limits_are_rejected(kwargs, error):
    with pytest.raises(error, match=repr(next(iter(kwargs.values()))).replace(".", r"\.")):
        load_task("gsm8k", data_dir="hub", **kwargs)


def _bbh_fixture(root, task, n, tag):
    (root / "bbh").mkdir(parents=True)
    examples = [{"input": f"{tag} question {i}", "target": "(A)"} for i in range(n)]
    (root / "bbh" / f"{task}.json").write_text(json.dumps({"canary": "x", "examples": examples}))


def test_explicit_data_dir_beats_env_var_beats_auto(tmp_path, monkeypatch):
    _bbh_fixture(tmp_path / "explicit", "navigate", 160, "explicit")
    _bbh_fixture(tmp_path / "env", "navigate", 170, "env")
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path / "env"))
    task = load_task("bbh/navigate", data_dir=tmp_path / "explicit")
    assert task.trainset[0].question == "explicit question 0"
    assert (len(task.trainset), len(task.valset), len(task.testset)) == (50, 55, 55)
    assert load_task("bbh/navigate").trainset[0].question == "env question 0"
    assert available_tasks() == ["gsm8k", "biggsm", "math500", "bbh/navigate"] + [f"mgsm/{m}" for m in MGSM]


def test_cwd_relative_data_dir(tmp_path, monkeypatch):
    _bbh_fixture(tmp_path / "shared" / "data", "navigate", 160, "cwd")
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.setattr(sources, "__file__", str(tmp_path / "elsewhere" / "pkg" / "tasks" / "sources.py"))
    assert load_task("bbh/navigate").trainset[0].question == "cwd question 0"


def test_explicit_dir_must_hold_the_file(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="gsm8k/train.jsonl"):
        load_task("gsm8k", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_task("gsm8k", data_dir=tmp_path / "missing")
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=sources.ENV_VAR):
        load_task("gsm8k")
    with pytest.raises(ValueError, match="empty"):
        load_task("gsm8k", data_dir=" ")
    with pytest.raises(TypeError, match="data_dir"):
        load_task("gsm8k", data_dir=3)


class FakeHub:
    """Stands in for ``datasets.load_dataset``: records each call and returns made-up rows."""

    def __init__(self):
        self.calls = []

    def __call__(self, path, name=None, *, split=None, **kwargs):
        self.calls.append((path, name, split))
        if path == "openai/gsm8k":
            rows = [{"question": f"{split} q{i}", "answer": f"work\n#### {i:,}"} for i in range(1200)]
        elif path == "lukaemon/bbh":
            rows = [{"input": f"{name} q{i}", "target": "Yes"} for i in range(250)]
        elif path == "juletxara/mgsm":
            rows = [{"question": f"q{i}", "answer": None, "answer_number": i * 1000,
                     "equation_solution": None} for i in range(250)]
        elif path == "HuggingFaceH4/MATH-500":
            rows = [{"problem": f"p{i}", "solution": "s", "answer": r"\frac{1}{2}", "subject": "Algebra",
                     "level": 1, "unique_id": f"u{i}"} for i in range(500)]
        else:
            raise FileNotFoundError(f"no dataset {path}")
        return datasets.Dataset.from_list(rows)


@pytest.fixture
def hub(monkeypatch):
    fake = FakeHub()
    monkeypatch.setattr(datasets, "load_dataset", fake)
    return fake


@pytest.mark.parametrize("name,calls", [
    ("gsm8k", [("openai/gsm8k", "main", "train"), ("openai/gsm8k", "main", "test")]),
    ("bbh/object_counting", [("lukaemon/bbh", "object_counting", "test")]),
    ("bbh/navigate", [("lukaemon/bbh", "navigate", "test")]),  # a hub task with no local file
    ("mgsm/sw", [("juletxara/mgsm", "sw", "test")]),
    ("math500", [("HuggingFaceH4/MATH-500", None, "test")]),
])
def test_hub_route_names_the_right_datasets(hub, name, calls):
    task = load_task(name, data_dir="hub")
    assert hub.calls == calls
    assert task.testset and all(e.question and e.answer for e in task.testset)


def test_hub_rows_are_normalized(hub, monkeypatch):
    monkeypatch.setenv(sources.ENV_VAR, "hub")
    assert load_task("gsm8k").testset[0].answer.isdigit()
    assert "," not in "".join(e.answer for e in load_task("gsm8k").trainset)  # "#### 1,234" -> "1234"
    assert load_task("mgsm/de").trainset[3].answer == "3000"
    assert len(available_tasks()) == 3 + 27 + 11


def test_biggsm_has_no_hub_copy(hub):
    with pytest.raises(FileNotFoundError, match="no copy on the Hugging Face hub"):
        load_task("biggsm", data_dir="hub")
    assert hub.calls == []


def test_hub_failures_explain_the_offline_route(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(RuntimeError, match="data_dir"):
        load_task("math500", data_dir="hub")


def test_public_api():
    assert {"Task", "load_task", "available_tasks", "number_metric", "math_metric", "bbh_metric",
            "make_bbh_metric"} <= set(tasks.__all__)
