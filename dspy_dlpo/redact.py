"""Keep secrets out of logs, checkpoints and reports: API keys and authorization headers."""

from __future__ import annotations

import logging
import re
from typing import Any

_PATTERNS = [
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer\s+)?[^\s\"',}]+"),
    re.compile(r"(?i)(api[_-]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(r"()\b(?:sk|pk|rk|hf|gsk|xai)[-_][A-Za-z0-9_\-]{8,}"),
]


def redact(text: str) -> str:
    """``text`` with API keys and authorization values replaced by ``[REDACTED]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}[REDACTED]", text)
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
    """Attach the redacting filter to the package's loggers (idempotent)."""
    for name in ("dspy_dlpo", "dspy_dlpo.trainer", "dspy_dlpo.autograd.client", "dspy_dlpo.teleprompter"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
