"""The serve engine in-process: rows that join a batch mid-decode and rows that leave it early change no other
row's answer (greedy, the tiny model): each answer equals `tasks.iter_answers`, the CLI's path."""

from __future__ import annotations

import collections
import threading
from typing import Callable

import pytest
import torch
from conftest import build_tiny_model, tone

from sam_cli.decoding.generate import generate
from sam_cli.decoding.options import DecodeOptions
from sam_cli.decoding.scoring import comma_slots, tag_list_options
from sam_cli.models.tokenizer import CLASSIFY_PROMPT
from sam_cli.serve.engine import Engine, GenJob, QueueFull
from sam_cli.serve.score_jobs import HeadJob, ScoreJob
from sam_cli.tasks import choose, classify, encode_windows, iter_answers, prompt_ids, windows

QUESTION = "Is there a dog?"


@pytest.fixture(scope="module")
def model():
    return build_tiny_model()


class Collector:
    """A job's events. The sink is called on the model thread, so `hold_at` N stops that thread at the job's
    N-th token (mid-step, its rows in the batch) until `release` is set: what a test submits meanwhile joins at
    the next step boundary whatever the machine's load. `steps` (the engine's step count) is noted when done."""

    def __init__(self, n: int, hold_at: int | None = None, steps: Callable[[], int] | None = None):
        self.texts: list[str | None] = [None] * n
        self.tokens = 0
        self.first_token = threading.Event()
        self.done = threading.Event()
        self.error = None
        self.hold_at, self.held, self.release = hold_at, threading.Event(), threading.Event()
        self.steps, self.done_step = steps, None

    def __call__(self, event: tuple) -> None:
        if event[0] == "token":
            self.tokens += 1
            self.first_token.set()
            if self.tokens == self.hold_at:
                self.held.set()
                assert self.release.wait(120)
        elif event[0] == "window":
            self.texts[event[1]] = event[2]
        elif event[0] == "error":
            self.error = event[1]
            self.done.set()
        elif event[0] == "done":
            self.done_step = self.steps() if self.steps else None
            self.done.set()


def _job(model, seconds: float, freq: float, question: str, opts: DecodeOptions | None = None, expect: bool = True,
         **collector):
    wav = torch.from_numpy(tone(seconds, freq=freq))
    wins = list(windows(model, wav))
    sink = Collector(len(wins), **collector)
    expected = [s.text for s in iter_answers(model, wav, question, opts)] if expect else None
    return GenJob(wins, prompt_ids(model, question), opts or DecodeOptions(), sink), sink, expected


def test_rows_that_join_mid_decode_and_leave_early_change_nothing(model):
    engine = Engine(model, max_batch=6, max_queue=16)
    engine.start()
    try:
        # The model thread is held at the long job's 7th token (its 3 windows' third step): the others are
        # submitted meanwhile, so they join a running batch by construction, not by the machine's speed.
        long_job, long_sink, long_expected = _job(model, 30.0, 250.0, model.cfg.describe_prompt,
                                                  DecodeOptions(max_new_tokens=400, loop_repeats=0),
                                                  hold_at=7, steps=lambda: engine.steps_total)
        others = [_job(model, s, f, q) for s, f, q in [(2.0, 900.0, "Is there a dog?"), (12.0, 500.0, "What is it?"),
                                                       (1.0, 300.0, model.cfg.describe_prompt)]]
        short = _job(model, 3.0, 700.0, "Is there a dog?", DecodeOptions(max_new_tokens=3))  # leaves early
        engine.submit(long_job)
        try:
            assert long_sink.held.wait(60)  # decoding has begun
            held_at_step = engine.steps_total  # read while the model thread waits
            assert held_at_step >= 1 and engine.batch_size == 3 and not long_sink.done.is_set()
            for job, _, _ in [short] + others:
                engine.submit(job)
        finally:
            long_sink.release.set()
        for job, sink, expected in [(long_job, long_sink, long_expected), short] + others:
            assert sink.done.wait(120) and sink.error is None, sink.error
            assert sink.texts == expected
        # Every other window joined at a step boundary after the hold and before the long job's last step.
        later = list(engine.admissions)[1:]
        assert sum(n for _, n in later) == 5 and later[0][0] == held_at_step
        assert all(s < long_sink.done_step for s, _ in later), (later, long_sink.done_step)
        assert engine.batch_size == 0 and engine.queued == 0
    finally:
        engine.stop()


def test_a_cancelled_job_leaves_and_the_queue_is_bounded(model):
    engine = Engine(model, max_batch=1, max_queue=1)
    engine.start()
    try:
        running, running_sink, _ = _job(model, 60.0, 250.0, model.cfg.describe_prompt,
                                        DecodeOptions(max_new_tokens=500, loop_repeats=0), expect=False, hold_at=1)
        engine.submit(running)
        try:
            assert running_sink.held.wait(60)  # the model thread waits at its first token (Collector says why)
            with pytest.raises(QueueFull):  # the running job waits with its other windows: the queue is full
                engine.submit(_job(model, 1.0, 440.0, "Is there a dog?", expect=False)[0])
            engine.cancel(running)
            job, sink, expected = _job(model, 2.0, 440.0, "Is there a dog?")
            engine.submit(job)  # its place is free at once
        finally:
            running_sink.release.set()
        assert sink.done.wait(120) and sink.texts == expected
        assert not running_sink.done.is_set()  # the cancelled job never finished
        assert engine.batch_size == 0
    finally:
        engine.stop()


# --- scoring in the batch, and how many windows join at one step ----------------------------------------------
@pytest.fixture(scope="module")
def comma_model():
    """The tiny model made to write commas in its tag lists (a random one writes none), so that classify's
    comma slots are scored too: the comma's tied embedding row copies that of the token it writes most, a bit
    stronger."""
    m = build_tiny_model()
    ids = prompt_ids(m, CLASSIFY_PROMPT)
    w = next(windows(m, torch.from_numpy(tone(2.0, freq=900.0))))
    written = generate(m, encode_windows(m, [w])[0], [ids], tag_list_options(None))[0]
    comma = next(i for i in range(m.tokenizer.vocab_size) if m.tokenizer.decode([i]) == ",")
    with torch.no_grad():
        weight = m.lm.lm_head.weight
        weight[comma] = weight[collections.Counter(written).most_common(1)[0][0]] * 1.05
    return m


class Result:
    def __init__(self, steps: Callable[[], int]):
        self.value, self.done, self.steps, self.step = None, threading.Event(), steps, None

    def __call__(self, event: tuple) -> None:
        self.value, self.step = event, self.steps()
        self.done.set()


def _same_ranking(got: list, expected: list) -> None:
    assert [n for n, _ in got] == [n for n, _ in expected]
    assert [p for _, p in got] == pytest.approx([p for _, p in expected], abs=1e-5)  # batched float sums


def test_scoring_shares_the_batch_with_generation_and_answers_as_the_cli(comma_model):
    m = comma_model
    labels, options = ["dog", "rain", "bell"], ["yes", "no", "maybe"]
    ids = prompt_ids(m, CLASSIFY_PROMPT)
    w = next(windows(m, torch.from_numpy(tone(3.0, freq=500.0))))
    assert comma_slots(m, generate(m, encode_windows(m, [w])[0], [ids], tag_list_options(None))[0])
    engine = Engine(m, max_batch=8, max_queue=32, max_admit=4)
    engine.start()
    try:
        scoring = []  # the CLI's answers first: the batch below must run while these are scored
        for seconds, freq, use_labels in [(3.0, 500.0, False), (12.0, 300.0, True), (23.0, 800.0, False),
                                          (2.0, 900.0, True)]:
            wav = torch.from_numpy(tone(seconds, freq=freq))
            if use_labels:
                expected = classify(m, wav, labels, 2)
                job_ids, texts = ids, labels
            else:
                expected = choose(m, wav, QUESTION, options)
                job_ids, texts = prompt_ids(m, QUESTION), options
            sink = Result(lambda: engine.steps_total)
            scoring.append((ScoreJob(m, list(windows(m, wav)), job_ids, texts, use_labels, sink, 2), sink, expected))
        wav = torch.from_numpy(tone(23.0, freq=350.0))  # the encoder's audio head: 3 windows, no LM work
        sink = Result(lambda: engine.steps_total)
        scoring.append((HeadJob(m, list(windows(m, wav)), 3, sink), sink, classify(m, wav, None, 3)))
        gen = [_job(m, 12.0, 600.0, QUESTION), _job(m, 2.0, 440.0, m.cfg.describe_prompt)]
        long_job, long_sink, long_expected = _job(m, 30.0, 250.0, m.cfg.describe_prompt,
                                                  DecodeOptions(max_new_tokens=300, loop_repeats=0),
                                                  hold_at=7, steps=lambda: engine.steps_total)
        engine.submit(long_job)
        try:
            assert long_sink.held.wait(60)  # the model thread waits mid-decode (Collector says why)
            steps0 = engine.steps_total
            for job in [scoring[0][0], gen[0][0], scoring[1][0], scoring[4][0], scoring[2][0], gen[1][0],
                        scoring[3][0]]:
                engine.submit(job)
        finally:
            long_sink.release.set()
        for job, sink, expected in scoring:
            assert sink.done.wait(120) and sink.value[0] == "result", sink.value
            _same_ranking(sink.value[1], expected)
        for job, sink, expected in [(long_job, long_sink, long_expected)] + gen:
            assert sink.done.wait(120) and sink.error is None, sink.error
            assert sink.texts == expected
        # Scored while the batch decoded: after the hold, before the long job's last step.
        assert all(steps0 <= sink.step < long_sink.done_step for _, sink, _ in scoring)
        assert engine.batch_size == 0 and engine.queued == 0
    finally:
        engine.stop()


@pytest.mark.parametrize("max_admit", [1, 3])
def test_max_admit_spreads_a_long_file_over_steps(model, max_admit):
    engine = Engine(model, max_batch=8, max_queue=8, max_admit=max_admit)
    engine.start()
    try:
        job, sink, expected = _job(model, 25.0, 500.0, QUESTION, steps=lambda: engine.steps_total)  # 3 windows
        assert len(job.windows) == 3
        running, running_sink, _ = _job(model, 2.0, 250.0, model.cfg.describe_prompt,
                                        DecodeOptions(max_new_tokens=300, loop_repeats=0), expect=False,
                                        hold_at=1, steps=lambda: engine.steps_total)
        engine.submit(running)
        try:
            assert running_sink.held.wait(60)  # the model thread waits at its first token (Collector says why)
            engine.submit(job)
        finally:
            running_sink.release.set()
        assert sink.done.wait(120) and sink.texts == expected
        assert running_sink.done.wait(120) and running_sink.done_step > sink.done_step  # it kept decoding meanwhile
        later = list(engine.admissions)[1:]  # after the running job's own
        if max_admit == 1:  # one window a boundary, one decode step of the running row between them
            assert [n for _, n in later] == [1, 1, 1]
            assert [s - later[0][0] for s, _ in later] == [0, 1, 2]
        else:  # the windows of one answer side by side
            assert [n for _, n in later] == [3]
        assert engine.windows_admitted_total == 4
    finally:
        engine.stop()


def test_the_model_thread_keeps_its_torch_threads_when_the_others_take_one():
    """`sam serve` gives torch's CPU threads to the model thread alone (engine.py: a second OpenMP team made the
    CPU model twice as slow): set_torch_threads(2) there holds after an audio worker's set_torch_threads(1), even
    though the model thread had run no parallel op yet (torch.set_num_threads alone would take the worker's 1).
    In a fresh process, since the counts are the process's."""
    import subprocess
    import sys

    from helpers import REPO

    code = """
import threading, torch
from sam_cli.accel.threads import set_torch_threads
torch.set_num_threads(1)  # as sam serve's main thread
ready, worker_done, seen = threading.Event(), threading.Event(), {}
def model_thread():
    set_torch_threads(2); ready.set(); worker_done.wait()
    torch.ones(1 << 20).add_(1)  # its first parallel op
    seen["model"] = torch.get_num_threads()
def worker():
    ready.wait(); set_torch_threads(1); torch.ones(1 << 20).add_(1)
    seen["worker"] = torch.get_num_threads(); worker_done.set()
threads = [threading.Thread(target=model_thread), threading.Thread(target=worker)]
[t.start() for t in threads]; [t.join() for t in threads]
print(seen["model"], seen["worker"])
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["2", "1"]
