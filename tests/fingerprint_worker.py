"""Subprocess body for the cross-process resume test: metrics and examples whose naive repr or str
differs between processes (a partial, a callable object, set-valued fields).

usage: python fingerprint_worker.py LOG_DIR OUT_JSON METRIC_KIND MAX_STEPS
"""

import functools
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import dspy  # noqa: E402

from dspy_dlpo import DLPOTeleprompter  # noqa: E402
from dspy_dlpo.lm.engine import function_lm  # noqa: E402
from scripted import MAGIC, ScriptedOptimizer, chat_reply, exact_metric, field_value, WORDS  # noqa: E402


def weighted(example, pred, trace=None, *, weight=1.0):
    return weight * exact_metric(example, pred).score


class ExactMetric:
    def __init__(self, strict: bool = True) -> None:
        self.strict = strict

    def __call__(self, example, pred, trace=None):
        return exact_metric(example, pred)


METRICS = {"partial": functools.partial(weighted, weight=1.0), "object": ExactMetric()}


def task_reply(messages, options):
    word = field_value(messages, "question")
    return chat_reply(answer=word[::-1] if MAGIC.lower() in messages[0]["content"].lower() else word)


def main() -> None:
    log_dir, out, kind, max_steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    data = [dspy.Example(question=w, answer=w[::-1], tags={"noun", "short", "english", "common", w})
            .with_inputs("question") for w in WORDS]
    opt = ScriptedOptimizer(rewrite=lambda prompt, n: f"<instruction>Variant {n}.</instruction>")
    with dspy.context(lm=function_lm(task_reply, name="fp-task")):
        tp = DLPOTeleprompter(METRICS[kind], prompt_model=opt.lm(), max_steps=max_steps, batch_size=4,
                              log_dir=log_dir, progress=False)
        result = tp.compile(dspy.Predict("question -> answer"), trainset=data[:8], valset=data[8:])
    with open(out, "w") as handle:
        json.dump({"steps": result.detailed_results["steps"], "trial_logs": result.trial_logs}, handle)


if __name__ == "__main__":
    main()
