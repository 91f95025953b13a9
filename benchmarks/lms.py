"""The LMs of a grid: each role's LM built once from the ``--model`` / ``--optimizer-*`` flags, greedy decoding."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import dspy

logger = logging.getLogger(__name__)


def task_max_tokens(task: str, override: int | None) -> int:
    """Max new tokens of the task LM for ``task`` (BBH answers are short, and shortest without reasoning;
    math needs room to reason)."""
    if override is not None:
        return override
    if task.startswith("bbh/"):
        return 100 if task.endswith("@predict") else 160
    return 256


def is_local(spec: str) -> bool:
    """Whether ``spec`` names an embedded model (``local``, ``local:<name>`` or a ``.gguf`` file)."""
    return spec == "local" or spec.startswith("local:") or spec.endswith(".gguf")


def build_lm(spec: str, *, api_base: str | None, max_tokens: int, llm_threads: int | None = None,
             api_key: str | None = None, role: str = "task") -> dspy.BaseLM:
    """An LM from a spec ("local", "local:<name>" or a litellm model string) for ``role``, greedy decoding.

    ``llm_threads`` sets llama.cpp's thread count for embedded models: on a shared 2-core machine
    one thread is far faster than two when another process competes for the cores (llama.cpp's
    threads spin on a barrier and stall when one of them is descheduled).
    """
    from dspy_dlpo.lm import RoleSettings, role_lm

    extra = {"n_threads": llm_threads} if (llm_threads and is_local(spec)) else {}
    return role_lm(RoleSettings(role, spec, api_base, api_key), max_tokens=max_tokens, temperature=0.0, **extra)


class LMPool:
    """Builds each role's LM once (an embedded model is loaded once and shared by copies).

    The task role is ``--model``/``--api-base``/``--api-key``; the optimizer role is
    ``--optimizer-model``/``--optimizer-api-base``/``--optimizer-api-key`` (see
    :func:`dspy_dlpo.lm.optimizer_settings`: with none of them it is the task LM).
    """

    def __init__(self, args: argparse.Namespace) -> None:
        from dspy_dlpo.lm import optimizer_settings, task_settings

        self.args = args
        self._base: dict[tuple[str | None, ...], dspy.BaseLM] = {}
        self.task_role = task_settings(args.model, args.api_base, getattr(args, "api_key", None))
        self.optimizer_role = optimizer_settings(self.task_role, args.optimizer_model,
                                                 getattr(args, "optimizer_api_base", None),
                                                 getattr(args, "optimizer_api_key", None))

    def _lm(self, settings: Any) -> dspy.BaseLM:
        key = (settings.model, settings.api_base, settings.api_key)
        if key not in self._base:
            logger.info("loading %s", settings.describe())
            self._base[key] = build_lm(settings.model, api_base=settings.api_base, api_key=settings.api_key,
                                       role=settings.role, max_tokens=self.args.optimizer_max_tokens,
                                       llm_threads=self.args.llm_threads)
        return self._base[key]

    def base(self, spec: str) -> dspy.BaseLM:
        """The LM of the role whose model ``spec`` is (the optimizer's when both roles name it)."""
        return self._lm(self.optimizer_role if spec == self.optimizer_spec() else self.task_role)

    def task_lm(self, task: str) -> dspy.BaseLM:
        """The task LM with ``task``'s max tokens."""
        return self._lm(self.task_role).copy(max_tokens=task_max_tokens(task, self.args.max_tokens))

    def optimizer_spec(self) -> str:
        """The optimizer LM's model string."""
        return self.optimizer_role.model

    def preflight(self) -> None:
        """Build both roles' LMs and send each one tiny request: a bad server, model name or key stops the
        grid here, in one line naming the role and URL, instead of failing every cell."""
        from dspy_dlpo.lm import preflight
        from dspy_dlpo.lm.roles import same_lm

        preflight(self.task_lm(self.args.tasks[0]), self.task_role)
        if not same_lm(self.task_role, self.optimizer_role):
            preflight(self.base(self.optimizer_spec()), self.optimizer_role)
