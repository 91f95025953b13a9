"""Make a ``dspy.LM`` from a model string: the embedded GGUF models (in-process or on a llama-server) and
any litellm model string (:func:`make_lm`)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import dspy

from .models import DEFAULT_MODEL, REGISTRY

logger = logging.getLogger(__name__)
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

BACKENDS = ("auto", "inprocess", "server")
# Measured with benchmarks/throughput.py on 2 cores (0.5B, 8 ChainOfThought questions, 4 DSPy threads):
# llama-server -np 4 took 23 s vs 39 s in-process (1.7x); "auto" falls back to in-process when no
# llama-server binary is built.
AUTO_BACKEND = "inprocess"  # server is 1.7x faster but its greedy replies are not reproducible
_INPROCESS_KWARGS = frozenset({"n_ctx", "n_threads", "cache"})
_SERVER_KWARGS = _INPROCESS_KWARGS | {"parallel", "binary", "startup_timeout", "extra_args"}
_SERVERS: dict[tuple[Any, ...], Any] = {}  # running servers, shared by make_lm calls (stopped at atexit)
_SERVERS_LOCK = threading.Lock()
_LM_OPTIONS = ("max_tokens", "temperature", "cache")

def local_model_spec(spec: str) -> str | None:
    """The embedded-model spec a ``make_lm`` spec names, or None for a litellm model string."""
    if spec == "local":
        return DEFAULT_MODEL
    if spec.startswith("local:"):
        name = spec[len("local:"):]
        if name in REGISTRY or name.lower().endswith(".gguf") or name.startswith("hf:"):
            return name
        raise ValueError(f"unknown local model {name!r} in spec {spec!r}: expected one of "
                         f"{sorted(REGISTRY)}, a .gguf path or hf:<owner>/<repo>/<file>.gguf")
    if spec.lower().endswith(".gguf") or spec.startswith("hf:"):
        return spec
    return None


def choose_backend(backend: str) -> str:
    """Resolve ``backend``; "auto" is ``AUTO_BACKEND`` (in-process: reproducible greedy replies), and
    would fall back to in-process if it named the server and no llama-server were built."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {BACKENDS}")
    if backend != "auto":
        return backend
    if AUTO_BACKEND == "server":
        from .server import find_llama_server

        try:
            find_llama_server()
        except FileNotFoundError:
            logger.info("no llama-server binary found; using the in-process backend")
            return "inprocess"
    return AUTO_BACKEND


def _check_kwargs(backend: str, kwargs: dict[str, Any]) -> None:
    allowed = _SERVER_KWARGS if backend == "server" else _INPROCESS_KWARGS
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {unknown} for the {backend!r} local backend; "
                        f"allowed: {sorted(allowed)}")


def _local_lm(model: str, backend: str, max_tokens: int | None, temperature: float | None,
              kwargs: dict[str, Any]) -> dspy.LM:
    resolved = choose_backend(backend)
    _check_kwargs(resolved, kwargs)
    options = {"max_tokens": 512 if max_tokens is None else max_tokens,
               "temperature": 0.0 if temperature is None else temperature, **kwargs}
    if resolved == "server":
        return _server_lm(model, options)
    from .llama import local_lm

    return local_lm(model, **options)


def _server_lm(model: str, options: dict[str, Any]) -> dspy.LM:
    """An LM on a running llama-server for the same model and server options, started if needed."""
    from .server import LlamaServer

    lm_options = {k: options.pop(k) for k in _LM_OPTIONS if k in options}
    key = (model, *sorted((k, repr(v)) for k, v in options.items()))
    with _SERVERS_LOCK:
        server = _SERVERS.get(key)
        if server is None or not server.running:
            server = LlamaServer(model, **options)
            server.start()
            _SERVERS[key] = server
    return server.lm(**lm_options)


def stop_servers() -> None:
    """Stop every llama-server that ``make_lm`` started."""
    with _SERVERS_LOCK:
        while _SERVERS:
            _SERVERS.popitem()[1].stop()


def _remote_lm(spec: str, api_base: str | None, api_key: str | None, max_tokens: int | None,
               temperature: float | None, kwargs: dict[str, Any]) -> dspy.LM:
    if any(ch.isspace() for ch in spec):
        raise ValueError(f"model spec {spec!r} contains whitespace; expected a litellm model string "
                         "such as 'openai/gpt-4o-mini', or 'local', 'local:<name>', a .gguf path")
    if api_base is not None and not api_base.startswith(("http://", "https://")):
        raise ValueError(f"api_base must be an http(s) URL, got {api_base!r}")
    extra = {k: v for k, v in (("api_base", api_base), ("api_key", api_key), ("max_tokens", max_tokens),
                               ("temperature", temperature)) if v is not None}
    return dspy.LM(spec, **extra, **kwargs)


def make_lm(spec: str, *, api_base: str | None = None, api_key: str | None = None, max_tokens: int | None = None,
            temperature: float | None = None, backend: str = "auto", **kwargs: Any) -> dspy.LM:
    """Build a ``dspy.LM`` from a spec.

    ``"local"``, ``"local:<registry name>"``, a ``.gguf`` path or ``hf:<owner>/<repo>/<file>.gguf`` run an
    embedded model with ``backend`` "inprocess", "server" (llama-server with ``parallel`` slots) or "auto".
    Anything else is a litellm model string passed to ``dspy.LM`` with ``api_base``/``api_key`` if given
    (e.g. ``"openai/<name>"`` + ``api_base`` for llama.cpp or vLLM servers, ``"hosted_vllm/<name>"``).
    """
    if isinstance(spec, Path):
        spec = str(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"model spec must be a non-empty string, got {spec!r}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {BACKENDS}")
    local = local_model_spec(spec)
    if local is None:
        if backend != "auto":
            raise ValueError(f"backend={backend!r} applies only to local models, not to {spec!r}")
        return _remote_lm(spec, api_base, api_key, max_tokens, temperature, kwargs)
    if api_base is not None or api_key is not None:
        raise ValueError(f"api_base/api_key do not apply to {spec!r}: it names the embedded model run in this "
                         "process; for a model on a server name it as the server does: "
                         "make_lm('openai/<served name>', api_base=...)")
    return _local_lm(local, backend, max_tokens, temperature, kwargs)
