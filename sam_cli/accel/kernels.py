"""Optional fused GPU kernels behind the reference ops' signatures (docs/design.md §9).

Every public function here has the SAME signature and result as its namesake in `sam_cli.models.ssd` (the
readable pure-PyTorch reference). On CUDA tensors, when `mamba_ssm` (and, for the convolution,
`causal_conv1d`) can be imported, it runs their fused kernels; anywhere else (CPU, float64, shapes a
kernel refuses, packages missing) it runs the reference. Whether the fused backend runs at all is
`accel.select`'s choice (SAM_KERNELS=0 turns it off there). Nothing is imported until
`available()` is first asked, so `import sam_cli` never pays for Triton.

Kernels used (all from the optional `gpu` extra):
- mamba_ssm.ops.triton.ssd_combined.mamba_chunk_scan_combined   -> ssd_chunked (prefill; one-chunk prompts
  run its steps without the state passing, _one_chunk_scan)
- mamba_ssm.ops.triton.selective_state_update                   -> ssd_step (decode)
- mamba_ssm.ops.triton.layernorm_gated.rmsnorm_fn               -> gated_rmsnorm
- mamba_ssm.ops.triton.layer_norm.layer_norm_fn                 -> rms_norm, add_rms_norm
- causal_conv1d.causal_conv1d_fn / causal_conv1d_update         -> causal_conv1d, causal_conv1d_step
  (1.7: its compiled extension directly when no gradient is wanted, _conv_extension)
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor

from sam_cli.models import ssd

__all__ = ["available", "conv_available", "why_unavailable", "causal_conv1d", "causal_conv1d_step",
           "gated_rmsnorm", "rms_norm", "add_rms_norm", "ssd_chunked", "ssd_step", "ssd_chunked_raw_dt",
           "ssd_step_raw_dt"]

_LIB: SimpleNamespace | None = None
_REASON: str | None = None
_LOADED = False


def _load() -> SimpleNamespace | None:
    """Import the kernels once; remember why not if they cannot be had."""
    global _LIB, _REASON, _LOADED
    if _LOADED:
        return _LIB
    _LOADED = True
    if not torch.cuda.is_available():
        _REASON = "no CUDA device"
        return None
    try:  # any failure (package missing, broken build, Triton absent) means: use the reference
        without_package_init("mamba_ssm")
        from mamba_ssm.ops.triton.layer_norm import layer_norm_fn
        from mamba_ssm.ops.triton.layernorm_gated import rmsnorm_fn
        from mamba_ssm.ops.triton.selective_state_update import selective_state_update
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    except Exception as e:  # noqa: BLE001
        _REASON = f"mamba_ssm kernels cannot be imported ({type(e).__name__}: {e})"
        return None
    lib = SimpleNamespace(layer_norm_fn=layer_norm_fn, rmsnorm_fn=rmsnorm_fn,
                          selective_state_update=selective_state_update,
                          mamba_chunk_scan_combined=mamba_chunk_scan_combined,
                          causal_conv1d_fn=None, causal_conv1d_update=None, conv_direct=None)
    lib.one_chunk = _one_chunk_functions()
    try:
        from causal_conv1d import causal_conv1d_fn, causal_conv1d_update

        lib.causal_conv1d_fn, lib.causal_conv1d_update = causal_conv1d_fn, causal_conv1d_update
        lib.conv_direct = _conv_extension()
    except Exception:  # noqa: BLE001 - the convolution then runs in PyTorch, the rest stays fused
        pass
    keep_tuning(*[m for name, m in list(sys.modules.items()) if name.startswith("mamba_ssm.ops.triton.")])
    _LIB = lib
    return lib


def without_package_init(package: str) -> None:
    """Put `package` in sys.modules without running its __init__.py, so that importing its submodules does not
    run it either. mamba_ssm's __init__ imports every model class of the package, and through them
    transformers and many torch custom-op registrations: seconds of every GPU process, where the kernel
    modules alone import in a fraction of a second (docs/gpu.md). The first lookup of a name that the
    __init__ defines (`from mamba_ssm import MambaLMHeadModel`, `mamba_ssm.__version__`) runs it then, into
    the same module object."""
    if package in sys.modules:
        return
    spec = importlib.util.find_spec(package)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not installed, or not a package: the import that follows says so
    module = importlib.util.module_from_spec(spec)

    def run_init(name: str) -> Any:
        del module.__getattr__
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # hasattr() and `from x import y` expect an AttributeError
            raise AttributeError(f"{package}.{name}: the package's __init__ failed: {type(e).__name__}: {e}") from e
        return getattr(module, name)

    module.__getattr__ = run_init
    sys.modules[package] = module


def _one_chunk_functions() -> SimpleNamespace | None:
    """mamba_chunk_scan_combined's own steps (private functions of mamba_ssm), for ssd_chunked_raw_dt's
    one-chunk prompts; None when this mamba_ssm does not have them (the combined function then runs)."""
    try:
        from mamba_ssm.ops.triton.ssd_bmm import _bmm_chunk_fwd
        from mamba_ssm.ops.triton.ssd_chunk_scan import _chunk_scan_fwd
        from mamba_ssm.ops.triton.ssd_chunk_state import _chunk_cumsum_fwd, _chunk_state_fwd
    except Exception:  # noqa: BLE001
        return None
    return SimpleNamespace(cumsum=_chunk_cumsum_fwd, state=_chunk_state_fwd, bmm=_bmm_chunk_fwd, scan=_chunk_scan_fwd)


def _conv_extension() -> Any:
    """causal_conv1d's compiled extension when its functions have the signatures of the 1.7 line, else None.

    From 1.7 the package's public functions call the extension through torch custom ops, and the first call of
    any torch custom op in a process imports torch._dynamo and sympy (torch wraps the op's Python body to keep
    the compiler out of it), which made the first prefill of a one-off `sam describe --device cuda` take
    seconds instead of milliseconds (docs/gpu.md; bench_startup.py). The extension itself is a plain
    function. Inference only: training keeps the public function (autograd).
    SAM_CONV_EXTENSION=0: the public functions always."""
    import causal_conv1d

    version = str(getattr(causal_conv1d, "__version__", ""))
    if os.environ.get("SAM_CONV_EXTENSION") == "0" or not version.startswith("1.7."):
        return None
    import causal_conv1d_cuda

    fwd, upd = causal_conv1d_cuda.causal_conv1d_fwd, causal_conv1d_cuda.causal_conv1d_update
    return SimpleNamespace(fwd=fwd, update=upd)


def keep_tuning(*modules: Any) -> None:
    """Let Triton keep the autotuning results of these modules' kernels on disk, beside the compiled
    kernels (its cache directory), so that a later process reuses them instead of timing every config again:
    mamba_ssm re-tuned its chunk-scan kernels in every process, several seconds of each GPU command.
    TRITON_CACHE_AUTOTUNING=0 keeps Triton's default (tune in every process). Autotuners whose configs carry a
    pre_hook (mamba_ssm's backward kernels) are left as they are: Triton cannot save a hook and times those
    again in every process whatever the setting."""
    if os.environ.get("TRITON_CACHE_AUTOTUNING") == "0":
        return
    try:
        from triton import knobs
        from triton.runtime.autotuner import Autotuner
    except ImportError:
        return
    if knobs.runtime.interpret:
        return
    for m in modules:
        for obj in vars(m).values():
            if isinstance(obj, Autotuner) and not any(c.pre_hook for c in obj.configs):
                obj.cache_results = True


def available() -> bool:
    """True when the mamba_ssm kernels can run here (a CUDA device and an importable package)."""
    return _load() is not None


def conv_available() -> bool:
    """True when causal_conv1d's CUDA kernels are there too (optional even with mamba_ssm)."""
    lib = _load()
    return lib is not None and lib.causal_conv1d_fn is not None


def why_unavailable() -> str | None:
    _load()
    return _REASON


def _reset_for_tests() -> None:
    """Forget what was imported (tests that hide packages call this)."""
    global _LIB, _REASON, _LOADED
    _LIB, _REASON, _LOADED = None, None, False


def _ok(*tensors: Tensor | None) -> bool:
    """Kernels run on CUDA tensors of half, bfloat16 or float32 only."""
    if not available():
        return False
    for t in tensors:
        if t is not None and (not t.is_cuda or t.dtype not in (torch.float16, torch.bfloat16, torch.float32)):
            return False
    return True


def _lib() -> Any:
    return _load()


def _wants_grad(*tensors: Tensor | None) -> bool:
    """Whether autograd will want gradients through an op on these tensors (the inference-only shortcuts
    here have no backward)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


# ---------------------------------------------------------------------------------------------------------
# Causal depthwise convolution


def _conv_final_state(xBC: Tensor, initial_conv_state: Tensor | None, w: int) -> Tensor:
    """The last w raw inputs (b, d, w), oldest first, zero-padded on the left: exactly ssd.causal_conv1d's
    final state, without concatenating the whole sequence."""
    b, l, d = xBC.shape
    if l >= w:
        tail = xBC[:, l - w:]
    else:
        ctx = xBC.new_zeros(b, w, d) if initial_conv_state is None else initial_conv_state.transpose(1, 2).to(xBC.dtype)
        tail = torch.cat([ctx, xBC], dim=1)[:, -w:]
    return tail.transpose(1, 2).contiguous()


def causal_conv1d(xBC: Tensor, weight: Tensor, bias: Tensor | None, initial_conv_state: Tensor | None = None,
                  silu: bool = True) -> tuple[Tensor, Tensor]:
    """As ssd.causal_conv1d: SiLU(conv) (b, l, d) and the final conv state (b, d, w)."""
    if not (_ok(xBC, weight, bias, initial_conv_state) and conv_available()):
        return ssd.causal_conv1d(xBC, weight, bias, initial_conv_state, silu)
    b, l, d = xBC.shape
    w = weight.shape[-1]
    if bias is not None and bias.dtype != weight.dtype:
        return ssd.causal_conv1d(xBC, weight, bias, initial_conv_state, silu)
    final = _conv_final_state(xBC, initial_conv_state, w)
    # The kernel reads (b, d, l). Its "channel-last" layout (d contiguous) is what a slice of in_proj's
    # output already is, and the only layout that takes an initial state; it wants strides that are
    # multiples of 8 (16-byte vectors).
    x = xBC.transpose(1, 2)
    channel_last = d % 8 == 0
    if channel_last and not (x.stride(1) == 1 and x.stride(2) % 8 == 0 and x.stride(0) % 8 == 0):
        x = xBC.contiguous().transpose(1, 2)
    init = None
    if initial_conv_state is not None:
        if not channel_last:
            return ssd.causal_conv1d(xBC, weight, bias, initial_conv_state, silu)
        # The kernel takes the last w - 1 inputs, in channel-last layout too.
        init = initial_conv_state[:, :, 1:].to(xBC.dtype).transpose(1, 2).contiguous().transpose(1, 2)
    elif not channel_last and x.stride(2) != 1:
        x = x.contiguous()
    direct = _lib().conv_direct
    if direct is not None and not _wants_grad(xBC, weight, bias, initial_conv_state):
        # What causal_conv1d_fn does for these arguments (x, init in a layout the kernel takes), minus the
        # custom op (_conv_extension); the output has x's strides, as there.
        out = torch.empty_like(x)
        direct.fwd(x, weight, bias, None, init, out, None, silu)
    else:
        out = _lib().causal_conv1d_fn(x, weight, bias, initial_states=init, activation="silu" if silu else None)
    return out.transpose(1, 2), final


def causal_conv1d_step(conv_state: Tensor, x: Tensor, weight: Tensor, bias: Tensor | None, silu: bool = True) -> Tensor:
    """As ssd.causal_conv1d_step: one token x (b, d); conv_state (b, d, w) shifted and appended in place."""
    if not (_ok(conv_state, x, weight, bias) and conv_available()) or conv_state.dtype != x.dtype or (
            bias is not None and bias.dtype != weight.dtype):
        return ssd.causal_conv1d_step(conv_state, x, weight, bias, silu)
    direct = _lib().conv_direct
    if direct is None:
        return _lib().causal_conv1d_update(x, conv_state, weight, bias, "silu" if silu else None)
    out = torch.empty_like(x)  # as causal_conv1d_update for a (b, d) token, without the custom op
    direct.update(x.unsqueeze(-1), conv_state, weight, bias, out.unsqueeze(-1), silu, None, None)
    return out


# ---------------------------------------------------------------------------------------------------------
# Norms


def gated_rmsnorm(y: Tensor, z: Tensor, weight: Tensor, eps: float, group_size: int | None = None) -> Tensor:
    """As ssd.gated_rmsnorm: (y * silu(z)) RMS-normalised (per group) times weight, in y's dtype."""
    if not _ok(y, z, weight):
        return ssd.gated_rmsnorm(y, z, weight, eps, group_size)
    return _lib().rmsnorm_fn(y, weight, None, z=z, eps=eps, group_size=group_size, norm_before_gate=False)


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """As ssd.rms_norm: RMSNorm in fp32, returned in weight's dtype."""
    if not _ok(x, weight):
        return ssd.rms_norm(x, weight, eps)
    return _lib().layer_norm_fn(x, weight, None, eps=eps, is_rms_norm=True).to(weight.dtype)


def add_rms_norm(hidden: Tensor, residual: Tensor | None, weight: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """The pre-norm block's entry in one pass: residual' = residual + hidden (fp32), and
    RMSNorm(residual') in hidden's dtype. residual None means hidden starts the stream (the embedding).

    Reference: residual' = (residual + hidden.float()) if residual is not None else hidden.float();
    ssd.rms_norm(residual', weight, eps).to(hidden.dtype).
    """
    if not _ok(hidden, residual, weight) or weight.dtype != hidden.dtype:
        res = hidden.to(torch.promote_types(hidden.dtype, torch.float32))
        if residual is not None:
            res = residual + res
        return ssd.rms_norm(res, weight, eps).to(hidden.dtype), res
    out, res = _lib().layer_norm_fn(hidden, weight, None, residual=residual, eps=eps, prenorm=True,
                                    residual_in_fp32=True, is_rms_norm=True)
    return out, res


# ---------------------------------------------------------------------------------------------------------
# The selective state space


def ssd_chunked(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int, D: Tensor | None = None,
                initial_state: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """As ssd.ssd_chunked (dt already softplus'ed): y (b, l, h, p) and the final state (b, h, p, n) fp32."""
    if not _ok(x, dt, A, B, C, D, initial_state):
        return ssd.ssd_chunked(x, dt, A, B, C, chunk_size, D, initial_state)
    return ssd_chunked_raw_dt(x, dt, A, B, C, chunk_size, D, initial_state, dt_bias=None, dt_softplus=False)


def ssd_chunked_raw_dt(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int, D: Tensor | None,
                       initial_state: Tensor | None, dt_bias: Tensor | None, dt_softplus: bool) -> tuple[Tensor, Tensor]:
    """ssd_chunked with softplus(dt + dt_bias) done inside the kernel (CUDA only).

    Reference: ssd.ssd_chunked(x, softplus(dt.float() + dt_bias.float()), A, B, C, ...).
    """
    lib = _lib()
    one_chunk = initial_state is None and x.shape[1] <= chunk_size and not _wants_grad(x, dt, B, C, D)
    if one_chunk and lib.one_chunk is not None:
        return _one_chunk_scan(lib.one_chunk, x, dt, A.float(), B, C, chunk_size, D, dt_bias, dt_softplus)
    y, final = lib.mamba_chunk_scan_combined(
        x, dt, A.float(), B, C, chunk_size, D=D, dt_bias=dt_bias, initial_states=initial_state,
        dt_softplus=dt_softplus, return_final_states=True)
    return y, final


def _one_chunk_scan(f: SimpleNamespace, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int,
                    D: Tensor | None, dt_bias: Tensor | None, dt_softplus: bool) -> tuple[Tensor, Tensor]:
    """mamba_chunk_scan_combined for a prompt of one chunk from a zero state (an 84-token prompt), the same
    kernels in the same order without its state-passing step: with one chunk the state entering it is zero
    and the final state is the chunk's own, yet that step reads the fp32 chunk states and writes them twice,
    which is most of a large batch's prefill time beside the scan itself (see BENCHMARKS.md). The scan
    reads the zero entering state from one small buffer (stride 0). Same bits as the combined function
    (tests/test_gpu.py). Inference only: no autograd here."""
    B = B if B.stride(-1) == 1 else B.contiguous()
    C = C if C.stride(-1) == 1 else C.contiguous()
    if x.stride(-1) != 1 and x.stride(1) != 1:
        x = x.contiguous()
    b, _, h, p = x.shape
    dA_cumsum, dt = f.cumsum(dt, A, chunk_size, dt_bias=dt_bias, dt_softplus=dt_softplus)
    states = f.state(B, x, dt, dA_cumsum, states_in_fp32=True)  # (b, 1, h, p, n) fp32
    cb = f.bmm(C, B, chunk_size, output_dtype=torch.float32)
    zero = torch.zeros(1, 1, 1, 1, 1, device=x.device, dtype=C.dtype).expand(b, 1, h, p, B.shape[-1])
    y, _ = f.scan(cb, x, dt, dA_cumsum, C, zero, D=D if D is None or D.stride(-1) == 1 else D.contiguous())
    return y, states[:, 0]


def ssd_step(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None) -> Tensor:
    """As ssd.ssd_step (dt already softplus'ed): state (b, h, p, n) updated in place; returns y (b, h, p)."""
    if not _ok(state, x, dt, A, B, C, D):
        return ssd.ssd_step(state, x, dt, A, B, C, D)
    return ssd_step_raw_dt(state, x, dt, A, B, C, D, dt_bias=torch.zeros_like(A), dt_softplus=False)


def ssd_step_raw_dt(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
                    dt_bias: Tensor, dt_softplus: bool) -> Tensor:
    """ssd_step with softplus(dt + dt_bias) inside the kernel (CUDA only); dt (b, h), A/dt_bias/D (h,).

    selective_state_update works per channel; one scalar per head is passed as a stride-0 expansion,
    which the kernel recognises ("tie_hdim") and then loads once per head.
    """
    b, h, p, n = state.shape
    A_e = A.float().view(h, 1, 1).expand(h, p, n)
    dt_e = dt.unsqueeze(-1).expand(b, h, p)
    bias_e = dt_bias.view(h, 1).expand(h, p)
    D_e = D.view(h, 1).expand(h, p) if D is not None else None
    return _lib().selective_state_update(state, x, dt_e, A_e, B, C, D_e, z=None, dt_bias=bias_e,
                                         dt_softplus=dt_softplus)
