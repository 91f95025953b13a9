"""Keep configured secrets out of logs and error text.

Only values that are known to be secrets are redacted: the API keys (and other credentials) set
in the environment under a credential-like name (``OPENAI_API_KEY``, ``HF_TOKEN``, ...) and the
``api_key`` / credential headers of the LMs a run uses (registered with :func:`register_lm`).
Whatever their format (``sk-...``, ``AIza...``, 32 hex digits, ``fw_...``), they are replaced by
``[REDACTED]`` wherever error text is kept or forwarded and in every log line of the package.
Ordinary text that merely looks like a key (``hf_datasets_cache``, ``sk-learn-pipeline``) is
left alone: the checkpoint holds exactly what the run holds.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

MASK = "[REDACTED]"
MIN_SECRET_CHARS = 8  # shorter values ("1", "false") are settings, not credentials
_SECRET_NAME = re.compile(r"(?i)(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$")
_CREDENTIAL_FIELD = re.compile(r"(?i)(api_?key|token|secret|password|authorization|credential)")
_VALUE = re.compile(r"\S{%d,}" % MIN_SECRET_CHARS)

_registered: set[str] = set()
_lock = threading.Lock()


def _usable(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value.lower().startswith("bearer "):
        value = value[7:].strip()
    return value if _VALUE.fullmatch(value) else None


def register_secret(value: Any) -> None:
    """Treat ``value`` (a string of at least 8 non-space characters) as a secret from now on."""
    if (usable := _usable(value)) is not None:
        with _lock:
            _registered.add(usable)


def _register_fields(fields: dict[Any, Any]) -> None:
    for key, value in fields.items():
        if isinstance(value, dict) and "header" in str(key).lower():
            for name, header in value.items():
                if _CREDENTIAL_FIELD.search(str(name)):
                    register_secret(header)
        elif _CREDENTIAL_FIELD.search(str(key)):
            register_secret(value)


def register_lm(lm: Any) -> None:
    """Register the credentials of ``lm``: its ``api_key`` and other credential-like kwargs and headers,
    and those of a custom engine object (which owns its own connection in DSPy 3.4)."""
    kwargs = getattr(lm, "kwargs", None)
    if isinstance(kwargs, dict):
        _register_fields(kwargs)
    engine = getattr(lm, "engine", None)
    if engine is not None and not isinstance(engine, str):
        _register_fields({k: v for k, v in getattr(engine, "__dict__", {}).items()})


def known_secrets() -> list[str]:
    """The secret values in force: credential-named environment variables and registered values."""
    found = {v for name, value in os.environ.items()
             if _SECRET_NAME.search(name) and (v := _usable(value)) is not None}
    with _lock:
        found |= _registered
    return sorted(found, key=len, reverse=True)  # longest first: a key containing another is masked whole


def redact(text: str) -> str:
    """``text`` with every known secret value replaced by ``[REDACTED]``."""
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_data(data: Any) -> Any:
    """Redact every string inside JSON-like ``data``."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {k: redact_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v) for v in data]
    return data


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg, record.args = record.getMessage(), ()
        record.msg = redact(str(record.msg))
        return True


def install_log_filter() -> None:
    """Attach the redacting filter to every logger of the package (idempotent)."""
    names = {"dspy_dlpo", *(n for n in logging.root.manager.loggerDict if n.startswith("dspy_dlpo."))}
    for name in sorted(names):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
