"""``python -m detector``: see :mod:`detector.cli`."""

import sys

from .cli import main

sys.exit(main())
