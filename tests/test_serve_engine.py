"""The serve engine in-process: rows that join a batch mid-decode and rows that leave it early change no other
row's answer (greedy, the tiny model): each answer equals `tasks.iter_answers`, the CLI's path."""

from __future__ import annotations

import threading

import pytest
import torch
from conftest import build_tiny_model, tone

from sam_cli.decoding.options import DecodeOptions
from sam_cli.serve.engine import Engine, GenJob, QueueFull
from sam_cli.tasks import iter_answers, prompt_ids, windows


@pytest.fixture(scope="module")
def model():
    return build_tiny_model()


class Collector:
    def __init__(self, n: int):
        self.texts: list[str | None] = [None] * n
        self.tokens = 0
        self.first_token = threading.Event()
        self.done = threading.Event()
        self.error = None

    def __call__(self, event: tuple) -> None:
        if event[0] == "token":
            self.tokens += 1
            self.first_token.set()
        elif event[0] == "window":
            self.texts[event[1]] = event[2]
        elif event[0] == "error":
            self.error = event[1]
            self.done.set()
        elif event[0] == "done":
            self.done.set()


def _job(model, seconds: float, freq: float, question: str, opts: DecodeOptions | None = None, expect: bool = True):
    wav = torch.from_numpy(tone(seconds, freq=freq))
    wins = list(windows(model, wav))
    sink = Collector(len(wins))
    expected = [s.text for s in iter_answers(model, wav, question, opts)] if expect else None
    return GenJob(wins, prompt_ids(model, question), opts or DecodeOptions(), sink), sink, expected


def test_rows_that_join_mid_decode_and_leave_early_change_nothing(model):
    engine = Engine(model, max_batch=6, max_queue=16)
    engine.start()
    try:
        long_job, long_sink, long_expected = _job(model, 30.0, 250.0, model.cfg.describe_prompt,
                                                  DecodeOptions(max_new_tokens=400, loop_repeats=0))
        engine.submit(long_job)
        assert long_sink.first_token.wait(30)  # decoding has begun: the next ones join a running batch
        others = [_job(model, s, f, q) for s, f, q in [(2.0, 900.0, "Is there a dog?"), (12.0, 500.0, "What is it?"),
                                                       (1.0, 300.0, model.cfg.describe_prompt)]]
        short = _job(model, 3.0, 700.0, "Is there a dog?", DecodeOptions(max_new_tokens=3))  # leaves early
        for job, _, _ in [short] + others:
            engine.submit(job)
        assert not long_sink.done.is_set()  # they joined while it was decoding
        for job, sink, expected in [(long_job, long_sink, long_expected), short] + others:
            assert sink.done.wait(60) and sink.error is None, sink.error
            assert sink.texts == expected
        assert engine.batch_size == 0 and engine.queued == 0
    finally:
        engine.stop()


def test_a_cancelled_job_leaves_and_the_queue_is_bounded(model):
    engine = Engine(model, max_batch=1, max_queue=1)
    engine.start()
    try:
        running, running_sink, _ = _job(model, 60.0, 250.0, model.cfg.describe_prompt,
                                        DecodeOptions(max_new_tokens=500, loop_repeats=0), expect=False)
        engine.submit(running)
        assert running_sink.first_token.wait(30)
        with pytest.raises(QueueFull):  # the running job waits with its other windows: the queue is full
            engine.submit(_job(model, 1.0, 440.0, "Is there a dog?", expect=False)[0])
        engine.cancel(running)
        job, sink, expected = _job(model, 2.0, 440.0, "Is there a dog?")
        engine.submit(job)  # its place is free at once
        assert sink.done.wait(30) and sink.texts == expected
        assert not running_sink.done.is_set()  # the cancelled job never finished
        assert engine.batch_size == 0
    finally:
        engine.stop()
