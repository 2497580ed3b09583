"""The one decode loop: prefill [E_a, E_p] once, then take tokens step by step from the fixed-size state.

- `generate`: greedy by default (as the paper), optional temperature / top-k / top-p sampling; a row stops at
  EOS, at the length limit, or when its tail starts repeating itself (`options.Rows`).
- Rows of different prompt lengths are prefilled in groups of equal length (padding would leak into an SSM
  state; docs/design.md §9), then decoded together, so a batched result equals the one-by-one result.
- The backend (`accel.select.lm_runner`) only supplies the tokens of each step (`Runner.decode_tokens`): one
  step at a time, or several a launch from CUDA graphs. The rules, streaming and timings are here, once.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch import Tensor

from sam_cli.accel.runner import Runner
from sam_cli.accel.select import lm_runner
from sam_cli.decoding.options import DecodeOptions, Rows, Timings, pick_next
from sam_cli.models.mamba2 import InferenceState, Mamba2LMHeadModel
from sam_cli.models.sam import SAM


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def prompt_embeds(runner: Runner, audio_embeds: Tensor, prompts: list[list[int]]) -> Tensor | list[Tensor]:
    """[E_a, E_p] of each row: one [n, M + P, D] tensor when every row has the same prompt (a few ops, not
    three a row), else a list of [M + P_i, D]."""
    dtype, device = runner.dtype, audio_embeds.device
    n = len(prompts)
    if all(p == prompts[0] for p in prompts):
        text = runner.embed(torch.tensor(prompts[0], dtype=torch.long, device=device))
        return torch.cat([audio_embeds[:n].to(dtype), text.unsqueeze(0).expand(n, -1, -1)], dim=1)
    return [torch.cat([audio_embeds[i].to(dtype), runner.embed(torch.tensor(p, dtype=torch.long, device=device))])
            for i, p in enumerate(prompts)]


@torch.inference_mode()
def prefill_batch(model: SAM, audio_embeds: Tensor, prompts: list[list[int]],
                  runner: Runner | None = None) -> tuple[Tensor, InferenceState]:
    """Prefill row i with [audio_embeds[i], prompts[i]] -> (last logits [B, V], state), in row order."""
    runner = runner or lm_runner(model.lm)
    return runner.prefill_rows(prompt_embeds(runner, audio_embeds, prompts))


def decode(runner: Runner, embeds: Tensor | list[Tensor], opts: DecodeOptions, eos: int | None,
           on_token: Callable[[int, int], None] | None = None, timings: Timings | None = None) -> list[list[int]]:
    """Prefill each row from `embeds` and decode until every row stopped; the new tokens of each row."""
    device = runner.device
    generator = None
    if opts.seed is not None:
        generator = torch.Generator(device=device).manual_seed(opts.seed)
    rows = Rows(len(embeds), eos, opts, on_token)
    t0 = time.perf_counter()
    logits, state = runner.prefill_rows(embeds)
    _sync(device)
    t1 = time.perf_counter()
    if opts.max_new_tokens > 0:
        def pick(lg: Tensor) -> Tensor:
            return pick_next(lg, opts, generator)

        first = pick(logits)
        if not rows.accept(first.tolist()):
            for tokens in runner.decode_tokens(first, state, opts.max_new_tokens - 1, pick):
                if rows.accept(tokens):
                    break
    if timings is not None:
        _sync(device)
        warm = 0.0
        for key, value in runner.last_extra.items():
            if key.endswith("_s"):  # warm-up (compiling, capturing): reported apart from the steady state
                timings.extra[key] = timings.extra.get(key, 0.0) + value
                warm += value
            else:
                timings.extra[key] = value
        timings.prefill_s += t1 - t0 - warm
        timings.decode_s += time.perf_counter() - t1
        timings.new_tokens += sum(len(o) for o in rows.out)
    return rows.out


@torch.inference_mode()
def generate(model: SAM, audio_embeds: Tensor, prompts: list[list[int]], opts: DecodeOptions | None = None,
             on_token: Callable[[int, int], None] | None = None, timings: Timings | None = None) -> list[list[int]]:
    """Decode an answer for each row; returns the new token ids (EOS excluded).

    `on_token(row, token_id)` is called as each token is decided (for streaming to a terminal).
    """
    opts = opts or DecodeOptions()
    runner = lm_runner(model.lm, greedy=opts.greedy, state_dtype=opts.state_dtype)
    embeds = prompt_embeds(runner, audio_embeds, prompts)
    return decode(runner, embeds, opts, model.tokenizer.eos_id, on_token, timings)


@torch.inference_mode()
def greedy_tokens(lm: Mamba2LMHeadModel, input_ids: Tensor, max_new_tokens: int, eos_id: int | None = None,
                  state_dtype: str = "fp32") -> Tensor:
    """Greedy continuation of equal-length prompts through the decode loop: [B, max_new_tokens] (rows that
    stop at EOS are padded with it). The LM-level entry point of benchmarks and tests; no loop guard."""
    runner = lm_runner(lm, greedy=True, state_dtype=state_dtype)
    opts = DecodeOptions(max_new_tokens=max_new_tokens, loop_repeats=0, state_dtype=state_dtype)
    out = decode(runner, runner.embed(input_ids), opts, eos_id)
    pad = eos_id if eos_id is not None else 0
    return torch.tensor([o + [pad] * (max_new_tokens - len(o)) for o in out], dtype=torch.long)
