"""``python -m benchmarks.report``: see :mod:`benchmarks.report`."""

import sys

from . import main

sys.exit(main())
