"""Per-role LM settings: the task LM and the optimizer LM, each embedded, on a server, or hosted.

A role is "task" (the program's LM) or "optimizer" (DLPO's ``prompt_model``). Each has its own
model string, server URL and API key, in any combination: a small embedded task model with a
hosted optimizer, both on one vLLM server, the task on llama-server and the optimizer on another.

Keys come from the settings (a CLI flag) or the role's environment variable
(:data:`KEY_ENV`), else from the provider's own variable (``OPENAI_API_KEY``, ...) as DSPy does;
a server URL with no key anywhere gets :data:`PLACEHOLDER_KEY`, which servers started without
``--api-key`` accept. Keys never appear in ``repr``, logs or error messages.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any

import dspy

from ..redact import redact
from . import factory  # make_lm looked up at call time, so tests can substitute it

logger = logging.getLogger(__name__)

ROLES = ("task", "optimizer")
KEY_ENV = {"task": "DSPY_DLPO_API_KEY", "optimizer": "DSPY_DLPO_OPTIMIZER_API_KEY"}
FLAGS = {"task": ("--model", "--api-base", "--api-key"),
         "optimizer": ("--optimizer-model", "--optimizer-api-base", "--optimizer-api-key")}
PLACEHOLDER_KEY = "local"


class LMSetupError(ValueError):
    """A role's LM settings do not work: bad combination, unreachable server, unknown model, refused key."""


@dataclass(frozen=True)
class RoleSettings:
    """Where one role's LM lives. ``api_key`` is kept out of ``repr``."""

    role: str
    model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown LM role {self.role!r}: expected one of {ROLES}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise LMSetupError(f"{self.role} LM: the model must be a non-empty string, got {self.model!r}")

    def describe(self) -> str:
        """``task LM openai/x at http://host/v1``: what error messages name (never the key)."""
        return f"{self.role} LM {self.model}" + (f" at {self.api_base}" if self.api_base else "")

    def scrub(self, text: str) -> str:
        """``text`` without this role's key (and anything that looks like a key)."""
        if self.api_key and len(self.api_key) >= 4:
            text = text.replace(self.api_key, "[REDACTED]")
        return redact(text)


def _env_key(role: str) -> str | None:
    return os.environ.get(KEY_ENV[role]) or None


def task_settings(model: str, api_base: str | None = None, api_key: str | None = None) -> RoleSettings:
    """The task role: ``api_key`` from the argument, else ``$DSPY_DLPO_API_KEY``."""
    return RoleSettings("task", model, api_base or None, api_key or _env_key("task"))


def optimizer_settings(task: RoleSettings, model: str | None = None, api_base: str | None = None,
                       api_key: str | None = None) -> RoleSettings:
    """The optimizer role; with nothing given it is the task LM itself (same model, server and key).

    With only ``api_base`` it is the task's model name on that server. With a ``model`` it has only the
    settings given for it: the task's server is never inherited (name it again for a shared server).
    ``api_key`` from the argument, else ``$DSPY_DLPO_OPTIMIZER_API_KEY``, else (on the task's server) the
    task's key.
    """
    key = api_key or _env_key("optimizer")
    if model is None and api_base is None:
        return replace(task, role="optimizer", api_key=key or task.api_key)
    return RoleSettings("optimizer", model or task.model, api_base or None, key)


def same_lm(a: RoleSettings, b: RoleSettings) -> bool:
    """Whether two roles name one LM (the optimizer can then share the task LM's loaded model)."""
    return (a.model, a.api_base, a.api_key) == (b.model, b.api_base, b.api_key)


def _provider_key_set(model: str) -> bool:
    provider = model.split("/", 1)[0] if "/" in model else "openai"
    return bool(os.environ.get(f"{provider.upper()}_API_KEY"))


def role_lm(settings: RoleSettings, **kwargs: Any) -> dspy.LM:
    """``make_lm`` for a role; a bad combination raises :class:`LMSetupError` naming the role and its flags."""

    model_flag, base_flag, _ = FLAGS[settings.role]
    try:
        embedded = factory.local_model_spec(settings.model) is not None
    except ValueError as exc:
        raise LMSetupError(f"{settings.role} LM: {exc}") from None
    if embedded and settings.api_base:
        raise LMSetupError(
            f"{settings.role} LM: {model_flag} {settings.model!r} is the embedded model run in this process, so "
            f"{base_flag} {settings.api_base} does not apply; for a model served there, name it as the server "
            f"does: {model_flag} openai/<served name> {base_flag} {settings.api_base}")
    key = settings.api_key
    if settings.api_base and not key and not _provider_key_set(settings.model):
        key = PLACEHOLDER_KEY
    if embedded:
        key = None  # an environment key is for servers; the embedded model takes none
    try:
        return factory.make_lm(settings.model, api_base=settings.api_base, api_key=key, **kwargs)
    except (ValueError, TypeError) as exc:
        raise LMSetupError(f"{settings.role} LM: {settings.scrub(str(exc))}") from None
