"""Subprocess body for the clean-output tests: the real ``dspy-dlpo`` entry point with the scripted
task LM and optimizer LM (no model, no network), so that a test sees the command's whole output,
interpreter shutdown included.

usage: python cli_worker.py demo|optimize ARGS...   (the task is the scripted toy task of test_cli)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import dspy_dlpo.lm.factory  # noqa: E402
import dspy_dlpo.tasks  # noqa: E402
from dspy_dlpo import cli  # noqa: E402
from scripted import ScriptedOptimizer, reverse_task_lm  # noqa: E402
from test_cli import fake_task  # noqa: E402

OPTIMIZER = ScriptedOptimizer()


def make_lm(spec, **kwargs):
    lm = reverse_task_lm()
    lm.copy = lambda **_: OPTIMIZER.lm()  # the optimizer LM is a copy of the task LM, as in the demo
    return lm


if __name__ == "__main__":
    dspy_dlpo.tasks.load_task = fake_task
    dspy_dlpo.lm.factory.make_lm = make_lm
    sys.exit(cli.main(sys.argv[1:]))
