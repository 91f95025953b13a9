"""A cheap check that a role's LM answers, run before anything is spent on it.

For a server URL: ``GET <api_base>/models`` (reachable? key accepted? model served?), then one
tiny chat request through the ``dspy.LM`` itself (the exact path the run will take). For a hosted
model: the tiny request only. Embedded models and custom engines are not checked (they have no
connection). Every failure is one line naming the role and the URL, never the key.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from typing import Any

import dspy

from .roles import FLAGS, LMSetupError, RoleSettings

logger = logging.getLogger(__name__)

PING = "Reply with the single word: OK"
DEFAULT_TIMEOUT = 60.0


def needs_check(lm: Any) -> bool:
    """Whether ``lm`` talks to a network endpoint (a ``dspy.LM`` without a custom engine)."""
    return isinstance(lm, dspy.LM) and isinstance(getattr(lm, "engine", None), str)


def served_name(model: str) -> str:
    """The name a server knows a litellm model string by: ``openai/qwen`` -> ``qwen``."""
    return model.split("/", 1)[1] if "/" in model else model


def _fail(settings: RoleSettings, problem: str, fix: str = "") -> LMSetupError:
    line = f"{settings.describe()}: {problem}" + (f"; {fix}" if fix else "")
    return LMSetupError(settings.scrub(" ".join(line.split())))


def _get_models(settings: RoleSettings, key: str | None, timeout: float) -> list[str] | None:
    """The model ids the server lists, or None when it has no ``/models`` endpoint."""
    request = urllib.request.Request(f"{settings.api_base.rstrip('/')}/models")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - user-given http(s) URL
            body = json.loads(resp.read().decode("utf-8", errors="replace") or "{}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            _, _, key_flag = FLAGS[settings.role]
            raise _fail(settings, f"the server refused the API key (HTTP {exc.code})",
                        f"pass the right one with {key_flag} or the environment variable") from None
        if exc.code in (404, 405, 501):
            return None
        raise _fail(settings, f"GET /models answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        _, base_flag, _ = FLAGS[settings.role]
        raise _fail(settings, f"cannot reach the server ({reason})", f"is it running? check {base_flag}") from None
    except ValueError:
        raise _fail(settings, "GET /models did not return JSON; is this an OpenAI-compatible /v1 URL?") from None
    data = body.get("data") if isinstance(body, dict) else None
    return [str(m.get("id")) for m in data if isinstance(m, dict)] if isinstance(data, list) else None


def _check_listed(settings: RoleSettings, names: list[str] | None) -> None:
    wanted = served_name(settings.model)
    if names and wanted not in names:
        model_flag = FLAGS[settings.role][0]
        raise _fail(settings, f"the server serves {names}, not {wanted!r}",
                    f"use {model_flag} openai/{names[0]}")


def _ping(lm: dspy.LM, settings: RoleSettings, timeout: float) -> None:
    """One tiny uncached request through ``lm``, bounded by ``timeout`` seconds."""
    probe = lm.copy(cache=False, num_retries=0)
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            small = {} if "max_completion_tokens" in probe.kwargs else {"max_tokens": 4}
            probe(PING, **small)
        except Exception as exc:  # noqa: BLE001 - reported below as one line
            box["error"] = exc

    worker = threading.Thread(target=call, daemon=True, name=f"preflight-{settings.role}")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise _fail(settings, f"no reply to a one-token request within {timeout:g}s")
    if "error" in box:
        exc = box["error"]
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _fail(settings, f"a test request failed: {type(exc).__name__}: {first}")


def preflight(lm: Any, settings: RoleSettings, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Raise :class:`LMSetupError` (one line, naming role and URL) unless ``lm`` answers a tiny request."""
    if not needs_check(lm):
        return
    if settings.api_base:
        key = lm.kwargs.get("api_key") or settings.api_key
        _check_listed(settings, _get_models(settings, key, min(timeout, 15.0)))
    _ping(lm, settings, timeout)
    logger.info("%s answers", settings.describe())
