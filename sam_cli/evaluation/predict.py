"""The model's side of `sam eval`: one prediction row per clip, for the methods asked.

Fields of a row: "text" (an answer generated greedily: LTU's classification, captions, MMAU's string match),
"texts" (captions sampled `samples` times, for LTU's averaging), "scores" (every label scored by the language
model, as `sam classify --labels`), "choice_scores" (every choice scored, as `sam ask --choices`), or "error"
(the audio could not be read). Generation is batched across clips (windows of `batch_size` clips per model
call, each with its own prompt); scoring runs clip by clip, as the Python API's classify / choose do. A clip
is decoded once, whole (benchmark clips are short; the limits of `audio.load_audio` hold).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable

import torch

from sam_cli import audio as A
from sam_cli.accel.threads import set_torch_threads
from sam_cli.decoding.options import DecodeOptions, Timings
from sam_cli.errors import SamError
from sam_cli.evaluation.datasets import Dataset, Item
from sam_cli.evaluation.ledger import PredictionLedger, is_done
from sam_cli.models.sam import SAM
from sam_cli.models.tokenizer import CLASSIFY_PROMPT
from sam_cli.tasks import answer_windows, choose, classify, prompt_ids

METHODS = {"classification": ("sam", "ltu"), "captioning": ("generate",), "mcq": ("match", "choices")}
ProgressFn = Callable[[int, int], None]  # (clips done, clips to do)


def fields_needed(kind: str, methods: tuple[str, ...], samples: int = 1) -> tuple[str, ...]:
    need = {"sam": "scores", "ltu": "text", "match": "text", "choices": "choice_scores",
            "generate": "texts" if samples > 1 else "text"}
    return tuple(dict.fromkeys(need[m] for m in methods))


def mcq_prompt(item: Item) -> str:
    """The question with its choices, as the model is asked (MMAU gives no prompt of its own)."""
    return f"{item.question} Choose one of: {'; '.join(item.choices)}."


def item_prompt(ds: Dataset, item: Item, model: SAM, prompt: str | None) -> str:
    if ds.kind == "mcq":
        return mcq_prompt(item) if prompt is None else prompt.format(question=item.question,
                                                                     choices="; ".join(item.choices))
    if prompt is not None:
        return prompt
    return CLASSIFY_PROMPT if ds.kind == "classification" else model.cfg.describe_prompt


class Predictor:
    def __init__(self, model: SAM, ds: Dataset, ledger: PredictionLedger, methods: tuple[str, ...], *,
                 prompt: str | None = None, opts: DecodeOptions | None = None, samples: int = 1,
                 batch_size: int = 8, workers: int = 2, retry_errors: bool = False,
                 timings: Timings | None = None, progress: ProgressFn | None = None):
        self.model, self.ds, self.ledger, self.methods = model, ds, ledger, methods
        self.prompt, self.opts, self.samples, self.batch_size = prompt, opts or DecodeOptions(), samples, batch_size
        self.retry_errors, self.timings, self.progress = retry_errors, timings or Timings(), progress
        self.workers = max(1, workers)
        self.fields = fields_needed(ds.kind, methods, samples)
        self.failed = 0
        self.audio_seconds = 0.0

    def pending(self, items: list[Item]) -> list[Item]:
        rows, labels = self.ledger.rows, set(self.ds.labels)
        return [it for it in items if it.id not in rows or not is_done(rows[it.id], self.fields, self.retry_errors)
                or not labels <= set(rows[it.id].get("scores", labels))]  # scored against another label list

    def run(self, items: list[Item]) -> int:
        """Predict every pending clip of `items`, writing its row as it is done; -> clips predicted. The next
        chunk's audio is decoded in background threads while the model works on this one (the decoders
        release the GIL), as `sam batch` overlaps reading and the model."""
        todo = self.pending(items)
        chunks = [todo[i : i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        done = 0
        self._report(0, len(todo))
        # The model runs on this thread; the decoders take one torch thread each (accel/threads.py says why).
        decoders = ThreadPoolExecutor(self.workers, initializer=set_torch_threads, initargs=(1,))
        ahead = ThreadPoolExecutor(1)
        try:
            loading = ahead.submit(self._load, decoders, chunks[0]) if chunks else None
            for n, chunk in enumerate(chunks):
                loaded = loading.result()
                if n + 1 < len(chunks):
                    loading = ahead.submit(self._load, decoders, chunks[n + 1])
                for row in self._chunk(chunk, *loaded):
                    self.ledger.write(row)
                    done += 1
                    self.failed += "error" in row
                self._report(done, len(todo))
        finally:  # Ctrl-C or an error: what is decoding is dropped (its clips are redone next time)
            ahead.shutdown(wait=False, cancel_futures=True)
            decoders.shutdown(wait=False, cancel_futures=True)
        return done

    def _report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def _load(self, decoders: ThreadPoolExecutor, chunk: list[Item]) -> tuple[dict, dict]:
        """(clip id -> waveform, clip id -> error message) for a chunk, decoded by the worker threads."""
        def one(it: Item) -> torch.Tensor | str:
            try:
                wav = A.load_audio(it.audio)
                return wav if wav.numel() else "no audio in the file"
            except (SamError, OSError) as e:
                return str(e)

        out = dict(zip((it.id for it in chunk), decoders.map(one, chunk)))
        return ({k: v for k, v in out.items() if not isinstance(v, str)},
                {k: v for k, v in out.items() if isinstance(v, str)})

    def _chunk(self, chunk: list[Item], audio: dict[str, torch.Tensor], errors: dict[str, str]) -> list[dict]:
        rows: dict[str, dict] = {}
        wins: dict[str, list[A.AudioWindow]] = {}
        for it in chunk:
            if it.id in errors:
                rows[it.id] = {"id": it.id, "file": str(it.audio), "error": errors[it.id]}
                continue
            old = self.ledger.rows.get(it.id, {})
            rows[it.id] = {k: v for k, v in old.items() if k != "error"} | {"id": it.id, "file": str(it.audio)}
            wins[it.id] = list(A.split_windows(audio[it.id], window_seconds=self.model.cfg.window_seconds))
            self.audio_seconds += wins[it.id][-1].end
        ok = [it for it in chunk if "error" not in rows[it.id]]
        if "text" in self.fields and not all("text" in rows[it.id] for it in ok):
            for it, text in zip(ok, self._generate(ok, wins, self.opts)):
                rows[it.id]["text"] = text
        if "texts" in self.fields:
            runs = [self._generate(ok, wins, replace(self.opts, seed=(self.opts.seed or 0) + k))
                    for k in range(self.samples)]
            for n, it in enumerate(ok):
                rows[it.id]["texts"] = [r[n] for r in runs]
        for it in ok:
            try:
                self._score(it, audio[it.id], rows[it.id])
            except SamError as e:
                rows[it.id] = {"id": it.id, "file": str(it.audio), "error": str(e)}
        return [rows[it.id] for it in chunk]

    def _generate(self, items: list[Item], wins: dict[str, list[A.AudioWindow]], opts: DecodeOptions) -> list[str]:
        """One answer per clip (its windows' answers joined by spaces), every window of the chunk batched."""
        flat = [(it, w) for it in items for w in wins[it.id]]
        ids = {it.id: prompt_ids(self.model, item_prompt(self.ds, it, self.model, self.prompt)) for it in items}
        texts: dict[str, list[str]] = {it.id: [] for it in items}
        for start in range(0, len(flat), self.batch_size):
            part = flat[start : start + self.batch_size]
            outs = answer_windows(self.model, [w for _, w in part], [ids[it.id] for it, _ in part], opts, self.timings)
            for (it, _), text in zip(part, outs):
                texts[it.id].append(text)
        return [" ".join(texts[it.id]) for it in items]

    def _score(self, it: Item, wav: torch.Tensor, row: dict) -> None:
        if "scores" in self.fields and not set(self.ds.labels) <= set(row.get("scores", ())):
            prompt = self.prompt if self.prompt is not None else CLASSIFY_PROMPT
            ranked = classify(self.model, wav, list(self.ds.labels), top_k=len(self.ds.labels), prompt=prompt,
                              timings=self.timings, opts=self.opts)
            row["scores"] = dict(ranked)
        if "choice_scores" in self.fields and "choice_scores" not in row:
            question = self.prompt.format(question=it.question, choices="; ".join(it.choices)) \
                if self.prompt is not None else it.question
            ranked = choose(self.model, wav, question, list(it.choices), timings=self.timings)
            row["choice_scores"] = dict(ranked)
