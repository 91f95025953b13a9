"""Per-role LM settings and the preflight, against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dspy
import pytest

from benchmarks import cell, lms
from benchmarks import run as bench
from dspy_dlpo import cli
from dspy_dlpo.lm import LMSetupError, optimizer_settings, preflight, role_lm, task_settings
from dspy_dlpo.lm.roles import KEY_ENV, same_lm
from dspy_dlpo.lm.server import free_port
from dspy_dlpo.tasks import Task
from scripted import exact_metric, reverse_examples


class FakeServer:
    """Serves ``/v1/models`` and ``/v1/chat/completions`` for one model name; records auth headers."""

    def __init__(self, name: str = "served", key: str | None = None) -> None:
        self.name, self.key = name, key
        self.auth: list[str] = []
        self.chats = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                fake.auth.append(self.headers.get("Authorization", ""))
                if fake.key and self.headers.get("Authorization") != f"Bearer {fake.key}":
                    self._reply(401, {"error": {"message": "invalid api key", "type": "auth"}})
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802
                if self._authorized():
                    self._reply(200, {"object": "list", "data": [{"id": fake.name, "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self._authorized():
                    fake.chats += 1
                    self._reply(200, {"id": "c1", "object": "chat.completion", "created": 0, "model": fake.name,
                                      "choices": [{"index": 0, "finish_reason": "stop",
                                                   "message": {"role": "assistant", "content": "OK"}}],
                                      "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch):
    for name in (*KEY_ENV.values(), "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


def test_optimizer_defaults_to_the_task_lm_and_never_inherits_its_server():
    task = task_settings("openai/small", "http://127.0.0.1:9/v1", "k1")
    assert same_lm(task, optimizer_settings(task))
    own = optimizer_settings(task, "openai/gpt-4o-mini")
    assert own.api_base is None and own.api_key is None and own.role == "optimizer"
    moved = optimizer_settings(task, api_base="http://127.0.0.1:8/v1")
    assert moved.model == "openai/small" and moved.api_base.endswith(":8/v1") and not same_lm(task, moved)
    assert "k1" not in repr(task)


def test_preflight_passes_with_the_key_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("DSPY_DLPO_OPTIMIZER_API_KEY", "opt-secret-123")
    server.key = "opt-secret-123"
    settings = optimizer_settings(task_settings("local"), "openai/served", server.url)
    lm = role_lm(settings, max_tokens=16, cache=False)
    preflight(lm, settings)
    assert server.auth == ["Bearer opt-secret-123"] * 2 and server.chats == 1


def test_a_server_without_a_key_gets_the_placeholder(server):
    settings = task_settings("openai/served", server.url)
    preflight(role_lm(settings, cache=False), settings)
    assert set(server.auth) == {"Bearer local"}


def test_unreachable_server_is_one_line_naming_role_and_url():
    url = closed_url()
    settings = optimizer_settings(task_settings("local"), "openai/big", url)
    with pytest.raises(LMSetupError) as err:
        preflight(role_lm(settings), settings)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"optimizer LM openai/big at {url}: cannot reach")
    assert "--optimizer-api-base" in message


def test_wrong_model_name_lists_what_the_server_serves(server):
    settings = task_settings("openai/other", server.url)
    with pytest.raises(LMSetupError, match=r"serves \['served'\], not 'other'; use --model openai/served"):
        preflight(role_lm(settings), settings)
    assert server.chats == 0


def test_a_refused_key_is_reported_without_echoing_it(server, caplog):
    server.key = "right-key-123"
    settings = optimizer_settings(task_settings("local"), "openai/served", server.url, "wrong-key-456")
    with caplog.at_level(logging.DEBUG), pytest.raises(LMSetupError, match="refused the API key .HTTP 401") as err:
        preflight(role_lm(settings), settings)
    assert "wrong-key-456" not in str(err.value) and "wrong-key-456" not in caplog.text
    assert "--optimizer-api-key" in str(err.value)


def test_local_with_a_server_url_explains_what_local_means():
    with pytest.raises(LMSetupError, match=r"task LM: --model 'local' is the embedded model.*--model openai/"):
        role_lm(task_settings("local", "http://127.0.0.1:9/v1"))


def fake_task(name, **kwargs):
    data = reverse_examples()
    return Task(name=name, trainset=data[:6], valset=data[6:10], testset=data[10:], metric=exact_metric,
                make_program=lambda: dspy.Predict("question -> answer"), split_note="toy split")


def test_cli_stops_before_the_baseline_on_a_dead_optimizer_server(server, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("dspy_dlpo.tasks.load_task", fake_task)
    url = closed_url()
    code = cli.main(["optimize", "--task", "toy", "--model", "openai/served", "--api-base", server.url,
                     "--optimizer-model", "openai/big", "--optimizer-api-base", url,
                     "--optimizer-api-key", "flag-secret-789", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and server.chats == 1  # the task LM's ping, and no baseline
    (line,) = [x for x in err.splitlines() if x.strip()]
    assert line.startswith(f"dspy-dlpo: error: optimizer LM openai/big at {url}: cannot reach")
    assert "flag-secret-789" not in err


def test_cli_local_with_api_base_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("dspy_dlpo.tasks.load_task", fake_task)
    code = cli.main(["optimize", "--task", "toy", "--model", "local", "--api-base", "http://127.0.0.1:9/v1",
                     "--out", str(tmp_path), "--quiet"])
    assert code == 2
    assert "error: task LM: --model 'local' is the embedded model" in capsys.readouterr().err


def test_benchmarks_preflight_before_any_cell(server, tmp_path, capsys):
    url = closed_url()
    code = bench.main(["--tasks", "toy/reverse", "--optimizers", "dlpo", "--seeds", "0", "--budget", "20",
                       "--results-dir", str(tmp_path / "results"), "--model", "openai/served", "--api-base",
                       server.url, "--optimizer-model", "openai/big", "--optimizer-api-base", url])
    assert code == 2 and server.chats == 1
    assert f"optimizer LM openai/big at {url}: cannot reach" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_benchmarks_pool_gives_each_role_its_own_server(server):
    args = bench.parse_args(["--model", "openai/served", "--api-base", server.url,
                             "--optimizer-api-base", "http://127.0.0.1:9/v1", "--optimizer-api-key", "k2"])
    pool = lms.LMPool(args)
    assert pool.task_lm("bbh/object_counting").kwargs["api_base"] == server.url
    optimizer = pool.base(pool.optimizer_spec())
    assert optimizer.kwargs["api_base"] == "http://127.0.0.1:9/v1" and optimizer.kwargs["api_key"] == "k2"


def test_recorded_command_hides_api_keys():
    line = " ".join(cell.redacted_args(["--api-key", "abc", "--optimizer-api-key=xyz", "--model", "m"]))
    assert "abc" not in line and "xyz" not in line and "--model m" in line and line.count("[REDACTED]") == 2


def test_slot_table_marks_runs_whose_instructions_differ():
    from benchmarks import slots

    run = {"threads": 2, "compile_s": 10.0, "output_tokens_per_s": 5.0, "eval_s": 1.0, "val_before": 0.0,
           "val_after": 50.0, "test": 40.0, "steps": 2}
    runs = slots.compare([{**run, "config": "inprocess", "instructions": {"self": "a"}},
                          {**run, "config": "server-2", "instructions": {"self": "a"}},
                          {**run, "config": "server-4", "instructions": {"self": "b"}}])
    assert [r["same_instructions_as_first"] for r in runs] == [True, True, False]
    lines = slots.table(runs).splitlines()
    assert lines[2].startswith("| inprocess | 2 | 10 | 5.0 |") and lines[4].endswith("| no |")
    with pytest.raises(SystemExit):
        slots.parse_args(["--no-inprocess", "--slots"])
