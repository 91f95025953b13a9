"""One config behind the keywords: the signature, the CLI flags, the presets and the README's options
table are checked against DLPOConfig and the strategy registry."""

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from dspy_dlpo import DLPOTeleprompter, cli, presets
from dspy_dlpo.config import DLPOConfig
from dspy_dlpo.strategies.registry import BUILTIN, defaults, keywords

README = Path(__file__).resolve().parent.parent / "README.md"
# keywords that are not settings: LMs, the metric, observers, the user's strategies, GEPA's aliases
OBJECTS = {"metric", "prompt_model", "reflection_lm", "task_model", "strategies", "callbacks",
           "reflection_minibatch_size", "feedback_dropout", "peer_options"}
# CLI flags that are not options of the optimizer (what to run, which models, where to write)
CLI_ONLY = {"task", "program", "trainset", "valset", "testset", "metric", "module", "n_train", "n_val", "n_test",
            "model", "api_base", "api_key", "optimizer_model", "optimizer_api_base", "optimizer_api_key",
            "max_tokens", "data_dir", "out", "quiet", "help", "version", "command"}
CLI_NAMES = {"threads": "num_threads", "no_leak_guard": "leak_guard"}


def test_every_keyword_is_a_setting_a_strategy_or_an_object_with_the_same_default():
    parameters = inspect.signature(DLPOTeleprompter.__init__).parameters
    names = set(parameters) - {"self"}
    assert names == set(DLPOConfig.settings()) | set(keywords()) | OBJECTS
    for name, default in {**DLPOConfig.defaults(), **defaults()}.items():
        assert parameters[name].default == default, name


def test_the_config_is_frozen_and_reads_as_attributes():
    tp = DLPOTeleprompter(batch_size=3, seed=None, log_dir="runs/x")
    assert (tp.batch_size, tp.seed, tp.log_dir, tp.candidates_per_step) == (3, 0, Path("runs/x"), 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tp.config.batch_size = 4
    with pytest.raises(AttributeError, match="no attribute 'batch_sise'"):
        tp.batch_sise  # noqa: B018


@pytest.mark.parametrize("name", DLPOConfig.settings())
def test_every_setting_refuses_a_bad_value_naming_it(name):
    bad = [3] if name == "leak_allow" else object()
    with pytest.raises((TypeError, ValueError), match=name.split("_")[0]):
        DLPOConfig(**{name: bad})


def test_run_controls_are_the_settings_that_do_not_change_a_step():
    assert set(DLPOConfig.run_controls()) == {
        "max_metric_calls", "max_full_evals", "max_steps", "patience", "auto", "num_threads", "log_dir",
        "max_optimizer_tokens", "max_cost_usd", "timeout_seconds", "max_consecutive_failures", "rollout_timeout"}


def test_presets_are_the_registry_defaults():
    assert presets.dlpo() == defaults() and set(presets.tgd()) == set(keywords())


def test_every_cli_flag_is_a_setting_a_strategy_switch_or_a_cli_matter():
    parser = cli._parser()
    optimize = next(a for a in parser._actions if a.dest == "command").choices["optimize"]
    flags = {a.dest for a in optimize._actions}
    strategy_flags = {e.flag.removeprefix("--").replace("-", "_") for e in BUILTIN}
    assert strategy_flags <= flags
    for dest in flags - strategy_flags - CLI_ONLY:
        assert CLI_NAMES.get(dest, dest) in DLPOConfig.settings(), dest
    assert optimize.get_default("batch_size") == DLPOConfig.defaults()["batch_size"]


def _options_table() -> dict[str, str]:
    text = README.read_text()
    section = text[text.index("## Options"):]
    section = section[:section.index("\n## ", 1)]
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `(\w+)` \| ([^|]*) \|", section, re.M)}


def _shown(value):
    if value is None:
        return {"-", "None"}
    if value == ():
        return {"()"}
    if isinstance(value, float) and value.is_integer() and value != 0:
        return {str(int(value)), repr(value)}
    return {repr(value), str(value)}


def test_the_readme_options_table_lists_every_keyword_with_its_default():
    table = _options_table()
    documented = set(DLPOConfig.settings()) | set(keywords()) | (OBJECTS - {"reflection_lm", "peer_options",
                                                                              "reflection_minibatch_size"})
    assert set(table) == documented
    for name, default in {**DLPOConfig.defaults(), **defaults()}.items():
        if name == "auto":
            continue  # "light" when no budget is given: shown as what it does
        assert table[name] in _shown(default), (name, table[name], default)
