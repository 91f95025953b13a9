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
