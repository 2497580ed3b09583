"""The `sam` command line: a thin Typer layer over the Python API and the writers.

Results go to stdout; progress, logs and errors to stderr. A SamError becomes one line on stderr and a
non-zero exit code, never a traceback. Commands register in the order `sam --help` lists them.
"""

from __future__ import annotations

import os
import sys

__all__ = ["app", "main"]
_app = None


def _build():
    """The Typer app with every command, built on first use: `sam describe --server` runs without it
    (cli/quick_remote.py), since building it costs more than a warm server's answer."""
    global _app
    if _app is None:
        from sam_cli.cli.common import app

        # Each module registers its commands on import, in the order `sam --help` lists them.
        from sam_cli.cli import tasks, batch, mic, models, serve  # noqa: F401  isort:skip
        from sam_cli.cli import eval as _eval  # noqa: F401  isort:skip
        from sam_cli.train.command import register

        register(app)
        from sam_cli.cli import analyze  # noqa: F401  isort:skip

        _app = app
    return _app


def __getattr__(name: str):
    if name == "app":
        return _build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Commands that load numpy through torch: numpy is imported first, while Ctrl-C still exits at once (see main).
_NUMPY_FIRST = {"describe", "ask", "classify", "batch", "eval", "listen", "record", "train", "serve", "analyze"}
_command_codes: set = set()  # the code objects of the commands' callbacks
_interrupted = False


def _exit_interrupted(code: int = 130, say: bool = True, cleanup: bool = False) -> None:
    """Flush what was printed, say so (one line), and leave without the interpreter's teardown: a torch that
    was interrupted half-way through its import, or a model thread still running, can abort there (SIGABRT).
    cleanup: run the atexit functions first (multiprocessing's: worker processes, their semaphores)."""
    if cleanup:
        import atexit

        try:
            atexit._run_exitfuncs()
        except BaseException:  # noqa: BLE001  a second Ctrl-C, say: leave all the same
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001  a closed pipe, a reentrant flush: nothing more to save
            pass
    if say:
        try:
            os.write(2, b"sam: error: interrupted\n")
        except OSError:
            pass
    os._exit(code)


def _on_sigint(_signum, frame) -> None:
    """Ctrl-C. Inside a command's own code: KeyboardInterrupt, which the command turns into its own ending
    (batch stops its workers, listen says "stopped", train says how to resume, the rest exit 130). Anywhere
    else (option parsing, an import in progress, even inside a command), or a second Ctrl-C: exit 130 at
    once."""
    global _interrupted
    if not _interrupted:
        in_command = False
        while frame is not None:
            if frame.f_code.co_filename.startswith("<frozen importlib"):
                # A command importing torch (or any extension) on first use: a KeyboardInterrupt raised
                # inside an import that C++ code drives can end in std::terminate, i.e. SIGABRT.
                _exit_interrupted(cleanup=True)
            in_command = in_command or frame.f_code in _command_codes
            frame = frame.f_back
        if in_command:
            _interrupted = True
            raise KeyboardInterrupt
    _exit_interrupted()


def _finished(code: int) -> None:
    """The command is over and its result written: a Ctrl-C from here on must not turn it into exit 130, nor
    land in the interpreter's teardown, where Python has put SIGINT back to its default (killed by SIGINT)
    and torch's teardown may abort. Until the exit functions run, Ctrl-C leaves at once with the command's
    own code; from then on (atexit runs last-registered first) it is ignored."""
    import atexit
    import signal

    if _is_main_thread() and signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, None):
        signal.signal(signal.SIGINT, lambda *_: _exit_interrupted(code, say=False, cleanup=True))
        atexit.register(signal.signal, signal.SIGINT, signal.SIG_IGN)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _callbacks(typer_app) -> list:
    found = [c.callback for c in typer_app.registered_commands]
    for group in typer_app.registered_groups:
        found += _callbacks(group.typer_instance)
    return found


def main() -> None:
    """The `sam` command (sam_cli.__main__ runs it with Ctrl-C already handled during start-up)."""
    import signal

    from sam_cli.cli.quick_remote import run

    try:
        code = run(sys.argv[1:])  # a plain `describe`/`ask` through a server: no app to build
    except KeyboardInterrupt:
        _exit_interrupted()
    if code is not None:
        _finished(code)
        raise SystemExit(code)
    app = _build()
    if _is_main_thread() and signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, None):
        _command_codes.update(c.__code__ for c in _callbacks(app) if hasattr(c, "__code__"))
        signal.signal(signal.SIGINT, _on_sigint)
    remote = os.environ.get("SAM_SERVER") or any(a == "--server" or a.startswith("--server=") for a in sys.argv)
    if _NUMPY_FIRST & set(sys.argv[1:]) and not remote:  # a client of `sam serve` loads no torch
        # torch imports numpy from C++ and clears any error it raises: a Ctrl-C that lands there is lost
        # (and torch goes on without numpy). Imported here first, under the exit-at-once handler.
        import numpy  # noqa: F401
    code = 0
    try:
        app()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not _interrupted:
            _finished(code)
            raise
    except KeyboardInterrupt:
        _exit_interrupted()
    if _interrupted:
        _exit_interrupted(code, say=False, cleanup=True)  # the command already said how it ended
