"""``python -m dspy_dlpo``: the ``dspy-dlpo`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
