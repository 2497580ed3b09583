"""The command line's side of a running `sam serve` (`--server URL` / $SAM_SERVER): one clip to a task
endpoint, its record back. Standard library only, so the CLI needs no server packages to be a client."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from sam_cli.errors import SamError, UsageError

SERVER_ENV = "SAM_SERVER"
API_KEY_ENV = "SAM_API_KEY"


def server_url(given: str | None) -> str | None:
    """--server, else $SAM_SERVER, else None (run the model here)."""
    url = (given or os.environ.get(SERVER_ENV, "")).strip().rstrip("/")
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--server {url}: give a URL such as http://127.0.0.1:8177")
    return url


def _multipart(fields: dict[str, str], audio: bytes, filename: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    safe = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + audio + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def remote_record(url: str, task: str, audio: bytes, name: str, fields: dict, timeout: float = 3600) -> dict:
    """POST one clip to URL/v1/TASK with `fields` (None values left out) -> the record, its "file" set to
    `name` as the command line names it. Errors: one line (the server's message, or why it was not reached)."""
    import urllib.error
    import urllib.request

    form = {k: str(v) for k, v in fields.items() if v is not None}
    body, kind = _multipart(form, audio, Path(name).name or "audio")  # the server sees no folder names
    headers = {"Content-Type": kind}
    key = os.environ.get(API_KEY_ENV)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(f"{url}/v1/{task}", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            record = json.loads(response.read())
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = e.reason
        base = Path(name).name or "audio"
        if e.code == 400 and message.startswith(base + ":"):  # the server names the upload: name it as given
            raise SamError(name + message[len(base):]) from None
        raise SamError(f"{name}: the server answered {e.code}: {message}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise SamError(f"cannot reach the server at {url} ({reason})") from None
    except ValueError:
        raise SamError(f"{url}: the answer is not JSON (is it a sam server?)") from None
    record["file"] = name
    return record
