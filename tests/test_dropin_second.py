"""Issue 35, the second drop-in pass: what surprised a DSPy user swapping in DLPO, with scripted LMs."""

import logging
import sys

import dspy
import pytest

from dspy_dlpo import Callback, DLPOTeleprompter
from dspy_dlpo.console import run_console
from dspy_dlpo.health import UNPARSEABLE_WARN_AFTER
from dspy_dlpo.lm.engine import function_lm
from scripted import (MAGIC, ScriptedOptimizer, chat_reply, exact_metric, field_value, reverse_examples,
                      reverse_task_lm, system_text)

DATA = reverse_examples()
TRAIN, VAL = DATA[:8], DATA[8:]
CHATTY = "Sure! Here is the improved instruction: Reverse the letters of the word, carefully."


def compile_with(*, metric=exact_metric, task_lm=None, program=None, trainset=TRAIN, valset=VAL, **options):
    options = {"batch_size": 4, "progress": False, **options}
    with dspy.context(lm=task_lm or reverse_task_lm()):
        return DLPOTeleprompter(metric, **options).compile(program or dspy.Predict("question -> answer"),
                                                           trainset=trainset, valset=valset)


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# -- 1: an optimizer LM that never writes the tags ---------------------------------------------------
def test_chatty_optimizer_replies_stop_the_run_with_a_warning_that_says_what_to_do(caplog):
    optimizer = ScriptedOptimizer(rewrite=CHATTY)
    with caplog.at_level(logging.INFO, logger="dspy_dlpo"):
        result = compile_with(prompt_model=optimizer.lm(), max_metric_calls=200)
    details = result.detailed_results
    assert details.stop_reason == "consecutive failures" and details.steps == 5    # max_consecutive_failures
    assert details.total_metric_calls == 8 + 5 * 4 and result.score == 0.0         # not 188 of 200
    assert all(r["outcome"] == "unparseable" and r["reply"] == CHATTY for r in result.trial_logs)
    assert "the reply had no <instruction> tag at all" in result.trial_logs[0]["reason"]
    warned = [w for w in warnings_of(caplog) if "steps in a row, no rewrite" in w]
    assert len(warned) == 1 and f"{UNPARSEABLE_WARN_AFTER} steps in a row" in warned[0]
    assert CHATTY in warned[0] and "set prompt_model to a chat model that follows instructions" in warned[0]
    assert "set prompt_model to a chat model" in details.error


def test_a_task_lm_used_as_optimizer_lm_is_recognised_by_its_field_format(caplog):
    def task_only(messages, options):       # answers everything, rewrite prompts included, in DSPy's format
        return chat_reply(answer=field_value(messages, "question") or "Reverse it.")

    with caplog.at_level(logging.WARNING, logger="dspy_dlpo"):
        result = compile_with(task_lm=function_lm(task_only, name="task-only"), max_metric_calls=200,
                              max_consecutive_failures=3)
    assert result.detailed_results.stop_reason == "consecutive failures" and result.detailed_results.steps == 3
    assert any("DSPy's field format: with prompt_model unset" in w for w in warnings_of(caplog))


# -- 2: Ctrl-C during the baseline ------------------------------------------------------------------
class Ends(Callback):
    def __init__(self):
        self.ends = []

    def on_end(self, state):
        self.ends.append(state.stop_reason)


def test_ctrl_c_during_the_baseline_raises_and_leaves_log_dir_usable(tmp_path):
    calls = [0]

    def interrupting(messages, options):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return chat_reply(answer=field_value(messages, "question"))

    ends = Ends()
    with pytest.raises(KeyboardInterrupt):
        compile_with(task_lm=function_lm(interrupting, name="int"), prompt_model=ScriptedOptimizer().lm(),
                     max_steps=2, log_dir=tmp_path, callbacks=[ends])
    assert ends.ends == ["interrupted"]                       # observers saw the end (a bar is closed)
    assert not (tmp_path / "best_program.json").exists()
    result = compile_with(prompt_model=ScriptedOptimizer().lm(), max_steps=2, log_dir=tmp_path)  # lock released
    assert result.score == 100.0 and (tmp_path / "best_program.json").exists()


# -- 3: the metric's scale, labels and errors ----------------------------------------------------------
def test_a_0_to_100_metric_fails_at_its_first_100_even_after_a_baseline_of_zeros():
    def percent(example, pred, trace=None):
        return 100.0 if pred.answer == example.answer else 0.0

    with pytest.raises(ValueError, match=r"the metric 'percent' returned 100.0, outside the range \[0, 1\] on "
                                         r"training example \d+: .*score / 100"):
        compile_with(metric=percent, prompt_model=ScriptedOptimizer().lm(), max_metric_calls=200)


def test_the_default_metric_refuses_a_valset_without_labels_before_any_lm_call():
    optimizer, task = ScriptedOptimizer(), []
    unlabeled = [dspy.Example(question=w).with_inputs("question") for w in ("alpha", "beta")]
    with pytest.raises(ValueError, match=r"no metric given and valset\[0\] has no label to compare with the "
                                         r"program's output \['answer'\] \(its labels: \[\]\)"):
        compile_with(metric=None, task_lm=function_lm(lambda m, o: task.append(1) or chat_reply(answer="x")),
                     prompt_model=optimizer.lm(), valset=unlabeled)
    assert optimizer.prompts == [] and task == []


def test_a_metric_that_fails_on_some_examples_is_logged_once_and_counted(caplog):
    def flaky(example, pred, trace=None):
        if example.question in ("apple", "mirror"):
            raise KeyError("gold")
        if example.question == "stone":
            return float("nan")
        return exact_metric(example, pred)

    with caplog.at_level(logging.WARNING, logger="dspy_dlpo"):
        result = compile_with(metric=flaky, prompt_model=ScriptedOptimizer().lm(), max_steps=2)
    warned = warnings_of(caplog)
    first = [w for w in warned if "further metric errors" in w]
    count = result.detailed_results.faults["metric_error"]
    assert len(first) == 1 and "KeyError: 'gold'" in first[0] and "scored 0" in first[0]
    assert count >= 2 and any(f"the metric failed on {count} rollout(s) of this run" in w for w in warned)


# -- 6: the step log is shown, around the progress bar ---------------------------------------------------
def test_verbose_shows_the_projection_and_the_steps_without_any_logging_setup(monkeypatch, capsys):
    monkeypatch.setattr(logging.getLogger(), "handlers", [])      # a script that never configured logging
    compile_with(prompt_model=ScriptedOptimizer().lm(), max_steps=1)
    shown = capsys.readouterr().err
    assert "dspy_dlpo: projection:" in shown and "step 0 [self] accepted" in shown
    package = logging.getLogger("dspy_dlpo")
    assert package.handlers == [] and package.level == logging.NOTSET          # put back after compile
    compile_with(prompt_model=ScriptedOptimizer().lm(), max_steps=1, verbose=False)
    assert "step 0" not in capsys.readouterr().err


def test_verbose_false_leaves_the_lines_to_logging_and_the_hint_shows_them(monkeypatch):
    seen = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: seen.append(record.getMessage())
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])          # logging.basicConfig(level=INFO)
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.INFO)
    try:
        compile_with(prompt_model=ScriptedOptimizer().lm(), max_steps=1, verbose=False)
    finally:
        root.setLevel(level)
    assert any(m.startswith("step 0 [self] accepted") for m in seen)


def test_root_console_handlers_write_around_the_progress_bar(monkeypatch):
    console = logging.StreamHandler(sys.stderr)
    monkeypatch.setattr(logging.getLogger(), "handlers", [console])
    with run_console(verbose=True, progress=True):
        swapped = logging.getLogger().handlers
        assert console not in swapped and type(swapped[0]).__name__ == "_TqdmLoggingHandler"
    assert logging.getLogger().handlers == [console]


# -- 7: a predictor no example reaches -----------------------------------------------------------------
class Branchy(dspy.Module):
    def __init__(self):
        super().__init__()
        self.main = dspy.Predict("question -> answer")
        self.rare = dspy.Predict("question -> answer")   # only for questions starting with "zz"

    def forward(self, question):
        return (self.rare if question.startswith("zz") else self.main)(question=question)


def test_a_predictor_no_example_reaches_gets_no_step(caplog):
    optimizer = ScriptedOptimizer(rewrite="<instruction>Answer with the word.</instruction>")
    with caplog.at_level(logging.INFO, logger="dspy_dlpo"):
        result = compile_with(program=Branchy(), prompt_model=optimizer.lm(), max_steps=4)
    logs = result.trial_logs
    assert [r["param"] for r in logs] == ["main"] * 4
    assert [r.get("unreached") for r in logs] == [None, ["rare"], None, ["rare"]]
    assert sum("predictor 'rare': no example of the step-1 minibatch reached it" in r.getMessage()
               for r in caplog.records) == 1
    assert "rare" not in " ".join(optimizer.prompts)      # never critiqued blind


def test_a_predictor_after_a_failing_one_is_not_called_unreached():
    def fails_rare(messages, options):
        if "Second." in system_text(messages) and field_value(messages, "question") in ("apple", "river", "lemon"):
            return "no fields at all"                       # an AdapterParseError in `second`
        return chat_reply(answer=field_value(messages, "question"))

    class Chain(dspy.Module):
        def __init__(self):
            super().__init__()
            self.first = dspy.Predict(dspy.Signature("question -> answer", "First."))
            self.second = dspy.Predict(dspy.Signature("question -> answer", "Second."))

        def forward(self, question):
            return self.second(question=self.first(question=question).answer)

    result = compile_with(program=Chain(), task_lm=function_lm(fails_rare, name="fails"), max_steps=2,
                          prompt_model=ScriptedOptimizer().lm(), max_consecutive_failures=None)
    assert [r["param"] for r in result.trial_logs] == ["first", "second"]
    assert all("unreached" not in r for r in result.trial_logs)


def test_log_lines_are_not_glued_to_the_bar_after_dspys_parallel_executor(monkeypatch, capsys):
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    compile_with(prompt_model=ScriptedOptimizer().lm(), max_steps=1, progress=True, num_threads=2)
    shown = capsys.readouterr().err
    assert "step 0 [self] accepted" in shown
    assert "call/s]step 0" not in shown and "call/s]baseline" not in shown   # the bar is cleared first


def test_dlpo_callbacks_are_not_called_as_dspy_callbacks(caplog):
    ends = Ends()
    with caplog.at_level(logging.WARNING):
        compile_with(prompt_model=ScriptedOptimizer().lm(), max_steps=1, callbacks=[ends])
    assert len(ends.ends) == 1
    assert not any("Error when calling callback" in r.getMessage() for r in caplog.records)
