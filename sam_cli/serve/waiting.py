"""Waiting on the engine from the event loop: submit a job (queue full: 503), take its events, notice a client
that went away or a request past --timeout (cancel the job: its rows leave the batch), and stream."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Callable

from fastapi import Request

from sam_cli.decoding.options import DecodeOptions
from sam_cli.errors import SamError
from sam_cli.serve import protocol as P
from sam_cli.serve.answers import Answer
from sam_cli.serve.engine import Engine, GenJob, Job, QueueFull, Stopping
from sam_cli.serve.metrics import Metrics

POLL_S = 0.25  # how often a waiting handler checks that its client is still there


class ClientGone(Exception):
    pass


def log(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def sink_for(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue):
    return lambda event: loop.call_soon_threadsafe(queue.put_nowait, event)


def enqueue(engine: Engine, metrics: Metrics, job: Job) -> None:
    try:
        engine.submit(job)
    except QueueFull:
        metrics.rejected += 1
        raise P.ApiError(503, f"the server is busy ({engine.max_queue} requests waiting); retry shortly",
                         code="server_busy", kind="server_error", headers={"Retry-After": "1"}) from None
    except Stopping:
        raise P.ApiError(503, "the server is shutting down", code="shutting_down", kind="server_error",
                         headers={"Retry-After": "5"}) from None


def submit(engine: Engine, metrics: Metrics, windows: list, ids: list[int],
           opts: DecodeOptions) -> tuple[GenJob, asyncio.Queue]:
    events: asyncio.Queue = asyncio.Queue()
    job = GenJob(windows, ids, opts, sink_for(asyncio.get_running_loop(), events))
    enqueue(engine, metrics, job)
    return job, events


def failure(e: Exception) -> P.ApiError:
    if isinstance(e, P.ApiError):
        return e
    if isinstance(e, SamError):
        return P.ApiError(400, str(e))
    log(f"sam: error: internal: {type(e).__name__}: {e}")
    return P.ApiError(500, f"internal error: {type(e).__name__}", kind="server_error")


class _Waiter:
    """A job's events for a handler that answers at the end; between events, and at least every POLL_S while
    events keep coming, it checks that the client is still there and the time not up (else: cancel the job,
    ClientGone or a 504)."""

    def __init__(self, engine: Engine, request: Request, job: Any, events: asyncio.Queue, timeout: float):
        self.engine, self.request, self.job, self.events = engine, request, job, events
        now = time.monotonic()
        self.deadline, self.next_check = now + timeout, now + POLL_S

    async def next(self) -> tuple:
        while True:
            now = time.monotonic()
            if now >= self.next_check:
                self.next_check = now + POLL_S
                if await self.request.is_disconnected():
                    self.engine.cancel(self.job)
                    raise ClientGone
            if now > self.deadline:
                self.engine.cancel(self.job)
                raise P.ApiError(504, "the request took longer than the server's --timeout", code="timeout",
                                 kind="server_error")
            try:
                return await asyncio.wait_for(self.events.get(), POLL_S)
            except asyncio.TimeoutError:
                pass


async def collect(engine: Engine, request: Request, job: GenJob, events: asyncio.Queue, answer: Answer,
                   timeout: float) -> None:
    waiter = _Waiter(engine, request, job, events, timeout)
    try:
        while not answer.done:
            event = await waiter.next()
            if event[0] == "error":
                raise failure(event[1])
            answer.on_event(event)
            if answer.stop and event[0] == "token" and answer.hit_stop():
                engine.cancel(job)  # the rest would be cut anyway: free the rows now
                return
    except ClientGone:
        raise P.ApiError(499, "client closed the request") from None


async def stream_events(engine: Engine, metrics: Metrics, job: GenJob, events: asyncio.Queue, answer: Answer,
                        cid: str, model: str, timeout: float, include_usage: bool):
    """Server-sent events: the role, the text piece by piece, the finish reason (and usage), [DONE]. Cancelled
    (the client went away): the job's rows are dropped."""
    t0, status = time.monotonic(), 200
    deadline = t0 + timeout
    try:
        yield P.chunk(cid, model, {"role": "assistant", "content": ""})
        while not answer.done and not answer.hit_stop():
            try:
                event = await asyncio.wait_for(events.get(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                event = ("error", P.ApiError(504, "the request took longer than the server's --timeout",
                                             code="timeout", kind="server_error"))
            if event[0] == "error":
                error = failure(event[1])
                status = error.status
                yield f"data: {json.dumps(error.body(), ensure_ascii=False)}\n\n"
                yield P.DONE
                return
            answer.on_event(event)
            piece = answer.delta()
            if piece:
                yield P.chunk(cid, model, {"content": piece})
        piece = answer.delta()
        if piece:
            yield P.chunk(cid, model, {"content": piece})
        yield P.chunk(cid, model, {}, answer.finish_reason)
        if include_usage:
            yield P.chunk(cid, model, {}, use=P.usage(answer.prompt_tokens, answer.completion_tokens), choices=False)
        yield P.DONE
    except BaseException:
        status = 499  # the client went away (cancelled) mid-stream
        raise
    finally:
        engine.cancel(job)  # a no-op once it is done; else its rows leave the batch at the next step
        metrics.record("/v1/chat/completions", status, time.monotonic() - t0)


async def result_of(engine: Engine, metrics: Metrics, request: Request, timeout: float,
                    make: Callable[[Callable[[tuple], None]], Any]) -> Any:
    """The result of the job make(sink) (a ScoreJob or HeadJob) run by the engine; a failure as an ApiError."""
    events: asyncio.Queue = asyncio.Queue()
    job = make(sink_for(asyncio.get_running_loop(), events))
    enqueue(engine, metrics, job)
    try:
        event = await _Waiter(engine, request, job, events, timeout).next()
    except ClientGone:
        raise P.ApiError(499, "client closed the request") from None
    if event[0] == "error":
        raise failure(event[1])
    return event[1]
