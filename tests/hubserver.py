"""A fake Hugging Face Hub on 127.0.0.1, for tests that download models without the internet.

It answers the requests ``huggingface_hub`` makes for ``snapshot_download`` / ``hf_hub_download``:

- ``GET /api/models/{owner}/{name}[/revision/{rev}]``: model info (``sha``, ``siblings``);
- ``GET /api/models/{owner}/{name}/tree/{rev}[/{path}]?recursive=…``: the file listing, paginated with a
  ``Link: <…>; rel="next"`` header like the Hub;
- ``HEAD|GET /{owner}/{name}/resolve/{rev}/{path}``: small files directly (``ETag`` = git blob sha1,
  ``X-Repo-Commit``, ``Content-Length``); LFS files (weights) with a 302 to a second server standing in for
  the CDN, carrying ``X-Linked-Etag`` (sha256) and ``X-Linked-Size`` as the Hub does;
- errors as the Hub marks them: 404 + ``X-Error-Code: RepoNotFound`` / ``RevisionNotFound`` /
  ``EntryNotFound``, 401 + ``GatedRepo`` for a gated repo's files.

Every request (to either server) is logged, so a test can assert what was, or was not, asked.

Use the ``fake_hub`` fixture (import it into a test module), which also points ``HF_ENDPOINT`` and ``HF_HOME``
at the server and at a temporary folder, both in the environment and in ``huggingface_hub.constants`` (read
at import time), and clears ``HF_HUB_OFFLINE`` and any token.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".gguf", ".npz")


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str  # path and query, as sent
    server: str  # "hub" or "cdn"


@dataclass
class _File:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()

    @property
    def blob_id(self) -> str:
        # What git stores: the LFS pointer for LFS files, the content otherwise.
        return _git_blob_sha1(self.pointer if self.lfs else self.data)


@dataclass
class _Repo:
    commits: dict[str, dict[str, _File]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit
    gated: bool = False


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """Two HTTP servers (the Hub and its CDN) serving in-memory repos; see the module docstring."""

    def __init__(self, *, page_size: int = 1000, max_lifetime_s: float = 300.0) -> None:
        self.page_size = page_size
        self.max_lifetime_s = max_lifetime_s
        self._repos: dict[str, _Repo] = {}
        self._blobs: dict[str, bytes] = {}  # sha256 -> content, for the CDN
        self._log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self._timer: threading.Timer | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> FakeHub:
        self._hub = _make_server(self, "hub")
        self._cdn = _make_server(self, "cdn")
        self._servers = [self._hub, self._cdn]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        # A test that forgets to stop us must not leave servers behind for the rest of the session.
        self._timer = threading.Timer(self.max_lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        servers, self._servers = self._servers, []
        for server in servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_endpoint(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    # -- content --------------------------------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes | str | Path],
        *,
        branch: str = "main",
        tags: tuple[str, ...] = (),
        gated: bool = False,
    ) -> str:
        """Add a commit holding ``files`` (path in repo -> content) to ``repo_id``; return its commit hash.

        The commit becomes the head of ``branch`` and gets ``tags``. Calling it again for the same repo adds
        another commit (a new version of the model). Files with weight suffixes are served as LFS files.
        """
        stored: dict[str, _File] = {}
        for name, content in files.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            data = data.encode() if isinstance(data, str) else data
            stored[name] = _File(data, lfs=name.endswith(LFS_SUFFIXES))
        with self._lock:
            repo = self._repos.setdefault(repo_id, _Repo())
            repo.gated = repo.gated or gated
            seed = json.dumps([repo_id, len(repo.commits), sorted((n, f.blob_id) for n, f in stored.items())])
            commit = hashlib.sha1(seed.encode()).hexdigest()
            repo.commits[commit] = stored
            for ref in (branch, *tags):
                repo.refs[ref] = commit
            for f in stored.values():
                if f.lfs:
                    self._blobs[f.sha256] = f.data
        return commit

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of ``repo_id`` at a ref or commit, as served."""
        repo = self._repos[repo_id]
        commit = repo.refs.get(revision, revision)
        return {name: f.data for name, f in repo.commits[commit].items()}

    # -- request log ----------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(self, request: LoggedRequest) -> None:
        with self._lock:
            self._log.append(request)

    # -- lookups used by the handler ------------------------------------------------------------------------

    def _lookup(self, repo_id: str, revision: str) -> tuple[_Repo | None, str | None]:
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is None:
                return None, None
            if revision in repo.commits:
                return repo, revision
            return repo, repo.refs.get(revision)


def _make_server(hub: FakeHub, role: str) -> ThreadingHTTPServer:
    handler = type(f"{role.title()}Handler", (_Handler,), {"hub": hub, "role": role})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    role: str
    timeout = 10  # seconds a silent client may hold a handler thread

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    # -- routing --------------------------------------------------------------------------------------------

    def _dispatch(self, *, head: bool) -> None:
        self.hub._record(LoggedRequest(self.command, self.path, self.role))
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")  # still quoted: revisions may hold an encoded '/'
        query = parse_qs(url.query)
        if self.role == "cdn":
            if len(parts) == 2 and parts[0] == "lfs":
                return self._cdn_blob(parts[1], head)
            return self._send(404, b"Not Found", head=head)
        if parts == ["api", "agent-harnesses"]:  # huggingface_hub fetches this registry for its user agent
            return self._send_json({"standardEnvVars": [], "harnesses": {}}, head=head)
        if len(parts) >= 3 and parts[0] == "api" and parts[1] == "models":
            repo_id = "/".join(unquote(p) for p in parts[2:4])
            rest = parts[4:]
            if not rest:
                return self._model_info(repo_id, "main", head)
            if rest[0] == "revision" and len(rest) == 2:
                return self._model_info(repo_id, unquote(rest[1]), head)
            if rest[0] == "tree" and len(rest) >= 2:
                return self._tree(repo_id, unquote(rest[1]), unquote("/".join(rest[2:])), query, head)
        if len(parts) >= 5 and parts[2] == "resolve":
            repo_id = f"{unquote(parts[0])}/{unquote(parts[1])}"
            return self._resolve(repo_id, unquote(parts[3]), unquote("/".join(parts[4:])), head)
        if parts and parts[0] in ("api", "datasets", "spaces"):
            return self._error(404, "RepoNotFound", "Repository not found", head)
        return self._send(404, b"Not Found", head=head)

    # -- endpoints ------------------------------------------------------------------------------------------

    def _find(self, repo_id: str, revision: str, head: bool) -> tuple[_Repo, str] | None:
        repo, commit = self.hub._lookup(repo_id, revision)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found", head)
            return None
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
            return None
        return repo, commit

    def _model_info(self, repo_id: str, revision: str, head: bool) -> None:
        found = self._find(repo_id, revision, head)
        if found is None:
            return
        repo, commit = found
        body = {
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit,
            "private": False,
            "gated": "auto" if repo.gated else False,
            "disabled": False,
            "tags": [],
            "lastModified": "2025-01-01T00:00:00.000Z",
            "createdAt": "2025-01-01T00:00:00.000Z",
            "siblings": [{"rfilename": name} for name in sorted(repo.commits[commit])],
        }
        self._send_json(body, head=head)

    def _tree(self, repo_id: str, revision: str, prefix: str, query: dict[str, list[str]], head: bool) -> None:
        found = self._find(repo_id, revision, head)
        if found is None:
            return
        repo, commit = found
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        entries: list[dict[str, object]] = []
        folders: set[str] = set()
        base = prefix.strip("/") + "/" if prefix.strip("/") else ""
        for name, f in sorted(repo.commits[commit].items()):
            if not name.startswith(base):
                continue
            rel = name[len(base) :]
            if "/" in rel:
                folder = base + rel.split("/")[0]
                if folder not in folders:
                    folders.add(folder)
                    entries.append({"type": "directory", "oid": _git_blob_sha1(folder.encode()), "size": 0, "path": folder})
                if not recursive:
                    continue
            entry: dict[str, object] = {"type": "file", "oid": f.blob_id, "size": len(f.data), "path": name}
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": len(f.data), "pointerSize": len(f.pointer)}
            entries.append(entry)
        if base and not entries:
            return self._error(404, "EntryNotFound", f"{prefix} does not exist on {revision}", head)
        # Cursor pagination like the Hub's: the next page's full URL is in a Link header.
        start = int(query.get("cursor", ["0"])[0])
        page = entries[start : start + self.hub.page_size]
        headers = {}
        if start + self.hub.page_size < len(entries):
            next_query = f"recursive={str(recursive).lower()}&expand=false&cursor={start + self.hub.page_size}"
            path = urlsplit(self.path).path
            headers["Link"] = f'<{self.hub.endpoint}{path}?{next_query}>; rel="next"'
        self._send_json(page, head=head, headers=headers)

    def _resolve(self, repo_id: str, revision: str, filename: str, head: bool) -> None:
        found = self._find(repo_id, revision, head)
        if found is None:
            return
        repo, commit = found
        if repo.gated:
            return self._error(
                401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it.", head
            )
        f = repo.commits[commit].get(filename)
        if f is None:
            return self._error(
                404, "EntryNotFound", f"{filename} does not exist on {revision}", head, {"X-Repo-Commit": commit}
            )
        headers = {"X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
        if f.lfs:
            headers.update(
                {
                    "ETag": f'"{f.blob_id}"',
                    "X-Linked-Etag": f'"{f.sha256}"',
                    "X-Linked-Size": str(len(f.data)),
                    "Location": f"{self.hub.cdn_endpoint}/lfs/{f.sha256}?filename={quote(filename, safe='')}",
                }
            )
            return self._send(302, b"", head=head, headers=headers)
        headers["ETag"] = f'"{f.blob_id}"'
        self._send(200, f.data, head=head, headers=headers, content_type="application/octet-stream")

    def _cdn_blob(self, sha256: str, head: bool) -> None:
        data = self.hub._blobs.get(sha256)
        if data is None:
            return self._send(404, b"NoSuchKey", head=head)
        start = 0
        range_header = self.headers.get("Range", "")
        if range_header.startswith("bytes=") and range_header.endswith("-"):  # resumed download
            start = int(range_header[len("bytes=") : -1])
        headers = {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes"}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            return self._send(206, data[start:], head=head, headers=headers, content_type="application/octet-stream")
        self._send(200, data, head=head, headers=headers, content_type="application/octet-stream")

    # -- responses ------------------------------------------------------------------------------------------

    def _error(
        self, status: int, code: str, message: str, head: bool, extra: dict[str, str] | None = None
    ) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message, **(extra or {})}
        self._send(status, json.dumps({"error": message}).encode(), head=head, headers=headers)

    def _send_json(self, body: object, *, head: bool, headers: dict[str, str] | None = None) -> None:
        self._send(200, json.dumps(body).encode(), head=head, headers=headers, content_type="application/json")

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        head: bool,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)


# ---------------------------------------------------------------------------------------------------------------
# Content helpers


def safetensors_bytes(n_floats: int = 256) -> bytes:
    """A valid little safetensors file: one F32 tensor ``weight`` of ``n_floats`` values 0, 1, 2, …"""
    data = struct.pack(f"<{n_floats}f", *range(n_floats))
    header = json.dumps({"weight": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)  # the format pads the header to 8 bytes
    return len(header).to_bytes(8, "little") + header + data


def sam_checkpoint_files(
    *, model_type: str | None = "sam", n_floats: int = 256, extra: Mapping[str, bytes | str] | None = None
) -> dict[str, bytes | str]:
    """The files of a minimal Hub repo shaped like a SAM checkpoint (``model_type=None`` drops the key)."""
    config: dict[str, object] = {"d_model": 64, "n_layer": 2}
    if model_type is not None:
        config = {"model_type": model_type, **config}
    files: dict[str, bytes | str] = {
        "config.json": json.dumps(config, indent=2),
        "model.safetensors": safetensors_bytes(n_floats),
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {}, "merges": []}}),
        "README.md": "# test model\n",
    }
    files.update(extra or {})
    return files


# ---------------------------------------------------------------------------------------------------------------
# Fixture


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A running FakeHub, with HF_ENDPOINT at it and HF_HOME at ``tmp_path / "hf_home"`` (env and constants)."""
    from huggingface_hub import constants

    hub = FakeHub().start()
    hf_home = tmp_path / "hf_home"
    cache = hf_home / "hub"
    env = {
        "HF_ENDPOINT": hub.endpoint,
        "HF_HOME": str(hf_home),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "SAM_MODEL"):
        monkeypatch.delenv(key, raising=False)
    # huggingface_hub read these at import; the library looks them up as module attributes at call time.
    patched = {
        "ENDPOINT": hub.endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(cache),
        "HUGGINGFACE_HUB_CACHE": str(cache),
        "HF_ASSETS_CACHE": str(hf_home / "assets"),
        "HF_XET_CACHE": str(hf_home / "xet"),
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": True,
    }
    # Any other path under the old HF_HOME (update-check stamps, registries, ...) moves to the new one too.
    old_home = str(constants.HF_HOME)
    for name, value in vars(constants).items():
        if name not in patched and isinstance(value, str) and value.startswith(old_home + os.sep):
            patched[name] = str(hf_home) + value[len(old_home) :]
    for name, value in patched.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)
    try:
        yield hub
    finally:
        hub.stop()
