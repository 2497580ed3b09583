"""Decoding: prefill [E_a, E_p] once, then step token by token from the fixed-size recurrent state.

- `generate`: greedy by default (as the paper), optional temperature / top-k / top-p sampling, stops at EOS,
  at a length limit, or when the tail starts repeating itself.
- Batches: rows are prefilled in groups of equal prompt length (padding would leak into an SSM state,
  DESIGN §9); the per-row states are then joined and decoded together, so a batched result equals the
  one-by-one result.
- `score_candidates`: several answers scored from ONE prefilled state, cloned per candidate.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from sam_cli.mamba2 import InferenceState
from sam_cli.model import SAM


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
    # half the state bytes a step, 1.3-1.4x faster at batch 64) or "fp32" (exact, as the CPU path). On 200
    # held-out scenes the bundled model gave 1018 of 1022 answers identical and every metric equal
    # (BENCHMARKS.md), so the faster one is the default.
    state_dtype: str = "model"

    def __post_init__(self) -> None:
        if self.state_dtype not in STATE_DTYPES:
            raise ValueError(f"state_dtype must be one of {', '.join(STATE_DTYPES)}, not {self.state_dtype!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


def cat_states(states: list[InferenceState]) -> InferenceState:
    """Join per-group states along the batch dimension."""
    first = states[0]
    return InferenceState(
        conv_states=[torch.cat([s.conv_states[i] for s in states]) for i in range(len(first.conv_states))],
        ssm_states=[torch.cat([s.ssm_states[i] for s in states]) for i in range(len(first.ssm_states))],
    )


@torch.inference_mode()
def prefill_batch(model: SAM, audio_embeds: torch.Tensor, prompts: list[list[int]]) -> tuple[torch.Tensor, InferenceState]:
    """Prefill row i with [audio_embeds[i], prompts[i]]; returns (last logits [B, V], state), in row order."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        groups[len(p)].append(i)
    order, logits, states = [], [], []
    for _, rows in sorted(groups.items()):
        ids = torch.tensor([prompts[i] for i in rows], dtype=torch.long, device=audio_embeds.device)
        lg, st = model.prefill(audio_embeds[rows], ids)
        order += rows
        logits.append(lg)
        states.append(st)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    inverse = inverse.to(audio_embeds.device)
    state = cat_states(states) if len(states) > 1 else states[0]
    return torch.cat(logits)[inverse], state.index_select(inverse) if len(states) > 1 else state


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


def _loop_length(tokens: list[int], repeats: int, max_ngram: int) -> int:
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


class _Rows:
    """generate()'s per-row rules, applied one step at a time: stop a row at EOS (not kept) or when its tail
    loops, stream kept tokens to on_token. Shared by the eager loop and the CUDA-graph loop
    (sam_cli.cuda_graphs), so both decide identically."""

    def __init__(self, n: int, eos: int, opts: DecodeOptions, on_token: Callable[[int, int], None] | None):
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
            loop = _loop_length(out[row], opts.loop_repeats, opts.loop_ngram)
            if loop:
                del out[row][len(out[row]) - loop * (opts.loop_repeats - 1):]  # keep one copy of the loop
                done[row] = True
        return all(done)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def generate(model: SAM, audio_embeds: torch.Tensor, prompts: list[list[int]], opts: DecodeOptions | None = None,
             on_token: Callable[[int, int], None] | None = None, timings: Timings | None = None) -> list[list[int]]:
    """Decode an answer for each row; returns the new token ids (EOS excluded).

    `on_token(row, token_id)` is called as each token is decided (for streaming to a terminal).
    """
    opts = opts or DecodeOptions()
    t0 = time.perf_counter()
    eos = model.tokenizer.eos_id
    generator = None
    if opts.seed is not None:
        generator = torch.Generator(device=audio_embeds.device).manual_seed(opts.seed)
    rows = _Rows(len(prompts), eos, opts, on_token)
    if opts.greedy and audio_embeds.device.type == "cuda":
        # Greedy on a GPU: prefill and decode through fused kernels and CUDA graphs, same rules (`rows`).
        from sam_cli.cuda_graphs import generate_greedy

        out = generate_greedy(model, audio_embeds, prompts, opts, rows, timings)
        if out is not None:
            return out
    logits, state = prefill_batch(model, audio_embeds, prompts)
    _sync(audio_embeds.device)
    t1 = time.perf_counter()
    for _ in range(opts.max_new_tokens):
        tokens = pick_next(logits, opts, generator)
        if rows.accept(tokens.tolist()):
            break
        # Finished rows keep stepping on EOS: cheaper than re-packing the batch, and it cannot touch others.
        tokens = tokens.masked_fill(torch.tensor(rows.done, device=tokens.device), eos)
        logits = model.step(tokens, state)
    if timings is not None:
        _sync(audio_embeds.device)
        timings.prefill_s += t1 - t0
        timings.decode_s += time.perf_counter() - t1
        timings.new_tokens += sum(len(o) for o in rows.out)
    return rows.out


@torch.inference_mode()
def score_candidates(model: SAM, audio_embeds: torch.Tensor, prompt: list[int], candidates: list[list[int]],
                     chunk: int = 64, complete: bool = True) -> torch.Tensor:
    """Score of each candidate answer for ONE clip.

    complete=True: the candidate as the whole answer, the mean log-probability per token with EOS included
    (answers of different lengths compare per token). complete=False: log P(the answer begins with the
    candidate), the sum over its tokens without EOS; a probability of one event per candidate, so labels of
    different lengths compare as they are (e.g. the next item of a tag list, which goes on after it).

    The clip and prompt are prefilled once; the state is cloned per candidate and every candidate is run
    in one batched forward from it. Right padding among candidates is harmless: the LM is causal and only
    each candidate's own positions are read.
    """
    if audio_embeds.shape[0] != 1:
        raise ValueError("score_candidates takes one clip")
    return scores_after(model, *prefill_batch(model, audio_embeds, [prompt]), candidates, chunk, complete)


def scores_after(model: SAM, last: torch.Tensor, state: InferenceState, candidates: list[list[int]],
                 chunk: int = 64, complete: bool = True) -> torch.Tensor:
    """score_candidates from one prefilled row: `last` its next-token logits [1, V], `state` its state."""
    eos = model.tokenizer.eos_id
    device = last.device
    first_logp = F.log_softmax(last.float(), dim=-1)[0]
    scores = []
    for start in range(0, len(candidates), chunk):
        group = [list(c) + [eos] if complete else list(c) for c in candidates[start : start + chunk]]
        width = max(len(c) for c in group)
        ids = torch.full((len(group), width), eos, dtype=torch.long, device=device)
        for i, c in enumerate(group):
            ids[i, : len(c)] = torch.tensor(c)
        logits = model.lm_runner()(input_ids=ids[:, :-1], state=state.repeat_interleave(len(group))) if width > 1 else None
        for i, c in enumerate(group):
            total = first_logp[c[0]].item()
            if len(c) > 1:
                lp = F.log_softmax(logits[i, : len(c) - 1].float(), dim=-1)
                total += lp.gather(-1, ids[i, 1 : len(c)].unsqueeze(-1)).sum().item()
            scores.append(total / len(c) if complete else total)
    return torch.tensor(scores)
