"""Training data: OpenAQA/LTU JSON records -> (fbank, input_ids, labels) micro-batches.

- The JSON file is a list of `{"instruction", "input", "output", "audio_id", "dataset", "task"}` records. It
  is checked up front: the first bad record is reported by its index and field (DataError, one line).
  `input` and `dataset` may be absent; `task` is needed only when the stage selects records by task.
  An optional `tags` list (the names of the sound classes in the clip; [] for none) feeds the tagging loss
  (`tag_weight`, sam_cli/train/tagging.py); records without it take no part in that loss.
- Text: prompt = format_prompt(instruction (+ "\\n" + input), template); target = output + EOS; the whole
  text is cut at `max_text_tokens` (LTU's cutoff_len, 108), from the end. Tokenised once, up front, into
  flat numpy arrays, audio paths too: millions of small Python objects would be copied page by page into
  every forked worker as reference counts change.
- Audio is decoded and turned into fbank features in DataLoader workers; with `with_wav` (distillation: the
  teacher hears the same window) the 16-kHz waveform rides along, zero-padded or cut to the window's
  target_length x 160 samples as the fbank is. A clip that is missing or cannot be
  decoded is dropped from its batch and reported back (`Batch.failed`); it never stops a run.
- Batches: `StepSampler` builds each optimizer step's global batch (length-grouped when asked), cuts it into
  micro-batch slots and gives slot k to rank k % world_size. The split depends only on (seed, epoch,
  batch_size, micro_batch_size), never on the number of processes, so N processes see exactly the samples
  one process sees, and resuming at step s replays the same batches.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from sam_cli.errors import UsageError
from sam_cli.models.sam import IGNORE_INDEX
from sam_cli.models.tokenizer import Tokenizer, format_prompt

SAMPLES_PER_FRAME = 160  # fbank: a 10-ms shift at 16 kHz
STRING_FIELDS = ("instruction", "input", "output", "audio_id", "dataset", "task")
REQUIRED_FIELDS = ("instruction", "output", "audio_id")


class DataError(UsageError):
    """A training data file that cannot be used as it is."""


@dataclass
class Record:
    instruction: str
    input: str
    output: str
    audio_id: str
    dataset: str = ""
    task: str | None = None
    tags: tuple[str, ...] | None = None  # sound classes in the clip, for the tagging loss; None: unknown

    @property
    def question(self) -> str:
        return self.instruction + ("\n" + self.input if self.input.strip() else "")


def read_records(path: str | Path, need_task: bool = False) -> list[Record]:
    """Load and check an OpenAQA/LTU JSON file; DataError names the first bad record and field."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of records, found a JSON {_json_kind(data)}")
    if not data:
        raise DataError(f"{path}: the list of records is empty")
    records: list[Record] = []
    problems: list[str] = []
    for i, item in enumerate(data):
        problem = _check_record(item, need_task)
        if problem:
            problems.append(f"record {i}: {problem}")
            continue
        if not problems:
            tags = item.get("tags")
            records.append(Record(item["instruction"], item.get("input") or "", item["output"], item["audio_id"],
                                  item.get("dataset") or "", item.get("task"),
                                  None if tags is None else tuple(tags)))
    if problems:
        more = f" (and {len(problems) - 1} more bad records)" if len(problems) > 1 else ""
        raise DataError(f"{path}: {problems[0]}{more}")
    return records


def _check_record(item: Any, need_task: bool) -> str | None:
    if not isinstance(item, dict):
        return f"expected an object, found a JSON {_json_kind(item)}"
    required = REQUIRED_FIELDS + (("task",) if need_task else ())
    for name in required:
        if name not in item:
            why = " (the stage selects records by task)" if name == "task" else ""
            return f"missing field '{name}'{why}"
    for name in STRING_FIELDS:
        if name in item and not isinstance(item[name], str):
            if name in ("dataset", "task", "input") and item[name] is None:
                continue
            return f"field '{name}' must be a string, found a JSON {_json_kind(item[name])}"
    if not item["audio_id"].strip():
        return "field 'audio_id' is empty"
    tags = item.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags)):
        return "field 'tags' must be a list of non-empty strings"
    return None


def _json_kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def resolve_audio_root(audio_root: str | None, train_json: str | Path) -> Path:
    if audio_root is None:
        return Path(train_json).resolve().parent
    root = Path(audio_root).expanduser()
    if not root.exists():
        raise DataError(f"audio root {audio_root} does not exist")
    if not root.is_dir():
        raise DataError(f"audio root {audio_root} is not a folder")
    return root.resolve()


def split_eval(records: list[Record], fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """(train, held-out): a deterministic `fraction` of the records (at least one) held out."""
    if fraction <= 0:
        return records, []
    n = max(1, round(len(records) * fraction))
    if n >= len(records):
        raise DataError(f"eval_split {fraction} leaves no training records out of {len(records)}")
    order = np.random.default_rng(seed).permutation(len(records))
    held = set(order[:n].tolist())
    return [r for i, r in enumerate(records) if i not in held], [records[i] for i in sorted(held)]


# ---------------------------------------------------------------------------------------------------------
# Tokenised examples


@dataclass
class Examples:
    """Records ready for training: resolved audio paths and token ids, in flat arrays."""

    root: str  # relative audio ids start here
    paths: np.ndarray  # uint8: every example's audio_id, UTF-8, concatenated
    path_offsets: np.ndarray  # int64 [n + 1]
    ids: np.ndarray  # int32, every example's prompt + answer + EOS tokens, concatenated
    offsets: np.ndarray  # int64 [n + 1]: example i is ids[offsets[i]:offsets[i + 1]]
    prompt_len: np.ndarray  # int32 [n]: how many of its tokens are the prompt
    truncated: int = 0  # examples cut at max_text_tokens
    tag_ids: np.ndarray | None = None  # int32: every example's tag classes, concatenated (tagging only)
    tag_offsets: np.ndarray | None = None  # int64 [n + 1]; example i's tags are unknown when tag_known[i] is 0
    tag_known: np.ndarray | None = None  # bool [n]

    def __len__(self) -> int:
        return len(self.prompt_len)

    def audio(self, i: int) -> str:
        rel = self.paths[self.path_offsets[i] : self.path_offsets[i + 1]].tobytes().decode("utf-8")
        return os.path.join(self.root, rel)  # an absolute audio_id stays as it is

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def tokens(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def tags(self, i: int) -> np.ndarray | None:
        """Example i's tag class indices, or None when its record has no tags (or tagging is off)."""
        if self.tag_ids is None or self.tag_offsets is None or self.tag_known is None or not self.tag_known[i]:
            return None
        return self.tag_ids[self.tag_offsets[i] : self.tag_offsets[i + 1]]


def tokenize(records: Sequence[Record], tokenizer: Tokenizer, audio_root: Path, template: str,
             max_text_tokens: int, tag_classes: Sequence[str] | None = None) -> Examples:
    """Records -> Examples; with `tag_classes`, each record's tags as indices into it (a tag outside it is
    left out: a held-out set may name classes the training data never had)."""
    prompts = [format_prompt(r.question, template) for r in records]
    # encode_batch runs on all cores: millions of records take seconds, not minutes.
    p_ids = [e.ids for e in tokenizer.tok.encode_batch(prompts, add_special_tokens=False)]
    a_ids = [e.ids for e in tokenizer.tok.encode_batch([r.output for r in records], add_special_tokens=False)]
    eos = tokenizer.eos_id
    chunks, offsets, prompt_len, truncated = [], [0], [], 0
    for p, a in zip(p_ids, a_ids):
        full = p + a + [eos]
        if len(full) > max_text_tokens:
            full, truncated = full[:max_text_tokens], truncated + 1
        chunks.append(np.asarray(full, dtype=np.int32))
        offsets.append(offsets[-1] + len(full))
        prompt_len.append(min(len(p), len(full)))
    encoded = [r.audio_id.encode("utf-8") for r in records]
    path_offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=path_offsets[1:])
    paths = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    ex = Examples(str(audio_root), paths, path_offsets, np.concatenate(chunks) if chunks else np.zeros(0, np.int32),
                  np.asarray(offsets, dtype=np.int64), np.asarray(prompt_len, dtype=np.int32), truncated)
    if tag_classes is not None:
        index = {name: k for k, name in enumerate(tag_classes)}
        per = [[index[t] for t in r.tags if t in index] if r.tags is not None else [] for r in records]
        ex.tag_known = np.asarray([r.tags is not None for r in records], dtype=bool)
        ex.tag_offsets = np.zeros(len(per) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in per], out=ex.tag_offsets[1:])
        ex.tag_ids = np.asarray([k for p in per for k in p], dtype=np.int32)
    return ex


class AudioTextDataset(Dataset):
    """Item i: the fbank of example i's audio (or the reason it could not be read) and its tokens; with
    `with_wav`, also the waveform of the window the fbank covers."""

    def __init__(self, examples: Examples, target_length: int, with_wav: bool = False):
        self.examples = examples
        self.target_length = target_length
        self.with_wav = with_wav

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        from sam_cli.audio import fbank, load_audio

        path = self.examples.audio(i)
        item: dict[str, Any] = {"index": i, "path": path, "tokens": self.examples.tokens(i),
                                "prompt_len": int(self.examples.prompt_len[i]), "fbank": None, "wav": None,
                                "tags": self.examples.tags(i), "error": None}
        try:
            wav = load_audio(path)
            item["fbank"] = fbank(wav, self.target_length)[None]  # [1, T, 128]
            if self.with_wav:
                item["wav"] = window_samples(wav, self.target_length)
        except Exception as e:  # AudioError for the expected cases; anything else must not stop a run either
            item["error"] = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return item


def window_samples(wav: torch.Tensor, target_length: int) -> torch.Tensor:
    """A mono 16-kHz clip zero-padded or cut to the `target_length` fbank frames' span (10 ms a frame)."""
    n = target_length * SAMPLES_PER_FRAME
    wav = wav.reshape(-1).to(torch.float32)[:n]
    return torch.nn.functional.pad(wav, (0, n - wav.numel()))


@dataclass
class Batch:
    fbank: torch.Tensor  # [B, 1, T, 128]
    input_ids: torch.Tensor  # [B, L], right-padded with EOS
    labels: torch.Tensor  # [B, L], IGNORE_INDEX where no loss is taken
    mask: torch.Tensor  # [B, L] bool: real (not padding) text positions
    indices: list[int]
    failed: list[tuple[str, str]] = field(default_factory=list)  # (audio path, reason)
    wav: torch.Tensor | None = None  # [B, T * 160] 16-kHz waveforms (with_wav only)
    tags: torch.Tensor | None = None  # [B, classes] 0/1 targets of the tagging loss (num_tags only)
    tag_known: torch.Tensor | None = None  # [B] bool: rows whose record has tags

    @property
    def num_targets(self) -> int:
        return int((self.labels != IGNORE_INDEX).sum())

    @property
    def num_text_tokens(self) -> int:
        return int(self.mask.sum())

    def to(self, device: torch.device) -> Batch:
        nb = device.type == "cuda"
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=nb)

        return Batch(self.fbank.to(device, non_blocking=nb), self.input_ids.to(device, non_blocking=nb),
                     self.labels.to(device, non_blocking=nb), self.mask, self.indices, self.failed,
                     move(self.wav), move(self.tags), move(self.tag_known))


class Collate:
    """Pads a list of items into a Batch; failed clips are left out. A batch whose clips all failed becomes
    one dummy row with no targets, so that every process still runs a forward and backward pass (DDP needs
    all processes to take part in every gradient reduction)."""

    def __init__(self, eos_id: int, loss_on: str, target_length: int, with_wav: bool = False, num_tags: int = 0):
        self.eos_id, self.loss_on, self.target_length = eos_id, loss_on, target_length
        self.with_wav, self.num_tags = with_wav, num_tags

    def _tags(self, items: list[dict[str, Any]]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not self.num_tags:
            return None, None
        tags = torch.zeros(max(len(items), 1), self.num_tags)
        known = torch.zeros(max(len(items), 1), dtype=torch.bool)
        for row, it in enumerate(items):
            if it["tags"] is not None:
                known[row] = True
                tags[row, torch.from_numpy(it["tags"].astype(np.int64))] = 1.0
        return tags, known

    def __call__(self, items: list[dict[str, Any]]) -> Batch:
        ok = [it for it in items if it["error"] is None]
        failed = [(it["path"], it["error"]) for it in items if it["error"] is not None]
        if not ok:
            fb = torch.full((1, 1, self.target_length, 128), 0.0)
            ids = torch.full((1, 1), self.eos_id, dtype=torch.long)
            wav = torch.zeros(1, self.target_length * SAMPLES_PER_FRAME) if self.with_wav else None
            return Batch(fb, ids, torch.full_like(ids, IGNORE_INDEX), torch.zeros_like(ids, dtype=torch.bool), [],
                         failed, wav, *self._tags([]))
        width = max(len(it["tokens"]) for it in ok)
        ids = torch.full((len(ok), width), self.eos_id, dtype=torch.long)
        labels = torch.full((len(ok), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(ok), width), dtype=torch.bool)
        for row, it in enumerate(ok):
            toks = torch.from_numpy(it["tokens"].astype(np.int64))
            n = len(toks)
            ids[row, :n] = toks
            mask[row, :n] = True
            start = 0 if self.loss_on == "all" else it["prompt_len"]
            labels[row, start:n] = toks[start:]
        fb = torch.stack([it["fbank"] for it in ok])
        wav = torch.stack([it["wav"] for it in ok]) if self.with_wav else None
        return Batch(fb, ids, labels, mask, [it["index"] for it in ok], failed, wav, *self._tags(ok))


# ---------------------------------------------------------------------------------------------------------
# Sampling


class StepSampler:
    """Micro-batches (lists of example indices) for one process, step after step, from `start_step`.

    Epoch e's order comes from a generator seeded with (seed, e). With group_by_length, the shuffled order is
    cut into mega-batches of `mega` global batches, each sorted by length (longest first) and cut into global
    batches, whose order is then shuffled: each batch holds similar lengths, so little padding. The last global
    batch of an epoch is completed with examples from the start of the epoch's order (as DistributedSampler
    pads), so every step has the same number of samples and every process the same number of micro-batches.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, micro_batch_size: int, rank: int = 0, world: int = 1,
                 seed: int = 0, group_by_length: bool = True, total_steps: int | None = None, start_step: int = 0,
                 mega: int = 16):
        slots = batch_size // micro_batch_size
        if batch_size % micro_batch_size or slots % world:
            raise UsageError(f"batch_size {batch_size} must be a multiple of micro_batch_size x processes "
                             f"({micro_batch_size} x {world} = {micro_batch_size * world})")
        self.lengths = np.asarray(lengths)
        self.batch_size, self.micro, self.rank, self.world = batch_size, micro_batch_size, rank, world
        self.seed, self.group_by_length, self.mega = seed, group_by_length, mega
        self.accumulation = slots // world
        self.total_steps = total_steps if total_steps is not None else self.steps_per_epoch
        self.start_step = start_step
        self._cache: tuple[int, list[np.ndarray]] | None = None

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def global_batches(self, epoch: int) -> list[np.ndarray]:
        """The epoch's global batches (each of batch_size example indices, in slot order)."""
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        n, b = len(self.lengths), self.batch_size
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n)
        padded = np.resize(order, self.steps_per_epoch * b)  # wraps around: pads the last batch
        batches = [padded[i : i + b] for i in range(0, len(padded), b)]
        if self.group_by_length:
            grouped = []
            for i in range(0, len(batches), self.mega):
                group = np.concatenate(batches[i : i + self.mega])
                group = group[np.argsort(-self.lengths[group], kind="stable")]
                grouped += [group[j : j + b] for j in range(0, len(group), b)]
            batches = [grouped[i] for i in rng.permutation(len(grouped))]
        self._cache = (epoch, batches)
        return batches

    def step_micro_batches(self, step: int) -> list[list[int]]:
        """This process's micro-batches for optimizer step `step` (counted from the start of the stage)."""
        spe = self.steps_per_epoch
        batch = self.global_batches(step // spe)[step % spe]
        slots = [batch[k * self.micro : (k + 1) * self.micro] for k in range(self.batch_size // self.micro)]
        return [slots[k].tolist() for k in range(self.rank, len(slots), self.world)]

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.total_steps):
            yield from self.step_micro_batches(step)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step) * self.accumulation


def eval_micro_batches(lengths: np.ndarray, micro_batch_size: int, rank: int, world: int) -> list[list[int]]:
    """Held-out examples i with i % world == rank, sorted by length, in micro-batches."""
    mine = np.arange(rank, len(lengths), world)
    mine = mine[np.argsort(-np.asarray(lengths)[mine], kind="stable")]
    return [mine[i : i + micro_batch_size].tolist() for i in range(0, len(mine), micro_batch_size)]
