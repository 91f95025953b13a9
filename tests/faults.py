"""A fault-injecting wrapper for scripted LMs: deterministic per prompt, safe under threads."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter


class RateLimitError(Exception):
    pass


class FaultInjector:
    """Wrap ``fn(messages, options)``; a deterministic ``rate`` of calls fail in mixed ways.

    Whether a call fails depends on the prompt and how often that prompt was seen, so runs are
    reproducible whatever the thread interleaving.
    """

    KINDS = ("exception", "rate_limit", "timeout", "empty", "garbage")

    def __init__(self, fn, rate: float = 0.2, salt: str = "", fail_first: bool = False) -> None:
        self.fn, self.rate, self.salt, self.fail_first = fn, rate, salt, fail_first
        self.seen: Counter = Counter()
        self.injected: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, messages, options):
        prompt = "".join(m["content"] for m in messages)
        with self.lock:
            self.seen[prompt] += 1
            nth = self.seen[prompt]
        digest = hashlib.sha256(f"{self.salt}|{nth}|{prompt}".encode()).digest()
        first = self.fail_first and nth == 1 and len(self.seen) == 1
        if digest[0] / 256 >= self.rate and not first:
            return self.fn(messages, options)
        kind = self.KINDS[digest[1] % len(self.KINDS)]
        with self.lock:
            self.injected[kind] += 1
        if kind == "exception":
            raise RuntimeError("injected backend failure")
        if kind == "rate_limit":
            raise RateLimitError("429 rate limit exceeded (injected)")
        if kind == "timeout":
            raise TimeoutError("injected timeout")
        return "" if kind == "empty" else "garbled reply without any expected structure"
