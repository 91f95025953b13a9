"""What a run returns and spends: detailed_results, saved candidates, usage, cost, stop conditions."""

import json
import logging

import dspy
import pytest

from dspy_dlpo import Callback, DLPOResults, DLPOTeleprompter, load_best, load_results
from dspy_dlpo.budget import Spend, UsageMeter
from dspy_dlpo.lm.engine import FunctionEngine
from scripted import MAGIC, ScriptedOptimizer, chat_reply, exact_metric, field_value, reverse_examples, reverse_task_lm

DATA = reverse_examples()
TRAIN, VAL = DATA[:8], DATA[8:]
INITIAL = "Given the fields `question`, produce the fields `answer`."


def run(*, optimizer=None, task_lm=None, **options):
    optimizer = optimizer or ScriptedOptimizer()
    options = {"max_metric_calls": 60, "batch_size": 4, "progress": False, "candidates_per_step": 1, **options}
    with dspy.context(lm=task_lm or reverse_task_lm()):
        result = DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), **options).compile(
            dspy.Predict("question -> answer"), trainset=TRAIN, valset=VAL)
    return result, optimizer


def test_results_read_as_the_peers_results():
    result, optimizer = run()
    details = result.detailed_results
    assert isinstance(details, DLPOResults)
    assert details.candidate_instructions == [{"self": INITIAL}, {"self": MAGIC}] and details.best_idx == 1
    assert [c.signature.instructions for c in details.candidates] == [INITIAL, MAGIC]
    assert details.best_instructions == {"self": MAGIC} and details.candidate_steps == [-1, 0]
    assert details.val_aggregate_scores == [0.0, 1.0]
    assert details.val_subscores == [[0.0] * 8, [1.0] * 8]
    assert details.stop_reason == "validation solved" and details.steps == 1
    assert result.total_calls == details.total_metric_calls == details.spend["metric_calls"] == 24
    assert result.prompt_model_total_calls == len(optimizer.prompts) == 2
    data = json.loads(json.dumps(details.to_dict()))
    assert data["best_idx"] == 1 and data["val_subscores"][1] == [1.0] * 8
    assert data["candidates"] == [{"self": INITIAL}, {"self": MAGIC}]  # as GEPA's to_dict: instruction dicts
    # the dict of earlier versions still reads the same
    assert details["initial_score"] == 0.0 and dict(details)["steps"] == 1 and {**details}["budget"] == 60


def test_log_dir_holds_every_candidate_and_the_best_program(tmp_path):
    result, _ = run(log_dir=tmp_path)
    saved = sorted(p.name for p in (tmp_path / "candidates").iterdir())
    assert saved == ["candidate_000_step_-1.json", "candidate_001_step_0.json"]
    first = dspy.Predict("question -> answer")
    first.load(str(tmp_path / "candidates" / saved[0]))
    assert first.signature.instructions == INITIAL
    student = dspy.Predict("question -> answer")
    best = load_best(tmp_path, student)
    assert best.signature.instructions == MAGIC and student.signature.instructions == INITIAL
    with dspy.context(lm=reverse_task_lm()):
        assert dspy.Evaluate(devset=VAL, metric=exact_metric, display_progress=False)(best).score == 100.0
    assert load_results(tmp_path)["best_idx"] == 1
    with pytest.raises(FileNotFoundError, match="best_program.json does not exist"):
        load_best(tmp_path / "nothing", student)


def test_dspy_track_usage_sees_the_runs_usage():
    with dspy.track_usage() as usage:
        result, _ = run()
    totals = usage.get_total_tokens()
    spend = result.detailed_results.spend
    assert set(totals) == {"custom/reverse-task", "custom/scripted-optimizer"}
    assert totals["custom/reverse-task"]["prompt_tokens"] == spend["task_input_tokens"] > 0
    assert totals["custom/scripted-optimizer"]["completion_tokens"] == spend["optimizer_output_tokens"] > 0


def priced_lm(fn, model="openai/gpt-4o-mini"):
    """A scripted LM under a model name litellm has a price for (the engine answers; no network)."""
    return dspy.LM(model, engine=FunctionEngine(fn, model=model), cache=False)


def test_cost_is_priced_where_litellm_knows_the_model():
    meter = UsageMeter()
    meter.add_usage("openai/gpt-4o-mini", {"prompt_tokens": 1_000_000, "completion_tokens": 0})
    assert meter.cost_usd == pytest.approx(0.15)
    meter.add_usage("custom/scripted", {"prompt_tokens": 10, "completion_tokens": 10})
    meter.add_usage("openai/my-llama-server", {"prompt_tokens": 10, "completion_tokens": 10})  # no price
    meter.add_usage("openrouter/x", {"prompt_tokens": 10, "completion_tokens": 10, "cost": 0.25})  # reported
    assert meter.snapshot()["cost_usd"] == pytest.approx(0.40) and meter.calls == 4
    assert UsageMeter().snapshot()["cost_usd"] is None
    spend = Spend.from_json({**Spend(metric_calls=3, task_cost_usd=0.5).to_json()})
    assert (spend.task_cost_usd, spend.optimizer_cost_usd, spend.cost_usd) == (0.5, None, 0.5)


def test_a_run_on_priced_models_reports_its_cost():
    task = priced_lm(lambda m, o: chat_reply(answer=field_value(m, "question")[::-1]))
    result, _ = run(task_lm=task)
    details = result.detailed_results
    assert details.spend["task_cost_usd"] > 0 and details.spend["optimizer_cost_usd"] is None
    assert details.cost_usd == details.to_dict()["spend"]["cost_usd"] == details.spend["task_cost_usd"]


def test_cost_cap_ends_the_run_with_the_best_program():
    echo = priced_lm(lambda m, o: chat_reply(answer=field_value(m, "question")))
    result, _ = run(task_lm=echo, max_cost_usd=1e-9)
    assert result.detailed_results.stop_reason == "cost" and result.detailed_results.steps == 0
    assert result.signature.instructions == INITIAL


def test_optimizer_token_cap_timeout_and_stopper_end_the_run_cleanly():
    never = ScriptedOptimizer(rewrite=lambda prompt, n: f"<instruction>Variant {n}.</instruction>")
    capped, _ = run(optimizer=never, max_optimizer_tokens=1)
    assert capped.detailed_results.stop_reason == "optimizer tokens" and capped.detailed_results.steps == 1
    timed, _ = run(optimizer=never, timeout_seconds=1e-6)
    assert timed.detailed_results.stop_reason == "timeout" and timed.detailed_results.steps == 0
    seen = []

    def after_two(state):
        seen.append(state.step)
        return state.step >= 2

    stopped, _ = run(optimizer=never, stopper=after_two)
    assert stopped.detailed_results.stop_reason == "stopper" and stopped.detailed_results.steps == 2
    assert seen == [0, 1, 2] and stopped.score == 0.0 and stopped.candidate_programs


def test_a_projection_is_logged_before_the_run(caplog):
    with caplog.at_level(logging.INFO, logger="dspy_dlpo"):
        run()
    assert ("projection: 60 metric calls = baseline validation 8 + 3-5 steps over 1 predictor(s) "
            "(each step 8 minibatch calls, + 8 when its candidate is validated)") in caplog.text
    assert "resuming at step" not in caplog.text


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_metric_calls(self, n):
        self.events.append(n)

    def on_step_end(self, record, state):
        self.events.append("step")


def test_progress_moves_with_every_rollout_of_a_validation():
    recorder = Recorder()
    result, _ = run(callbacks=[recorder], num_threads=2)
    # baseline validation (8), then step 0: 4 + 4 minibatch rollouts and 8 for the validation
    assert recorder.events == [1] * 8 + [1] * 16 + ["step"]
    assert sum(e for e in recorder.events if e != "step") == result.total_calls


def test_only_a_resumed_run_says_resuming(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="dspy_dlpo"):
        run(log_dir=tmp_path)
        assert "DLPO run: budget 60 metric calls" in caplog.text and "resuming" not in caplog.text
        caplog.clear()
        again, _ = run(log_dir=tmp_path)
    assert "resuming at step 1, 24 already spent" in caplog.text
    assert again.signature.instructions == MAGIC


def test_detailed_results_are_gepas_with_programs_as_candidates(tmp_path):
    """GEPA's fields with GEPA's meaning; candidates are programs that save, load and evaluate."""
    result, _ = run()
    d = result.detailed_results
    best = d.candidates[d.best_idx]
    assert isinstance(best, dspy.Predict) and best is d.best_candidate and best is not result
    best.save(str(tmp_path / "best.json"))
    loaded = dspy.Predict("question -> answer")
    loaded.load(str(tmp_path / "best.json"))
    assert loaded.signature.instructions == MAGIC
    with dspy.context(lm=reverse_task_lm()):
        evaluate = dspy.Evaluate(devset=VAL, metric=exact_metric, display_progress=False)
        assert evaluate(d.candidates[d.best_idx]).score == 100.0 and evaluate(d.candidates[0]).score == 0.0
    assert d.parents == [[None], [0]]
    assert d.discovery_eval_counts == [0, 16]           # baseline at 0; the rewrite after 8 + 2 x 4 calls
    assert d.num_full_val_evals == 2 and d.seed == 0 and d.total_metric_calls == 24
    assert d.per_val_instance_best_candidates == {k: {1} for k in range(8)}
    assert d.highest_score_achieved_per_val_task == {k: 1.0 for k in range(8)}
    data = json.loads(json.dumps(d.to_dict()))
    assert data["parents"] == [[None], [0]] and data["num_full_val_evals"] == 2
    assert data["per_val_instance_best_candidates"]["0"] == [1]
    # the same keys as dspy.GEPA's result, where DLPO has the data
    from dspy.teleprompt.gepa.gepa import DspyGEPAResult
    gepa_fields = set(DspyGEPAResult.__dataclass_fields__) | {"best_idx", "best_candidate",
                                                              "highest_score_achieved_per_val_task"}
    multi_objective = {"best_outputs_valset", "val_aggregate_subscores", "per_objective_best_candidates",
                       "objective_pareto_front"}
    assert all(hasattr(d, name) for name in gepa_fields - multi_objective)


def test_trial_logs_read_as_a_list_and_as_miprov2s_dict_and_load_from_log_dir(tmp_path):
    from dspy_dlpo import TrialLogs, load_trial_logs

    result, _ = run(log_dir=tmp_path, max_metric_calls=None, max_steps=2, task_lm=dspy.LM(
        "custom/echo", engine=FunctionEngine(lambda m, o: chat_reply(answer=field_value(m, "question"))), cache=False))
    logs = result.trial_logs
    assert isinstance(logs, TrialLogs) and len(logs) == 2 and logs[-1]["step"] == 1
    assert [r["step"] for r in logs] == [0, 1]                       # iterates records, as before
    assert list(logs.keys()) == [0, 1] and logs.items()[1] == (1, logs[1]) and logs.get(1) is logs[1]
    assert logs.get(7) is None and list(logs.values()) == list(logs)
    loaded = load_trial_logs(tmp_path)
    assert isinstance(loaded, TrialLogs) and json.loads(json.dumps(loaded)) == json.loads(json.dumps(logs))
    with pytest.raises(FileNotFoundError, match="dlpo_state.json does not exist"):
        load_trial_logs(tmp_path / "nothing")
