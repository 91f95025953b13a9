"""The real embedded model (SmolLM2-135M) through DSPy, in-process and through llama-server.

Not skipped silently: a missing llama-cpp-python or model package is a failure with the fix in
the message. Set ``DSPY_DLPO_SKIP_REAL_LM=1`` to skip. The llama-server test runs when the
binary is built (``.ci/build-llama-server.sh``); set ``DSPY_DLPO_REQUIRE_LLAMA_SERVER=1`` to turn
its absence into a failure.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import dspy
import pytest
from conftest import require_llama_server

pytestmark = pytest.mark.real_lm

if os.environ.get("DSPY_DLPO_SKIP_REAL_LM") == "1":
    pytest.skip("DSPY_DLPO_SKIP_REAL_LM=1", allow_module_level=True)

MODEL = "smollm2-135m"
TIME_LIMIT = 120.0  # seconds per call, generous for a 135M model on 2 slow cores
# One llama.cpp thread: on a busy shared CI machine two spinning threads per call were 20x slower
# (93 s instead of 4 s for this test), while one thread is fast enough for a 135M model.


@pytest.fixture(scope="module")
def model_path():
    """The verified SmolLM2 GGUF; a missing package fails with the install command."""
    from dspy_dlpo.lm.models import ModelError, ensure_model

    try:
        return ensure_model(MODEL)
    except ModelError as exc:
        pytest.fail(f"real-LM test needs the model ({exc}); or set DSPY_DLPO_SKIP_REAL_LM=1", pytrace=False)


def _require_llama_cpp() -> None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"llama-cpp-python is not importable ({exc}): run .ci/install-local-llama.sh, "
                    "or set DSPY_DLPO_SKIP_REAL_LM=1 to skip", pytrace=False)


def _bounded(fn: Callable[[], Any], limit: float = TIME_LIMIT) -> Any:
    """Run ``fn`` in a daemon thread; fail if it takes longer than ``limit`` seconds."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the test thread
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        pytest.fail(f"the real LM call took longer than {limit:g}s", pytrace=False)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _predict_once(lm: dspy.LM) -> tuple[str, dict[str, Any]]:
    """One ``Predict("question -> answer")`` call; the raw completion and its token usage."""
    def call() -> str:
        with dspy.context(lm=lm):
            try:
                dspy.Predict("question -> answer")(question="What is 2 + 3? Reply with a number.")
            except dspy.utils.exceptions.AdapterParseError as exc:  # a 135M model may break the format
                return exc.lm_response or ""
        return lm.history[-1]["outputs"][0]

    started = time.monotonic()
    completion = _bounded(call)
    assert time.monotonic() - started < TIME_LIMIT
    outputs = lm.history[-1]["outputs"][0]
    text = outputs if isinstance(outputs, str) else str(outputs)
    return completion or text, lm.history[-1]["usage"]


def test_inprocess_predict(model_path):
    _require_llama_cpp()
    from dspy_dlpo.lm.llama import local_lm

    lm = local_lm(MODEL, n_ctx=1024, max_tokens=32, n_threads=1, cache=False)
    completion, usage = _predict_once(lm)
    assert completion.strip(), "empty completion"
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0


def test_server_predict(model_path):
    from dspy_dlpo.lm.server import LlamaServer

    require_llama_server()
    server = LlamaServer(MODEL, parallel=2, n_ctx=1024, n_threads=1, max_tokens=32, cache=False, startup_timeout=60)
    with server as lm:
        completion, usage = _predict_once(lm)
    assert completion.strip(), "empty completion"
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
