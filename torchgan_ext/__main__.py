"""``python -m torchgan_ext``: the same as ``torchgan-run``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
