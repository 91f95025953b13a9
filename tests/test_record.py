"""The typed trial record: what a step writes, what committed trial logs hold, and strategies' own notes."""

import json
from pathlib import Path

import dspy
import pytest

from benchmarks.activity import _noted
from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.record import ABSENT, StepRecord
from scripted import ScriptedOptimizer, exact_metric, reverse_examples, reverse_task_lm

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def committed_logs():
    for path in sorted(RESULTS.rglob("seed*.json")):
        data = json.loads(path.read_text())
        yield from (data.get("details") or {}).get("trial_logs") or []


def test_every_committed_trial_record_loads_and_writes_back_unchanged():
    logs = list(committed_logs())
    assert len(logs) > 300
    for entry in logs:
        record = StepRecord.from_json(entry)
        assert record.to_json() == entry
        assert record.step == entry["step"] and record.param == entry["param"]


def test_unset_fields_stay_out_and_unknown_ones_are_refused():
    record = StepRecord(step=3, param="self", batch=[1, 2])
    assert record.to_json() == {"step": 3, "param": "self", "batch": [1, 2]}
    record.update(outcome="skipped", reason="minibatch already solved")
    assert record.to_json()["outcome"] == "skipped" and record.gradient is ABSENT
    with pytest.raises(AttributeError, match="StepRecord has no field 'outcom'"):
        record.update(outcom="skipped")
    old = StepRecord.from_json({"step": 0, "param": "p", "legacy_key": 1})
    assert old.extra == {"legacy_key": 1} and old.to_json() == {"step": 0, "param": "p", "legacy_key": 1}


def test_each_strategy_notes_exactly_what_the_older_fields_record():
    data = reverse_examples()
    optimizer = ScriptedOptimizer(rewrite=lambda prompt, n: f"<instruction>Read it. Variant {n}. Be brief.</instruction>")
    with dspy.context(lm=reverse_task_lm()):
        result = DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), max_metric_calls=140, batch_size=4,
                                  dropout=0.5, annealing=0.9, progress=False, verbose=False).compile(
            dspy.Predict("question -> answer"), trainset=data[:8], valset=data[8:])
    stepped = [r for r in result.trial_logs if "acted" in r and r.get("outcome") != "validated"]
    assert len(stepped) >= 3
    seen = set()
    for entry in stepped:
        record = StepRecord.from_json(entry)
        from_acted = _noted(record)
        record.acted = ABSENT
        assert from_acted == _noted(record), entry["acted"]
        seen |= {k for k, v in from_acted.items() if v}
    assert {"dropout", "momentum"} <= seen
