"""Serve an embedded GGUF model with a native ``llama-server`` (parallel slots) on 127.0.0.1.

``with LlamaServer("qwen2.5-coder-1.5b", parallel=4) as lm:`` starts the server on a free port,
waits for ``/health`` and yields ``dspy.LM("openai/<name>", api_base=..., api_key="local")``;
the server stops on exit (and at interpreter exit). Build the binary with
``.ci/build-llama-server.sh``.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import dspy

from ..validate import check_bool, positive_int as check_positive_int
from .llama import check_temperature, model_label, usable_cores
from .models import DEFAULT_MODEL, ensure_model

logger = logging.getLogger(__name__)
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

LLAMA_SERVER_VERSION = "0.3.36"
BUILD_SCRIPT = ".ci/build-llama-server.sh"


def default_server_binary() -> Path:
    """Where ``.ci/build-llama-server.sh`` installs the binary."""
    root = os.environ.get("DSPY_DLPO_BIN_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dspy-dlpo" / "bin")
    return Path(root).expanduser() / f"llama-server-{LLAMA_SERVER_VERSION}" / "llama-server"


def find_llama_server(binary: str | os.PathLike[str] | None = None) -> Path:
    """``binary``, else ``$DSPY_DLPO_LLAMA_SERVER``, else the build script's output, else ``PATH``."""
    explicit = binary if binary is not None else os.environ.get("DSPY_DLPO_LLAMA_SERVER")
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise FileNotFoundError(f"llama-server binary {str(explicit)!r} is not an executable file")
        return path
    built = default_server_binary()
    if built.is_file() and os.access(built, os.X_OK):
        return built
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    raise FileNotFoundError(f"no llama-server binary at {built} nor on PATH: build it with {BUILD_SCRIPT} "
                            "(offline, ~5 min) or set DSPY_DLPO_LLAMA_SERVER")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (another process may still take it before we bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - local http only
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _die_with_parent() -> None:
    """Child-side hook: get SIGTERM when the parent dies, even if it is SIGKILLed (Linux only)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def _preexec() -> Any:
    """PDEATHSIG fires when the *thread* that started the child exits: only use it from the main thread."""
    if sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread():
        return _die_with_parent
    return None


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class LlamaServer:
    """A ``llama-server`` subprocess serving one model with ``parallel`` slots (context manager)."""

    def __init__(self, model: str | os.PathLike[str] = DEFAULT_MODEL, *, parallel: int = 4, n_ctx: int = 4096,
                 n_threads: int | None = None, max_tokens: int = 512, temperature: float = 0.0,
                 cache: bool = True, binary: str | os.PathLike[str] | None = None,
                 startup_timeout: float = 120.0, extra_args: tuple[str, ...] = ()) -> None:
        for name, value in (("parallel", parallel), ("n_ctx", n_ctx), ("max_tokens", max_tokens)):
            check_positive_int(name, value)
        check_positive_int("n_threads", n_threads, allow_none=True)
        check_temperature(temperature)
        check_bool("cache", cache)
        if not isinstance(startup_timeout, (int, float)) or isinstance(startup_timeout, bool) or startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be a positive number of seconds, got {startup_timeout!r}")
        if not isinstance(extra_args, (tuple, list)) or not all(isinstance(a, str) for a in extra_args):
            raise ValueError(f"extra_args must be a tuple of strings, got {extra_args!r}")
        self.binary = find_llama_server(binary)
        self.model_path = ensure_model(model)
        self.label = model_label(model, self.model_path)
        self.parallel, self.n_ctx, self.n_threads = parallel, n_ctx, n_threads or usable_cores()
        self.lm_kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "cache": cache}
        self.startup_timeout, self.extra_args = float(startup_timeout), tuple(extra_args)
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL of the running server."""
        if self.port is None:
            raise RuntimeError("llama-server is not running: call start() or use it as a context manager")
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, port: int) -> list[str]:
        """The llama-server command line (``-c`` is the total context: ``n_ctx`` per slot)."""
        return [str(self.binary), "-m", str(self.model_path), "--host", "127.0.0.1", "--port", str(port),
                "-np", str(self.parallel), "-c", str(self.n_ctx * self.parallel), "-t", str(self.n_threads),
                "-tb", str(self.n_threads), "--alias", self.label, *self.extra_args]

    def start(self) -> dspy.LM:
        """Start the server, wait until ``/health`` answers, and return a DSPy LM for it."""
        if self._proc is not None:
            return self.lm()
        fd, log_name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        self._log_path = Path(log_name)
        self.port = free_port()
        logger.info("starting %s on port %d (log: %s)", self.binary.name, self.port, self._log_path)
        with os.fdopen(fd, "wb") as log:
            self._proc = subprocess.Popen(self.command(self.port), stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=_preexec())  # noqa: PLW1509
        atexit.register(self.stop)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self.lm()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with code {self._proc.returncode} while starting; "
                                   f"log tail:\n{_log_tail(self._log_path)}")
            if _health_ok(url):
                logger.info("llama-server ready at %s", self.api_base)
                return
            time.sleep(0.2)
        raise TimeoutError(f"llama-server did not become healthy within {self.startup_timeout:g}s; "
                           f"log tail:\n{_log_tail(self._log_path)}")

    def lm(self, **overrides: Any) -> dspy.LM:
        """A new ``dspy.LM`` talking to the running server (``max_tokens``/``temperature``/``cache`` overridable)."""
        unknown = sorted(set(overrides) - set(self.lm_kwargs))
        if unknown:
            raise TypeError(f"unexpected LM option(s) {unknown}; allowed: {sorted(self.lm_kwargs)}")
        kwargs = {**self.lm_kwargs, **overrides}
        check_positive_int("max_tokens", kwargs["max_tokens"])
        check_temperature(kwargs["temperature"])
        check_bool("cache", kwargs["cache"])
        return dspy.LM(f"openai/{self.label}", api_base=self.api_base, api_key="local", **kwargs)

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Terminate the server (idempotent); kill it if it ignores SIGTERM for 10 s."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.port = None
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> dspy.LM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_lm(model: str | os.PathLike[str] = DEFAULT_MODEL, **kwargs: Any) -> tuple[dspy.LM, LlamaServer]:
    """Start a :class:`LlamaServer` that lives until ``server.stop()`` or interpreter exit."""
    server = LlamaServer(model, **kwargs)
    return server.start(), server
