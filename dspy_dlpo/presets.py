"""Named strategy presets: keyword dicts for :class:`~dspy_dlpo.DLPOTeleprompter`.

A preset is a plain dict of the seven strategy switches, so it composes with any other option::

    DLPOTeleprompter(metric, **presets.tgd())                    # vanilla textual gradient descent
    DLPOTeleprompter(metric, **presets.only("momentum"))         # TGD + momentum at its default
    DLPOTeleprompter(metric, **presets.without("annealing"))     # DLPO without annealing

The "on" value of each strategy is the teleprompter's own default, read from its signature, so a
default changes in one place.
"""

from __future__ import annotations

import inspect
from typing import Any

STRATEGIES = ("learning_rate", "lr_decay", "dropout", "annealing", "momentum", "contrastive", "regularization")


def _check(name: Any) -> str:
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {STRATEGIES}")
    return name


def dlpo() -> dict[str, Any]:
    """All seven strategies at the teleprompter's defaults (what ``DLPOTeleprompter(metric)`` runs)."""
    from .teleprompter import DLPOTeleprompter

    parameters = inspect.signature(DLPOTeleprompter.__init__).parameters
    return {name: parameters[name].default for name in STRATEGIES}


def tgd() -> dict[str, Any]:
    """Every strategy off: plain textual gradient descent (critique, rewrite, greedy acceptance)."""
    return dict.fromkeys(STRATEGIES, False)


def only(name: str) -> dict[str, Any]:
    """:func:`tgd` plus strategy ``name`` at its default. ``lr_decay`` acts on a learning rate, so
    ``only("lr_decay")`` also turns the learning rate on (compare with ``only("learning_rate")``,
    a constant rate)."""
    on = dlpo()
    flags = {**tgd(), _check(name): on[name]}
    if name == "lr_decay":
        flags["learning_rate"] = on["learning_rate"]
    return flags


def without(name: str) -> dict[str, Any]:
    """:func:`dlpo` with strategy ``name`` off (``without("learning_rate")`` also ends its decay)."""
    return {**dlpo(), _check(name): False}
