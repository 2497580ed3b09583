"""What the commands do, as plain functions over a loaded model: describe, ask, choose, classify.

Audio longer than one encoder window (10.24 s) is handled window by window, with timestamps, never
truncated; files are streamed from disk window by window so an hour of audio needs bounded memory.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch

from sam_cli import audio as A
from sam_cli.accel.select import encode_fn, fbank_fn
from sam_cli.decoding.generate import generate
from sam_cli.decoding.options import DecodeOptions, Timings
from sam_cli.decoding.scoring import label_scores, spelling_scores
from sam_cli.errors import UsageError
from sam_cli.models.sam import SAM
from sam_cli.models.tokenizer import CLASSIFY_PROMPT, format_prompt

AudioInput = str | Path | bytes | torch.Tensor


@dataclass
class Segment:
    start: float
    end: float
    text: str


def windows(model: SAM, audio: AudioInput) -> Iterator[A.AudioWindow]:
    seconds = model.cfg.window_seconds
    if isinstance(audio, torch.Tensor):
        yield from A.split_windows(audio, window_seconds=seconds)
    elif isinstance(audio, bytes):
        yield from A.split_windows(A.load_audio(audio), window_seconds=seconds)
    else:
        yield from A.iter_windows(audio, window_seconds=seconds)


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@torch.inference_mode()
def encode_windows(model: SAM, wins: list[A.AudioWindow], timings: Timings | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (E_a [n, M, d_model], encoder tokens [n, 1+N, D]) for a list of windows."""
    t0 = time.perf_counter()
    wavs = [w.samples.to(model.device, non_blocking=True) for w in wins]
    feats = fbank_fn(model.device)(wavs, model.cfg.target_length)
    audio_embeds, tokens, captured = encode_fn(model)(feats)
    if timings is not None:
        if model.device.type == "cuda":
            torch.cuda.synchronize(model.device)
        timings.encode_s += time.perf_counter() - t0 - captured
        if captured:  # warm-up, reported apart from steady-state figures
            timings.extra["encode_capture_s"] = timings.extra.get("encode_capture_s", 0.0) + captured
    return audio_embeds, tokens


# Limits on what one request may ask of the model (README, "Limits and failure behaviour"): the prompt's
# prefill and the scoring of each label/choice take memory and time in proportion to their length (a question
# of 100,000 characters needed more than 8 GB). Each can be raised through the environment.
MAX_PROMPT_TOKENS_ENV = "SAM_MAX_PROMPT_TOKENS"
DEFAULT_MAX_PROMPT_TOKENS = 2048  # the question or prompt, in the model's tokens (training prompts are < 100)
PROMPT_CHARS_PER_TOKEN = 16  # a question longer than 16 characters a token is refused before it is tokenized
MAX_CHOICES_ENV = "SAM_MAX_CHOICES"
DEFAULT_MAX_CHOICES = 1000  # --labels / --choices: how many
MAX_CHOICES_CHARS_ENV = "SAM_MAX_CHOICES_CHARS"
DEFAULT_MAX_CHOICES_CHARS = 32000  # --labels / --choices: their total length in characters
MAX_CHOICE_CHARS = 1000  # one label or choice, in characters


def _limit(var: str, default: int) -> int:
    text = os.environ.get(var, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise UsageError(f"${var}={text!r}: give a positive whole number")
    return int(value)


def max_prompt_tokens() -> int:
    """The longest question or prompt, in tokens: $SAM_MAX_PROMPT_TOKENS, else 2048."""
    return _limit(MAX_PROMPT_TOKENS_ENV, DEFAULT_MAX_PROMPT_TOKENS)


def check_prompt_length(question: str, what: str = "the question") -> None:
    """Refuse a question whose characters alone put it over the limit (no model needed, so the CLI can ask
    before it loads one)."""
    limit = max_prompt_tokens()
    if len(question) > limit * PROMPT_CHARS_PER_TOKEN:
        raise UsageError(f"{what} is {len(question):,} characters long; the most is {limit * PROMPT_CHARS_PER_TOKEN:,}"
                         f" ({limit:,} tokens; raise with ${MAX_PROMPT_TOKENS_ENV})")


def prompt_ids(model: SAM, question: str, what: str = "the question") -> list[int]:
    """The prompt's token ids; a UsageError past max_prompt_tokens() (checked before any model work)."""
    check_prompt_length(question, what)
    ids = model.tokenizer.encode(format_prompt(question, model.cfg.prompt_template))
    limit = max_prompt_tokens()
    if len(ids) > limit:
        raise UsageError(f"{what} is {len(ids):,} tokens long with the prompt template; the most is {limit:,} "
                         f"(raise with ${MAX_PROMPT_TOKENS_ENV})")
    return ids


def check_choices(items: list[str], what: str = "--choices") -> list[str]:
    """The labels or choices stripped, empty ones dropped; a UsageError past the limits on their count, their
    total length or one's length ($SAM_MAX_CHOICES, $SAM_MAX_CHOICES_CHARS, MAX_CHOICE_CHARS)."""
    count, chars = _limit(MAX_CHOICES_ENV, DEFAULT_MAX_CHOICES), _limit(MAX_CHOICES_CHARS_ENV, DEFAULT_MAX_CHOICES_CHARS)
    if len(items) > 4 * count:  # before stripping a huge list item by item
        raise UsageError(f"{what} has {len(items):,} items; the most is {count:,} (raise with ${MAX_CHOICES_ENV})")
    items = [c.strip() for c in items if c.strip()]
    if len(items) > count:
        raise UsageError(f"{what} has {len(items):,} items; the most is {count:,} (raise with ${MAX_CHOICES_ENV})")
    total = sum(len(c) for c in items)
    if total > chars:
        raise UsageError(f"{what} is {total:,} characters long in all; the most is {chars:,} "
                         f"(raise with ${MAX_CHOICES_CHARS_ENV})")
    longest = max(items, key=len, default="")
    if len(longest) > MAX_CHOICE_CHARS:
        raise UsageError(f"{what}: one item is {len(longest):,} characters long; the most is {MAX_CHOICE_CHARS:,}")
    return items


SILENT_ANSWER = "Silence."


def silent(window: A.AudioWindow, opts: DecodeOptions) -> bool:
    """Whether `window`'s own samples (not the encoder's padding) are below `opts.silence_db`."""
    return opts.silence_db is not None and A.peak_db(window.samples) < opts.silence_db


def gated_prompts(model: SAM) -> list[list[int]]:
    """The prompts answered SILENT_ANSWER on a silent window without the model: the caption and the tag
    prompts, which ask what is heard (sam-tiny, which never heard digital silence, captions it "A seagull
    cries."). Any other question goes to the model: asked "Is there a dog?" about silence it says "No.",
    which "Silence." would not say."""
    return [prompt_ids(model, model.cfg.describe_prompt), prompt_ids(model, CLASSIFY_PROMPT)]


def answer_windows(model: SAM, wins: list[A.AudioWindow], prompts: list[list[int]], opts: DecodeOptions | None = None,
                   timings: Timings | None = None, on_token: Callable[[int, str], None] | None = None) -> list[str]:
    """The answer to prompts[i] about wins[i], the windows in one batch; a silent window asked a gated prompt
    (`gated_prompts`) is answered SILENT_ANSWER without the model. `on_token(i, text)` receives row i's text
    as it is decoded."""
    opts = opts or DecodeOptions()
    answers: list[str | None] = [None] * len(wins)
    quiet = [i for i, w in enumerate(wins) if silent(w, opts)]
    if quiet:  # the prompts are tokenized only when a window is silent: the common case pays one peak a window
        gated = gated_prompts(model)
        for i in quiet:
            if prompts[i] in gated:
                answers[i] = SILENT_ANSWER
                if on_token is not None:
                    on_token(i, SILENT_ANSWER)
    heard = [i for i, a in enumerate(answers) if a is None]
    if not heard:
        return answers
    audio_embeds, _ = encode_windows(model, [wins[i] for i in heard], timings)
    streams = [model.tokenizer.stream() for _ in heard]
    callback = None
    if on_token is not None:
        def callback(row: int, tok: int) -> None:
            piece = streams[row].push(tok)
            if piece:
                on_token(heard[row], piece)
    outs = generate(model, audio_embeds, [prompts[i] for i in heard], opts, on_token=callback, timings=timings)
    for i, out, stream in zip(heard, outs, streams):
        if on_token is not None and (tail := stream.flush()):
            on_token(i, tail)
        answers[i] = model.tokenizer.decode(out).strip()
    return answers


def iter_answers(model: SAM, audio: AudioInput, question: str, opts: DecodeOptions | None = None,
                 batch_size: int = 8, on_token: Callable[[int, str], None] | None = None,
                 timings: Timings | None = None) -> Iterator[Segment]:
    """Answer `question` about each window of `audio`, yielding one Segment per window as it is done.

    `on_token(window_index, text)` receives text as it is decoded (streaming; windows in one batch
    interleave, so streaming callers should use batch_size=1).
    """
    ids = prompt_ids(model, question)
    for batch in _batches(windows(model, audio), batch_size):
        callback = None if on_token is None else (lambda row, text, batch=batch: on_token(batch[row].index, text))
        texts = answer_windows(model, batch, [ids] * len(batch), opts, timings, callback)
        for w, text in zip(batch, texts):
            yield Segment(w.start, w.end, text)


def describe(model: SAM, audio: AudioInput, prompt: str | None = None, **kw) -> list[Segment]:
    return list(iter_answers(model, audio, prompt or model.cfg.describe_prompt, **kw))


def ask(model: SAM, audio: AudioInput, question: str, **kw) -> list[Segment]:
    if not question.strip():
        raise UsageError("the question is empty")
    return list(iter_answers(model, audio, question, **kw))


@torch.inference_mode()
def choose(model: SAM, audio: AudioInput, question: str, choices: list[str],
           timings: Timings | None = None) -> list[tuple[str, float]]:
    """Probability of each choice (softmax over their scores, averaged over windows), best first. A choice is
    scored as the whole answer (see spelling_scores)."""
    choices = choice_list(choices)
    ids = prompt_ids(model, question)
    per_window = []
    for w in windows(model, audio):
        audio_embeds, _ = encode_windows(model, [w], timings)
        per_window.append(spelling_scores(model, audio_embeds, ids, choices, complete=True).softmax(dim=0))
    return ranked_choices(choices, per_window)


def choice_list(choices: list[str], what: str = "--choices") -> list[str]:
    """`check_choices`, and at least two, all different (a UsageError)."""
    choices = check_choices(choices, what)
    if len(choices) < 2:
        raise UsageError(f"{what} needs at least two choices")
    if len(set(choices)) != len(choices):
        raise UsageError(f"{what} has the same choice twice")
    return choices


def window_mean(per_window: list[torch.Tensor], size: int) -> torch.Tensor:
    """The mean of each window's probabilities, summed in window order (the server sums them so too)."""
    total = torch.zeros(size)
    for probs in per_window:
        total += probs
    return total / len(per_window)


def ranked_choices(choices: list[str], per_window: list[torch.Tensor]) -> list[tuple[str, float]]:
    """choose's answer from each window's softmax over the choices: best first."""
    probs = window_mean(per_window, len(choices)).tolist()
    return sorted(zip(choices, probs), key=lambda cp: -cp[1])


def head_names(model: SAM, count: int) -> list[str]:
    """The names of the audio head's classes."""
    return model.cfg.labels or [f"class_{i}" for i in range(count)]


def top_scores(names: list[str], scores: torch.Tensor, top_k: int) -> list[tuple[str, float]]:
    k = min(top_k, len(names))
    top = torch.topk(scores, k)
    return [(names[i], float(v)) for v, i in zip(top.values.tolist(), top.indices.tolist())]


@torch.inference_mode()
def classify(model: SAM, audio: AudioInput, labels: list[str] | None = None, top_k: int = 5,
             prompt: str | None = None, timings: Timings | None = None,
             opts: DecodeOptions | None = None) -> list[tuple[str, float]]:
    """Top-k tags with scores.

    Without `labels`: the encoder's own AudioSet head (sigmoid; max over windows, as AudioSet's clip-level
    labels); a model without one (the bundled sam-tiny) writes its tags as the answer to LTU's
    classification prompt, and a tag's score is the share of windows whose answer names it. With `labels`:
    each label scored by the LM as an item of its answer to the classification prompt (`label_scores`;
    softmax over labels, averaged over windows).
    """
    if labels is not None:
        labels = check_choices(labels, "--labels")
        if not labels:
            raise UsageError("the label list is empty")
        ids = prompt_ids(model, prompt or CLASSIFY_PROMPT, "the prompt")
        per_window = []
        for w in windows(model, audio):
            audio_embeds, _ = encode_windows(model, [w], timings)
            per_window.append(label_scores(model, audio_embeds, ids, labels, timings, opts).softmax(dim=0))
        scores, names = window_mean(per_window, len(labels)), labels
    else:
        if not model.has_audio_head:
            return _written_tags(model, audio, prompt or CLASSIFY_PROMPT, top_k, timings, opts)
        best = None
        for batch in _batches(windows(model, audio), 8):
            _, tokens = encode_windows(model, batch, timings)
            probs = model.classify(tokens).amax(dim=0).cpu()
            best = probs if best is None else torch.maximum(best, probs)
        scores, names = best, head_names(model, len(best))
    return top_scores(names, scores, top_k)


def _written_tags(model: SAM, audio: AudioInput, prompt: str, top_k: int, timings: Timings | None,
                  opts: DecodeOptions | None = None) -> list[tuple[str, float]]:
    """Tags as the model writes them ("Dog, Piano."), scored by the share of windows that name each."""
    return written_tags([seg.text for seg in iter_answers(model, audio, prompt, opts, timings=timings)], top_k)


def written_tags(answers: list[str], top_k: int) -> list[tuple[str, float]]:
    """The tags of each window's answer to the classification prompt, by the share of windows naming each."""
    seen: dict[str, tuple[str, int]] = {}  # lowercased tag -> (first spelling, windows naming it)
    n = 0
    for text in answers:
        n += 1
        names = dict.fromkeys(t.strip(" .\n\t") for t in re.split(r"[,;]", text))  # ordered, no repeats
        for name in filter(None, names):
            name = name[0].upper() + name[1:]  # "Bell ringing, woman speaking." -> two tags alike
            spelling, count = seen.get(name.lower(), (name, 0))
            seen[name.lower()] = (spelling, count + 1)
    ranked = sorted(seen.values(), key=lambda sc: -sc[1])  # stable: equal shares keep the model's order
    return [(spelling, count / max(n, 1)) for spelling, count in ranked[:top_k]]
