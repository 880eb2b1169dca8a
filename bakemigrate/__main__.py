"""``python -m bakemigrate`` is the same command line as ``bakemigrate``."""

import sys

from .cli import main

sys.exit(main())
