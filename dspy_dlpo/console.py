"""What a run shows on the console: its log lines (projection, steps, warnings) around the progress bar.

DSPy's own optimizers show their INFO lines by default (DSPy gives its ``dspy`` logger a handler at
INFO). :func:`run_console` does the same for ``dspy_dlpo`` while a run lasts, when ``verbose``: the
package logger goes to INFO unless the user set its level, and gets a handler that writes with
``tqdm.write`` when no handler would receive its records; handlers the user configured on the root
logger (``logging.basicConfig``) write around the bar too (tqdm's ``logging_redirect_tqdm``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

PACKAGE_LOGGER = "dspy_dlpo"
LINE_FORMAT = "%(asctime)s %(levelname)s dspy_dlpo: %(message)s"


class TqdmHandler(logging.Handler):
    """Writes each record with ``tqdm.write`` (to stderr), so that a line never lands on the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def run_console(*, verbose: bool, progress: bool, logger: logging.Logger | None = None) -> Iterator[None]:
    """Show the run's INFO lines while the block runs (``verbose``), never glued to the progress bar."""
    logger = logger or logging.getLogger(PACKAGE_LOGGER)
    with contextlib.ExitStack() as stack:
        if progress:
            from tqdm.contrib.logging import logging_redirect_tqdm

            stack.enter_context(logging_redirect_tqdm())
        if verbose:
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)
                stack.callback(logger.setLevel, logging.NOTSET)
            if not logger.hasHandlers():
                handler = TqdmHandler()
                handler.setFormatter(logging.Formatter(LINE_FORMAT, "%H:%M:%S"))
                logger.addHandler(handler)
                stack.callback(logger.removeHandler, handler)
        yield
