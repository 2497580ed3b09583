"""Replay a function of one tensor from CUDA graphs, one graph per input shape, once the shape recurs.

A short prefill or a one-clip encode is bound by launching its kernels from Python (the 130M prefill of an
84-token prompt spends far longer launching its kernels than the GPU spends running them; BENCHMARKS.md),
so the second call with an input shape captures the function in a CUDA graph and later calls replay it.
The first call runs eagerly: a one-off call (a `sam describe` process) never pays for a capture, and it
compiles and tunes the kernels the capture then records. Long-lived processes (`sam batch`, `listen`, the
Python API) get the GPU's time.

The function must not synchronise with the host, must depend on its input's values only through tensors,
and may write nothing but its result and buffers that outlive the graph (a decoder's static state).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Union

import torch
from torch import Tensor

Result = Union[Tensor, tuple[Tensor, ...]]


class ShapeGraphs:
    """fn(x) -> a tensor or a tuple of tensors, replayed from a graph per (shape, dtype) of x after the
    first call with it; at most `max_graphs` graphs (least recently used dropped first), and only for inputs
    `allow(shape)` accepts (e.g. small enough to be launch-bound). Results are the caller's own tensors."""

    def __init__(self, fn: Callable[[Tensor], Result], max_graphs: int = 4,
                 allow: Callable[[torch.Size], bool] = lambda shape: True):
        self.fn, self.max_graphs, self.allow = fn, max_graphs, allow
        self.graphs: OrderedDict[tuple, tuple[Tensor, Result, torch.cuda.CUDAGraph]] = OrderedDict()
        self.seen: dict[tuple, int] = {}  # eager calls by key
        self.failed: dict[tuple, str] = {}  # keys that could not be captured, and why: they stay eager
        self.capture_s = 0.0  # warm-up, reported apart from steady-state figures

    @staticmethod
    def key(x: Tensor) -> tuple:
        return tuple(x.shape), x.dtype

    def __call__(self, x: Tensor) -> Result:
        key = self.key(x)
        ok = x.is_cuda and self.allow(x.shape)
        entry = self.graphs.get(key) if ok else None
        if entry is None and ok and self.seen.get(key, 0) >= 1 and key not in self.failed:
            entry = self._capture(x, key)
        if entry is None:
            self.seen[key] = self.seen.get(key, 0) + 1
            return self.fn(x)
        static_in, static_out, graph = entry
        self.graphs.move_to_end(key)
        static_in.copy_(x)
        graph.replay()
        return tuple(t.clone() for t in static_out) if isinstance(static_out, tuple) else static_out.clone()

    def _capture(self, x: Tensor, key: tuple) -> tuple[Tensor, Result, torch.cuda.CUDAGraph] | None:
        t0 = time.perf_counter()
        with torch.inference_mode(False):  # a buffer usable inside and outside inference mode
            static_in = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                static_out = self.fn(static_in)  # outputs live in the graph's pool, rewritten by each replay
        except Exception as e:  # noqa: BLE001 - e.g. an op that syncs with the host: this shape stays eager
            self.failed[key] = f"{type(e).__name__}: {str(e)[:200]}"
            torch.cuda.synchronize(x.device)
            return None
        while len(self.graphs) >= self.max_graphs:
            self.graphs.popitem(last=False)
        self.graphs[key] = (static_in, static_out, graph)
        self.capture_s += time.perf_counter() - t0
        return self.graphs[key]

    def clear(self) -> None:
        self.graphs.clear()
