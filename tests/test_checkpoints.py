"""Issue 19: checkpoints across processes, concurrent runs, tampering, Ctrl-C, size, STOP files."""

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import dspy
import pytest

from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.callbacks import Callback
from dspy_dlpo.checkpoint import LOCK_FILE, STATE_FILE, STOP_FILE, CheckpointError
from dspy_dlpo.lm.engine import function_lm
from scripted import MAGIC, ScriptedOptimizer, chat_reply, exact_metric, field_value, reverse_examples

DATA = reverse_examples()
TRAIN, VAL = DATA[:8], DATA[8:]
HERE = Path(__file__).parent


def task_reply(messages, options):
    word = field_value(messages, "question")
    solved = MAGIC.lower() in messages[0]["content"].lower() and word not in ("apple", "mirror")
    return chat_reply(answer=word[::-1] if solved else word)


def variant(prompt: str, n: int) -> str:
    """A rewrite that depends only on the prompt (so a re-run step gets the same reply)."""
    tag = hashlib.sha256(prompt.encode()).hexdigest()[:6]
    return f"<instruction>{MAGIC} Variant {tag}.</instruction>"


def run(log_dir, optimizer_lm=None, metric=exact_metric, task=task_reply, **options):
    options = {"max_steps": 2, "batch_size": 4, "progress": False, "log_dir": log_dir, **options}
    with dspy.context(lm=function_lm(task, name="t")):
        return DLPOTeleprompter(metric, prompt_model=optimizer_lm or ScriptedOptimizer().lm(), **options).compile(
            dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL)


# -- 5: stable fingerprints, the configuration stored and named ----------------------------------------
@pytest.mark.parametrize("kind", ["partial", "object"])
def test_resume_across_processes_with_unstable_reprs(tmp_path, kind):
    def worker(seed, steps):
        env = {**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(HERE.parent)}  # this checkout
        args = [sys.executable, str(HERE / "fingerprint_worker.py"), str(tmp_path / "run"),
                str(tmp_path / f"out{steps}.json"), kind, str(steps)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads((tmp_path / f"out{steps}.json").read_text())
    first, second = worker(1, 1), worker(2, 2)     # another process, another hash seed: a resume
    assert first["steps"] == 1 and second["steps"] == 2
    assert second["trial_logs"][0] == first["trial_logs"][0]
    saved = json.loads((tmp_path / "run" / STATE_FILE).read_text())
    assert saved["identity"]["config"]["batch_size"] == 4      # the configuration itself is stored


def test_a_refused_resume_names_the_differing_option(tmp_path):
    run(tmp_path, max_steps=1)
    with pytest.raises(CheckpointError, match=r"config\.batch_size: saved 4 != now 3"):
        run(tmp_path, max_steps=1, batch_size=3)
    with pytest.raises(CheckpointError, match=r"config\.strategies\[0\]\.rate: saved 0.25 != now 0.5"):
        run(tmp_path, max_steps=1, dropout=0.5)


# -- 6: one run per log_dir ----------------------------------------------------------------------------
def test_a_second_concurrent_run_on_the_same_log_dir_is_refused(tmp_path):
    refusals = []

    class SecondRun(Callback):
        def on_start(self, state, budget):
            try:
                run(tmp_path, max_steps=1)
            except RuntimeError as exc:
                refusals.append(str(exc))
    result = run(tmp_path, max_steps=1, callbacks=[SecondRun()])
    assert len(refusals) == 1 and "is in use by another run" in refusals[0]
    assert result.detailed_results["steps"] == 1
    run(tmp_path, max_steps=2)      # after the first run ended, the log_dir is free again


def test_a_run_holding_the_lock_in_another_process_blocks_a_second_one(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from filelock import FileLock; "
                               f"lock = FileLock({str(tmp_path / LOCK_FILE)!r}); lock.acquire(); print('held', "
                               "flush=True); sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RuntimeError, match="is in use by another run"):
            run(tmp_path, max_steps=1)
    finally:
        holder.communicate("", timeout=30)
    assert run(tmp_path, max_steps=1).detailed_results["steps"] == 1


# -- 7: checkpoints are validated on load ----------------------------------------------------------------
def _tamper(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


TAMPERING = [
    ("not json", None, "cannot be read \\(JSONDecodeError"),
    ("no state", lambda d: d.pop("state"), "is not a DLPO checkpoint"),
    ("old schema", lambda d: d.update(schema=1), "schema version 1"),
    ("best_score 1000", lambda d: d["state"].update(best_score=1000), "best_score must be a number in \\[0, 100\\]"),
    ("best_score not the best", lambda d: d["state"].update(best_score=99.0), "best_score 99.0 is not the score of a validated"),
    ("negative spend", lambda d: d["state"]["spend"].update(metric_calls=-50), "spend.metric_calls must be an int >= 0"),
    ("step", lambda d: d["state"].update(step=7), "history must be a list of one record per step"),
    ("candidate score", lambda d: d["state"]["candidates"][0].update(score="high"), "candidates\\[0\\].score"),
    ("unknown key", lambda d: d["state"].update(surprise=1), "unknown key 'surprise'"),
    ("params", lambda d: d["state"].update(params={}), "params must map predictor names"),
]


@pytest.mark.parametrize("name, change, message", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_a_corrupt_or_tampered_checkpoint_is_refused_naming_file_and_problem(tmp_path, name, change, message):
    run(tmp_path, max_steps=1)
    path = tmp_path / STATE_FILE
    if change is None:
        path.write_text('{"schema": 2, "state": {broken')
    else:
        _tamper(path, change)
    with pytest.raises(CheckpointError, match=message) as info:
        run(tmp_path, max_steps=2)
    assert str(path) in str(info.value)


# -- 8: Ctrl-C rolls back the meters with the state -------------------------------------------------------
def test_ctrl_c_mid_step_then_resume_spends_as_an_uninterrupted_run(tmp_path):
    straight = run(tmp_path / "a", ScriptedOptimizer(rewrite=variant).lm(), max_steps=4)
    opt, calls = ScriptedOptimizer(rewrite=variant), [0]

    def interrupting(messages, options):
        calls[0] += 1
        if calls[0] == 4:            # step 1's rewrite call: its gradient call and rollouts are spent
            raise KeyboardInterrupt
        return opt(messages, options)
    interrupted = run(tmp_path / "b", function_lm(interrupting, name="scripted-optimizer"), max_steps=4)
    assert interrupted.detailed_results["stop_reason"] == "interrupted"
    resumed = run(tmp_path / "b", ScriptedOptimizer(rewrite=variant).lm(), max_steps=4)
    assert resumed.trial_logs == straight.trial_logs
    assert resumed.detailed_results["spend"] == straight.detailed_results["spend"]
    assert resumed.detailed_results["faults"] == straight.detailed_results["faults"]


# -- 9: what a step stores is bounded ------------------------------------------------------------------------
def test_long_outputs_do_not_grow_the_checkpoint_without_bound(tmp_path):
    def long_task(messages, options):
        return chat_reply(answer=field_value(messages, "question") + " lorem" * 40_000)   # 240 KB answers

    def echoing_metric(example, pred, trace=None):
        return dspy.Prediction(score=0.0, feedback=f"Expected {example.answer} but got {pred.answer}")
    result = run(tmp_path, metric=echoing_metric, task=long_task, max_steps=3)
    assert result.detailed_results["steps"] == 3
    size = (tmp_path / STATE_FILE).stat().st_size
    assert size < 150_000, size            # 3 steps x 8 rollouts of 240 KB feedback would be 5.8 MB
    feedback = result.trial_logs[0]["rollouts"][0]["feedback"]
    assert len(feedback) < 2100 and feedback.endswith("more characters not stored]")


# -- 10: the STOP file ---------------------------------------------------------------------------------------------
def test_a_stop_file_found_at_start_is_logged_honored_and_removed(tmp_path, caplog):
    run(tmp_path, max_steps=1)
    (tmp_path / STOP_FILE).write_text("")
    with caplog.at_level(logging.WARNING):
        stopped = run(tmp_path, max_steps=3)
    assert "a STOP file was found in log_dir" in caplog.text
    assert stopped.detailed_results["stop_reason"] == "stop file" and stopped.detailed_results["steps"] == 1
    assert not (tmp_path / STOP_FILE).exists()
    assert run(tmp_path, max_steps=3).detailed_results["steps"] == 3      # the next run is not stopped


def test_a_stop_file_written_mid_run_is_honored_and_removed(tmp_path):
    class StopAfterFirstStep(Callback):
        def on_step_end(self, record, state):
            (tmp_path / STOP_FILE).write_text("")
    result = run(tmp_path, max_steps=5, callbacks=[StopAfterFirstStep()])
    assert result.detailed_results["stop_reason"] == "stop file" and result.detailed_results["steps"] == 1
    assert not (tmp_path / STOP_FILE).exists()
