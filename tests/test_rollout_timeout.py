"""Issue 34, item 2: a hung rollout never hangs the run (``rollout_timeout``)."""

import threading
import time

import dspy
import pytest

from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.budget import UsageMeter
from dspy_dlpo.lm.engine import function_lm
from dspy_dlpo.pool import Lease, run_jobs
from dspy_dlpo.program import DEFAULT_ROLLOUT_TIMEOUT, run_batch
from scripted import MAGIC, ScriptedOptimizer, chat_reply, exact_metric, field_value, reverse_examples

DATA = reverse_examples()
TRAIN, VAL = DATA[:8], DATA[8:]


# -- the pool ---------------------------------------------------------------------------------------------------
def test_a_hung_job_is_abandoned_at_its_deadline_and_its_late_result_ignored():
    release, finished_late, seen = threading.Event(), threading.Event(), []

    def job(item, lease):
        if item == "hang":
            release.wait(10)
            lease.guarded(lambda: seen.append("late"))   # shared state: only while the lease is live
            finished_late.set()
        return item.upper()

    done = []
    started = time.monotonic()
    outcomes = run_jobs(job, ["a", "hang", "b", "c"], threads=2, timeout=0.4,
                        on_done=lambda i, finished: done.append((i, finished)))
    assert time.monotonic() - started < 3
    assert outcomes == [(True, "A"), (False, None), (True, "B"), (True, "C")]
    release.set()
    assert finished_late.wait(5)
    assert seen == [] and sorted(done) == [(0, True), (1, False), (2, True), (3, True)]


def test_jobs_keep_their_order_and_never_run_more_than_threads_at_once():
    lock, running, peak = threading.Lock(), [0], [0]

    def job(item, lease):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01 * (item % 3))
        with lock:
            running[0] -= 1
        return item * 2

    assert run_jobs(job, list(range(20)), threads=3) == [(True, i * 2) for i in range(20)]
    assert peak[0] <= 3


def test_ctrl_c_inside_a_job_reaches_the_caller():
    def job(item, lease):
        if item == 1:
            raise KeyboardInterrupt
        return item

    with pytest.raises(KeyboardInterrupt):
        run_jobs(job, [0, 1, 2], threads=1)


def test_a_lease_finishes_or_is_abandoned_never_both():
    lease = Lease()
    assert lease.abandon() and not lease.finish("x", None) and not lease.guarded(lambda: None)
    other = Lease()
    assert other.finish("x", None) and not other.abandon() and other.result == "x"


# -- a batch of rollouts ----------------------------------------------------------------------------------------
def test_a_hung_task_lm_call_is_a_scored_failure_and_its_late_usage_is_not_counted():
    release, late = threading.Event(), threading.Event()

    def task(messages, options):
        word = field_value(messages, "question")
        if word == "river":
            release.wait(10)
            late.set()
        return chat_reply(answer=word[::-1])

    meter, pairs = UsageMeter(), list(enumerate(DATA[:4]))
    program = dspy.Predict("question -> answer")
    with dspy.context(lm=function_lm(task, name="t"), usage_tracker=meter):
        rollouts = run_batch(program, exact_metric, pairs, num_threads=2, timeout=0.5)
    assert [r.score for r in rollouts] == [1.0, 1.0, 0.0, 1.0]
    assert "timed out" in rollouts[2].feedback and rollouts[2].error.startswith("rollout timeout")
    calls = meter.calls
    assert calls == 3
    release.set()
    assert late.wait(5)
    time.sleep(0.2)   # the late reply reaches DSPy's usage hook
    assert meter.calls == calls


# -- in a run ---------------------------------------------------------------------------------------------------
def run_with_hang(hang_metric=False, **options):
    """A run whose task LM (or metric) hangs on "mirror" (a validation example) until released; returns
    ``(result, release, metric calls seen)``."""
    release, lock, metric_calls = threading.Event(), threading.Lock(), [0]

    def task(messages, options):
        word = field_value(messages, "question")
        if word == "mirror" and not hang_metric:
            release.wait(30)
        return chat_reply(answer=word[::-1] if MAGIC.lower() in messages[0]["content"].lower() else word)

    def metric(example, pred, trace=None):
        with lock:
            metric_calls[0] += 1
        if hang_metric and example.question == "mirror":
            release.wait(30)
        return exact_metric(example, pred)

    with dspy.context(lm=function_lm(task, name="t")):
        result = DLPOTeleprompter(metric, prompt_model=ScriptedOptimizer().lm(), max_steps=2, batch_size=4,
                                  num_threads=2, progress=False, **options).compile(
            dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL)
    return result, release, metric_calls, lock


@pytest.mark.parametrize("hang_metric", [False, True])
def test_a_run_goes_on_past_a_hung_rollout_and_counts_it_once(hang_metric):
    started = time.monotonic()
    result, release, metric_calls, lock = run_with_hang(hang_metric, rollout_timeout=0.5)
    assert time.monotonic() - started < 20
    details = result.detailed_results
    assert details["faults"]["rollout_timeout"] == 2   # the baseline and step 0's validation of "mirror"
    assert result.signature.instructions == MAGIC and result.score == 87.5
    spent = details["spend"]["metric_calls"]
    release.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:   # the abandoned rollouts return late and call the metric once each
        with lock:
            if metric_calls[0] >= spent:
                break
        time.sleep(0.05)
    time.sleep(0.2)
    assert metric_calls[0] == spent   # every rollout called the metric once, the abandoned ones too
    assert result.detailed_results["spend"]["metric_calls"] == spent


def test_the_default_protects_and_the_option_is_validated():
    assert DLPOTeleprompter(exact_metric).get_params()["rollout_timeout"] == DEFAULT_ROLLOUT_TIMEOUT == 300.0
    assert DLPOTeleprompter(exact_metric, rollout_timeout=None).rollout_timeout is None
    for bad in (0, -1, "10", float("nan"), True):
        with pytest.raises((TypeError, ValueError), match="rollout_timeout"):
            DLPOTeleprompter(exact_metric, rollout_timeout=bad)
