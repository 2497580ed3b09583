"""Greedy decoding replayed from CUDA graphs (docs/design.md §9): one launch runs several whole decode steps.

A `GraphDecoder` holds, for one batch size, static buffers (the recurrent state, the token ids, scratch)
and a CUDA graph that runs STEPS_PER_GRAPH decode steps back to back: embedding, every layer, the final
norm, the LM head and the greedy pick, whose token is fed straight into the next step without leaving the
GPU. The host synchronises once per graph (every STEPS_PER_GRAPH tokens) to read the tokens and apply
generate()'s per-row rules (EOS, loop guard, streaming); meanwhile the next graph is already running when
more tokens are needed. A row that finished keeps decoding its own tokens until the batch ends; they are
ignored, and rows never influence each other, so every kept token is what eager decoding would give.

What a step runs (the "variant"), one of:
- "library": mamba_ssm / causal_conv1d kernels and cuBLAS, as FastMamba2.step (6 launches a layer);
- "hybrid":  the same, with conv update + SSM update fused into one Triton kernel (5 a layer);
- "fused":   sam_cli.accel.triton_decode's three kernels a layer (batches of up to 4 rows, ngroups 1).
All compute the same function; tests/test_gpu.py checks each against the eager reference. The variant is
chosen by a rule that follows the decode benchmarks (docs/gpu.md, BENCHMARKS.md): fused where it can run;
above 4 rows, hybrid with a state in the model dtype (its SSM update moves a half-precision state markedly
faster than mamba_ssm's) and library with the fp32 state (the two at parity there, library a little ahead).
The next candidate is built only when one fails. Building, compiling, capturing and timing every candidate
costs seconds of every process's start for the same choice; SAM_GRAPH_VARIANT=timed still does that and
keeps the fastest.
Building a decoder (compile, capture: the warm-up) is paid once per batch size and process;
`build_seconds` and `variant_ms` (ms a step of each variant built) report it.

The fused variant also fuses the greedy pick into the LM head (packed argmax keys, see triton_decode), so
its step has no separate argmax launch. A decoder's SSM state is fp32 unless `state_dtype` is given (as the
reference model); set to the model dtype it is kept as mamba_ssm's generate() keeps it, which halves the
bytes a large batch moves per step (the update itself is still computed in fp32). `generate_greedy` asks for
the model dtype unless DecodeOptions.state_dtype is "fp32".

The decoder also prefills its own state (`prefill`): a prompt length met for the second time is captured
in a graph of its own and replayed from then on (see there).

SAM_GRAPH_VARIANT=library|hybrid|fused forces one variant, =timed times every candidate (benchmarks,
debugging).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from sam_cli.accel.fast_mamba2 import LibraryStep
from sam_cli.models.mamba2 import MIXER_NORM_EPS, decode_step
from sam_cli.accel.shape_graphs import ShapeGraphs

STEPS_PER_GRAPH = 8  # even: the fused kernels' double-buffered conv state returns to buffer 0
VARIANTS = ("fused", "hybrid", "library")
# Prefill graphs: kept for a few prompt lengths a decoder, and only up to this size of prompt (rows x length
# x d_model): below it a prefill is bound by launching its kernels, beyond it the prefill keeps the GPU busy
# by itself and a graph would only hold memory (benchmarks/bench_graphs.py, BENCHMARKS.md).
# SAM_PREFILL_GRAPHS=0: every prefill eager.
MAX_PREFILL_GRAPHS = 4
PREFILL_GRAPH_SIZE = 0 if os.environ.get("SAM_PREFILL_GRAPHS") == "0" else 8 << 20


class GraphDecoder:
    def __init__(self, fast: Any, batch: int, steps: int = STEPS_PER_GRAPH, variants: tuple[str, ...] | None = None,
                 use_graphs: bool = True, state_dtype: torch.dtype | None = None):
        if steps % 2:
            raise ValueError("steps per graph must be even")
        t0 = time.perf_counter()
        self.fast, self.batch, self.steps, self.use_graphs = fast, batch, steps, use_graphs
        c = fast.cfg
        dev, dt = fast.device, fast.dtype
        with torch.inference_mode(False), torch.no_grad():
            self.state = fast.allocate_state(batch, state_dtype)  # canonical layout; conv history in buffer 0
            self.conv_alt = [torch.empty_like(t) for t in self.state.conv_states]  # buffer 1 (fused kernels)
            self.tokens = torch.zeros(steps + 1, batch, dtype=torch.long, device=dev)
            self.zx = torch.empty(batch, c.d_in_proj, device=dev, dtype=dt)
            self.y = torch.empty(batch, c.d_inner, device=dev, dtype=dt)
            self.residual = torch.empty(batch, c.d_model, device=dev, dtype=torch.float32)
            self.logits = torch.empty(batch, c.padded_vocab_size, device=dev, dtype=dt)
            # Fused variant: packed argmax keys; slot k + 1 receives step k's pick.
            self.packed = torch.empty(steps + 1, batch, dtype=torch.long, device=dev)
            # Timing on zeros can flatter; small random values are what a real state looks like.
            for t in self.state.conv_states + self.state.ssm_states:
                t.normal_(0, 0.01)
        self._weight_ptrs = self._ptrs()
        self.prefill_graphs = ShapeGraphs(self._prefill_eager, MAX_PREFILL_GRAPHS, self._prefill_small)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.variant = ""
        self.variant_ms: dict[str, float | str] = {}  # ms per step of each candidate, or why it failed
        forced = os.environ.get("SAM_GRAPH_VARIANT") or ""
        timed = variants is not None or forced == "timed"  # explicit candidates are all built and timed
        candidates = variants or ((forced,) if forced in VARIANTS else self.candidates())
        best = None
        for v in candidates:
            try:
                graph, ms = self._build(v)
            except Exception as e:  # noqa: BLE001 - a variant that cannot run here is simply not used
                self.variant_ms[v] = f"failed: {type(e).__name__}: {str(e)[:200]}"
                continue
            self.variant_ms[v] = ms
            if best is None or ms < best[2]:
                best = (v, graph, ms)
            if not timed:  # the rule's first choice that runs
                break
        if best is None:
            raise RuntimeError(f"no decode variant could run: {self.variant_ms}")
        self.variant, self.graph = best[0], best[1]
        if self.tokens.is_cuda:
            torch.cuda.synchronize()
        self.build_seconds = time.perf_counter() - t0

    # --- which variants ---------------------------------------------------------------------------------
    def candidates(self) -> tuple[str, ...]:
        """The variants that can run this batch, the rule's choice first (see the module's docstring)."""
        from sam_cli.accel.triton_decode import MAX_GEMV_ROWS

        c = self.fast.cfg
        out = []
        if self.batch <= MAX_GEMV_ROWS and c.ngroups == 1:
            out.append("fused")
        fp32_state = self.state.ssm_states[0].dtype == torch.float32
        out += ["library", "hybrid"] if fp32_state else ["hybrid", "library"]
        return tuple(out)

    def _ptrs(self) -> tuple[int, ...]:
        return tuple(t.data_ptr() for p in self.fast.layers for t in (p.in_w, p.out_w))

    def uses_stale_weights(self) -> bool:
        return self._ptrs() != self._weight_ptrs

    # --- one step, three ways (the stages: see the *GraphStep classes below) -----------------------------------------------------------------------------
    def conv_buffers(self, k: int) -> tuple[list[Tensor], list[Tensor]]:
        a, b = self.state.conv_states, self.conv_alt
        return (a, b) if k % 2 == 0 else (b, a)

    def step_fn(self, variant: str) -> Callable[[int], None]:
        """Step k of a graph: the one decode step (models.mamba2.decode_step) with this variant's stages."""
        ops = {"library": _LibraryGraphStep, "hybrid": _HybridGraphStep, "fused": _FusedGraphStep}[variant]
        return lambda k: decode_step(ops(self, k), self.state, self.tokens[k])

    def run_steps(self, variant: str) -> None:
        """STEPS_PER_GRAPH steps, then the last token moved to slot 0: what one graph replay does."""
        from sam_cli.accel.triton_decode import PACKED_EMPTY, unpack_argmax

        fn = self.step_fn(variant)
        if variant == "fused":
            self.packed.fill_(PACKED_EMPTY)
        for k in range(self.steps):
            fn(k)
        if variant == "fused":
            self.tokens[self.steps].copy_(unpack_argmax(self.packed[self.steps]))
        self.tokens[0].copy_(self.tokens[self.steps])

    # --- capture and choice -------------------------------------------------------------------------------
    @torch.no_grad()
    def _build(self, variant: str) -> tuple[torch.cuda.CUDAGraph | None, float]:
        if not self.use_graphs:  # eager replay (debugging, and the Triton interpreter in tests)
            self.run_steps(variant)
            return None, 0.0
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up: compile, autotune, cuBLAS workspaces -- not captured
            self.run_steps(variant)
            self.run_steps(variant)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.run_steps(variant)
        for _ in range(2):
            graph.replay()
        times = []
        for _ in range(3):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            graph.replay()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / self.steps)
        return graph, sorted(times)[1]

    def replay(self) -> None:
        if self.graph is None:
            self.run_steps(self.variant)
        else:
            self.graph.replay()

    # --- prefill -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def prefill(self, embeds: Tensor) -> Tensor:
        """Prefill every row of the static state from `embeds` [batch, L, d_model] (from zero state); returns
        the last position's logits [batch, V] (fp32, a tensor of the caller's own). A length met again is
        replayed from a CUDA graph that writes straight into the static state (sam_cli.accel.shape_graphs), when
        the prompt is small enough to be bound by kernel launches (PREFILL_GRAPH_SIZE)."""
        if embeds.shape[0] != self.batch:
            raise ValueError(f"prefill of {embeds.shape[0]} rows into a decoder of batch {self.batch}")
        return self.prefill_graphs(embeds.to(self.fast.dtype))

    def _prefill_eager(self, embeds: Tensor) -> Tensor:
        lg, _ = self.fast.forward(inputs_embeds=embeds, return_state=True, num_last_tokens=1, out_state=self.state)
        return lg[:, -1].float()

    def _prefill_small(self, shape: torch.Size) -> bool:
        return self.use_graphs and shape[0] * shape[1] * shape[2] <= PREFILL_GRAPH_SIZE

    # --- decoding ------------------------------------------------------------------------------------------
    def tokens_after(self, first: Tensor, max_steps: int) -> Iterator[list[int]]:
        """Feed `first` (one token id a row) and yield each following step's tokens (a list, one per row),
        at most `max_steps` of them; the caller may stop early. The next graph is launched before the host
        reads the current one's tokens, whenever more are needed."""
        if max_steps <= 0:
            return
        self.tokens[0].copy_(first)
        if not self.tokens.is_cuda:  # eager and synchronous (CPU tests through the Triton interpreter)
            yielded = 0
            while True:
                self.replay()
                for row in self.tokens[1:].tolist():
                    yield row
                    yielded += 1
                    if yielded >= max_steps:
                        return
        host = torch.empty(2, self.steps, self.batch, dtype=torch.long, pin_memory=True)
        ready = [torch.cuda.Event(), torch.cuda.Event()]
        launched, yielded, slot = 0, 0, 0

        def launch(s: int) -> None:
            self.replay()
            host[s].copy_(self.tokens[1:], non_blocking=True)
            ready[s].record()

        launch(slot)
        launched += self.steps
        while True:
            if launched < max_steps:  # keep the GPU busy while the host reads
                launch(1 - slot)
                launched += self.steps
            ready[slot].synchronize()
            for row in host[slot].tolist():
                yield row
                yielded += 1
                if yielded >= max_steps:
                    return
            slot = 1 - slot


def prefill_rows(dec: GraphDecoder, embeds: list[Tensor] | Tensor) -> Tensor:
    """Prefill row i of the decoder's state with embeds[i] (each [L_i, D]; or one [n, L, D] tensor); rows of
    equal length run together (padding would leak into an SSM state), and when all rows have one length,
    through the decoder's prefill (graph-replayed once the length recurs). Returns the last position's
    logits [n, V] (fp32), in row order."""
    if isinstance(embeds, Tensor):
        return dec.prefill(embeds)
    fast, n = dec.fast, len(embeds)
    groups: dict[int, list[int]] = {}
    for i, e in enumerate(embeds):
        groups.setdefault(e.shape[0], []).append(i)
    if len(groups) == 1:
        return dec.prefill(torch.stack(embeds))
    logits = torch.empty(n, fast.cfg.padded_vocab_size, device=fast.device, dtype=torch.float32)
    for _, rows in sorted(groups.items()):
        x = torch.stack([embeds[i] for i in rows])
        contiguous = rows == list(range(rows[0], rows[-1] + 1))
        out_rows = slice(rows[0], rows[-1] + 1) if contiguous else torch.tensor(rows, device=fast.device)
        lg, _ = fast.forward(inputs_embeds=x, return_state=True, num_last_tokens=1, out_state=dec.state,
                             out_rows=out_rows)
        logits[out_rows] = lg[:, -1].float()
    return logits


class _LibraryGraphStep(LibraryStep):
    """Library kernels inside a graph: the greedy pick goes straight into the next step's input (argmax takes
    the first of equal maxima, as eager); the convolution state is updated in place (buffer 0 always)."""

    def __init__(self, dec: GraphDecoder, k: int):
        super().__init__(dec.fast)
        self.dec, self.k = dec, k

    def head(self, carry: tuple[Tensor, Tensor]) -> None:
        logits = F.linear(self.final_hidden(carry), self.fast.head_w)
        torch.argmax(logits, dim=-1, out=self.dec.tokens[self.k + 1])


class _HybridGraphStep(_LibraryGraphStep):
    """As the library variant, with the conv update and the SSM update fused into one Triton kernel, which
    writes the new convolution state to the other buffer."""

    def conv_ssm(self, i: int, zx: Tensor, conv_state: Tensor, ssm_state: Tensor) -> Tensor:
        from sam_cli.accel.triton_decode import conv_ssm_step

        c, p, dec = self.cfg, self.fast.layers[i], self.dec
        cur, nxt = dec.conv_buffers(self.k)
        return conv_ssm_step(zx, cur[i], nxt[i], p.conv_w, p.conv_b, ssm_state, p.A, p.dt_bias, p.D, dec.y,
                             c.d_inner, c.ngroups, pdl=False)  # its neighbours are library kernels


class _FusedGraphStep:
    """triton_decode's three kernels a layer, on the decoder's static buffers: the residual stream stays in
    `dec.residual`, so the carry is nothing; layer 0's kernel gathers the embedding rows (from the previous
    step's packed pick after step 0) and the LM head's kernel packs the greedy pick."""

    def __init__(self, dec: GraphDecoder, k: int):
        self.dec, self.k, self.fast, self.cfg = dec, k, dec.fast, dec.fast.cfg
        self.n_layer = self.cfg.n_layer

    def begin(self, input_ids: Tensor | None, inputs_embeds: Tensor | None) -> None:
        return None

    def norm_in_proj(self, i: int, carry: None) -> tuple[Tensor, None]:
        from sam_cli.accel.triton_decode import rmsnorm_gemv

        dec, f, k, eps = self.dec, self.fast, self.k, self.cfg.norm_eps
        p = f.layers[i]
        if i == 0 and k == 0:
            rmsnorm_gemv(f.embedding, p.norm_w, p.in_w, eps, dec.zx, ids=dec.tokens[k], residual_out=dec.residual)
        elif i == 0:
            rmsnorm_gemv(f.embedding, p.norm_w, p.in_w, eps, dec.zx, packed_ids=dec.packed[k], ids_out=dec.tokens[k],
                         residual_out=dec.residual)
        else:
            rmsnorm_gemv(dec.residual, p.norm_w, p.in_w, eps, dec.zx)
        return dec.zx, None

    def conv_ssm(self, i: int, zx: Tensor, conv_state: Tensor, ssm_state: Tensor) -> Tensor:
        from sam_cli.accel.triton_decode import conv_ssm_step

        c, p, dec = self.cfg, self.fast.layers[i], self.dec
        cur, nxt = dec.conv_buffers(self.k)
        conv_ssm_step(zx, cur[i], nxt[i], p.conv_w, p.conv_b, ssm_state, p.A, p.dt_bias, p.D, dec.y, c.d_inner,
                      c.ngroups)
        return dec.y

    def gate_out_proj(self, i: int, y: Tensor, zx: Tensor, carry: None) -> None:
        from sam_cli.accel.triton_decode import gated_norm_gemv_add

        p, c = self.fast.layers[i], self.cfg
        gated_norm_gemv_add(y, zx[:, : c.d_inner], p.gnorm_w, p.out_w, MIXER_NORM_EPS, self.dec.residual)

    def head(self, carry: None) -> None:
        from sam_cli.accel.triton_decode import rmsnorm_gemv

        dec, f = self.dec, self.fast
        rmsnorm_gemv(dec.residual, f.norm_f_w, f.head_w, self.cfg.norm_eps, dec.logits, argmax_out=dec.packed[self.k + 1])


class GraphDecoders:
    """The graph decoders of one fused model, by (batch, SSM-state dtype), captured on first use; a few are
    kept, least recently used dropped first, since each holds a whole static state."""

    def __init__(self, fast: Any, max_decoders: int = 3):
        self.fast, self.max_decoders = fast, max_decoders
        self.decoders: OrderedDict[tuple, GraphDecoder] = OrderedDict()

    def get(self, batch: int, state_dtype: torch.dtype | None = None) -> GraphDecoder:
        key = (batch, state_dtype)
        dec = self.decoders.pop(key, None)
        if dec is None:
            while len(self.decoders) >= self.max_decoders:
                self.decoders.popitem(last=False)
            dec = GraphDecoder(self.fast, batch, state_dtype=state_dtype)
        self.decoders[key] = dec
        return dec

    def drop_stale(self) -> None:
        """Forget decoders whose captured weights moved (a merged LoRA copy reallocated)."""
        for key in [k for k, d in self.decoders.items() if d.uses_stale_weights()]:
            del self.decoders[key]

    def clear(self) -> None:
        self.decoders.clear()

    def values(self):
        return self.decoders.values()
