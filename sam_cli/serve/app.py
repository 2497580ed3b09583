"""The HTTP side of `sam serve`: a FastAPI app whose handlers check requests, read audio and wait on the engine.

Handlers never run the model: audio is decoded into windows on a worker thread, then the job goes to the
engine's queue (full: 503 with Retry-After) and the handler awaits its events. A client that goes away,
or a request past --timeout, has its rows dropped at the next step boundary.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sam_cli.decoding.options import DecodeOptions
from sam_cli.serve import protocol as P
from sam_cli.serve.answers import Answer
from sam_cli.serve.engine import Engine
from sam_cli.serve.inputs import (float_field, in_worker, int_field, prepare, read_body, task_audio, temp_audio,
                                  text_field, usage_error)
from sam_cli.serve.metrics import Metrics
from sam_cli.serve.score_jobs import HeadJob, ScoreJob
from sam_cli.serve.waiting import collect, log, result_of, stream_events, submit

ROUTES = ("/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/describe", "/v1/ask", "/v1/classify")


@dataclass
class ServeConfig:
    model_name: str
    api_key: str | None = None
    allow_paths: list[Path] = field(default_factory=list)
    max_upload: int = 64 << 20  # bytes of one request body
    timeout: float = 600.0  # seconds one request may take
    state_dtype: str | None = None


def create_app(engine: Engine, cfg: ServeConfig) -> FastAPI:
    app = FastAPI(title="sam serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine, app.state.cfg, app.state.metrics = engine, cfg, Metrics()
    metrics: Metrics = app.state.metrics
    model = engine.model
    app.add_middleware(Gate, cfg=cfg, metrics=metrics)

    @app.exception_handler(P.ApiError)
    async def api_error(_request: Request, e: P.ApiError):
        return _error(e)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, e: StarletteHTTPException):
        kind = "not_found_error" if e.status_code == 404 else "invalid_request_error"
        return _error(P.ApiError(e.status_code, str(e.detail), kind=kind))

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, e: Exception):
        log(f"sam: error: internal: {type(e).__name__}: {e}")
        return _error(P.ApiError(500, f"internal error: {type(e).__name__}", kind="server_error"))

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": cfg.model_name, "queue": engine.queued, "batch": engine.batch_size}

    @app.get("/metrics")
    async def get_metrics():
        return PlainTextResponse(metrics.render(engine), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": cfg.model_name, "object": "model", "created": 0,
                                            "owned_by": "sam"}]}

    # --- chat completions ----------------------------------------------------------------------------------
    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        req = P.parse_chat(P.parse_json(await read_body(request, cfg.max_upload)))
        question = req.question or model.cfg.describe_prompt
        opts = _options(cfg, req.max_tokens, req.temperature, req.top_k, req.top_p, req.seed)
        with temp_audio(req.audio, "." + req.audio_format) as path:
            try:
                windows, ids = await prepare(model, path, question)
            except P.ApiError as e:
                raise e.naming(path, "input_audio") from None
        answer = Answer(len(windows), req.stop)
        job, events = submit(engine, metrics, windows, ids, opts)
        cid = P.new_id()
        if not req.stream:
            await collect(engine, request, job, events, answer, cfg.timeout)
            return P.completion(cid, cfg.model_name, answer.text(), answer.finish_reason,
                                P.usage(answer.prompt_tokens, answer.completion_tokens))
        return StreamingResponse(stream_events(engine, metrics, job, events, answer, cid, cfg.model_name, cfg.timeout,
                                               req.include_usage),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    # --- task endpoints: the records of `sam describe --json` ----------------------------------------------
    @app.post("/v1/describe")
    async def describe(request: Request):
        async with task_audio(request, cfg.max_upload, cfg.allow_paths) as (form, path, name):
            prompt = text_field(form, "prompt") or model.cfg.describe_prompt
            return await _generate_record(engine, metrics, request, cfg, form, path, name, "describe", prompt)

    @app.post("/v1/ask")
    async def ask(request: Request):
        async with task_audio(request, cfg.max_upload, cfg.allow_paths) as (form, path, name):
            question = text_field(form, "question")
            if not question or not question.strip():
                raise P.ApiError(400, "give a question (form field 'question')", "question")
            choices = text_field(form, "choices")
            if choices is None:
                return await _generate_record(engine, metrics, request, cfg, form, path, name, "ask", question)
            from sam_cli.tasks import check_choices, check_prompt_length, choice_list
            from sam_cli.writers import choices_record

            usage_error(lambda: check_prompt_length(question))
            options = usage_error(lambda: check_choices(choices.split(","), "choices"))
            if len(options) < 2:
                raise P.ApiError(400, "'choices' needs at least two comma-separated choices", "choices")
            usage_error(lambda: choice_list(options, "choices"))
            windows, ids = await prepare(model, path, question)
            ranked = await result_of(engine, metrics, request, cfg.timeout,
                                     lambda sink: ScoreJob(model, windows, ids, options, False, sink))
            return choices_record(name, question, ranked, cfg.model_name)

    @app.post("/v1/classify")
    async def classify(request: Request):
        async with task_audio(request, cfg.max_upload, cfg.allow_paths) as (form, path, name):
            from sam_cli.models.tokenizer import CLASSIFY_PROMPT
            from sam_cli.tasks import check_choices, prompt_ids, written_tags
            from sam_cli.writers import labels_record

            labels, prompt = text_field(form, "labels"), text_field(form, "prompt")
            top = int_field(form, "top", 5, 1)
            # One a line (what `sam classify --server` sends: a label from a file may hold a comma), else commas.
            split = labels.splitlines() if labels is not None and "\n" in labels else (labels or "").split(",")
            label_list = usage_error(lambda: check_choices(split, "labels")) if labels is not None else None
            if label_list is not None and not label_list:
                raise P.ApiError(400, "'labels' is empty", "labels")
            if prompt is not None:
                usage_error(lambda: prompt_ids(model, prompt, "the prompt"))
            opts = _options(cfg, 96, 0.0, 0, 1.0, None)
            if label_list is None and model.has_audio_head:  # the encoder's head: windows encoded in the batch
                windows, _ = await prepare(model, path, prompt or CLASSIFY_PROMPT)
                tags = await result_of(engine, metrics, request, cfg.timeout,
                                       lambda sink: HeadJob(model, windows, top, sink))
            elif label_list is None:  # the tags the model writes: its answers decode in the batch
                windows, ids = await prepare(model, path, prompt or CLASSIFY_PROMPT)
                answer = Answer(len(windows))
                job, events = submit(engine, metrics, windows, ids, opts)
                await collect(engine, request, job, events, answer, cfg.timeout)
                tags = written_tags([r.text for r in answer.results], top)
            else:
                windows, ids = await prepare(model, path, prompt or CLASSIFY_PROMPT)
                tags = await result_of(engine, metrics, request, cfg.timeout,
                                       lambda sink: ScoreJob(model, windows, ids, label_list, True, sink, top, opts))
            return labels_record(name, tags, cfg.model_name)

    return app


class Gate:
    """The API key check and the request counts, as plain ASGI (a BaseHTTPMiddleware would hide a client's
    disconnect from the handlers, which must notice it to free the rows)."""

    def __init__(self, app: Any, cfg: ServeConfig, metrics: Metrics):
        self.app, self.cfg, self.metrics = app, cfg, metrics
        self.expected = f"Bearer {cfg.api_key}".encode() if cfg.api_key else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"] if scope["path"] in ROUTES else "other"
        if self.expected is not None and route != "/health":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                self.metrics.record(route, 401)
                error = P.ApiError(401, "missing or wrong API key (send 'Authorization: Bearer KEY')",
                                   code="invalid_api_key", kind="authentication_error")
                return await _error(error)(scope, receive, send)
        t0, seen = time.monotonic(), {}

        async def watch(message: dict) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                seen["stream"] = dict(message.get("headers", [])).get(b"content-type", b"").startswith(
                    b"text/event-stream")
            await send(message)

        await self.app(scope, receive, watch)
        if "status" in seen and not seen["stream"]:  # a stream counts itself when it ends
            timed = route.startswith("/v1/") and route != "/v1/models"
            self.metrics.record(route, seen["status"], time.monotonic() - t0 if timed else None)


def _error(e: P.ApiError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status, headers=e.headers)


def _options(cfg: ServeConfig, max_tokens: int, temperature: float, top_k: int, top_p: float,
             seed: int | None) -> DecodeOptions:
    state = {"state_dtype": cfg.state_dtype} if cfg.state_dtype else {}
    return DecodeOptions(max_new_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                         **state)


async def _generate_record(engine: Engine, metrics: Metrics, request: Request, cfg: ServeConfig, form: Any,
                           path: Path, name: str, task: str, prompt: str) -> dict:
    from sam_cli import audio as A
    from sam_cli.tasks import Segment
    from sam_cli.writers import caption_record

    opts = _options(cfg, int_field(form, "max_tokens", 96, 1, 4096), float_field(form, "temperature", 0.0, 0, 100),
                    int_field(form, "top_k", 0, 0), float_field(form, "top_p", 1.0, 0, 1),
                    int_field(form, "seed", None, -(2**63), 2**63 - 1))
    windows, ids = await prepare(engine.model, path, prompt)
    duration = await in_worker(lambda: A.audio_info(path)[0])
    answer = Answer(len(windows))
    job, events = submit(engine, metrics, windows, ids, opts)
    await collect(engine, request, job, events, answer, cfg.timeout)
    segments = [Segment(w.start, w.end, r.text) for w, r in zip(windows, answer.results)]
    return caption_record(name, segments, task=task, prompt=prompt, model=cfg.model_name, duration=duration)


