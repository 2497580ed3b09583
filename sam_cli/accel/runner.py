"""The one interface through which decoding, scoring, batching and training's samples run a Mamba-2 LM.

A `Runner` wraps one backend (`accel.select` picks it): the pure-PyTorch reference model, the reference with
the CPU's fp16 decode step, or the fused GPU kernels. All take and return the same things (the reference's
`InferenceState` layout), so any of them can continue another's state:

- `forward(...)`: as `Mamba2LMHeadModel.forward` (a sequence in parallel, optionally from / to a state);
- `step(ids, state)`: one token a row, the state updated in place;
- `prefill_rows(embeds)`: rows of any lengths from zero states (equal lengths run together: padding would
  leak into an SSM state) -> the last logits and one batched state;
- `decode_tokens(first, state, n, pick)`: the tokens of the next n steps, one list a step. The eager runners
  step and pick one token at a time; `GraphRunner` replays CUDA graphs that step and pick on the GPU, several
  steps a launch. This is the only part a CUDA graph replaces: the decode loop itself
  (`decoding.generate`) is the same for every backend.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from sam_cli.models.mamba2 import InferenceState

Pick = Callable[[Tensor], Tensor]


def cat_states(states: list[InferenceState]) -> InferenceState:
    """Join per-group states along the batch dimension."""
    first = states[0]
    return InferenceState(
        conv_states=[torch.cat([s.conv_states[i] for s in states]) for i in range(len(first.conv_states))],
        ssm_states=[torch.cat([s.ssm_states[i] for s in states]) for i in range(len(first.ssm_states))],
    )


def length_groups(lengths: list[int]) -> list[list[int]]:
    """Row indices grouped by equal length, shortest first."""
    groups: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        groups.setdefault(n, []).append(i)
    return [rows for _, rows in sorted(groups.items())]


class Runner:
    """An eager backend: `impl` has the reference's forward / step / embed (the model itself, or its fused
    view); `step` may be replaced (the CPU's fp16 step)."""

    def __init__(self, name: str, impl: Any, step: Callable[..., Tensor] | None = None):
        self.name = name
        self.impl = impl
        self._step = step or impl.step
        # What the last prefill_rows reports for --stats: warm-up seconds (`*_s`, kept apart from the steady
        # state's figures) and the decode variant.
        self.last_extra: dict[str, Any] = {}

    @property
    def device(self) -> torch.device:
        return self.impl.device

    @property
    def dtype(self) -> torch.dtype:
        return self.impl.dtype

    def embed(self, ids: Tensor) -> Tensor:
        return self.impl.embed(ids)

    def forward(self, *args: Any, **kw: Any) -> Any:
        return self.impl.forward(*args, **kw)

    __call__ = forward

    def step(self, ids: Tensor | None, state: InferenceState, inputs_embeds: Tensor | None = None) -> Tensor:
        return self._step(ids, state, inputs_embeds)

    def prefill(self, embeds: Tensor, state: InferenceState | None = None) -> tuple[Tensor, InferenceState]:
        """[B, L, D] of equal-length rows (from `state`, or zero) -> (last logits [B, V], state after)."""
        logits, state = self.forward(inputs_embeds=embeds, state=state, return_state=True, num_last_tokens=1)
        return logits[:, -1], state

    def prefill_rows(self, embeds: Tensor | list[Tensor]) -> tuple[Tensor, InferenceState]:
        """Row i from embeds[i] ([L_i, D]; or one [n, L, D] tensor) -> (last logits [n, V], state), in row order."""
        if isinstance(embeds, Tensor):
            return self.prefill(embeds)
        groups = length_groups([e.shape[0] for e in embeds])
        if len(groups) == 1:
            return self.prefill(torch.stack(embeds))
        order, logits, states = [], [], []
        for rows in groups:
            lg, st = self.prefill(torch.stack([embeds[i] for i in rows]))
            order += rows
            logits.append(lg)
            states.append(st)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        inverse = inverse.to(logits[0].device)
        return torch.cat(logits)[inverse], cat_states(states).index_select(inverse)

    def decode_tokens(self, first: Tensor, state: InferenceState, max_steps: int, pick: Pick) -> Iterator[list[int]]:
        """Feed `first` (a token a row), then yield the picked tokens of up to `max_steps` steps."""
        tokens = first
        for _ in range(max_steps):
            tokens = pick(self.step(tokens, state))
            yield tokens.tolist()


class GraphRunner(Runner):
    """Greedy decoding on CUDA graphs (`accel.cuda_graphs`): the fused backend, whose `decode_tokens` replays
    graphs of several whole steps, the greedy pick included. Prefill writes into the graph decoder's static
    state, which the next `prefill_rows` of this runner overwrites."""

    def __init__(self, fast: Any, decoders: Any, state_dtype: torch.dtype | None):
        super().__init__("cuda-graphs", fast)
        self.decoders, self.state_dtype = decoders, state_dtype
        self._decoder: Any = None

    def prefill_rows(self, embeds: Tensor | list[Tensor]) -> tuple[Tensor, InferenceState]:
        from sam_cli.accel.cuda_graphs import prefill_rows

        t0 = time.perf_counter()
        dec = self.decoders.get(len(embeds), self.state_dtype)
        built = time.perf_counter() - t0
        self.last_extra = {"decode_variant": dec.variant}
        if built > 0.05:  # a decoder was built (compile, capture)
            self.last_extra["graph_build_s"] = built
        captured = dec.prefill_graphs.capture_s
        logits = prefill_rows(dec, embeds)
        captured = dec.prefill_graphs.capture_s - captured
        if captured > 0:
            self.last_extra["prefill_capture_s"] = captured
        self._decoder = dec
        return logits, dec.state

    def decode_tokens(self, first: Tensor, state: InferenceState, max_steps: int, pick: Pick) -> Iterator[list[int]]:
        dec = self._decoder
        if dec is None or state is not dec.state:
            raise RuntimeError("GraphRunner.decode_tokens continues only its own last prefill_rows")
        return dec.tokens_after(first, max_steps)  # greedy: the graphs pick on the GPU
