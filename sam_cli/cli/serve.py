"""`sam serve`: load the model once, warm it up, then answer HTTP requests until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from typing import Annotated, Optional

import typer

from sam_cli.cli.common import DeviceOpt, DtypeOpt, ModelOpt, _apply, app, err_console, handle_errors, load, model_name
from sam_cli.errors import UsageError


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is one line, and port 0 picks a free one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UsageError(f"--host {host}: {e.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _warm_up(engine, model) -> None:
    """One short request through the whole path, so the first client does not pay for first-call set-up."""
    import threading

    import torch

    from sam_cli.audio import AudioWindow
    from sam_cli.decoding.options import DecodeOptions
    from sam_cli.serve.engine import GenJob
    from sam_cli.tasks import prompt_ids

    done = threading.Event()
    failed: list = []

    def sink(event: tuple) -> None:
        if event[0] == "error":
            failed.append(event[1])
        if event[0] in ("done", "error"):
            done.set()

    window = AudioWindow(0, 0.0, 1.0, torch.zeros(16000))
    opts = DecodeOptions(max_new_tokens=4, silence_db=None)  # the model must run: the window is silent
    engine.submit(GenJob([window], prompt_ids(model, model.cfg.describe_prompt), opts, sink))
    done.wait()
    if failed:
        raise failed[0]


@app.command()
@handle_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port, "
                                      "said on stderr).")] = 8177,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Most audio windows decoding together.")]
    = 32,
    max_admit: Annotated[int, typer.Option("--max-admit", min=1, help="Most audio windows joining the batch "
                                           "at one step (encoded while the running rows wait).")] = 8,
    max_queue: Annotated[int, typer.Option("--max-queue", min=1, help="Most requests waiting for room in the "
                                           "batch; more get 503 with Retry-After.")] = 256,
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="SAM_API_KEY", help="Require "
                                                   "'Authorization: Bearer KEY' (default: $SAM_API_KEY; none: "
                                                   "no check).", show_default=False)] = None,
    allow_paths: Annotated[Optional[list[Path]], typer.Option("--allow-paths", help="Let the task endpoints "
                                                              "read files under this folder of the server's "
                                                              "own disk (repeatable).", show_default=False)]
    = None,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", min=0.001, help="Largest request body, in "
                                                 "MiB; larger get 413.")] = 64.0,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds one request may take; longer "
                                           "get 504.")] = 600.0,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Serve the model over HTTP: OpenAI-compatible /v1/chat/completions, and /v1/describe, /v1/ask,
    /v1/classify returning the records of --json."""
    s = _apply(ctx, model, device, dtype)
    roots = []
    for folder in allow_paths or []:
        if not folder.is_dir():
            raise UsageError(f"--allow-paths {folder}: no such folder")
        roots.append(folder.resolve())
    sock = _listen(host, port)
    try:
        import uvicorn

        from sam_cli.serve.app import ServeConfig, create_app
        from sam_cli.serve.engine import Engine
    except ImportError as e:
        raise UsageError(f"sam serve needs the server packages ({e.name} is missing): "
                         "pip install 'sam-cli[serve]'") from None
    import torch

    from sam_cli.accel.threads import set_torch_threads

    threads = torch.get_num_threads()
    set_torch_threads(1)  # only the model thread has torch's CPU threads (accel/threads.py says why)
    model_, _ = load(s)
    engine = Engine(model_, max_batch=max_batch, max_queue=max_queue, max_admit=max_admit, threads=threads)
    engine.start()
    _warm_up(engine, model_)
    cfg = ServeConfig(model_name=model_name(s), api_key=api_key or None, allow_paths=roots,
                      max_upload=int(max_upload_mb * (1 << 20)), timeout=timeout, state_dtype=s.state_dtype)
    config = uvicorn.Config(create_app(engine, cfg), log_level="info" if s.verbose else "warning",
                            access_log=s.verbose, timeout_graceful_shutdown=timeout)
    server = uvicorn.Server(config)
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if sock.family == socket.AF_INET6 else bound[0]
    err_console().print(f"sam: serving {cfg.model_name} on http://{shown}:{bound[1]} (Ctrl-C or SIGTERM to stop)",
                        markup=False)
    # uvicorn stops on SIGINT / SIGTERM (requests in flight finish) and then raises the signal again for the
    # handlers it found: ignore that second one, so the command ends with its own line and exit 0.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.stop()
        sock.close()
    s.log("sam: server stopped")
