"""The shared option checks (dspy_dlpo.validate) and the one atomic JSON writer every file goes through."""

import json
import math
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root holds benchmarks/

from benchmarks.evalcache import EvalCache
from benchmarks.harness import RESULT_JSON
from dspy_dlpo.checkpoint import atomic_write_json
from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.lm.models import _record_verified, _recorded_sha256
from dspy_dlpo.strategies import TextualLearningRate, TextualRegularization
from dspy_dlpo.validate import OptionTypeError, check_bool, is_int, is_real, positive_int, real_number
from scripted import exact_metric


def test_predicates_refuse_bools():
    assert is_int(3) and not is_int(True) and not is_int(3.0)
    assert is_real(2.5) and is_real(3) and is_real(math.inf) and not is_real(False) and not is_real("1")


def test_positive_int_names_the_value_and_its_type():
    assert positive_int("k", 3) == 3 and positive_int("k", None, allow_none=True) is None
    assert positive_int("seed", 0, minimum=0) == 0
    with pytest.raises(ValueError, match="^k must be an int >= 2, got 1$"):
        positive_int("k", 1, minimum=2)
    for bad, shown in ((True, "bool True"), (2.5, "float 2.5"), ("3", "str '3'"), (None, "NoneType None")):
        with pytest.raises(OptionTypeError, match=f"^k must be an int >= 1, got {shown}$") as info:
            positive_int("k", bad)
        assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("bounds, text", [
    ({}, "x must be a number"), ({"low": 0}, "x must be a number >= 0"),
    ({"low": 0, "low_open": True}, "x must be a number > 0"), ({"high": 2}, "x must be a number <= 2"),
    ({"low": 0, "high": 1, "high_open": True}, "x must be a number in [0, 1)"),
    ({"low": 0, "high": 1, "low_open": True, "finite": True}, "x must be a finite number in (0, 1]"),
    ({"low": 0, "allow_none": True}, "x must be a number >= 0 or None"),
])
def test_real_number_words_its_range(bounds, text):
    with pytest.raises(ValueError) as info:
        real_number("x", float("nan"), **bounds)  # NaN is outside every range
    assert str(info.value) == f"{text}, got nan"
    with pytest.raises(OptionTypeError, match="got str 'a'$"):
        real_number("x", "a", **bounds)


def test_real_number_bounds_and_finiteness():
    assert real_number("x", 1, 0, 1) == 1.0 and isinstance(real_number("x", 1, 0, 1), float)
    assert real_number("x", math.inf, 0) == math.inf and real_number("x", None, allow_none=True) is None
    for value, bounds in ((1.0, {"high": 1, "high_open": True}), (0, {"low": 0, "low_open": True}),
                          (math.inf, {"finite": True}), (True, {})):
        with pytest.raises(ValueError):
            real_number("x", value, **bounds)


def test_check_bool():
    assert check_bool("flag", False) is False
    with pytest.raises(OptionTypeError, match="^flag must be True or False, got 1$"):
        check_bool("flag", 1)


def test_regularization_weight_refuses_nan():
    with pytest.raises(ValueError, match="regularization weight must be a number >= 0, got nan"):
        TextualRegularization(float("nan"))


def test_learning_rate_is_checked_in_one_place():
    with pytest.raises(ValueError) as direct:
        TextualLearningRate(2.5)
    with pytest.raises(ValueError) as option:
        DLPOTeleprompter(exact_metric, learning_rate=2.5)
    assert str(direct.value) == str(option.value) == ("learning_rate must be an int >= 1 (max sentence edits per "
                                                      "step) or a schedule, got 2.5")


@pytest.fixture
def fsyncs(monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    return calls


def test_result_files_are_synced_and_keep_their_format(tmp_path, fsyncs):
    path = tmp_path / "t" / "seed0.json"
    atomic_write_json(path, {"z": 1, "a": Path("p")}, **RESULT_JSON)
    assert path.read_text() == '{\n  "z": 1,\n  "a": "p"\n}' and len(fsyncs) == 1
    assert [p.name for p in path.parent.iterdir()] == ["seed0.json"]


def test_eval_cache_and_model_sidecar_are_synced(tmp_path, fsyncs):
    cache = EvalCache(tmp_path / "cache")
    cache.put("a" * 64, [1, 0.5], {"n": 2})
    assert cache.get("a" * 64, 2) == [1.0, 0.5] and len(fsyncs) == 1
    assert json.loads(next((tmp_path / "cache").rglob("*.json")).read_text()) == {"scores": [1.0, 0.5], "n": 2}
    model = tmp_path / "m.gguf"
    model.write_bytes(b"weights")
    _record_verified(model, "b" * 64)
    assert _recorded_sha256(model) == "b" * 64 and len(fsyncs) == 2
