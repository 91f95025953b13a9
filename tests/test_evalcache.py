"""The benchmark's evaluation cache: keys follow what decides a greedy evaluation, scores round-trip."""

import dspy
import pytest

from benchmarks.evalcache import EvalCache, cache_key

EXAMPLES = [dspy.Example(question=q, answer=a).with_inputs("question") for q, a in [("1+1", "2"), ("2+2", "4")]]
LM = {"model": "local", "max_tokens": 100}


def key(program, examples=EXAMPLES, task="t", lm=LM):
    return cache_key(program, examples, task=task, task_lm=lm)


def test_the_key_changes_with_everything_that_decides_the_scores():
    base = dspy.Predict("question -> answer")
    other = dspy.Predict("question -> answer")
    assert key(base) == key(other)                         # same state, same key
    other.signature = other.signature.with_instructions("Add the numbers.")
    changed = [key(other), key(base, EXAMPLES[:1]), key(base, task="u"), key(base, lm={**LM, "max_tokens": 50}),
               key(dspy.ChainOfThought("question -> answer"))]
    assert len({key(base), *changed}) == 1 + len(changed)


def test_scores_round_trip_and_a_wrong_length_is_a_miss(tmp_path):
    cache, k = EvalCache(tmp_path), key(dspy.Predict("question -> answer"))
    assert cache.get(k, 2) is None
    cache.put(k, [1.0, 0.0], {"task": "t"})
    assert cache.get(k, 2) == [1.0, 0.0]
    assert cache.get(k, 3) is None
    (tmp_path / k[:2] / f"{k}.json").write_text("{broken")
    assert cache.get(k, 2) is None
    with pytest.raises(ValueError, match="not a cache key"):
        cache.get("../../etc/passwd", 1)


def test_the_grid_reuses_stored_scores_of_the_same_program_and_says_so(tmp_path):
    from types import SimpleNamespace

    from benchmarks import cell, run
    from scripted import exact_metric, reverse_examples, reverse_task_lm

    calls = []
    metric = lambda ex, pred, trace=None: calls.append(ex.question) or exact_metric(ex, pred, trace)
    task = SimpleNamespace(name="toy", metric=metric)
    examples = reverse_examples()[:3]
    cache = (EvalCache(tmp_path), {"model": "local", "max_tokens": 10})
    with dspy.context(lm=reverse_task_lm()):
        first = cell.scored(dspy.Predict("question -> answer"), examples, task, threads=1, cache=cache)
        second = cell.scored(dspy.Predict("question -> answer"), examples, task, threads=1, cache=cache)
        uncached = cell.scored(dspy.Predict("question -> answer"), examples, task, threads=1, cache=None)
    assert first == ([0.0, 0.0, 0.0], False) and second == ([0.0, 0.0, 0.0], True) and uncached[1] is False
    assert len(calls) == 6                              # the second scoring ran nothing
    args = run.parse_args(["--model", "openai/x", "--tasks", "toy"])
    assert cell.eval_cache_for(args, "toy") is None     # a served or hosted task LM is never cached
    args = run.parse_args(["--model", "local", "--tasks", "toy", "--no-eval-cache"])
    assert cell.eval_cache_for(args, "toy") is None
