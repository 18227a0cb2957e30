"""The `cotexit` console script: Ctrl-C handled from the first moment, before the heavy imports.

`cotexit.cli.main` imports torch, transformers and every subcommand, which
takes seconds; a Ctrl-C then would end in a raw traceback. This module
installs the SIGINT handler (`cotexit.cli.interrupt`) first and imports the
command line inside a guard.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from cotexit.cli import interrupt


def main(argv: Sequence[str] | None = None) -> int:
    interrupt.install()
    try:
        from cotexit.cli.main import main as run
    except BaseException:
        if not interrupt.pressed():
            raise
        sys.stderr.write("interrupted while starting: nothing was run or written\n")
        sys.stderr.flush()
        # half-imported extension modules (torch's threads, say) can crash the interpreter's shutdown and turn
        # exit 130 into an abort; nothing was opened or written, so leave without running finalizers
        os._exit(130)
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
