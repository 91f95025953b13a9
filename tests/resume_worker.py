"""Subprocess body for the kill-and-resume test: one deterministic compile with a log_dir.

usage: python resume_worker.py LOG_DIR OUT_JSON [KILL_AT_OPTIMIZER_CALL]
"""

import hashlib
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))

import dspy  # noqa: E402

from dspy_dlpo import DLPOTeleprompter  # noqa: E402
from dspy_dlpo.lm.engine import function_lm  # noqa: E402
from scripted import chat_reply, exact_metric, field_value, reverse_examples  # noqa: E402


def task_reply(messages, options):
    word = field_value(messages, "question")
    key = hashlib.sha256((messages[0]["content"] + word).encode()).digest()[0]
    return chat_reply(answer=word[::-1] if key % 3 == 0 else word)


def optimizer_lm(kill_at: int | None):
    calls = [0]

    def reply(messages, options):
        calls[0] += 1
        if kill_at is not None and calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        prompt = messages[-1]["content"]
        if "<gradient> and </gradient>" in prompt:
            return "<gradient>Be more specific about reversing.</gradient>"
        tag = hashlib.sha256(prompt.encode()).hexdigest()[:6]
        return f"<instruction>Try variant {tag}. Be careful.</instruction>"
    return function_lm(reply, name="resume-optimizer")


def main() -> None:
    log_dir, out = sys.argv[1], sys.argv[2]
    kill_at = int(sys.argv[3]) if len(sys.argv) > 3 else None
    data = reverse_examples()
    with dspy.context(lm=function_lm(task_reply, name="resume-task")):
        tp = DLPOTeleprompter(exact_metric, prompt_model=optimizer_lm(kill_at), max_metric_calls=200, batch_size=4,
                              num_threads=2, seed=3, log_dir=log_dir, progress=False)
        result = tp.compile(dspy.Predict("question -> answer"), trainset=data[:8], valset=data[8:])
    with open(out, "w") as handle:
        json.dump({"instructions": result.signature.instructions, "score": result.score,
                   "trial_logs": result.trial_logs, "spend": result.detailed_results["spend"]}, handle)


if __name__ == "__main__":
    main()
