"""Faults, interruption and resume, secrets."""

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
from dspy_dlpo.checkpoint import STATE_FILE, STOP_FILE
from dspy_dlpo.lm.engine import function_lm
from faults import FaultInjector
from scripted import MAGIC, ScriptedOptimizer, chat_reply, exact_metric, field_value, reverse_examples

DATA = reverse_examples()
TRAIN, VAL = DATA[:8], DATA[8:]
HERE = Path(__file__).parent


def task_reply(messages, options):
    word = field_value(messages, "question")
    return chat_reply(answer=word[::-1] if MAGIC.lower() in messages[0]["content"].lower() else word)


@pytest.mark.parametrize("threads", [1, 8])
def test_faulty_lms_twenty_percent(threads):
    task = FaultInjector(task_reply, rate=0.2, salt="task")
    opt = ScriptedOptimizer(rewrite=lambda prompt, n: "<instruction>" + (
        MAGIC if hashlib.sha256(prompt.encode()).digest()[0] % 5 == 0 else f"Variant {prompt[-30:].strip()}.")
        + "</instruction>")
    optimizer = FaultInjector(opt, rate=0.2, salt="opt", fail_first=True)
    with dspy.context(lm=function_lm(task, name="faulty-task")):
        tp = DLPOTeleprompter(exact_metric, prompt_model=function_lm(optimizer, name="faulty-opt"),
                              max_metric_calls=240, batch_size=4, num_threads=threads, progress=False)
        tp_client_sleep = None
        result = tp.compile(dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL)
    logs, details = result.trial_logs, result.detailed_results
    assert sum(task.injected.values()) > 0 and sum(optimizer.injected.values()) > 0
    # counts add up: baseline validation + every step's spend
    assert details["spend"]["metric_calls"] == len(VAL) + sum(r["step_metric_calls"] for r in logs)
    assert details["spend"]["metric_calls"] <= 240
    assert details["spend"]["optimizer_calls"] == sum(r["step_optimizer_calls"] for r in logs)
    assert details["spend"]["optimizer_calls"] == sum(optimizer.seen.values())
    faults = details["faults"]
    assert faults.get("parse_error", 0) + faults.get("program_error", 0) > 0
    # the returned program is the best validated one
    assert result.score == max(c["score"] for c in result.candidate_programs)
    assert result.signature.instructions == result.candidate_programs[0]["instructions"]["self"]
    assert result.score > details["initial_score"]
    del tp_client_sleep


def test_metric_that_raises_or_returns_junk_is_a_scored_failure():
    def flaky_metric(example, pred, trace=None):
        if example.question == "apple":
            raise KeyError("boom")
        if example.question == "stone":
            return "not a number"
        return exact_metric(example, pred)
    opt = ScriptedOptimizer()
    with dspy.context(lm=function_lm(task_reply, name="t")):
        result = DLPOTeleprompter(flaky_metric, prompt_model=opt.lm(), max_steps=1, batch_size=8,
                                  progress=False).compile(dspy.Predict("question -> answer"), trainset=TRAIN,
                                                          valset=VAL)
    assert result.detailed_results["faults"]["metric_error"] >= 2
    step = result.trial_logs[0]
    feedback = {r["index"]: r["feedback"] for r in step["rollouts"]}
    assert "The metric raised KeyError: 'boom'" in feedback[0]
    assert "non-number: 'not a number'" in feedback[1]
    assert "The metric raised KeyError" in opt.prompts[0]     # errors reach the gradient as loss text


def test_metric_failing_everywhere_is_a_clear_error():
    def broken_metric(example, pred, trace=None):
        return example.no_such_field
    with dspy.context(lm=function_lm(task_reply, name="t")):
        tp = DLPOTeleprompter(broken_metric, prompt_model=ScriptedOptimizer().lm(), max_steps=1, progress=False)
        with pytest.raises(ValueError, match="the metric 'broken_metric' failed on every validation example"):
            tp.compile(dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL)


def _run_worker(log_dir, out, kill_at=None):
    args = [sys.executable, str(HERE / "resume_worker.py"), str(log_dir), str(out)]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}   # import this checkout's dspy_dlpo, not an installed one
    return subprocess.run(args + ([str(kill_at)] if kill_at else []), capture_output=True, text=True, timeout=120,
                          env=env)


def test_sigkill_mid_step_then_resume_equals_uninterrupted(tmp_path):
    straight = _run_worker(tmp_path / "a", tmp_path / "a.json")
    assert straight.returncode == 0, straight.stderr[-2000:]
    killed = _run_worker(tmp_path / "b", tmp_path / "b.json", kill_at=9)
    assert killed.returncode == -9 and not (tmp_path / "b.json").exists()
    saved = json.loads((tmp_path / "b" / STATE_FILE).read_text())
    assert 0 < saved["state"]["step"] < 10
    resumed = _run_worker(tmp_path / "b", tmp_path / "b.json")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = json.loads((tmp_path / "a.json").read_text()), json.loads((tmp_path / "b.json").read_text())
    assert len(a["trial_logs"]) > 5
    assert a["trial_logs"] == b["trial_logs"]
    assert a["instructions"] == b["instructions"] and a["score"] == b["score"]
    assert a["spend"]["metric_calls"] == b["spend"]["metric_calls"]


def test_log_dir_of_another_config_is_refused(tmp_path):
    opt = ScriptedOptimizer()
    with dspy.context(lm=function_lm(task_reply, name="t")):
        DLPOTeleprompter(exact_metric, prompt_model=opt.lm(), max_steps=1, batch_size=4, log_dir=tmp_path,
                         progress=False).compile(dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL)
        tp = DLPOTeleprompter(exact_metric, prompt_model=opt.lm(), max_steps=1, batch_size=3, log_dir=tmp_path,
                              progress=False)
        with pytest.raises(ValueError, match="holds a run of a different program or configuration.*config"):
            tp.compile(dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL)
        with pytest.raises(ValueError, match="initial_instructions"):
            DLPOTeleprompter(exact_metric, prompt_model=opt.lm(), max_steps=1, batch_size=4, log_dir=tmp_path,
                             progress=False).compile(dspy.Predict("question -> answer, note"), trainset=TRAIN,
                                                     valset=VAL)


def test_stop_file_ends_run_gracefully(tmp_path):
    (tmp_path / STOP_FILE).write_text("")
    opt = ScriptedOptimizer()
    with dspy.context(lm=function_lm(task_reply, name="t")):
        result = DLPOTeleprompter(exact_metric, prompt_model=opt.lm(), max_steps=5, batch_size=4, log_dir=tmp_path,
                                  progress=False).compile(dspy.Predict("question -> answer"), trainset=TRAIN,
                                                          valset=VAL)
    assert result.detailed_results["stop_reason"] == "stop file" and result.trial_logs == []
    assert result.score == 0.0    # the baseline is still returned as the best validated program


def test_keyboard_interrupt_keeps_best(tmp_path):
    calls = [0]

    def interrupting_task(messages, options):
        calls[0] += 1
        if calls[0] == 27:   # baseline (8) and step 0 (16) done; Ctrl-C during step 1's forward
            raise KeyboardInterrupt
        word = field_value(messages, "question")
        solved = MAGIC.lower() in messages[0]["content"].lower() and word != "mirror"
        return chat_reply(answer=word[::-1] if solved else word)
    opt = ScriptedOptimizer(rewrite=f"<instruction>{MAGIC} Go.</instruction>")
    with dspy.context(lm=function_lm(interrupting_task, name="int")):
        result = DLPOTeleprompter(exact_metric, prompt_model=opt.lm(), max_steps=5, batch_size=4, log_dir=tmp_path,
                                  progress=False, candidates_per_step=1).compile(
            dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL)
    assert result.detailed_results["stop_reason"] == "interrupted"
    assert result.signature.instructions == f"{MAGIC} Go." and result.score == 87.5
    assert len(result.trial_logs) == 1
    assert json.loads((tmp_path / STATE_FILE).read_text())["state"]["stop_reason"] == "interrupted"


def test_secrets_never_reach_logs_or_checkpoints(tmp_path, caplog):
    secret = "sk-fakeSECRETkey1234567890"

    def leaky(messages, options):
        raise RuntimeError(f"AuthenticationError: Incorrect API key provided: {secret}; "
                           f"headers={{'Authorization': 'Bearer {secret}'}}")
    # the key is configured on the engine in use (only configured keys are secrets: see dspy_dlpo/redact.py)
    engine = __import__("dspy_dlpo.lm.engine", fromlist=["x"]).FunctionEngine(leaky)
    engine.api_key = secret
    optimizer = dspy.LM("custom/leaky", engine=engine, cache=False)
    with dspy.context(lm=function_lm(lambda m, o: (_ for _ in ()).throw(RuntimeError(f"bad key {secret}"))
                                      if field_value(m, "question") == "apple" else task_reply(m, o), name="t")), \
            caplog.at_level(logging.DEBUG):
        result = DLPOTeleprompter(exact_metric, prompt_model=optimizer, max_steps=2, batch_size=8, log_dir=tmp_path,
                                  progress=False).compile(dspy.Predict("question -> answer"), trainset=TRAIN,
                                                          valset=VAL)
    everything = caplog.text + (tmp_path / STATE_FILE).read_text() + json.dumps(result.trial_logs, default=str)
    assert "[REDACTED]" in everything
    assert secret not in everything
