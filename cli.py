"""Runs the same entry point as the `cotexit` console script: `python cli.py bench ...`."""

import sys

from cotexit.cli.entry import main

if __name__ == "__main__":
    sys.exit(main())
