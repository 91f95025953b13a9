"""dspy_dlpo.lm.server without a real model: a fake llama-server script stands in for the binary."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dspy
import pytest

from dspy_dlpo.lm import choose_backend, make_lm
from dspy_dlpo.lm.server import LlamaServer, find_llama_server


FAKE_SERVER = """\
#!{python}
import argparse, http.server, json
p = argparse.ArgumentParser(); p.add_argument("--port", type=int); p.add_argument("--alias")
args, _ = p.parse_known_args()
class H(http.server.BaseHTTPRequestHandler):
    def _send(self, obj):
        data = json.dumps(obj).encode(); self.send_response(200)
        self.send_header("content-type", "application/json"); self.send_header("content-length", str(len(data)))
        self.end_headers(); self.wfile.write(data)
    def do_GET(self):
        self._send({{"status": "ok"}})
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        text = "[[ ## answer ## ]]\\nfake " + str(body.get("max_completion_tokens")) + "\\n\\n[[ ## completed ## ]]"
        self._send({{"id": "1", "object": "chat.completion", "created": 0, "model": args.alias,
                    "choices": [{{"index": 0, "finish_reason": "stop",
                                 "message": {{"role": "assistant", "content": text}}}}],
                    "usage": {{"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}}}})
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", args.port), H).serve_forever()
"""


def _fake_binary(tmp_path: Path) -> Path:
    binary = tmp_path / "llama-server"
    binary.write_text(FAKE_SERVER.format(python=sys.executable))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def test_server_lifecycle_with_a_fake_llama_server(tmp_path):
    binary = _fake_binary(tmp_path)
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    server = LlamaServer(model, parallel=2, binary=binary, max_tokens=21, cache=False, startup_timeout=30)
    with server as lm:
        proc = server._proc
        assert "-np" in server.command(1) and server.api_base.startswith("http://127.0.0.1:")
        with dspy.context(lm=lm):
            assert dspy.Predict("question -> answer")(question="q").answer == "fake 21"
        assert lm.history[-1]["usage"]["prompt_tokens"] == 11
    assert proc.poll() is not None and server.port is None


def test_server_options_are_validated(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        find_llama_server(tmp_path / "nope")
    with pytest.raises(ValueError, match="parallel.*0"):
        LlamaServer(tmp_path / "m.gguf", parallel=0)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has exited
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_server_dies_with_a_killed_parent(tmp_path):
    binary = _fake_binary(tmp_path)
    (tmp_path / "tiny.gguf").write_bytes(b"GGUF")
    parent = textwrap.dedent(f"""
        import os, sys
        from dspy_dlpo.lm.server import LlamaServer
        server = LlamaServer({str(tmp_path / "tiny.gguf")!r}, binary={str(binary)!r}, parallel=1)
        server.start()
        print(server._proc.pid, flush=True)
        os.kill(os.getpid(), 9)
    """)
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the killed parent cannot delete its server log
    out = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, timeout=60, env=env)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(pid), "llama-server outlived its SIGKILLed parent"


def test_auto_backend_falls_back_to_inprocess_without_a_binary(monkeypatch, tmp_path):
    import dspy_dlpo.lm as lm_pkg

    monkeypatch.setattr(lm_pkg, "AUTO_BACKEND", "server")
    monkeypatch.setenv("DSPY_DLPO_BIN_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("DSPY_DLPO_LLAMA_SERVER", raising=False)
    assert choose_backend("auto") == "inprocess"
    monkeypatch.setenv("DSPY_DLPO_LLAMA_SERVER", str(_fake_binary(tmp_path)))
    assert choose_backend("auto") == "server"


def test_make_lm_server_backend_shares_one_server(tmp_path):
    import dspy_dlpo.lm as lm_pkg

    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    binary = _fake_binary(tmp_path)
    try:
        first = make_lm(str(model), backend="server", binary=str(binary), parallel=2, max_tokens=5, cache=False)
        second = make_lm(str(model), backend="server", binary=str(binary), parallel=2, max_tokens=9, cache=False)
        assert len(lm_pkg._SERVERS) == 1 and first.kwargs["api_base"] == second.kwargs["api_base"]
        with dspy.context(lm=second):
            assert dspy.Predict("question -> answer")(question="q").answer == "fake 9"
        with pytest.raises(ValueError, match="max_tokens.*-1"):
            make_lm(str(model), backend="server", binary=str(binary), parallel=2, max_tokens=-1)
    finally:
        lm_pkg.stop_servers()
    assert not lm_pkg._SERVERS
