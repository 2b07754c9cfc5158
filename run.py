"""The one entry point: `python run.py --help`. The commands live in `ledger/cli/`."""

from __future__ import annotations

import sys

from ledger.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
