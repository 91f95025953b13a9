"""Named strategy presets read their "on" values from the registry of strategies, as the teleprompter's
keywords do, so a default changes in one place."""

import inspect

import pytest

from dspy_dlpo import DLPOTeleprompter, presets
from dspy_dlpo.strategies import TextualMomentum
from dspy_dlpo.strategies.registry import keywords
from scripted import exact_metric


def test_dlpo_is_the_teleprompter_default_and_tgd_is_all_off():
    parameters = inspect.signature(DLPOTeleprompter.__init__).parameters
    assert presets.dlpo() == {name: parameters[name].default for name in keywords()}
    assert presets.dlpo()["dropout"] == 0.25 and presets.tgd() == dict.fromkeys(keywords(), False)
    default, off = DLPOTeleprompter(exact_metric), DLPOTeleprompter(exact_metric, **presets.tgd())
    assert [s.name for s in DLPOTeleprompter(exact_metric, **presets.dlpo()).strategies] == \
        [s.name for s in default.strategies] and len(default.strategies) == 6 and off.strategies == []


def test_only_and_without():
    assert presets.only("momentum") == {**presets.tgd(), "momentum": 3}
    assert presets.only("lr_decay") == {**presets.tgd(), "lr_decay": True, "learning_rate": 4}
    assert presets.without("annealing") == {**presets.dlpo(), "annealing": False}
    with pytest.raises(ValueError, match="unknown strategy 'speed'; expected one of"):
        presets.only("speed")
    with pytest.raises(ValueError, match="unknown strategy 'speed'"):
        presets.without("speed")


def test_a_changed_default_reaches_every_preset(monkeypatch):
    monkeypatch.setattr(TextualMomentum, "option_default", 7)  # the default lives in the strategy's file
    assert presets.dlpo()["momentum"] == presets.only("momentum")["momentum"] == 7
