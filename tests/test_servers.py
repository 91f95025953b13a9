"""DLPO against two real ``llama-server`` processes, driven only through ``dspy.LM("openai/...")``.

One server holds the task LM with two parallel slots, the other the optimizer LM; both are
reached exactly as a vLLM or SGLang user would reach theirs: ``dspy.LM("openai/<name>",
api_base="http://127.0.0.1:PORT/v1", api_key="local")``. Between DSPy and each server sits a
small counting proxy on 127.0.0.1, which records how many chat requests arrived and the most
that were in flight at once; the task server's ``/slots`` endpoint is polled to see its slots
decode at the same time.

Needs the ``llama-server`` binary (``.ci/build-llama-server.sh``) and SmolLM2-135M
(``.ci/install-local-model.sh smollm2-135m``). Without the binary the test skips, or fails when
``DSPY_DLPO_REQUIRE_LLAMA_SERVER=1`` (as in CI). ``DSPY_DLPO_SKIP_REAL_LM=1`` skips it.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dspy
import pytest
from conftest import require_llama_server

pytestmark = pytest.mark.real_lm

if os.environ.get("DSPY_DLPO_SKIP_REAL_LM") == "1":
    pytest.skip("DSPY_DLPO_SKIP_REAL_LM=1", allow_module_level=True)

MODEL = "smollm2-135m"
THREADS = 2  # DSPy threads = the task server's slots
TIME_LIMIT = 150.0  # seconds for the whole compile on 2 slow shared cores


class CountingProxy:
    """A 127.0.0.1 HTTP proxy to one upstream port that counts chat requests and their concurrency."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.chat_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.models: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _enter(self, body: bytes) -> None:
        with self.lock:
            self.chat_requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.models.add(str(json.loads(body or b"{}").get("model")))

    def _leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                chat = self.path.endswith("/chat/completions")
                if chat:
                    proxy._enter(body)
                try:
                    upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=TIME_LIMIT)
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    upstream.request(method, self.path, body=body or None, headers=headers)
                    resp = upstream.getresponse()
                    data = resp.read()
                finally:
                    if chat:
                        proxy._leave()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self._forward("POST")

            def do_GET(self) -> None:  # noqa: N802
                self._forward("GET")

        return Handler

    def __enter__(self) -> CountingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class SlotWatcher:
    """Polls a llama-server's ``/slots`` and keeps the most slots seen decoding at once."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/slots"
        self.max_busy = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=2) as resp:  # noqa: S310 - local http only
                    slots = json.loads(resp.read())
                self.max_busy = max(self.max_busy, sum(1 for s in slots if s.get("is_processing")))
            except (OSError, ValueError):
                pass
            self._stop.wait(0.05)

    def __enter__(self) -> SlotWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope="module")
def servers():
    """Two running llama-servers for SmolLM2: the task one with THREADS slots, the optimizer one with 1."""
    from dspy_dlpo.lm.models import ModelError, ensure_model
    from dspy_dlpo.lm.server import LlamaServer

    require_llama_server()
    try:
        ensure_model(MODEL)
    except ModelError as exc:
        pytest.fail(f"the server test needs the model ({exc}); or set DSPY_DLPO_SKIP_REAL_LM=1", pytrace=False)
    task = LlamaServer(MODEL, parallel=THREADS, n_ctx=2048, n_threads=1, startup_timeout=90)
    optimizer = LlamaServer(MODEL, parallel=1, n_ctx=2048, n_threads=1, startup_timeout=90)
    try:
        task.start()
        optimizer.start()
        yield task, optimizer
    finally:
        task.stop()
        optimizer.stop()


def _openai_lm(api_base: str, max_tokens: int) -> dspy.LM:
    """The LM exactly as a vLLM/SGLang user writes it (no dspy_dlpo.lm involved)."""
    return dspy.LM(f"openai/{MODEL}", api_base=api_base, api_key="local", max_tokens=max_tokens,
                   temperature=0.0, cache=False)


def test_compile_against_two_real_servers(servers, tmp_path):
    from dspy_dlpo import DLPOTeleprompter
    from dspy_dlpo.lm import LMSetupError, optimizer_settings, preflight, task_settings
    from dspy_dlpo.tasks import load_task

    task_server, optimizer_server = servers
    task = load_task("bbh/object_counting", n_train=6, n_val=4, n_test=4)
    with CountingProxy(task_server.port) as task_proxy, CountingProxy(optimizer_server.port) as opt_proxy:
        task_lm, prompt_lm = _openai_lm(task_proxy.api_base, 48), _openai_lm(opt_proxy.api_base, 160)
        roles = task_settings(task_lm.model, task_proxy.api_base, "local")
        preflight(task_lm, roles)  # what the CLI and benchmarks.run do first: GET /models + one tiny request
        preflight(prompt_lm, optimizer_settings(roles, prompt_lm.model, opt_proxy.api_base, "local"))
        wrong = task_settings(f"openai/{MODEL}-typo", task_proxy.api_base, "local")
        with pytest.raises(LMSetupError, match=rf"serves \['{MODEL}'\], not '{MODEL}-typo'"):
            preflight(_openai_lm(task_proxy.api_base, 8).copy(model=wrong.model), wrong)  # llama-server's /models
        pings = (task_proxy.chat_requests, opt_proxy.chat_requests)
        assert pings == (1, 1)
        started = time.monotonic()
        with SlotWatcher(task_server.port) as slots, dspy.context(lm=task_lm):
            optimizer = DLPOTeleprompter(task.metric, prompt_model=prompt_lm, max_steps=2, batch_size=2,
                                         num_threads=THREADS, seed=0, log_dir=tmp_path / "run", progress=False)
            result = optimizer.compile(dspy.Predict("question -> answer"), trainset=task.trainset,
                                       valset=task.valset)
        elapsed = time.monotonic() - started
        task_requests, opt_requests = task_proxy.chat_requests - pings[0], opt_proxy.chat_requests - pings[1]
        details, logs = result.detailed_results, result.trial_logs
        spend = details["spend"]
        assert details["stop_reason"] in ("max_steps", "validation solved"), details["stop_reason"]
        assert 1 <= len(logs) <= 2
        assert spend["metric_calls"] == len(task.valset) + sum(r["step_metric_calls"] for r in logs)
        # nothing is cached: every LM call the run counted reached its server, and nothing else did
        assert spend["optimizer_calls"] == opt_requests > 0
        assert spend["task_lm_calls"] == task_requests >= spend["metric_calls"]
        assert task_proxy.models == opt_proxy.models == {MODEL}
        # num_threads requests in flight at the task server at once, decoded in parallel slots
        assert task_proxy.max_in_flight == THREADS, task_proxy.max_in_flight
        assert slots.max_busy == THREADS, slots.max_busy
        assert opt_proxy.max_in_flight == 1  # DLPO's optimizer calls are sequential
        print(f"\nserver compile: {elapsed:.1f}s, {task_requests} task / {opt_requests} optimizer requests, "
              f"max in flight {task_proxy.max_in_flight}, max busy slots {slots.max_busy}")

        path = tmp_path / "program.json"
        result.save(str(path))
        fresh = dspy.Predict("question -> answer")
        fresh.load(str(path))
        assert fresh.signature.instructions == result.signature.instructions
        before = task_proxy.chat_requests
        with dspy.context(lm=task_lm):
            rescored = dspy.Evaluate(devset=task.valset, metric=task.metric, num_threads=THREADS,
                                     display_progress=False)(fresh)
        assert task_proxy.chat_requests - before >= len(task.valset)
        assert 0.0 <= rescored.score <= 100.0
    assert elapsed < TIME_LIMIT, f"the compile against two servers took {elapsed:.0f}s"
