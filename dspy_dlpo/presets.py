"""Named strategy presets: keyword dicts for :class:`~dspy_dlpo.DLPOTeleprompter`.

A preset is a plain dict of the seven strategy switches, so it composes with any other option::

    DLPOTeleprompter(metric, **presets.tgd())                    # vanilla textual gradient descent
    DLPOTeleprompter(metric, **presets.only("momentum"))         # TGD + momentum at its default
    DLPOTeleprompter(metric, **presets.without("annealing"))     # DLPO without annealing

The switches and their "on" values (the teleprompter's defaults) come from the one table of
strategies, :mod:`dspy_dlpo.strategies.registry`, so a default changes in one place.
"""

from __future__ import annotations

from typing import Any

from .strategies.registry import defaults, keywords



def _check(name: Any) -> str:
    if name not in keywords():
        raise ValueError(f"unknown strategy {name!r}; expected one of {keywords()}")
    return name


def dlpo() -> dict[str, Any]:
    """Every strategy at the teleprompter's defaults (what ``DLPOTeleprompter(metric)`` runs)."""
    return defaults()


def tgd() -> dict[str, Any]:
    """Every strategy off: plain textual gradient descent (critique, rewrite, greedy acceptance)."""
    return dict.fromkeys(keywords(), False)


def only(name: str) -> dict[str, Any]:
    """:func:`tgd` plus strategy ``name`` at its default (True for one that is off by default). ``lr_decay``
    acts on a learning rate, so ``only("lr_decay")`` also turns the learning rate on (compare with
    ``only("learning_rate")``, a constant rate)."""
    on = dlpo()
    flags = {**tgd(), _check(name): True if on[name] is False else on[name]}
    if name == "lr_decay":
        flags["learning_rate"] = on["learning_rate"]
    return flags


def without(name: str) -> dict[str, Any]:
    """:func:`dlpo` with strategy ``name`` off (``without("learning_rate")`` also ends its decay)."""
    return {**dlpo(), _check(name): False}
