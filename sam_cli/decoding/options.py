"""Decoding options and rules: what to pick next, when a row stops, and the timings `--stats` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

STATE_DTYPES = ("fp32", "model")


@dataclass
class DecodeOptions:
    max_new_tokens: int = 96
    temperature: float = 0.0  # 0: greedy
    top_k: int = 0  # 0: no top-k filter
    top_p: float = 1.0
    # Stop a row whose last `loop_ngram`..1 tokens have repeated `loop_repeats` times back to back: a
    # greedy SSM that falls into a loop stays there, and the loop is never the answer.
    loop_repeats: int = 4
    loop_ngram: int = 8
    seed: int | None = None
    # The SSM state of GPU graph decoding: "model" (the weights' dtype, as mamba_ssm's generate() keeps it:
    # half the state bytes a step, so faster at large batches) or "fp32" (exact, as the CPU path). The
    # bundled model's answers and metrics were the same either way (BENCHMARKS.md), so the faster one is the
    # default.
    state_dtype: str = "model"
    # A window whose loudest sample is below this level (dBFS) is captioned "Silence." without the model
    # (`tasks.answer_windows`): -70 dBFS is about 10 steps of 16-bit audio, inaudible, and below the quietest
    # noise bed the training clips call noise. None: every window goes through the model.
    silence_db: float | None = -70.0

    def __post_init__(self) -> None:
        if self.state_dtype not in STATE_DTYPES:
            raise ValueError(f"state_dtype must be one of {', '.join(STATE_DTYPES)}, not {self.state_dtype!r}")
        if self.silence_db is not None and not self.silence_db <= 0:
            raise ValueError(f"silence_db is a level in dBFS (<= 0) or None, not {self.silence_db!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


def pick_next(logits: torch.Tensor, opts: DecodeOptions, generator: torch.Generator | None) -> torch.Tensor:
    logits = logits.float()
    if opts.greedy:
        return logits.argmax(dim=-1)
    logits = logits / opts.temperature
    if opts.top_k > 0:
        kth = torch.topk(logits, min(opts.top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if opts.top_p < 1.0:
        sorted_logits, idx = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(dim=-1)
        # Drop tokens once the mass before them already reaches top_p (the first token always stays).
        drop = probs.cumsum(dim=-1) - probs >= opts.top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, idx, sorted_logits)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def loop_length(tokens: list[int], repeats: int, max_ngram: int) -> int:
    """Length n of an n-gram that ends `tokens` and repeats `repeats` times back to back, else 0."""
    for n in range(1, max_ngram + 1):
        if len(tokens) < n * repeats:
            break
        tail = tokens[-n:]
        if all(tokens[-(k + 1) * n : len(tokens) - k * n] == tail for k in range(1, repeats)):
            return n
    return 0


@dataclass
class Timings:
    """Wall-clock seconds spent in each phase, summed over calls (for `--stats`)."""

    encode_s: float = 0.0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    new_tokens: int = 0
    extra: dict = field(default_factory=dict)


class Rows:
    """The decode loop's per-row rules, applied one step at a time: stop a row at EOS (not kept) or when its
    tail loops, stream kept tokens to on_token."""

    def __init__(self, n: int, eos: int | None, opts: DecodeOptions, on_token: Callable[[int, int], None] | None):
        self.out: list[list[int]] = [[] for _ in range(n)]
        self.done = [False] * n
        self.eos, self.opts, self.on_token = eos, opts, on_token

    def accept(self, tokens: list[int]) -> bool:
        """One step's tokens (one a row); True once every row is done."""
        opts, out, done = self.opts, self.out, self.done
        for row, tok in enumerate(tokens):
            if done[row]:
                continue
            if tok == self.eos:
                done[row] = True
                continue
            out[row].append(tok)
            if self.on_token:
                self.on_token(row, tok)
            loop = loop_length(out[row], opts.loop_repeats, opts.loop_ngram) if opts.loop_repeats > 1 else 0
            if loop:
                del out[row][len(out[row]) - loop * (opts.loop_repeats - 1):]  # keep one copy of the loop
                done[row] = True
        return all(done)


