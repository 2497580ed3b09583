"""`sam describe|ask ... --server URL` (or $SAM_SERVER) without building the Typer app.

A warm server answers a 10-s clip in about 0.08 s on a 2-core CPU; building the app (Typer with its pydantic
coercion, rich, every command's module) took about 0.25 s there, three times the answer (BENCHMARKS.md). So `main`
first offers the arguments to `run`: it reads only the plain shapes of these two commands (their own options
below, files or '-', `--opt VALUE` or `--opt=VALUE`, each option once) and sends them through the same client
(`serve.client.remote_record`) to the same writers as `tasks.run_remote`. Anything it cannot vouch for
(help, another option, --output-dir, --mic, a value Typer might read differently or refuse, a file that is
not a readable regular file) returns None, and the full command line runs instead, with its own messages.
Errors after the request (the server's, an unreachable server) are printed by the full CLI's `fail`.
Standard library only here: no typer, rich, numpy or torch.
"""

from __future__ import annotations

import os
import re
import sys

# Options of `describe` and `ask` that take a value, by the parameter they set (tasks.describe / tasks.ask).
_VALUE_OPTIONS = {
    "--format": "fmt", "-f": "fmt", "--server": "server", "--max-tokens": "max_tokens",
    "--temperature": "temperature", "--top-k": "top_k", "--top-p": "top_p", "--seed": "seed",
}
_OWN = {"describe": {"--prompt": "prompt", "-p": "prompt"}, "ask": {"--choices": "choices", "-c": "choices"}}
_INT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"(0|[1-9][0-9]{0,17})(\.[0-9]{1,17})?")
# (pattern, type, lowest, highest): what Typer takes (common.py's MaxTokOpt, TempOpt, TopKOpt, TopPOpt, SeedOpt;
# a test holds these tables to the commands' own options and defaults)
_NUMBERS = {
    "max_tokens": (_INT, int, 1, None), "temperature": (_FLOAT, float, 0.0, None), "top_k": (_INT, int, 0, None),
    "top_p": (_FLOAT, float, 0.0, 1.0), "seed": (_INT, int, None, None),
}
_DEFAULTS = {"prompt": None, "choices": None, "fmt": "text", "server": None, "max_tokens": 96, "temperature": 0.0,
             "top_k": 0, "top_p": 1.0, "seed": None}


def parse(args: list[str]) -> tuple[str, dict, list[str]] | None:
    """(command, options, positional arguments) of a plain `describe`/`ask` call, else None."""
    if not args or args[0] not in _OWN:
        return None
    command, names = args[0], {**_VALUE_OPTIONS, **_OWN[args[0]]}
    given: dict = {}
    positional: list[str] = []
    rest = iter(args[1:])
    for token in rest:
        if token == "-" or not token.startswith("-"):
            positional.append(token)
            continue
        if token == "--json":
            key, value = "json", True
        else:
            name, eq, value = token.partition("=") if token.startswith("--") else (token, "", None)
            key = names.get(name)
            if key is None:
                return None  # --help, --output-dir, --mic, --stats, -fjson, `--` ...
            if not eq:
                value = next(rest, None)
            if value is None or value.startswith("-"):  # missing, or a value click might read as an option
                return None
        if key in given:
            return None
        given[key] = value
    for key, (pattern, kind, lo, hi) in _NUMBERS.items():
        if key in given:
            if not pattern.fullmatch(given[key]):
                return None
            x = kind(given[key])
            if (lo is not None and x < lo) or (hi is not None and x > hi):
                return None
            given[key] = x
    return command, {**_DEFAULTS, **given}, positional


def _inputs(positional: list[str]) -> bool:
    """Inputs the full path would send as they are: readable regular files, and stdin at most once."""
    if not positional or positional.count("-") > 1:
        return False
    return all(f == "-" or (os.path.isfile(f) and os.access(f, os.R_OK)) for f in positional)


def _format(fmt: str, json_flag: bool, timed: bool, clips: int) -> str | None:
    """cli.common.output_format's answer when it has no objection (None otherwise: it then says why)."""
    from sam_cli.writers import FORMATS, SUBTITLE_FORMATS

    fmt = "json" if json_flag else fmt.lower()
    if fmt not in FORMATS or (fmt in SUBTITLE_FORMATS and (not timed or clips > 1)):
        return None
    return fmt


def run(args: list[str]) -> int | None:
    """Run a plain `describe`/`ask` through the server -> the exit code; None: not one this module runs."""
    parsed = parse(args)
    if parsed is None:
        return None
    command, o, positional = parsed
    from sam_cli.errors import SamError
    from sam_cli.serve.client import server_url

    try:
        url = server_url(o["server"])
    except SamError:
        return None
    if url is None:
        return None
    if command == "ask":
        if len(positional) != 2 or not positional[1].strip():
            return None
        files, fields = positional[:1], {"question": positional[1], "choices": o["choices"]}
    else:
        files, fields = positional, {"prompt": o["prompt"]}
    fmt = _format(o["fmt"], "json" in o, timed=o["choices"] is None, clips=len(files))
    if fmt is None or not _inputs(files):
        return None
    fields.update((k, o[k]) for k in ("max_tokens", "temperature", "top_k", "top_p", "seed"))
    return _send(url, command, files, fields, fmt)


def _send(url: str, task: str, files: list[str], fields: dict, fmt: str) -> int:
    """As tasks.run_remote and common.run_per_clip: each file's record to stdout; with several files one that
    fails is reported in one line and the others go on (exit code 1)."""
    from sam_cli.errors import SamError
    from sam_cli.serve.client import remote_record
    from sam_cli.writers import get_writer

    writer = get_writer(fmt, sys.stdout, multi=len(files) > 1)
    failed = 0
    try:
        for f in files:
            try:
                record = remote_record(url, task, _read(f), f, fields)
            except SamError as e:
                if len(files) == 1:
                    return _fail(str(e), e.exit_code)
                failed += 1
                _say(str(e))
                continue
            writer.write(record)
        writer.close()
    except BrokenPipeError:  # `sam describe … | head`: end quietly, as handle_errors does
        sys.stderr.close()
        return 0
    except OSError as e:  # stdout cannot be written (/dev/full): as common.Sink
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        return _fail(f"stdout: cannot write ({e.strerror or e})", 1)
    return 1 if failed else 0


def _read(f: str) -> bytes:
    from pathlib import Path

    from sam_cli.errors import SamError

    try:
        return sys.stdin.buffer.read() if f == "-" else Path(f).read_bytes()
    except OSError as e:  # checked readable a moment ago: gone or changed since
        raise SamError(f"{f}: cannot read ({e.strerror or e})") from None


def _say(message: str) -> None:
    from sam_cli.cli.common import err_console
    from sam_cli.writers import printable

    err_console().print(f"sam: error: {printable(message)}", markup=False, style="red")


def _fail(message: str, code: int) -> int:
    from sam_cli.cli.common import fail

    return fail(message, code).exit_code
