"""Issue 34, item 4: 16 threads against a flaky local server (10% HTTP 500s, jittered latency), budget 300.

The server is an OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1 that this test starts; it
answers the task model (``openai/task``) and the optimizer model (``openai/optimizer``) with scripted
replies, and fails one request in ten with HTTP 500 (chosen by a seeded RNG) after a random delay.
DSPy retries nothing here (``num_retries=0``), so every failure reaches DLPO as a failed rollout or a
failed optimizer call. No model and no network beyond the loopback.
"""

from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dspy
import pytest

from dspy_dlpo import DLPOTeleprompter
from scripted import MAGIC, ScriptedOptimizer, exact_metric, reverse_examples

pytestmark = pytest.mark.load

BUDGET, THREADS, FAIL_RATE = 300, 16, 0.10


def task_reply(messages: list[dict[str, str]]) -> str:
    """The task model: reverses the word when the instruction says so (in either adapter's format)."""
    text = messages[-1]["content"]
    word = text.split("[[ ## question ## ]]\n", 1)[-1].split("\n", 1)[0].strip()
    answer = word[::-1] if MAGIC.lower() in messages[0]["content"].lower() else word
    if "[[ ## completed ## ]]" in messages[0]["content"]:
        return f"[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
    return json.dumps({"answer": answer})


class FlakyServer:
    """Serves both models; counts requests and failures per model; thread-safe."""

    def __init__(self, optimizer: ScriptedOptimizer, seed: int = 0) -> None:
        self.rng, self.lock = random.Random(seed), threading.Lock()
        self.requests: dict[str, int] = {"task": 0, "optimizer": 0}
        self.failures: dict[str, int] = {"task": 0, "optimizer": 0}
        self.in_flight = self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                status, payload = server.answer(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.optimizer = optimizer
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        model = "task" if str(body.get("model", "")).endswith("task") else "optimizer"
        with self.lock:
            self.requests[model] += 1
            fail, delay = self.rng.random() < FAIL_RATE, self.rng.uniform(0.002, 0.04)
            self.failures[model] += fail
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(delay)
        with self.lock:
            self.in_flight -= 1
        if fail:
            return 500, {"error": {"message": "injected internal server error", "type": "server_error"}}
        messages = body.get("messages", [])
        content = task_reply(messages) if model == "task" else self.optimizer(messages, {})
        return 200, {"id": "x", "object": "chat.completion", "created": 0, "model": body.get("model"),
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": content}}],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Counted(dspy.Module):
    """The program: one Predict, whose runs (rollouts) are counted on the class, which the copies that
    DLPO makes of the program share."""

    runs, lock = 0, threading.Lock()

    def __init__(self) -> None:
        super().__init__()
        self.predict = dspy.Predict("question -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        with Counted.lock:
            Counted.runs += 1
        return self.predict(question=question)


WORDS = [f"{a}{b}" for a in ("stone", "river", "cloud", "tiger", "piano", "lemon", "grass", "bridge")
         for b in ("a", "bo", "cid", "dr", "ex")]


def test_sixteen_threads_against_a_flaky_server_stay_within_budget_and_count_exactly():
    server = FlakyServer(ScriptedOptimizer())
    data = reverse_examples(WORDS)
    program, lock, metric_calls = Counted(), threading.Lock(), [0]
    Counted.runs = 0

    def metric(example, pred, trace=None):
        with lock:
            metric_calls[0] += 1
        return exact_metric(example, pred)

    def lm(name: str) -> dspy.LM:
        return dspy.LM(f"openai/{name}", api_base=server.url, api_key="local", cache=False, num_retries=0)

    started = time.monotonic()
    try:
        with dspy.context(lm=lm("task")):
            result = DLPOTeleprompter(metric, prompt_model=lm("optimizer"), max_metric_calls=BUDGET, batch_size=8,
                                      num_threads=THREADS, progress=False, rollout_timeout=30).compile(
                program, trainset=data[:20], valset=data[20:])
    finally:
        server.close()
    details = result.detailed_results
    spent, faults = details["spend"]["metric_calls"], details["faults"]
    assert time.monotonic() - started < 60
    assert details["stop_reason"] in ("budget", "validation solved") and spent <= BUDGET
    assert server.failures["task"] > 0 and server.max_in_flight > 4   # the load was real
    # every rollout run is counted once; the metric ran on every rollout whose program did not fail
    assert spent == Counted.runs
    failed = sum(faults.get(k, 0) for k in ("program_error", "parse_error", "rollout_timeout"))
    assert metric_calls[0] == spent - failed
    # the best validated program is the one returned
    assert result.score == max(100 * s for s in details["val_aggregate_scores"])
    assert result.predict.signature.instructions == details.best_instructions["predict"]
    assert MAGIC in result.predict.signature.instructions and result.score > details["initial_score"]
