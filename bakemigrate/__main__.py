"""``python -m bakemigrate`` is the same command line as ``bakemigrate``."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a step's second process starts from this module (multiprocessing's spawn)
    sys.exit(main())
