"""In-process serving of an embedded GGUF model through llama-cpp-python as a DSPy 3.4 engine.

``local_lm()`` returns a ``dspy.LM("local/<name>", engine=LlamaCppEngine(...))``. One
``llama_cpp.Llama`` is not thread-safe, so the engine serialises calls with a lock: DSPy's
threads queue up (use :mod:`dspy_dlpo.lm.server` for parallel slots).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import random
import sys
import threading
from pathlib import Path
from typing import Any

import dspy
from dspy.clients.engines.base import validate_request
from dspy.lm15 import ContextLengthError, Response, UnsupportedFeatureError, response_to_events

from ..validate import check_bool, positive_int, real_number
from .engine import make_response, request_to_messages
from .models import DEFAULT_MODEL, REGISTRY, ensure_model

logger = logging.getLogger(__name__)
# dspy imports litellm lazily; keep it from fetching its price map over the network when it does.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# One llama.cpp computation at a time per process: each engine already uses every core, and two
# engines (e.g. a task LM and an optimizer LM) decoding at once make their spinning threads fight
# over the cores, which is many times slower than taking turns.
_COMPUTE_LOCK = threading.Lock()
_ENGINES: dict[tuple[str, int, int | None], LlamaCppEngine] = {}  # loaded models, shared by local_lm calls
_ENGINES_LOCK = threading.Lock()

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_call", "function_call": "tool_call"}


@atexit.register
def _free_engines() -> None:
    """Free loaded models before interpreter teardown: llama-cpp-python's own finalizer, run later,
    fails with "'NoneType' object is not callable" once the modules it needs are gone."""
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        llama = engine.__dict__.pop("_llama", None)
        if llama is not None and hasattr(llama, "close"):
            try:
                llama.close()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
    _close_null_files()


def _close_null_files() -> None:
    """Close the two ``/dev/null`` files llama-cpp-python opens at import (``llama_cpp._utils``) and
    never closes: left to interpreter teardown, each is a "ResourceWarning: unclosed file" line
    after the run's output. Nothing uses them once the models are freed (``Llama.close`` does not)."""
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(utils, name, None)
        if handle is not None and hasattr(handle, "close"):
            handle.close()


def usable_cores() -> int:
    """CPU cores this process may run on (llama-cpp-python's default is only half of them)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def check_temperature(value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a number in [0, 2] (or None)."""
    real_number("temperature", value, 0.0, 2.0, allow_none=True)


def _load_llama(model_path: Path, n_ctx: int, n_threads: int, seed: int, verbose: bool) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ImportError(
            "the embedded local model needs llama-cpp-python (it compiles from source, ~7 min): "
            "pip install 'llama-cpp-python==0.3.36' (or install a prebuilt wheel with --no-deps)") from exc
    logger.info("loading %s (n_ctx=%d, n_threads=%d)", model_path, n_ctx, n_threads)
    return Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                 seed=seed, verbose=verbose)


def _generation_kwargs(config: Any) -> dict[str, Any]:
    """Map a ``dspy.lm15.Config`` onto ``Llama.create_chat_completion`` keyword arguments."""
    kwargs: dict[str, Any] = {"max_tokens": config.max_tokens, "stop": list(config.stop or ()),
                              "temperature": 0.0 if config.temperature is None else config.temperature}
    optional = {"top_p": config.top_p, "top_k": config.top_k, "seed": config.seed,
                "frequency_penalty": config.frequency_penalty, "presence_penalty": config.presence_penalty}
    kwargs.update({k: v for k, v in optional.items() if v is not None})
    fmt = config.response_format
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        kwargs["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema" and "schema" in fmt:
        kwargs["response_format"] = {"type": "json_object", "schema": fmt["schema"]}
    elif fmt is not None:
        raise UnsupportedFeatureError(f"unsupported response_format {fmt!r}", feature="response_format")
    return kwargs


class LlamaCppEngine:
    """A DSPy engine running one GGUF model in this process (calls are serialised by a process-wide lock)."""

    supports_function_calling = False
    supports_response_schema = False
    supported_params = frozenset({"response_format"})  # JSON mode via a llama.cpp grammar

    def __init__(self, model_path: str | os.PathLike[str], *, n_ctx: int = 4096, n_threads: int | None = None,
                 seed: int = 0, model_name: str | None = None, verbose: bool = False) -> None:
        positive_int("n_ctx", n_ctx)
        positive_int("n_threads", n_threads, allow_none=True)
        positive_int("seed", seed, minimum=0)
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"GGUF model file {str(model_path)!r} does not exist")
        self.n_ctx, self.seed = n_ctx, seed
        self._sampler = random.Random(seed)
        self.n_threads = n_threads or usable_cores()
        self.model = model_name or self.model_path.stem
        self._lock = _COMPUTE_LOCK
        self._llama = _load_llama(self.model_path, n_ctx, self.n_threads, seed, verbose)

    def complete(self, request: Any) -> Response:
        """Run one chat completion with the GGUF's chat template; report llama.cpp's token counts."""
        validate_request(request)
        if request.tools:
            raise UnsupportedFeatureError("the embedded llama.cpp engine does not support tools", feature="tools")
        kwargs = _generation_kwargs(request.config)
        messages = request_to_messages(request)
        try:
            with self._lock:
                if kwargs["temperature"] > 0 and "seed" not in kwargs:  # a sampled call: its own draw
                    kwargs["seed"] = self._sampler.getrandbits(31)
                out = self._llama.create_chat_completion(messages=messages, **kwargs)
        except ValueError as exc:
            if "context window" in str(exc):
                raise ContextLengthError(f"{exc} (n_ctx={self.n_ctx}; raise n_ctx or shorten the prompt)") from exc
            raise
        choice, usage = out["choices"][0], out.get("usage") or {}
        return make_response(choice["message"].get("content") or "", model=self.model,
                             input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens"),
                             finish_reason=_FINISH.get(choice.get("finish_reason") or "stop", "stop"))

    def reseed(self, seed: int) -> None:
        """Restart the sampling stream from ``seed``: every sampled call (temperature > 0, no seed of its
        own) draws its llama.cpp seed from this stream, so runs with different seeds sample differently
        and a run with the same seed and the same calls samples the same. Greedy calls are unaffected."""
        positive_int("seed", seed, minimum=0)
        with self._lock:
            self._sampler = random.Random(seed)

    def stream(self, request: Any):
        """Non-incremental stream: the whole completion as one set of events."""
        return response_to_events(self.complete(request))

    def close(self) -> None:
        """Keep the model loaded: DSPy borrows engines and LM copies share this one."""

    def __deepcopy__(self, memo: dict[int, Any]) -> LlamaCppEngine:
        """Share, never duplicate, the loaded model (``program.deepcopy()`` copies predictor LMs)."""
        return self

    def dump_state(self) -> dict[str, Any]:
        """JSON state so that a program holding this LM can be saved (and loaded with allow_unsafe_lm_state)."""
        return {"model_path": str(self.model_path), "n_ctx": self.n_ctx, "n_threads": self.n_threads,
                "seed": self.seed, "model_name": self.model}

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> LlamaCppEngine:
        """Rebuild an engine from :meth:`dump_state` output."""
        return cls(**state)


def seed_sampling(lm: Any, seed: int) -> bool:
    """Seed the sampling of ``lm``'s embedded engine (:meth:`LlamaCppEngine.reseed`); False when ``lm``
    is not served by one (a hosted model or a server takes the seed per request, if at all)."""
    engine = getattr(lm, "_engine_spec", None)
    if isinstance(engine, LlamaCppEngine):
        engine.reseed(seed)
        return True
    return False


def model_label(model: str | os.PathLike[str], path: Path) -> str:
    """A name for DSPy's cache key and history: the registry name, or the file stem plus a path digest."""
    spec = os.fspath(model)
    if spec in REGISTRY:
        return spec
    digest = hashlib.sha256(f"{path}:{path.stat().st_size}:{path.stat().st_mtime_ns}".encode()).hexdigest()[:8]
    return f"{path.stem}-{digest}"


def shared_engine(path: Path, *, n_ctx: int, n_threads: int | None, label: str) -> LlamaCppEngine:
    """The loaded engine for (path, n_ctx, n_threads), loading the model only on first use."""
    key = (str(path), n_ctx, n_threads)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = LlamaCppEngine(path, n_ctx=n_ctx, n_threads=n_threads, model_name=label)
        return engine


def local_lm(model: str | os.PathLike[str] = DEFAULT_MODEL, *, n_ctx: int = 4096, max_tokens: int = 512,
             temperature: float = 0.0, n_threads: int | None = None, cache: bool = True) -> dspy.LM:
    """A ``dspy.LM`` served in-process by llama.cpp from a registry model, ``.gguf`` path or ``hf:`` spec.

    Calls with the same model, ``n_ctx`` and ``n_threads`` share one loaded model.
    """
    positive_int("max_tokens", max_tokens)
    check_temperature(temperature)
    positive_int("n_ctx", n_ctx)
    if max_tokens >= n_ctx:
        raise ValueError(f"max_tokens ({max_tokens!r}) must be smaller than n_ctx ({n_ctx!r})")
    check_bool("cache", cache)
    path = ensure_model(model)
    label = model_label(model, path)
    engine = shared_engine(path, n_ctx=n_ctx, n_threads=n_threads, label=label)
    return dspy.LM(f"local/{label}", engine=engine, cache=cache, max_tokens=max_tokens, temperature=temperature)
