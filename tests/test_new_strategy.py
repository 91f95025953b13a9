"""A new strategy in one file plus one registry line runs from the keyword and from the CLI."""

import json

import dspy
import pytest

import one_file_strategy
from dspy_dlpo import DLPOTeleprompter, presets
from dspy_dlpo.strategies import registry
from one_file_strategy import PLAIN_RULE, TextualPlainness
from scripted import ScriptedOptimizer, exact_metric, reverse_examples, reverse_task_lm
from test_cli_data import files, lms, optimize  # noqa: F401 (fixtures)


@pytest.fixture
def registered():
    """The one registry line: ``Entry("plainness", TextualPlainness)`` at the end of BUILTIN."""
    registry.BUILTIN.append(registry.Entry("plainness", TextualPlainness))
    one_file_strategy.STEPS_SEEN.clear()
    yield
    registry.BUILTIN.pop()


def test_the_keyword_switches_it_on_and_it_shapes_the_rewrite(registered):
    assert "plainness" not in [s.name for s in DLPOTeleprompter(exact_metric).strategies]  # off by default
    optimizer = ScriptedOptimizer()
    data = reverse_examples()
    with dspy.context(lm=reverse_task_lm()):
        result = DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), plainness=True, max_metric_calls=40,
                                  batch_size=4, progress=False, verbose=False).compile(
            dspy.Predict("question -> answer"), trainset=data[:8], valset=data[8:])
    assert PLAIN_RULE in optimizer.update_prompts()[0]
    assert result.trial_logs[0]["acted"]["plainness"] == "asked for plain sentences"
    assert result.detailed_results  # the run completed with the new strategy last in the hook order
    with pytest.raises(TypeError, match="plainness must be a bool or a TextualPlainness, got 2"):
        DLPOTeleprompter(exact_metric, plainness=2)


def test_presets_know_it(registered):
    assert presets.dlpo()["plainness"] is False and presets.only("plainness")["plainness"] is True
    assert presets.tgd()["plainness"] is False


def test_the_cli_flag_switches_it_on(registered, files, lms, tmp_path, capsys):  # noqa: F811
    code = optimize(files, tmp_path, "--trainset", str(files["train"]), "--valset", str(files["val"]),
                    "--plainness")
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {"name": "plainness"} in report["options"]["strategies"]
    assert one_file_strategy.STEPS_SEEN  # its hook ran in the CLI's run
