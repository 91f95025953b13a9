"""Study 3: how much wall time each optimizer adds on top of LM latency.

A stub OpenAI-compatible chat-completions server on 127.0.0.1 answers every request after a fixed
latency with a canned reply that parses for DSPy's ChatAdapter (every requested output field),
for DLPO's ``<gradient>``/``<instruction>`` tags and for GEPA's fenced instruction block. Each
optimizer runs against it with ``dspy.LM("openai/stub", api_base=..., cache=False)`` at 1 and 8
threads on a small synthetic task and budget. The server counts the LM calls of each run, so

    lower bound = LM calls x latency / threads,    ratio = wall time / lower bound.

A ratio near 1 means the optimizer keeps all threads busy waiting on the LM; a high ratio means
serial sections (optimizer-LM calls are sequential by nature) or framework overhead. Each run is
a subprocess with a timeout, so the study always stops by itself::

    python -m benchmarks.overhead [--latency 0.2] [--budget 60] [--threads 1 8]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from dspy_dlpo.checkpoint import atomic_write_json  # noqa: E402
from dspy_dlpo.validate import number_type  # noqa: E402

from .harness import DEFAULT_RESULTS_DIR, PROJECT_ROOT, RESULT_JSON  # noqa: E402

logger = logging.getLogger("benchmarks.overhead")

OPTIMIZERS = ["dlpo", "tgd", "gepa", "miprov2", "copro"]
FIELD = re.compile(r"\[\[ ## (\w+) ## \]\]")


# --------------------------------------------------------------------------------------------
# Stub server
# --------------------------------------------------------------------------------------------
def _output_fields(messages: list[dict[str, Any]]) -> list[str]:
    """The output fields a ChatAdapter prompt asks for ("Respond with ... `[[ ## f ## ]]` ...")."""
    last = str(messages[-1].get("content", "")) if messages else ""
    if "Respond with the corresponding output fields" not in last:
        return []
    tail = last[last.index("Respond with the corresponding output fields"):]
    return [f for f in dict.fromkeys(FIELD.findall(tail)) if f != "completed"]


def canned_reply(messages: list[dict[str, Any]], n: int) -> str:
    """A reply that every optimizer under study can parse; ``n`` makes proposals distinct."""
    fields = _output_fields(messages)
    instruction = f"Answer the question with the single number 42. Check the number before answering (v{n})."
    if fields:
        values = {f: ("42" if f == "answer" else instruction if "instruction" in f else f"Stub text {n}.")
                  for f in fields}
        return "".join(f"[[ ## {k} ## ]]\n{v}\n\n" for k, v in values.items()) + "[[ ## completed ## ]]"
    return (f"<gradient>The instruction does not say which number to give.</gradient>\n"
            f"<instruction>{instruction}</instruction>\n```\n{instruction}\n```")


class StubState:
    """Thread-safe call counter and concurrency gauge of the stub server."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.calls = 0
        self.active = 0
        self.max_active = 0

    def reset(self) -> None:
        with self.lock:
            self.calls = self.active = self.max_active = 0

    def enter(self) -> int:
        with self.lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            return self.calls

    def leave(self) -> None:
        with self.lock:
            self.active -= 1


def make_handler(state: StubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep stderr quiet
            pass

        def _send(self, code: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            self._send(200, {"data": [{"id": "stub", "object": "model"}], "object": "list"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            n = state.enter()
            try:
                time.sleep(state.latency)
                messages = request.get("messages") or []
                text = canned_reply(messages, n)
                prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
                self._send(200, {"id": f"stub-{n}", "object": "chat.completion", "created": int(time.time()),
                                 "model": request.get("model", "stub"),
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": text}}],
                                 "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                                           "total_tokens": prompt_tokens + len(text.split())}})
            finally:
                state.leave()

    return Handler


def start_server(latency: float) -> tuple[ThreadingHTTPServer, StubState]:
    """Start the stub server on an ephemeral 127.0.0.1 port in a daemon thread."""
    state = StubState(latency)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


# --------------------------------------------------------------------------------------------
# Worker (one optimizer run, in a subprocess)
# --------------------------------------------------------------------------------------------
def synthetic_task(n_train: int, n_val: int) -> tuple[list[Any], list[Any]]:
    """Questions whose gold answer is 42 for half of them (the stub always says 42)."""
    import dspy
    make = lambda i: dspy.Example(question=f"Question {i}: what number?",  # noqa: E731
                                  answer="42" if i % 2 == 0 else str(i)).with_inputs("question")
    return [make(i) for i in range(n_train)], [make(1000 + i) for i in range(n_val)]


def stub_metric(example: Any, pred: Any, trace: Any = None) -> Any:
    import dspy
    ok = str(getattr(pred, "answer", "")).strip() == example.answer
    return dspy.Prediction(score=float(ok), feedback="Correct." if ok else f"Expected {example.answer}.")


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one optimizer against the stub; returns wall time and metric calls."""
    import dspy

    from .harness import Meter, lm_call_count, metered_lm
    from .optimizers import OptimizerSetup, run_optimizer
    logging.basicConfig(level=logging.WARNING)
    lm = dspy.LM("openai/stub", api_base=spec["api_base"], api_key="x", cache=False, num_retries=0,
                 temperature=0.0, max_tokens=256)
    task_lm, opt_lm = metered_lm(lm, Meter("task")), metered_lm(lm, Meter("optimizer"))
    train, val = synthetic_task(spec["n_train"], spec["n_val"])
    setup = OptimizerSetup(program=dspy.Predict("question -> answer"), trainset=train, valset=val,
                           metric=stub_metric, task_lm=task_lm, optimizer_lm=opt_lm, budget=spec["budget"],
                           threads=spec["threads"], seed=0)
    start = time.perf_counter()
    with dspy.context(lm=task_lm):
        _, details = run_optimizer(spec["optimizer"], setup)
    return {"wall_time_s": time.perf_counter() - start, "metric_calls": details.get("metric_calls_counted"),
            "client_task_calls": lm_call_count(task_lm), "client_optimizer_calls": lm_call_count(opt_lm)}


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------
def run_one(state: StubState, api_base: str, optimizer: str, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    """One optimizer x threads run in a subprocess with a timeout; server-side LM-call count."""
    spec = {"optimizer": optimizer, "threads": threads, "api_base": api_base, "budget": args.budget,
            "n_train": args.n_train, "n_val": args.n_val}
    state.reset()
    record: dict[str, Any] = {"optimizer": optimizer, "threads": threads}
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.overhead", "--worker", json.dumps(spec)],
                              cwd=str(PROJECT_ROOT), capture_output=True, text=True, timeout=args.timeout)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            record.update(status="error", error=(proc.stderr or proc.stdout)[-1500:])
        else:
            record.update(json.loads(lines[-1]), status="ok")
    except subprocess.TimeoutExpired:
        record.update(status=f"timeout after {args.timeout}s")
    record["process_time_s"] = time.perf_counter() - start
    record["lm_calls"] = state.calls
    record["max_concurrent_requests"] = state.max_active
    wall = record.get("wall_time_s")
    bound = state.calls * state.latency / threads if state.calls else None
    record["lower_bound_s"] = bound
    record["ratio"] = (wall / bound) if (wall and bound) else None
    return record


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Optimizer overhead against a fixed-latency stub LM.")
    p.add_argument("--latency", type=number_type(float, 0.0), default=0.2)
    p.add_argument("--budget", type=number_type(int, 1), default=60)
    p.add_argument("--n-train", type=number_type(int, 1), default=12)
    p.add_argument("--n-val", type=number_type(int, 1), default=8)
    p.add_argument("--threads", type=number_type(int, 1), nargs="+", default=[1, 8])
    p.add_argument("--optimizers", nargs="+", default=OPTIMIZERS)
    p.add_argument("--timeout", type=number_type(float, 1.0), default=240.0, help="seconds per run")
    p.add_argument("--out", type=Path, default=DEFAULT_RESULTS_DIR / "overhead.json")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    load_before = os.getloadavg()
    server, state = start_server(args.latency)
    api_base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    runs = []
    try:
        for optimizer in args.optimizers:
            for threads in args.threads:
                record = run_one(state, api_base, optimizer, threads, args)
                runs.append(record)
                print(f"{optimizer:<10} threads {threads}: {record['status']}, LM calls {record['lm_calls']}, "
                      f"wall {record.get('wall_time_s') or 0:.1f}s, bound {record.get('lower_bound_s') or 0:.1f}s, "
                      f"ratio {record.get('ratio') or float('nan'):.2f}", flush=True)
    finally:
        server.shutdown()
    command = "python -m benchmarks.overhead " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    atomic_write_json(args.out, {"latency_s": args.latency, "budget": args.budget,
                                 "task": f"synthetic (n_train {args.n_train}, n_val {args.n_val})",
                                 "command": command.strip(), "runs": runs,
                                 "load_average_before": [round(x, 2) for x in load_before],
                                 "load_average_after": [round(x, 2) for x in os.getloadavg()],
                                 "nproc": os.cpu_count()}, **RESULT_JSON)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
