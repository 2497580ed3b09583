"""Greedy decoding replayed from CUDA graphs (DESIGN §9): one launch runs several whole decode steps.

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
- "fused":   sam_cli.triton_decode's three kernels a layer (batches of up to 4 rows, ngroups 1).
All compute the same function; tests/test_gpu.py checks each against the eager reference. The variant is
chosen by a rule from what every benchmark since the fifth session measured (BENCHMARKS.md): fused where it
can run; above 4 rows, hybrid with a state in the model dtype (its SSM update moves that state 1.4-1.8x
faster than mamba_ssm's) and library with the fp32 state (the two at parity there, library a little ahead).
The next candidate is built only when one fails. Building, compiling, capturing and timing every candidate
cost ~10-25 s of a process's start; SAM_GRAPH_VARIANT=timed still does that and keeps the fastest.
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
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from sam_cli import kernels
from sam_cli.fast_mamba2 import FastMamba2, fast_lm_for
from sam_cli.mamba2 import MIXER_NORM_EPS, InferenceState
from sam_cli.shape_graphs import ShapeGraphs

STEPS_PER_GRAPH = 8  # even: the fused kernels' double-buffered conv state returns to buffer 0
VARIANTS = ("fused", "hybrid", "library")
# Prefill graphs: kept for a few prompt lengths a decoder, and only up to this size of prompt (rows x length
# x d_model): beyond it the prefill keeps the GPU busy by itself and a graph would only hold memory (H200,
# bf16, 84 tokens, benchmarks/bench_graphs.py: 2-3x faster at 130M x 64 rows, 4.1M, 6-7x at 2.7B x 8, 1.7M;
# no faster at 2.7B x 64, 13.8M, or 130M x 256, 16.5M). SAM_PREFILL_GRAPHS=0: every prefill eager.
MAX_PREFILL_GRAPHS = 4
PREFILL_GRAPH_SIZE = 0 if os.environ.get("SAM_PREFILL_GRAPHS") == "0" else 8 << 20


class GraphDecoder:
    def __init__(self, fast: FastMamba2, batch: int, steps: int = STEPS_PER_GRAPH, variants: tuple[str, ...] | None = None,
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
        from sam_cli.triton_decode import MAX_GEMV_ROWS

        c = self.fast.cfg
        out = []
        if self.batch <= MAX_GEMV_ROWS and c.ngroups == 1:
            out.append("fused")
        fp32_state = self.state.ssm_states[0].dtype == torch.float32
        out += ["library", "hybrid"] if fp32_state else ["hybrid", "library"]
        return tuple(out)

    def _ptrs(self) -> tuple[int, ...]:
        return tuple(t.data_ptr() for p in self.fast.layers for t in (p.in_w, p.out_w))

    def uses_stale_weights(self, fast: FastMamba2) -> bool:
        return self._ptrs() != self._weight_ptrs

    # --- one step, three ways -----------------------------------------------------------------------------
    def _conv_buffers(self, k: int) -> tuple[list[Tensor], list[Tensor]]:
        a, b = self.state.conv_states, self.conv_alt
        return (a, b) if k % 2 == 0 else (b, a)

    def _pick(self, logits: Tensor, k: int) -> None:
        # Greedy pick straight into the next step's input (argmax takes the first of equal maxima, as eager).
        torch.argmax(logits, dim=-1, out=self.tokens[k + 1])

    def _step_library(self, k: int) -> None:
        f = self.fast
        h = f.step_hidden(self.tokens[k], self.state)  # convolution state updated in place: buffer 0 always
        self._pick(F.linear(h, f.head_w), k)

    def _step_hybrid(self, k: int) -> None:
        from sam_cli.triton_decode import conv_ssm_step

        f, c = self.fast, self.fast.cfg
        cur, nxt = self._conv_buffers(k)
        hidden, residual = f.embed(self.tokens[k]), None
        for i, p in enumerate(f.layers):
            h, residual = kernels.add_rms_norm(hidden, residual, p.norm_w, c.norm_eps)
            zx = F.linear(h, p.in_w)
            y = conv_ssm_step(zx, cur[i], nxt[i], p.conv_w, p.conv_b, self.state.ssm_states[i], p.A, p.dt_bias, p.D,
                              self.y, c.d_inner, c.ngroups, pdl=False)  # its neighbours are library kernels
            y = kernels.gated_rmsnorm(y, zx[:, : c.d_inner], p.gnorm_w, MIXER_NORM_EPS, c.d_inner // c.ngroups)
            hidden = F.linear(y, p.out_w)
        h, _ = kernels.add_rms_norm(hidden, residual, f.norm_f_w, c.norm_eps)
        self._pick(F.linear(h, f.head_w), k)

    def _step_fused(self, k: int) -> None:
        from sam_cli.triton_decode import conv_ssm_step, gated_norm_gemv_add, rmsnorm_gemv

        f, c = self.fast, self.fast.cfg
        cur, nxt = self._conv_buffers(k)
        for i, p in enumerate(f.layers):
            if i == 0 and k == 0:  # gathers the embedding rows and starts the residual stream
                rmsnorm_gemv(f.embedding, p.norm_w, p.in_w, c.norm_eps, self.zx, ids=self.tokens[k],
                             residual_out=self.residual)
            elif i == 0:  # the same, from the previous step's packed pick (and writes it to tokens[k])
                rmsnorm_gemv(f.embedding, p.norm_w, p.in_w, c.norm_eps, self.zx, packed_ids=self.packed[k],
                             ids_out=self.tokens[k], residual_out=self.residual)
            else:
                rmsnorm_gemv(self.residual, p.norm_w, p.in_w, c.norm_eps, self.zx)
            conv_ssm_step(self.zx, cur[i], nxt[i], p.conv_w, p.conv_b, self.state.ssm_states[i], p.A, p.dt_bias, p.D,
                          self.y, c.d_inner, c.ngroups)
            gated_norm_gemv_add(self.y, self.zx[:, : c.d_inner], p.gnorm_w, p.out_w, MIXER_NORM_EPS, self.residual)
        rmsnorm_gemv(self.residual, f.norm_f_w, f.head_w, c.norm_eps, self.logits, argmax_out=self.packed[k + 1])

    def step_fn(self, variant: str) -> Callable[[int], None]:
        return {"library": self._step_library, "hybrid": self._step_hybrid, "fused": self._step_fused}[variant]

    def run_steps(self, variant: str) -> None:
        """STEPS_PER_GRAPH steps, then the last token moved to slot 0: what one graph replay does."""
        from sam_cli.triton_decode import PACKED_EMPTY, unpack_argmax

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
        replayed from a CUDA graph that writes straight into the static state (sam_cli.shape_graphs), when
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


@torch.inference_mode()
def greedy_tokens(lm, input_ids: Tensor, max_new_tokens: int, eos_id: int | None = None,
                  state_dtype: torch.dtype | None = None) -> Tensor:
    """Greedy continuation of a batch of equal-length prompts through the graph decoder: [B, max_new_tokens]
    (rows that reach EOS are padded with EOS). The LM-level entry point used by benchmarks and tests."""
    fast = lm if isinstance(lm, FastMamba2) else fast_lm_for(lm)
    if fast is None:
        raise RuntimeError("the fused kernels cannot run this model here")
    b = input_ids.shape[0]
    dec = fast.decoder(b, state_dtype)
    first = dec.prefill(fast.embed(input_ids)).argmax(dim=-1)
    out = [first.tolist()]
    done = [eos_id is not None and t == eos_id for t in out[0]]
    if not all(done):
        for toks in dec.tokens_after(first, max_new_tokens - 1):
            out.append([eos_id if d else t for t, d in zip(toks, done)])
            if eos_id is not None:
                done = [d or t == eos_id for t, d in zip(toks, done)]
                if all(done):
                    break
    pad = eos_id if eos_id is not None else 0
    while len(out) < max_new_tokens:
        out.append([pad] * b)
    return torch.tensor(out, dtype=torch.long).T.contiguous()


def generate_greedy(model, audio_embeds: Tensor, prompts: list[list[int]], opts, rows, timings) -> list[list[int]] | None:
    """sam_cli.generate.generate's greedy path on CUDA graphs; None when it cannot be used here (the caller
    then runs the eager loop). `rows` is generate's per-row bookkeeping (EOS, loop guard, streaming)."""
    fast = fast_lm_for(model.lm)
    if fast is None or opts.max_new_tokens < 1:
        return None
    from sam_cli.generate import pick_next

    n = len(prompts)
    tw = time.perf_counter()
    try:
        dec = fast.decoder(n, None if opts.state_dtype == "fp32" else fast.dtype)
    except RuntimeError:
        return None
    t0 = time.perf_counter()
    dtype = fast.dtype
    if all(p == prompts[0] for p in prompts):  # one prompt for all (sam batch): a few ops, not 3 a row
        ids0 = torch.tensor(prompts[0], dtype=torch.long, device=audio_embeds.device)
        text = fast.embed(ids0).unsqueeze(0).expand(n, -1, -1)
        embeds = torch.cat([audio_embeds[:n].to(dtype), text], dim=1)
    else:
        ids = [torch.tensor(p, dtype=torch.long, device=audio_embeds.device) for p in prompts]
        embeds = [torch.cat([audio_embeds[i].to(dtype), fast.embed(ids[i])]) for i in range(n)]
    captured = dec.prefill_graphs.capture_s
    logits = prefill_rows(dec, embeds)
    torch.cuda.synchronize(audio_embeds.device)
    t1 = time.perf_counter()
    first = pick_next(logits, opts, None)
    if not rows.accept(first.tolist()):
        for toks in dec.tokens_after(first, opts.max_new_tokens - 1):
            if rows.accept(toks):
                break
    if timings is not None:
        torch.cuda.synchronize(audio_embeds.device)
        captured = dec.prefill_graphs.capture_s - captured
        timings.prefill_s += t1 - t0 - captured
        timings.decode_s += time.perf_counter() - t1
        timings.new_tokens += sum(len(o) for o in rows.out)
        if t0 - tw > 0.05:  # a decoder was built: warm-up, reported apart from steady-state figures
            timings.extra["graph_build_s"] = timings.extra.get("graph_build_s", 0.0) + (t0 - tw)
        timings.extra["decode_variant"] = dec.variant
        if captured > 0:  # a prefill graph was captured: warm-up too
            timings.extra["prefill_capture_s"] = timings.extra.get("prefill_capture_s", 0.0) + captured
    return rows.out
