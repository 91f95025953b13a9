"""Issue 19: a run never loses or corrupts its result (redaction, mid-run errors, dead LMs, text, counting)."""

import json
import logging

import dspy
import pytest
from dspy.utils.exceptions import LMAuthError, LMRateLimitError

from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.autograd.client import OptimizerClient, is_fatal
from dspy_dlpo.budget import UsageMeter
from dspy_dlpo.callbacks import Callback
from dspy_dlpo.checkpoint import STATE_FILE
from dspy_dlpo.lm.engine import FunctionEngine, function_lm
from dspy_dlpo.redact import redact
from scripted import MAGIC, ScriptedOptimizer, chat_reply, exact_metric, field_value, reverse_examples

DATA = reverse_examples()
TRAIN, VAL = DATA[:8], DATA[8:]
KEY_LIKE = "Keep hf_datasets_cache and the sk-learn-pipeline names as they are."


def task_reply(messages, options):
    word = field_value(messages, "question")
    return chat_reply(answer=word[::-1] if MAGIC.lower() in messages[0]["content"].lower() else word)


def compile_with(optimizer_lm, task=task_reply, **options):
    options = {"max_steps": 2, "batch_size": 4, "progress": False, "candidates_per_step": 1, **options}
    with dspy.context(lm=function_lm(task, name="t")):
        return DLPOTeleprompter(exact_metric, prompt_model=optimizer_lm, **options).compile(
            dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL)


# -- 1 and 11: redaction of configured keys only ------------------------------------------------------
def test_key_like_text_survives_the_checkpoint_and_a_resume(tmp_path):
    opt = ScriptedOptimizer(rewrite=f"<instruction>{MAGIC} {KEY_LIKE}</instruction>")
    first = compile_with(opt.lm(), max_steps=1, log_dir=tmp_path)
    assert first.signature.instructions == f"{MAGIC} {KEY_LIKE}"
    assert KEY_LIKE in (tmp_path / STATE_FILE).read_text()
    again = compile_with(opt.lm(), max_steps=1, log_dir=tmp_path)   # a second compile on the finished log_dir
    assert again.signature.instructions == first.signature.instructions
    assert again.trial_logs == first.trial_logs


SECRETS = {"GOOGLE_API_KEY": "AIzaSyD3xampleKeyValue0123456789abcdefg",
           "AZURE_API_KEY": "0123456789abcdef0123456789abcdef",
           "FIREWORKS_API_KEY": "fw_3ZexampleFireworksKey42"}


def test_configured_keys_of_any_format_are_redacted_wherever_error_text_goes(tmp_path, caplog, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    echoed = " ".join(SECRETS.values())

    def task(messages, options):
        if field_value(messages, "question") in ("apple", "mirror"):
            raise RuntimeError(f"provider said: invalid credentials {echoed}")
        return task_reply(messages, options)
    opt = ScriptedOptimizer()
    calls = [0]

    def optimizer(messages, options):
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError(f"upstream 500 for key {echoed}")
        return opt(messages, options)
    with caplog.at_level(logging.DEBUG):
        result = compile_with(function_lm(optimizer, name="o"), task=task, log_dir=tmp_path, batch_size=8)
    kept = [caplog.text, (tmp_path / STATE_FILE).read_text(), json.dumps(result.trial_logs),
            json.dumps(result.detailed_results.to_dict()), *opt.prompts]
    assert any("[REDACTED]" in text for text in opt.prompts)          # the error reached the gradient, masked
    assert "[REDACTED]" in kept[1]
    for value in SECRETS.values():
        assert not any(value in text for text in kept)


def test_redact_masks_configured_values_only(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok_abcdefgh1234")
    assert redact(f"x tok_abcdefgh1234 {KEY_LIKE}") == f"x [REDACTED] {KEY_LIKE}"


# -- 2: mid-run errors keep the best program ------------------------------------------------------------
def solved_once_optimizer():
    """Step 0 finds MAGIC; later rewrites are variants."""
    return ScriptedOptimizer(rewrite=lambda prompt, n: f"<instruction>{MAGIC}</instruction>" if n <= 2 else
                             f"<instruction>{MAGIC} Variant {n}.</instruction>")


def half_task(messages, options):
    """Reverses when told to, except "mirror" (validation stays at 87.5%) and "apple" (training never solved)."""
    word = field_value(messages, "question")
    solved = MAGIC.lower() in messages[0]["content"].lower() and word not in ("mirror", "apple")
    return chat_reply(answer=word[::-1] if solved else word)


def assert_kept_best(result, error_text):
    details = result.detailed_results
    assert details["stop_reason"] == "error" and error_text in details["error"]
    assert result.signature.instructions == MAGIC and result.score == 87.5


def test_auth_error_mid_run_returns_the_best_program(tmp_path):
    opt = solved_once_optimizer()

    def optimizer(messages, options):
        if len(opt.prompts) >= 2:
            raise LMAuthError("key revoked")
        return opt(messages, options)
    result = compile_with(function_lm(optimizer, name="o"), task=half_task, max_steps=4, log_dir=tmp_path)
    assert_kept_best(result, "optimizer LM cannot be used")
    saved = json.loads((tmp_path / STATE_FILE).read_text())["state"]
    assert saved["stop_reason"] == "error" and "key revoked" in saved["error"]
    assert saved["step"] == result.detailed_results["steps"] == 3


def test_log_dir_failing_mid_run_returns_the_best_program(tmp_path, monkeypatch):
    import dspy_dlpo.trainer as trainer_module
    writes, real = [0], trainer_module.save_state

    def flaky_save(*args):
        writes[0] += 1
        if writes[0] >= 3:   # baseline and step 0 are written; then the disk turns read-only
            raise PermissionError(13, "Read-only file system")
        real(*args)
    monkeypatch.setattr(trainer_module, "save_state", flaky_save)
    result = compile_with(solved_once_optimizer().lm(), task=half_task, max_steps=4, log_dir=tmp_path)
    assert_kept_best(result, "PermissionError")


def test_schedule_returning_zero_mid_run_returns_the_best_program():
    result = compile_with(solved_once_optimizer().lm(), task=half_task, max_steps=6, lr_decay=False,
                          learning_rate=lambda step: 4 if step < 3 else 0)
    assert_kept_best(result, "learning-rate schedule returned 0.0 at step 3")
    assert result.detailed_results["steps"] == 3


class RaisingCallback(Callback):
    def __init__(self, at: str) -> None:
        self.at = at

    def on_start(self, state, budget):
        if self.at == "start":
            raise RuntimeError("observer broke at start")

    def on_step_end(self, record, state):
        if record["step"] == 1:
            raise RuntimeError("observer broke")


def test_raising_callback_mid_run_returns_the_best_program():
    result = compile_with(solved_once_optimizer().lm(), task=half_task, max_steps=4,
                          callbacks=[RaisingCallback("step")])
    assert_kept_best(result, "observer broke")
    assert result.detailed_results["steps"] == 2


def test_an_error_before_anything_was_validated_is_raised():
    with pytest.raises(RuntimeError, match="observer broke at start"):
        compile_with(ScriptedOptimizer().lm(), callbacks=[RaisingCallback("start")])


def test_unwritable_log_dir_fails_before_the_baseline(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    calls = [0]

    def counting_task(messages, options):
        calls[0] += 1
        return task_reply(messages, options)
    with pytest.raises(PermissionError, match="log_dir .*a-file.* is not writable"):
        compile_with(ScriptedOptimizer().lm(), task=counting_task, log_dir=blocker / "run")
    assert calls[0] == 0


# -- 3: dead LMs ----------------------------------------------------------------------------------------
def test_a_dead_optimizer_lm_stops_after_consecutive_failed_steps():
    calls = [0]

    def dead(messages, options):
        calls[0] += 1
        raise RuntimeError("service unavailable")
    result = compile_with(function_lm(dead, name="dead"), max_steps=50, max_consecutive_failures=3)
    details = result.detailed_results
    assert details["stop_reason"] == "consecutive failures" and details["steps"] == 3
    assert "3 consecutive steps failed" in details["error"] and "optimizer LM" in details["error"]
    assert calls[0] == 6            # one gradient call and one re-ask per step, nothing more
    assert result.score == details["initial_score"]


def test_a_run_stopped_by_failures_resumes_once_the_lm_works_again(tmp_path):
    def dead(messages, options):
        raise RuntimeError("service unavailable")
    stopped = compile_with(function_lm(dead, name="o"), max_steps=6, max_consecutive_failures=2, log_dir=tmp_path)
    assert stopped.detailed_results["stop_reason"] == "consecutive failures"
    opt = ScriptedOptimizer(rewrite=lambda prompt, n: f"<instruction>Variant {n}.</instruction>")
    resumed = compile_with(function_lm(opt, name="o"), max_steps=6, max_consecutive_failures=2, log_dir=tmp_path)
    assert resumed.detailed_results["steps"] == 6 and resumed.detailed_results["error"] is None
    assert resumed.detailed_results["stop_reason"] == "max_steps"


def test_a_task_lm_that_dies_after_the_baseline_stops_the_run():
    calls = [0]

    def dying(messages, options):
        calls[0] += 1
        return task_reply(messages, options) if calls[0] <= len(VAL) else "no fields here"
    result = compile_with(ScriptedOptimizer().lm(), task=dying, max_steps=50)
    assert result.detailed_results["stop_reason"] == "consecutive failures"
    assert result.detailed_results["steps"] == 5       # the default max_consecutive_failures
    assert "every rollout of the minibatch failed" in result.detailed_results["error"]


def test_a_baseline_where_every_reply_is_unparseable_is_an_error():
    with pytest.raises(RuntimeError, match="failed on every validation example.*could not be parsed"):
        compile_with(ScriptedOptimizer().lm(), task=lambda m, o: "garbled")


def test_an_auth_error_wrapped_by_a_custom_engine_is_fatal():
    calls = [0]

    def engine_auth(messages, options):
        calls[0] += 1
        raise RuntimeError("Error code: 401 - {'error': 'Incorrect API key provided'}")
    client = OptimizerClient(function_lm(engine_auth, name="e"), UsageMeter())
    with pytest.raises(RuntimeError, match="optimizer LM cannot be used"):
        client.ask("hello")
    assert calls[0] == 1
    try:
        raise ValueError("outer") from LMAuthError("inner")
    except ValueError as exc:
        assert is_fatal(exc)
    assert not is_fatal(LMRateLimitError("429 Too Many Requests; invalid api key"))


def test_retries_are_dspy_s_only_for_errors_dspy_retries():
    attempts = [0]

    def limited(messages, options):
        attempts[0] += 1
        raise LMRateLimitError("slow down", retry_after=0.0)
    lm = dspy.LM("custom/limited", engine=FunctionEngine(limited), cache=False, num_retries=2)
    client = OptimizerClient(lm, UsageMeter())
    assert client.ask("hello") is None
    assert attempts[0] == 3 and client.calls == 1    # DSPy's 1 + 2 retries; no second layer on top


# -- 4: lone surrogates -----------------------------------------------------------------------------------
def test_a_lone_surrogate_in_a_reply_does_not_disable_the_optimizer():
    opt = ScriptedOptimizer(gradient="<gradient>Say it with feeling \ud83d.</gradient>",
                            rewrite=lambda prompt, n: f"<instruction>Variant {n} \ud83d.</instruction>")
    result = compile_with(opt.lm(), max_steps=4)
    for prompt in opt.prompts:
        prompt.encode("utf-8")                       # raises on a lone surrogate
    assert all(r["gradient"] for r in result.trial_logs)
    assert "\ufffd" in result.trial_logs[-1]["gradient"]


def test_lone_surrogates_in_examples_and_task_outputs_are_repaired(caplog):
    data = [dspy.Example(question=f"{e.question}\ud83d", answer=e.answer).with_inputs("question") for e in DATA[:8]]
    opt = ScriptedOptimizer()

    def task(messages, options):
        return chat_reply(answer=f"{field_value(messages, 'question')}\udc00")
    with caplog.at_level(logging.WARNING), dspy.context(lm=function_lm(task, name="t")):
        result = DLPOTeleprompter(exact_metric, prompt_model=opt.lm(), max_steps=2, batch_size=4,
                                  progress=False).compile(dspy.Predict("question -> answer"), trainset=data[:4],
                                                          valset=data[4:])
    assert "trainset[0]: field(s) ['question'] held invalid Unicode" in caplog.text
    assert opt.prompts and all(p.encode("utf-8") for p in opt.prompts)
    assert result.detailed_results["faults"].get("program_error", 0) == 0


# -- 13: up-front validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("options, error, message", [
    ({"regularization": float("nan")}, ValueError, "regularization must be a finite number, got nan"),
    ({"regularization": float("inf")}, ValueError, "regularization must be a finite number, got inf"),
    ({"annealing": float("nan")}, ValueError, "annealing must be a finite number, got nan"),
    ({"annealing": float("inf")}, ValueError, "annealing must be a finite number, got inf"),
    ({"dropout": float("nan")}, ValueError, "dropout must be a finite number, got nan"),
    ({"feedback_dropout": float("nan")}, ValueError, "feedback_dropout must be a finite number, got nan"),
    ({"log_dir": 5}, TypeError, "log_dir must be a path .* got int 5"),
    ({"callbacks": "abc"}, TypeError, "callbacks must be a list of dspy_dlpo.Callback, got str .abc."),
    ({"callbacks": [object()]}, TypeError, "callbacks must be dspy_dlpo.Callback instances, got object"),
    ({"progress": "no"}, TypeError, "progress must be True or False, got 'no'"),
    ({"lr_decay": lambda step: "fast"}, ValueError, "lr_decay schedule must return a finite number > 0.*'fast'"),
    ({"lr_decay": lambda step: None}, ValueError, "lr_decay schedule must return .* got NoneType None"),
    ({"learning_rate": lambda step: float("nan")}, ValueError, "learning_rate schedule must return"),
    ({"max_consecutive_failures": 0}, ValueError, "max_consecutive_failures must be an int >= 1, got 0"),
])
def test_bad_options_fail_up_front_naming_the_argument(options, error, message):
    with pytest.raises(error, match=message):
        DLPOTeleprompter(exact_metric, **options)
