"""The one place that picks how a model runs here, and owns what each backend caches.

Language model (`lm_runner`), in order:
- CUDA, fused kernels importable, inference, a supported config: the fused view (`fast_mamba2`); for
  greedy decoding its CUDA-graph runner (`cuda_graphs`).
- CPU, a float32 model, autograd off, and SAM_CPU_DECODE allowing it: the reference with the fp16 decode
  step (`cpu_decode`).
- Otherwise the reference model itself (`models.mamba2`).
Encoder (`encode_fn`): on CUDA, small batches replayed from CUDA graphs (`shape_graphs`), unless token pruning
is on (eager); fbank
(`fbank_fn`): the batched GPU version on CUDA, the per-clip reference elsewhere.

Environment, read here and nowhere else: SAM_KERNELS=0 (never the fused kernels), SAM_CPU_DECODE=auto|exact|
fast|int8 (see `cpu_decode`), SAM_ENCODE_GRAPHS=0 (encoder always eager). Variables that tune a backend from
inside (SAM_GRAPH_VARIANT, SAM_PREFILL_GRAPHS, SAM_PDL, SAM_CONV_EXTENSION) are read by its own module
(docs/gpu.md).

Caches: per model, the backend objects built for it (fp16 copies, the fused view with its graph decoders,
encoder graphs), kept beside the model (never in its state dict) and checked against one fingerprint of its
parameters: replaced tensors (`.to()`, re-tying, LoRA wrapping) rebuild them; values changed in place
(optimizer steps, LoRA merge) refresh them.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor, nn

from sam_cli.accel.runner import GraphRunner, Runner
from sam_cli.models.mamba2 import Mamba2LMHeadModel

CPU_DECODE_ENV = "SAM_CPU_DECODE"
CPU_DECODE_MODES = ("auto", "exact", "fast", "int8")
# Below this width the CPU step is all per-op overhead and fp16 copies gain nothing measurable (docs/gpu.md).
CPU_FAST_MIN_D_MODEL = 256
_FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
# Encoder graphs: batches of up to this many windows (bigger ones keep the GPU busy by themselves).
ENCODE_GRAPH_ROWS = 8
MAX_ENCODE_GRAPHS = 3


# ---------------------------------------------------------------------------------------------------------
# One fingerprint for every cache


def _walk(module: nn.Module, tensors: list[Tensor], merged: list[int]) -> None:
    # The modules' own dicts, not parameters()/modules(): this runs on every call into a backend, and the
    # generators and attribute lookups would cost more than the check itself.
    for t in module._parameters.values():
        if t is not None:
            tensors.append(t)
    for t in module._buffers.values():
        if t is not None:
            tensors.append(t)
    if "merged" in module.__dict__:  # a LoRA adapter: merging changes what the weight means
        merged.append(int(module.__dict__["merged"]))
    for child in module._modules.values():
        if child is not None:
            _walk(child, tensors, merged)


def _version(t: Tensor) -> int:
    """In-place update counter; tensors made under inference_mode have none (they cannot change in place)."""
    try:
        return t._version
    except RuntimeError:
        return -1


def fingerprint(*modules: nn.Module, versions: bool = True) -> tuple[tuple, tuple]:
    """(storage of every parameter and buffer, and unless versions=False their in-place update counters and
    the LoRA merge flags) of `modules`."""
    tensors: list[Tensor] = []
    merged: list[int] = []
    for m in modules:
        _walk(m, tensors, merged)
    ptrs = tuple(t.data_ptr() for t in tensors)
    if tensors:
        ptrs += (tensors[0].device, tensors[0].dtype)
    return ptrs, (tuple(_version(t) for t in tensors) + tuple(merged) if versions else ())


@dataclass
class _Cache:
    """What was built for one module, and the fingerprint it was built from."""

    ptrs: tuple = ()
    versions: tuple = ()
    items: dict[str, Any] = field(default_factory=dict)


_CACHES: weakref.WeakKeyDictionary[nn.Module, _Cache] = weakref.WeakKeyDictionary()


def _cache(key: nn.Module, *parts: nn.Module, versions: bool = True) -> _Cache:
    """The cache kept for `key` (built from `parts`, default the key itself), emptied when their tensors were
    replaced, refreshed when their values changed in place (not checked with versions=False)."""
    ptrs, vers = fingerprint(*(parts or (key,)), versions=versions)
    cache = _CACHES.get(key)
    if cache is None or cache.ptrs != ptrs:
        cache = _Cache(ptrs, vers)
        _CACHES[key] = cache
    elif cache.versions != vers:
        cache.versions = vers
        cache.items.pop("cpu", None)  # copies of old values: rebuilt on demand
        if "fast" in cache.items:
            cache.items["fast"].refresh()  # in place: captured graphs stay valid...
        if "graphs" in cache.items:
            cache.items["graphs"].drop_stale()  # ...unless a merged LoRA copy had to be reallocated
    return cache


def cached(module: nn.Module) -> dict[str, Any]:
    """What is built for `module` now, by kind ("cpu", "fast", "graphs", "encode"): for tests and benchmarks."""
    cache = _CACHES.get(module)
    return dict(cache.items) if cache is not None else {}


def clear(module: nn.Module) -> None:
    """Forget everything built for `module` (benchmarks that time a cold start)."""
    _CACHES.pop(module, None)


# ---------------------------------------------------------------------------------------------------------
# The language model


def cpu_decode_mode() -> str:
    mode = os.environ.get(CPU_DECODE_ENV, "auto").strip().lower() or "auto"
    if mode not in CPU_DECODE_MODES:
        raise ValueError(f"{CPU_DECODE_ENV}={mode!r}: expected one of {', '.join(CPU_DECODE_MODES)}")
    return mode


def why_not_fused(lm: Any) -> str | None:
    """None if `lm` can run on the fused GPU kernels now, else the reason (for --stats and tests)."""
    if not isinstance(lm, Mamba2LMHeadModel):
        return "not a Mamba2LMHeadModel"
    if os.environ.get("SAM_KERNELS", "1") == "0":
        return "disabled by SAM_KERNELS=0"
    if lm.device.type != "cuda":
        return "the model is not on a CUDA device"
    from sam_cli.accel import kernels

    if not kernels.available():
        return kernels.why_unavailable() or "kernels unavailable"
    if lm.training:
        return "the model is in training mode"
    if torch.is_autocast_enabled("cuda"):
        return "autocast is on (the eager path follows autocast's casting rules)"
    if lm.dtype not in _FUSED_DTYPES:
        return f"dtype {lm.dtype} (kernels take float16, bfloat16, float32)"
    if not lm.cfg.residual_in_fp32:
        return "residual_in_fp32 is false"
    return None


def _fused(lm: Any) -> tuple[_Cache | None, Any]:
    """(the model's cache, its FastMamba2) where the fused kernels can run, else (None, None): one check and one
    fingerprint for everything a call builds on the fused view."""
    if why_not_fused(lm) is not None:
        return None, None
    cache = _cache(lm)
    fast = cache.items.get("fast")
    if fast is None:
        from sam_cli.accel.fast_mamba2 import FastMamba2

        fast = cache.items["fast"] = FastMamba2(lm)
    return cache, fast


def fused_view(lm: Any) -> Any:
    """The model's FastMamba2 (built once, refreshed when its parameters change), or None where it cannot run."""
    return _fused(lm)[1]


def cpu_decoder(lm: Mamba2LMHeadModel) -> Any:
    """The CPU fp16 (or int8) decode step for `lm` if it should be used here, else None (the exact step).

    Only for a float32 model on the CPU with autograd off: the copies carry no gradient, and a float64
    (tests) or fp16/bf16 model asked for its own precision.
    """
    mode = cpu_decode_mode()
    if mode == "exact" or torch.is_grad_enabled():
        return None
    if mode == "auto" and lm.cfg.d_model < CPU_FAST_MIN_D_MODEL:
        return None
    if lm.device.type != "cpu" or lm.dtype != torch.float32:
        return None
    from sam_cli.accel.cpu_decode import CPUDecoder, supported

    if not supported(lm):
        return None
    fmt = "int8" if mode == "int8" else "fp16"
    cache = _cache(lm)
    dec = cache.items.get("cpu")
    if dec is None or dec.fmt != fmt:
        cache.items.pop("cpu", None)  # free the old copies before making new ones
        dec = cache.items["cpu"] = CPUDecoder(lm, fmt)
    return dec


def _graphs(cache: _Cache, fast: Any) -> Any:
    decoders = cache.items.get("graphs")
    if decoders is None:
        from sam_cli.accel.cuda_graphs import GraphDecoders

        decoders = cache.items["graphs"] = GraphDecoders(fast)
    return decoders


def graph_decoders(lm: Mamba2LMHeadModel) -> Any:
    """The CUDA-graph decoders of `lm` (`cuda_graphs.GraphDecoders`), or None where the fused kernels cannot run."""
    cache, fast = _fused(lm)
    return None if fast is None else _graphs(cache, fast)


def lm_runner(lm: Mamba2LMHeadModel, *, greedy: bool = False, state_dtype: str = "model") -> Runner:
    """How to run `lm` here. greedy=True: for a greedy decode loop (CUDA graphs where they can run);
    state_dtype: the recurrent state of graph decoding, "model" (the weights' dtype) or "fp32"."""
    if lm.device.type == "cuda":
        cache, fast = _fused(lm)
        if fast is not None:
            if greedy:
                return GraphRunner(fast, _graphs(cache, fast), None if state_dtype == "fp32" else fast.dtype)
            return Runner("fused", fast)
        return Runner("reference", lm)
    dec = cpu_decoder(lm)
    if dec is not None:
        return Runner(f"cpu-{dec.fmt}", lm, step=lambda ids, state, embeds=None: dec.step(lm, ids, state, embeds))
    return Runner("reference", lm)


# ---------------------------------------------------------------------------------------------------------
# The audio side


def fbank_fn(device: torch.device) -> Callable[[list[Tensor], int], Tensor]:
    """fbank features of a list of clips [B, 1, T, 128]: batched on a GPU, the reference elsewhere."""
    if device.type == "cuda":
        from sam_cli.audio.fbank_batched import fbank_batch

        return fbank_batch
    from sam_cli.audio.fbank import fbank_batch as reference

    return reference


def why_not_fused_encoder(model: Any) -> str | None:
    """None if the model's encoder can run on fused kernels now (an Audio Mamba encoder on CUDA), else why."""
    from sam_cli.models.audio_mamba import AudioMambaEncoder

    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, AudioMambaEncoder):
        return "not an Audio Mamba encoder (EAT runs on SDPA and cuBLAS as it is)"
    if os.environ.get("SAM_KERNELS", "1") == "0":
        return "disabled by SAM_KERNELS=0"
    if encoder.dtype not in _FUSED_DTYPES or encoder.norm.weight.device.type != "cuda":
        return "the encoder is not on a CUDA device in float16, bfloat16 or float32"
    from sam_cli.accel import kernels

    if not kernels.available():
        return kernels.why_unavailable() or "kernels unavailable"
    if encoder.training or torch.is_grad_enabled():
        return "training (the fused scan here is inference only)"
    return None


def fused_encoder(model: Any) -> Callable[[Tensor], Tensor] | None:
    """fbank -> encoder tokens on fused kernels (`fast_audio_mamba`) where they can run, else None."""
    if why_not_fused_encoder(model) is not None:
        return None
    from sam_cli.accel import fast_audio_mamba

    return lambda feats: fast_audio_mamba.encode(model.encoder, feats)


def encode_fn(model: Any) -> Callable[[Tensor], tuple[Tensor, Tensor, float]]:
    """feats -> (audio embeddings, encoder tokens, seconds spent capturing a graph): `model.encode_audio`,
    replayed on CUDA from a graph per batch size once that size recurs (a one-clip encode is bound by
    launching ~100 kernels). The graphs hold the encoder's and the connector's tensors by address."""
    fused = fused_encoder(model)

    def eager(feats: Tensor) -> tuple[Tensor, Tensor, float]:
        if fused is None:
            return (*model.encode_audio(feats), 0.0)
        tokens = fused(feats.to(model.encoder_dtype))  # as model.encode_audio, the encoder on fused kernels
        return model.connector(tokens.to(model.connector_dtype)).to(model.dtype), tokens, 0.0

    # Token pruning is left eager: its top-k and gathers are untested inside a graph, and --prune-tokens
    # changes the config of a model whose graphs may already be captured.
    if (model.device.type != "cuda" or os.environ.get("SAM_ENCODE_GRAPHS") == "0" or model.training
            or torch.is_grad_enabled() or torch.is_autocast_enabled("cuda") or model.cfg.prune.on):
        return eager
    from sam_cli.accel.shape_graphs import ShapeGraphs

    # Graphs read the weights by address: only replaced tensors (model.to(), a new checkpoint) make them stale.
    cache = _cache(model.encoder, model.encoder, model.connector, versions=False)
    graphs = cache.items.get("encode")
    if graphs is None:
        graphs = cache.items["encode"] = ShapeGraphs(lambda f: eager(f)[:2], MAX_ENCODE_GRAPHS)

    def replayed(feats: Tensor) -> tuple[Tensor, Tensor, float]:
        if feats.shape[0] > ENCODE_GRAPH_ROWS:  # keeps the GPU busy by itself
            return eager(feats)
        before = graphs.capture_s
        embeds, tokens = graphs(feats)
        return embeds, tokens, graphs.capture_s - before

    return replayed
