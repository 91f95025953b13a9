"""Jobs in daemon worker threads with a deadline each: the caller never waits on a hung job past it.

Python cannot kill a thread. A job that runs past its deadline is *abandoned*: the caller stops
waiting, records it as timed out and goes on, while the thread may still finish later. Each job
holds a :class:`Lease`; the job's result is taken only if it finishes before it is abandoned (both
happen under the lease's lock, so exactly one of the two wins), and whatever the job does to shared
state should go through :meth:`Lease.guarded`, which does nothing once the job is abandoned. A late
result therefore changes nothing. Every job runs in a copy of the caller's ``contextvars`` context
(DSPy's ``dspy.context`` settings travel with it).
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.25  # the longest the caller blocks before looking at deadlines (and Ctrl-C) again


class Lease:
    """One job's claim on the caller's state: live until the job finishes or is abandoned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.abandoned = False
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None

    def guarded(self, action: Callable[[], Any]) -> bool:
        """Run ``action`` unless the job was abandoned (then do nothing); True when it ran."""
        with self._lock:
            if self.abandoned:
                return False
            action()
            return True

    def finish(self, result: Any, error: BaseException | None) -> bool:
        """Hand in the job's outcome; False (ignored) when the job was abandoned first."""
        with self._lock:
            if self.abandoned:
                return False
            self.finished, self.result, self.error = True, result, error
            return True

    def abandon(self) -> bool:
        """Stop waiting on the job; False when it had already finished."""
        with self._lock:
            if self.finished:
                return False
            self.abandoned = True
            return True


def _start(fn: Callable[[Any, Lease], Any], item: Any, lease: Lease, index: int, done: queue.Queue) -> None:
    def work() -> None:
        try:
            result, error = fn(item, lease), None
        except BaseException as exc:  # Ctrl-C raised inside a job, or a bug: re-raised by the caller
            result, error = None, exc
        if lease.finish(result, error):
            done.put(index)

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name=f"dlpo-job-{index}", daemon=True).start()


def run_jobs(fn: Callable[[T, Lease], Any], items: Sequence[T], *, threads: int, timeout: float | None = None,
             on_done: Callable[[int, bool], None] | None = None,
             clock: Callable[[], float] = time.monotonic) -> list[tuple[bool, Any]]:
    """``fn(item, lease)`` for every item, at most ``threads`` at a time, each in a daemon thread.

    Returns, in the order of ``items``, ``(True, result)`` or ``(False, None)`` for a job still running
    ``timeout`` seconds after it started (abandoned; its thread no longer holds one of the ``threads``).
    ``on_done(index, finished)`` is called in the caller's thread as each job finishes or is abandoned.
    An exception raised by ``fn`` (or by the caller, such as Ctrl-C) is re-raised after every job still
    running is abandoned.
    """
    leases = [Lease() for _ in items]
    outcomes: list[tuple[bool, Any] | None] = [None] * len(items)
    pending, running, done = deque(range(len(items))), {}, queue.Queue()

    def settle(i: int, finished: bool) -> None:
        del running[i]
        if finished and leases[i].error is not None:
            raise leases[i].error
        outcomes[i] = (True, leases[i].result) if finished else (False, None)
        if on_done is not None:
            on_done(i, finished)

    try:
        while pending or running:
            while pending and len(running) < max(1, threads):
                i = pending.popleft()
                running[i] = clock()
                _start(fn, items[i], leases[i], i, done)
            first_deadline = min(running.values()) + timeout if timeout is not None else None
            wait = POLL_SECONDS if first_deadline is None else min(POLL_SECONDS, max(0.0, first_deadline - clock()))
            try:
                settle(done.get(timeout=wait), True)
                while True:
                    settle(done.get_nowait(), True)
            except queue.Empty:
                pass
            if timeout is not None:
                now = clock()
                for i in [i for i, started in running.items() if now - started >= timeout]:
                    if leases[i].abandon():
                        settle(i, False)
    finally:
        for i in running:
            leases[i].abandon()
    return outcomes  # type: ignore[return-value]  # every job settled: the loop ends only then
