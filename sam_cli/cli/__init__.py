"""The `sam` command line: a thin Typer layer over the Python API and the writers.

Results go to stdout; progress, logs and errors to stderr. A SamError becomes one line on stderr and a
non-zero exit code, never a traceback. Commands register in the order `sam --help` lists them.
"""

from __future__ import annotations

import sys

from sam_cli.cli.common import app, err_console

# Each module registers its commands on import, in the order `sam --help` lists them.
from sam_cli.cli import tasks, batch, mic, models  # noqa: E402,F401  isort:skip
from sam_cli.train.command import register

register(app)

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console().print("sam: interrupted", markup=False)
        sys.exit(130)
