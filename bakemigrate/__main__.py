"""``python -m bakemigrate`` is the same command line as ``bakemigrate``."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a process the import starts is prepared
    sys.exit(main())
