"""`python -m sam_cli` and the `sam` script: Ctrl-C is handled from the first instruction on.

Python's own SIGINT handler raises KeyboardInterrupt wherever the interpreter happens to be. During start-up
that is inside an import (typer, numpy, torch), which gave tracebacks, a Ctrl-C swallowed by torch while it
imports numpy (torch then runs without numpy, and fails later) and, once, SIGABRT as a half-imported torch
was torn down. So until a command's own code runs, Ctrl-C ends the process at once with the one-line
"interrupted" and exit code 130; sam_cli.cli.main takes over from there (docs: README "Limits and failure
behaviour"). Nothing here may import more than the standard library.
"""

import os
import signal
import sys

INTERRUPTED = b"sam: error: interrupted\n"
EXIT_INTERRUPTED = 130


def exit_interrupted(*_args) -> None:
    """SIGINT while nothing needs cleaning up: whatever was printed goes out, then exit 130 at once."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001  a closed pipe, a reentrant flush: nothing more to save
            pass
    try:
        os.write(2, INTERRUPTED)
    except OSError:
        pass
    os._exit(EXIT_INTERRUPTED)


def main() -> None:
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when SIGINT is ignored (nohup, &)
        signal.signal(signal.SIGINT, exit_interrupted)
    from sam_cli.cli import main as cli_main

    cli_main()


# Guarded: processes started with "spawn" (DataLoader workers on macOS, say) import this module again.
if __name__ == "__main__":
    main()
