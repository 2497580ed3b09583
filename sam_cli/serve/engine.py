"""The model thread: one thread owns the model and runs every request's windows in one continuous batch.

A generation request (describe, ask, chat) is a list of audio windows and a prompt. At each step boundary
the thread admits waiting windows while the batch has room (encode, prefill, first token), concatenates their
recurrent states onto the batch's (a Mamba-2 state has a fixed size per row, so joining is `cat_states`), runs
one decode step for every row, and drops the rows that finished or whose client went away. The per-row
rules (EOS, length, the loop guard) are `decoding.options.Rows`, the same as `sam describe`'s.

At most --max-admit windows are admitted at one boundary, so that a burst of long files does not stall the
running rows for many encodes at once; the windows of one request are admitted side by side as far as that
allows. A silent window of a caption or tag request is answered "Silence." without the model, as
`tasks.answer_windows` answers it. Scoring requests with choices or labels (`score_jobs.ScoreJob`) join the
same way: their windows are encoded and prefilled with the others, then scored from their rows (the tags a
model writes are generation requests), and classification by the encoder's audio head (`score_jobs.HeadJob`)
has its windows encoded with the others and read by the head, with no LM work. HTTP handlers never touch the
model: they submit a job and receive its events through `sink`, which is called on this thread (the app hands
them over to its event loop).

torch's CPU threads: the model thread alone gets the process's threads (`threads`); `sam serve`'s main thread
and the audio-decoding workers run torch on one thread (`set_torch_threads(1)`; accel/threads.py says why: a
second OpenMP team made the CPU model twice as slow here as in `sam describe`).
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from sam_cli.accel.runner import cat_states
from sam_cli.accel.select import lm_runner
from sam_cli.accel.threads import set_torch_threads
from sam_cli.decoding.generate import prompt_embeds
from sam_cli.decoding.options import DecodeOptions, Rows, pick_next
from sam_cli.serve.score_jobs import HeadJob, ScoreJob, ScorePass
from sam_cli.tasks import SILENT_ANSWER, encode_windows, gated_prompts, silent

Sink = Callable[[tuple], None]


class QueueFull(Exception):
    """The waiting queue is at --max-queue."""


class Stopping(Exception):
    """The server is shutting down and takes no new work."""


@dataclass
class GenJob:
    """Decode an answer for each window. Events, in order for each window: ("token", window, text piece, tokens
    kept so far, prompt tokens)...,
    then ("window", window, text, new tokens, prompt tokens, hit the length limit); once all windows are
    done ("done",); on a failure ("error", exception) and nothing more."""

    windows: list  # audio.AudioWindow
    ids: list[int]  # the prompt's token ids
    opts: DecodeOptions
    sink: Sink
    cancelled: bool = False
    admitted: int = 0  # windows admitted to the batch so far
    finished: int = 0  # windows done
    generator: torch.Generator | None = None
    submitted: float = field(default_factory=time.monotonic)


Job = GenJob | ScoreJob | HeadJob


class _Row:
    __slots__ = ("job", "window", "rules", "picks", "stream", "prompt_tokens")

    def __init__(self, job: GenJob | ScoreJob, window: int, eos: int | None, stream: Any, prompt_tokens: int):
        self.job, self.window, self.stream, self.prompt_tokens = job, window, stream, prompt_tokens
        self.rules = Rows(1, eos, job.opts, None)
        self.picks = 0


class Engine:
    """The continuous batch over `model`: submit() from any thread, the model thread does the rest."""

    def __init__(self, model: Any, max_batch: int = 32, max_queue: int = 256, max_admit: int = 8,
                 threads: int | None = None):
        self.model, self.max_batch, self.max_queue, self.max_admit = model, max_batch, max_queue, max_admit
        self.threads = threads or torch.get_num_threads()  # the model thread's torch CPU threads
        # The eager runner: its step takes any rows' states, which the batch needs as rows come and go.
        self.runner = lm_runner(model.lm)
        self.eos = model.tokenizer.eos_id
        self._gated = gated_prompts(model)  # answered "Silence." on a silent window, as tasks.answer_windows does
        self._waiting: collections.deque = collections.deque()
        self._cv = threading.Condition()
        self._stopping = False
        self._rows: list[_Row] = []
        self._state = None  # InferenceState of self._rows, in row order
        self._tokens: torch.Tensor | None = None  # each row's last picked token
        self._written: list[tuple[ScoreJob, int, list[int]]] = []  # labels' tag lists, their slots not yet scored
        self._thread = threading.Thread(target=self._run, name="sam-model", daemon=True)
        # For /metrics: written by the model thread, read (racily, as plain numbers) by handlers.
        self.tokens_total = 0
        self.steps_total = 0
        self.windows_admitted_total = 0
        self.admissions: collections.deque = collections.deque(maxlen=256)  # (steps so far, windows) a boundary
        self.recent_tokens: collections.deque = collections.deque()  # (monotonic time, tokens) of recent steps

    # --- any thread ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._cv:
            if self._stopping:
                raise Stopping
            if len(self._waiting) >= self.max_queue:
                raise QueueFull
            if isinstance(job, GenJob) and job.opts.seed is not None and not job.opts.greedy:
                job.generator = torch.Generator(device=self.model.device).manual_seed(job.opts.seed)
            self._waiting.append(job)
            self._cv.notify()

    def cancel(self, job: Job) -> None:
        """Drop the job's rows at the next step boundary (its client went away, or it hit a stop string)."""
        job.cancelled = True
        with self._cv:
            try:
                self._waiting.remove(job)  # its place in the queue is free at once
            except ValueError:
                pass
            self._cv.notify()

    def stop(self, timeout: float | None = None) -> None:
        """Finish what was submitted, then end the thread."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def batch_size(self) -> int:
        return len(self._rows)

    def tokens_per_second(self, span: float = 10.0) -> float:
        now = time.monotonic()
        recent = [n for t, n in list(self.recent_tokens) if now - t <= span]
        return sum(recent) / span

    # --- the model thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        set_torch_threads(self.threads)
        with torch.inference_mode():
            while True:
                with self._cv:
                    while not self._rows and not self._waiting and not self._written and not self._stopping:
                        self._cv.wait()
                    if self._stopping and not self._rows and not self._waiting and not self._written:
                        return
                self._drop(lambda r: r.job.cancelled)
                self._admit()
                if self._rows:
                    try:
                        self._step()
                    except Exception as e:  # noqa: BLE001  the batch is lost; the server and the next requests are not
                        self._fail_all(e)

    def _take(self) -> list:
        """Waiting work that fits, oldest first: (job, first window, how many) for generation and scoring jobs,
        at most max_admit windows in all."""
        taken: list = []
        room, budget = self.max_batch - len(self._rows), self.max_admit
        with self._cv:
            while self._waiting:
                job = self._waiting[0]
                if job.cancelled:
                    self._waiting.popleft()
                    continue
                rows = job.rows_per_window if isinstance(job, (ScoreJob, HeadJob)) else 1  # rows held after it
                n = min(budget, len(job.windows) - job.admitted, room if rows else budget)
                if n <= 0:
                    break
                taken.append((job, job.admitted, n))
                job.admitted += n
                room -= n * rows
                budget -= n
                if job.admitted == len(job.windows):
                    self._waiting.popleft()
        return taken

    def _admit(self) -> None:
        groups = [item for item in self._take() if not item[0].cancelled]
        written, self._written = self._written, []
        if not groups and not written:
            return
        scoring = ScorePass()
        try:
            for job, window, tokens in written:
                if not job.cancelled:
                    scoring.add_slots(self.runner, job, window, tokens)
            self._join(groups, scoring)
        except Exception as e:  # noqa: BLE001  reported to its client; the others try again alone
            for job in {id(j): j for j, _, _ in written}.values():
                job.cancelled = True
                job.sink(("error", e))
            if len(groups) <= 1:
                for job, _, _ in groups:
                    job.cancelled = True
                    job.sink(("error", e))
                return
            for group in groups:
                try:
                    self._join([group], ScorePass())
                except Exception as e1:  # noqa: BLE001
                    group[0].cancelled = True
                    group[0].sink(("error", e1))

    def _join(self, groups: list[tuple[GenJob | ScoreJob | HeadJob, int, int]], scoring: ScorePass) -> None:
        """Encode the windows of `groups` ((job, first window, how many)) together and prefill those that go to
        the LM; score what `scoring` and the scoring jobs' new rows ask; pick the first tokens of the rows that
        decode, and add them to the batch."""
        groups = self._answer_silent(groups)
        wins = [w for job, first, n in groups for w in job.windows[first:first + n]]
        if not wins:
            scoring.run(self.model, self.runner)
            return
        audio_embeds, tokens = encode_windows(self.model, wins)
        self.windows_admitted_total += len(wins)
        self.admissions.append((self.steps_total, len(wins)))
        embeds, rows, joining, lm_groups, a = [], [], [], [], 0
        for job, first, n in groups:
            if isinstance(job, HeadJob):  # the audio head: no LM work
                job.encoded(first, tokens[a:a + n])
            else:
                embeds += list(prompt_embeds(self.runner, audio_embeds[a:a + n], [job.ids] * n))
                lm_groups.append((job, first, n))
            a += n
        if not embeds:
            scoring.run(self.model, self.runner)
            return
        # Rows of equal length prefill together, as decode() prefills them (docs/design.md §9).
        logits, state = self.runner.prefill_rows(embeds)
        picks, k = [], 0
        for job, first, n in lm_groups:
            prompt_tokens = audio_embeds.shape[1] + len(job.ids)
            if isinstance(job, ScoreJob):
                for i in range(n):
                    row_state = state.index_select([k + i])  # a copy: the batch's steps will not touch it
                    scoring.add(job, first + i, False, logits[k + i:k + i + 1], row_state)
                    if job.labels:
                        job.prefilled[first + i] = row_state
            if not isinstance(job, ScoreJob) or job.labels:  # labels: the tag list is written in the batch
                rows += [_Row(job, first + i, self.eos, None if isinstance(job, ScoreJob) else
                              self.model.tokenizer.stream(), prompt_tokens) for i in range(n)]
                joining += range(k, k + n)
                # One pick for a job's rows, as decode() picks its first tokens (a seeded sampler draws the same way).
                picks.append(pick_next(logits[k:k + n], job.opts, job.generator))
            k += n
        scoring.run(self.model, self.runner)
        if not rows:
            return
        if len(joining) < len(embeds):
            state = state.index_select(joining)
        first_tokens = torch.cat(picks)
        self._rows += rows
        self._state = state if self._state is None else cat_states([self._state, state])
        self._tokens = first_tokens if self._tokens is None else torch.cat([self._tokens, first_tokens])
        self._accept(rows, first_tokens.tolist())

    def _answer_silent(self, groups: list[tuple[Job, int, int]]) -> list[tuple[Job, int, int]]:
        """Answer the silent windows of generation jobs at once, as `tasks.answer_windows` does; the groups of
        the other windows."""
        kept = []
        for job, first, n in groups:
            if not isinstance(job, GenJob) or job.ids not in self._gated:
                kept.append((job, first, n))
                continue
            start = first
            for i in range(first, first + n):
                if silent(job.windows[i], job.opts):
                    if i > start:
                        kept.append((job, start, i - start))
                    start = i + 1
                    job.sink(("token", i, SILENT_ANSWER, 0, 0))
                    self._window_done(job, i, SILENT_ANSWER, 0, 0, False)
            if first + n > start:
                kept.append((job, start, first + n - start))
        return kept

    def _step(self) -> None:
        logits = self.runner.step(self._tokens, self._state)
        greedy = logits.float().argmax(dim=-1)
        picks = greedy
        sampled = [i for i, r in enumerate(self._rows) if not r.job.opts.greedy]
        if sampled:
            picks = greedy.clone()
            for i in sampled:
                picks[i] = pick_next(logits[i:i + 1], self._rows[i].job.opts, self._rows[i].job.generator)[0]
        self._tokens = picks
        self.steps_total += 1
        self._accept(list(self._rows), picks.tolist())

    def _accept(self, rows: list[_Row], tokens: list[int]) -> None:
        """One token for each row: stream it, and drop the rows that are done."""
        done: set[int] = set()
        new = 0
        for row, tok in zip(rows, tokens):
            row.picks += 1
            kept = len(row.rules.out[0])
            stopped = row.rules.accept([tok])
            if len(row.rules.out[0]) > kept:
                new += 1
                piece = row.stream.push(tok) if row.stream is not None else None
                if piece:
                    row.job.sink(("token", row.window, piece, len(row.rules.out[0]), row.prompt_tokens))
            if stopped or row.picks >= row.job.opts.max_new_tokens:
                self._finish(row, hit_length=not stopped)
                done.add(id(row))
        self.tokens_total += new
        now = time.monotonic()
        self.recent_tokens.append((now, new))
        while self.recent_tokens and now - self.recent_tokens[0][0] > 60:
            self.recent_tokens.popleft()
        if done:
            self._drop(lambda r: id(r) in done)

    def _finish(self, row: _Row, hit_length: bool) -> None:
        job = row.job
        if job.cancelled:
            return
        if isinstance(job, ScoreJob):  # its tag list: the slots are scored at the next boundary
            self._written.append((job, row.window, list(row.rules.out[0])))
            return
        tail = row.stream.flush()
        if tail:
            job.sink(("token", row.window, tail, len(row.rules.out[0]), row.prompt_tokens))
        out = row.rules.out[0]
        self._window_done(job, row.window, self.model.tokenizer.decode(out).strip(), len(out), row.prompt_tokens,
                          hit_length)

    def _window_done(self, job: GenJob, window: int, text: str, new_tokens: int, prompt_tokens: int,
                     hit_length: bool) -> None:
        job.sink(("window", window, text, new_tokens, prompt_tokens, hit_length))
        job.finished += 1
        if job.finished == len(job.windows):
            job.sink(("done",))

    def _drop(self, gone: Callable[[_Row], bool]) -> None:
        keep = [i for i, r in enumerate(self._rows) if not gone(r)]
        if len(keep) == len(self._rows):
            return
        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._state = self._tokens = None
            return
        self._state = self._state.index_select(keep)
        self._tokens = self._tokens[torch.tensor(keep, device=self._tokens.device)]

    def _fail_all(self, e: Exception) -> None:
        for job in {id(r.job): r.job for r in self._rows}.values():
            job.cancelled = True
            job.sink(("error", e))
        self._rows, self._state, self._tokens = [], None, None
