"""``python -m sciml`` is the ``sciml`` command (so ``torchrun -m sciml train ...`` works)."""

import sys

from sciml.cli import main

if __name__ == "__main__":
    sys.exit(main())
