"""Ctrl-C on the command line: never a traceback, never swallowed, and a word on what was kept.

Owns `install` (the SIGINT handler), `check` (raise if Ctrl-C was pressed
and its exception got lost), `Interrupted` and `interrupt_note`.

Python raises `KeyboardInterrupt` wherever the main thread happens to be. When
that is inside a `__del__` or a callback, the interpreter prints "Exception
ignored in ..." and carries on: the run goes on as if Ctrl-C had not been
pressed. The handler installed here also sets a flag, and long loops call
`check()` between steps, so a lost interrupt is raised again at the next one (and
the interpreter's "Exception ignored ... Traceback" for it is not printed).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_pressed = False


def _handler(signum, frame) -> None:  # noqa: ARG001 (signal handler signature)
    global _pressed
    _pressed = True
    raise KeyboardInterrupt


def install() -> None:
    """Route SIGINT through `_handler` (main thread only, as `signal` requires), and keep the interpreter from
    printing "Exception ignored in ... Traceback" for an interrupt it swallowed: `check` raises that one again."""
    global _pressed
    _pressed = False
    signal.signal(signal.SIGINT, _handler)
    sys.unraisablehook = _unraisable


def _unraisable(unraisable) -> None:
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        return  # swallowed in a __del__ or callback; `_pressed` is set and `check` raises it again
    sys.__unraisablehook__(unraisable)


def pressed() -> bool:
    """Whether Ctrl-C was pressed since `install`: an error raised while it propagated (a C extension's import
    fails with `ImportError: initialization failed`, for one) is the interrupt, not a bug."""
    return _pressed


def check() -> None:
    """Raise `KeyboardInterrupt` if Ctrl-C was pressed since `install` (its first exception may have been lost)."""
    if _pressed:
        raise KeyboardInterrupt


class Interrupted(KeyboardInterrupt):
    """A `KeyboardInterrupt` that knows what to tell the user (`str(exc)`)."""


@contextmanager
def interrupt_note(out_dir: str | Path, kept: Callable[[], int]) -> Iterator[None]:
    """Turn Ctrl-C inside the block into `Interrupted` saying how many results `out_dir` keeps and how to resume."""
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: {kept()} finished result(s) are kept in {out_dir}; run the same command again to resume "
            "from there"
        ) from None
