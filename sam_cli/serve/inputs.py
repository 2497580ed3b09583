"""What a request sends, read and checked: bodies under the size limit (413), forms with an upload or a path under
--allow-paths, form fields, and audio decoded into windows off the event loop."""

from __future__ import annotations

import asyncio
import os
import tempfile
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

from concurrent.futures import ThreadPoolExecutor

from fastapi import Request

from sam_cli.accel.threads import set_torch_threads
from sam_cli.errors import SamError
from sam_cli.serve import protocol as P

# Audio is decoded off the event loop on these threads, each with one torch thread (accel/threads.py says why).
_WORKERS = ThreadPoolExecutor(thread_name_prefix="sam-audio", initializer=set_torch_threads, initargs=(1,))


async def in_worker(fn):
    """fn() on an audio worker thread."""
    return await asyncio.get_running_loop().run_in_executor(_WORKERS, fn)


def usage_error(fn):
    """fn(), with a UsageError (over a limit, say) as a 400."""
    try:
        return fn()
    except SamError as e:
        raise P.ApiError(400, str(e)) from None


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or a 413 as soon as it is known to pass `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise P.ApiError(413, f"the request body is {int(declared):,} bytes; the most is {limit:,} "
                         "(sam serve --max-upload-mb)", code="request_too_large")
    chunks, size = [], 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            raise P.ApiError(413, f"the request body is over {limit:,} bytes (sam serve --max-upload-mb)",
                             code="request_too_large")
        chunks.append(piece)
    return b"".join(chunks)


async def task_input(request: Request, max_upload: int, allow_paths: list[Path]) -> tuple[Any, Path, str, Any]:
    """(form, audio path, name for the record, cleanup) of a task request: a multipart upload in field 'file',
    or a server-side 'path' under --allow-paths."""
    body = await read_body(request, max_upload)
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await request.receive()

    kind = request.headers.get("content-type", "")
    if not kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise P.ApiError(400, "send a multipart form: the audio in field 'file' (or a server-side 'path')")
    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=32)
    except Exception as e:  # noqa: BLE001  a malformed form is the client's error
        detail = getattr(e, "detail", None) or str(e)
        raise P.ApiError(400, f"malformed form: {detail}") from None
    upload, given = form.get("file"), text_field(form, "path")
    if upload is not None and not isinstance(upload, str):
        data = await upload.read()
        await upload.close()  # the form is this function's own: nothing else closes its spooled file
        name = upload.filename or "upload"
        tmp = write_temp(data, Path(name).suffix)
        return form, tmp, name, lambda: unlink(tmp)
    if given is None:
        raise P.ApiError(400, "no audio: upload it in field 'file' (or give 'path' under --allow-paths)", "file")
    return form, allowed_path(given, allow_paths), given, lambda: None


@asynccontextmanager
async def task_audio(request: Request, max_upload: int,
                     allow_paths: list[Path]) -> AsyncIterator[tuple[Any, Path, str]]:
    """`task_input` for one task endpoint: (form, audio path, name); an ApiError inside names the audio, and the
    uploaded copy is removed on the way out."""
    form, path, name, cleanup = await task_input(request, max_upload, allow_paths)
    try:
        yield form, path, name
    except P.ApiError as e:
        raise e.naming(path, name) from None
    finally:
        cleanup()


def allowed_path(given: str, allow_paths: list[Path]) -> Path:
    if not allow_paths:
        raise P.ApiError(403, "this server reads no files of its own (start it with --allow-paths DIR)", "path",
                         kind="permission_error")
    try:
        path = Path(given).resolve(strict=True)
    except (OSError, RuntimeError):
        raise P.ApiError(400, f"{given}: no such file", "path") from None
    if not any(path.is_relative_to(root) for root in allow_paths) or not path.is_file():
        raise P.ApiError(403, f"{given}: not a file under --allow-paths", "path", kind="permission_error")
    return path


def text_field(form: Any, key: str) -> str | None:
    value = form.get(key)
    if value is not None and not isinstance(value, str):
        raise P.ApiError(400, f"'{key}' must be a text field", key)
    return value


def _number_field(form: Any, key: str, default, lo, hi, parse, what: str):
    value = text_field(form, key)
    if value is None or value == "":
        return default
    try:
        x = parse(value)
    except ValueError:
        raise P.ApiError(400, f"'{key}' must be {what}", key) from None
    if not lo <= x <= hi:  # also refuses nan
        shown = (f"{lo:g}", f"{hi:g}") if parse is float else (lo, hi)
        raise P.ApiError(400, f"'{key}' must be between {shown[0]} and {shown[1]}", key)
    return x


def int_field(form: Any, key: str, default: int, lo: int, hi: int = 1_000_000) -> int:
    return _number_field(form, key, default, lo, hi, int, "a whole number")


def float_field(form: Any, key: str, default: float, lo: float, hi: float) -> float:
    return _number_field(form, key, default, lo, hi, float, "a number")


def write_temp(data: bytes, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="sam-serve-", suffix=suffix[:16])
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


def unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


@contextmanager
def temp_audio(data: bytes, suffix: str) -> Iterator[Path]:
    path = write_temp(data, suffix)
    try:
        yield path
    finally:
        unlink(path)


async def prepare(model: Any, path: Path, question: str) -> tuple[list, list[int]]:
    """The clip's windows (decoded on a worker thread) and the prompt's ids; bad audio or prompt: a 400."""
    from sam_cli.tasks import prompt_ids, windows

    ids = usage_error(lambda: prompt_ids(model, question))
    try:
        wins = await in_worker(lambda: list(windows(model, path)))
    except SamError as e:
        raise P.ApiError(400, str(e), code="invalid_audio") from None
    if not wins:
        raise P.ApiError(400, "the audio is empty", code="invalid_audio")
    return wins, ids
