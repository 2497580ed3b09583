"""Scoring requests in the continuous batch: ask with `choices`, classify with `labels`.

A `ScoreJob`'s windows are admitted like a generation request's: encoded and prefilled together with the other
windows admitted at that step boundary. Its candidates are then scored from its prefilled rows, every scoring
window of that boundary in one batched pass (`decoding.scoring.scores_after_rows`, the CLI's scoring). Labels
also read the tag list the model writes itself (`label_scores`): that list is decoded as a row of the batch
(greedy), and once written its comma slots are scored at the next boundary. The per-window semantics, the
spellings and the mean over windows are those of `tasks.choose` / `tasks.classify`, so the answers equal the CLI's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from sam_cli.accel.runner import Runner, cat_states
from sam_cli.decoding.options import DecodeOptions
from sam_cli.decoding.scoring import best_spelling, comma_slots, scores_after_rows, spelling_forms, tag_list_options
from sam_cli.models.mamba2 import InferenceState
from sam_cli.tasks import head_names, ranked_choices, top_scores, window_mean


@dataclass
class ScoreJob:
    """Score `texts` (choices, or labels) for each window; events ("result", the answer of tasks.choose or
    tasks.classify) or ("error", exception)."""

    model: Any
    windows: list  # audio.AudioWindow
    ids: list[int]  # the question's (or the classification prompt's) token ids
    texts: list[str]
    labels: bool  # False: choices, each scored as the whole answer
    sink: Callable[[tuple], None]
    top_k: int = 5
    opts: DecodeOptions = field(default_factory=DecodeOptions)  # labels: the tag list's decoding (state dtype)
    cancelled: bool = False
    admitted: int = 0
    generator: torch.Generator | None = None
    submitted: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        complete = not self.labels
        self.forms = spelling_forms(self.model, self.texts, complete)
        self.slot_forms = spelling_forms(self.model, self.texts, False, lead=" ") if self.labels else []
        if self.labels:
            self.opts = tag_list_options(self.opts)
        self.probs: list[torch.Tensor | None] = [None] * len(self.windows)  # each window's softmax
        self.best: dict[int, torch.Tensor] = {}  # labels: the best slot so far of windows still going
        self.prefilled: dict[int, InferenceState] = {}  # labels: each window's prefilled row, for its slots
        self.done = False

    @property
    def rows_per_window(self) -> int:
        """Batch rows a window holds after its prefill: labels write their tag list in the batch."""
        return 1 if self.labels else 0

    def candidates(self, slot: bool) -> tuple[list[list[int]], bool]:
        forms = self.slot_forms if slot else self.forms
        return [f for fs in forms for f in fs], not self.labels

    def scored(self, window: int, slot: bool, scores: torch.Tensor) -> None:
        best = best_spelling(scores, self.slot_forms if slot else self.forms)
        if not self.labels:
            self._window_done(window, best)
        elif window in self.best:
            self.best[window] = torch.maximum(self.best[window], best)
        else:
            self.best[window] = best

    def written(self, window: int) -> None:
        """The window's tag list is written and its slots scored."""
        self.prefilled.pop(window, None)
        self._window_done(window, self.best.pop(window))

    def _window_done(self, window: int, best: torch.Tensor) -> None:
        self.probs[window] = best.softmax(dim=0)
        if self.done or self.cancelled or any(p is None for p in self.probs):
            return
        self.done = True
        if self.labels:
            self.sink(("result", top_scores(self.texts, window_mean(self.probs, len(self.texts)), self.top_k)))
        else:
            self.sink(("result", ranked_choices(self.texts, self.probs)))


@dataclass
class HeadJob:
    """classify by the encoder's own audio head (no labels, a model with a head): each window's encoder tokens
    through the head as soon as they are encoded with the others, the max over windows (tasks.classify); no
    LM work. Events ("result", top tags) or ("error", exception)."""

    model: Any
    windows: list
    top_k: int
    sink: Callable[[tuple], None]
    cancelled: bool = False
    admitted: int = 0
    submitted: float = field(default_factory=time.monotonic)
    rows_per_window = 0  # a class constant: it holds no row of the batch

    def __post_init__(self) -> None:
        self.best: torch.Tensor | None = None
        self.seen: set[int] = set()  # a set: a boundary retried after a failure may read a window twice
        self.done = False

    def encoded(self, first: int, tokens: torch.Tensor) -> None:
        """Encoder tokens [n, 1 + N, D] of its windows first, ..., first + n - 1."""
        probs = self.model.classify(tokens).amax(dim=0).cpu()
        self.best = probs if self.best is None else torch.maximum(self.best, probs)
        self.seen.update(range(first, first + tokens.shape[0]))
        if len(self.seen) == len(self.windows) and not self.cancelled and not self.done:
            self.done = True
            self.sink(("result", top_scores(head_names(self.model, len(self.best)), self.best, self.top_k)))


class ScorePass:
    """The scoring of one step boundary: rows (next-token logits and state) with what each is to score, run in
    one `scores_after_rows`."""

    def __init__(self) -> None:
        self.lasts: list[torch.Tensor] = []
        self.states: list[InferenceState] = []
        self.asks: list[tuple[ScoreJob, int, bool]] = []  # (job, window, a comma slot?)
        self.written: list[tuple[ScoreJob, int]] = []  # labels' windows whose tag list is written

    def add(self, job: ScoreJob, window: int, slot: bool, last: torch.Tensor, state: InferenceState) -> None:
        """One row: `last` its logits [1, V], `state` its state (one row)."""
        self.lasts.append(last)
        self.states.append(state)
        self.asks.append((job, window, slot))

    def add_slots(self, runner: Runner, job: ScoreJob, window: int, written: list[int]) -> None:
        """The comma slots of a window's tag list, each run on from the window's prefilled row (label_scores)."""
        state = job.prefilled[window]
        for prefix in comma_slots(job.model, written):
            ids = torch.tensor([prefix], dtype=torch.long, device=state.ssm_states[0].device)
            logits, slot = runner.forward(input_ids=ids, state=state, return_state=True, num_last_tokens=1)
            self.add(job, window, True, logits[:, -1], slot)
        self.written.append((job, window))

    def run(self, model: Any, runner: Runner) -> None:
        if self.asks:
            self._score(model, runner)
        for job, window in self.written:
            job.written(window)

    def _score(self, model: Any, runner: Runner) -> None:
        last = torch.cat(self.lasts)
        state = cat_states(self.states) if len(self.states) > 1 else self.states[0]
        asks = [(i, *job.candidates(slot)) for i, (job, _, slot) in enumerate(self.asks)]
        for (job, window, slot), scores in zip(self.asks, scores_after_rows(model, runner, last, state, asks)):
            job.scored(window, slot, scores)
