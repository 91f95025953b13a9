"""Language models for dspy-dlpo: embedded offline GGUF models and any litellm model string.

``make_lm("local")`` runs the default embedded model (see :mod:`dspy_dlpo.lm.models`);
``make_lm("openai/x", api_base="http://host:8000/v1")`` talks to an OpenAI-compatible server.
Per-role settings (task LM, optimizer LM) with keys from the environment are in :mod:`.roles`;
:func:`preflight` checks that an LM answers before a run spends anything on it.
"""

from __future__ import annotations

from .engine import FunctionEngine, function_lm, make_response, request_to_messages
from .factory import BACKENDS, choose_backend, local_model_spec, make_lm, stop_servers
from .models import DEFAULT_MODEL, REGISTRY, ModelError, ensure_model
from .preflight import preflight
from .roles import LMSetupError, RoleSettings, optimizer_settings, role_lm, task_settings

__all__ = ["make_lm", "stop_servers", "RoleSettings", "LMSetupError", "task_settings", "optimizer_settings",
           "role_lm", "preflight", "local_model_spec", "choose_backend", "ensure_model", "DEFAULT_MODEL", "REGISTRY",
           "ModelError", "BACKENDS", "FunctionEngine", "function_lm", "make_response", "request_to_messages"]
