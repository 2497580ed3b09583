"""Mamba-2 language model, compatible with the `state-spaces/mamba2-*` checkpoints (docs/design.md §6, §9).

Module names reproduce the state-spaces keys exactly (`backbone.layers.{i}.mixer.in_proj.weight`, ...), so
a published state dict loads as it is. Two ways to run it, giving the same numbers:
- `forward`: the whole sequence in parallel (SSD chunked scan), optionally continuing from a state and
  returning the state it ends in: this is prefill, and training.
- `step`: one token from a fixed-size `InferenceState`, updated in place: this is decoding.
The maths lives in `sam_cli.models.ssd` as pure functions, which the GPU path replaces with fused kernels.
No file I/O here: see `sam_cli.store.mamba2_files`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from sam_cli.errors import CheckpointError
from sam_cli.models.ssd import (
    causal_conv1d,
    causal_conv1d_step,
    gated_rmsnorm,
    rms_norm,
    ssd_chunked,
    ssd_step,
    upcast,
)

__all__ = [
    "Mamba2Config",
    "InferenceState",
    "Mamba2LMHeadModel",
    "Mamba2Mixer",
    "ssd_chunked",
    "ssd_step",
    "causal_conv1d",
    "causal_conv1d_step",
    "gated_rmsnorm",
]

# mamba_ssm hard-codes the mixer's gated-norm eps (the block norms use the config's norm_eps).
MIXER_NORM_EPS = 1e-5

# ssm_cfg entries of the Mamba2 module that we implement, with mamba_ssm's defaults.
_SSM_SHAPE_KEYS = {"d_state": 128, "d_conv": 4, "expand": 2, "headdim": 64, "ngroups": 1, "chunk_size": 256}
# Entries that only matter for initialisation or kernel choice: accepted and ignored.
_SSM_IGNORED_KEYS = {"A_init_range", "dt_min", "dt_max", "dt_init_floor", "conv_init", "use_mem_eff_path",
                     "layer_idx", "sequence_parallel"}
# Entries that change the architecture: accepted only at these values (those of every published model).
_SSM_FIXED_KEYS = {"d_ssm": None, "D_has_hdim": False, "rmsnorm": True, "norm_before_gate": False,
                   "bias": False, "conv_bias": True, "dt_limit": [0.0, float("inf")]}


@dataclass
class Mamba2Config:
    d_model: int
    n_layer: int
    vocab_size: int = 50277
    d_state: int = 128
    d_conv: int = 4
    expand: int = 2
    headdim: int = 64
    ngroups: int = 1
    chunk_size: int = 256
    rms_norm: bool = True
    norm_eps: float = 1e-5
    residual_in_fp32: bool = True
    fused_add_norm: bool = True  # a kernel choice in mamba_ssm; the numbers are the same either way
    pad_vocab_size_multiple: int = 16
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        if not self.rms_norm:
            raise ValueError("only RMSNorm Mamba-2 models are supported (rms_norm must be true)")
        if self.d_inner % self.headdim:
            raise ValueError(f"d_inner {self.d_inner} is not a multiple of headdim {self.headdim}")
        if self.nheads % self.ngroups:
            raise ValueError(f"nheads {self.nheads} is not a multiple of ngroups {self.ngroups}")

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def nheads(self) -> int:
        return self.d_inner // self.headdim

    @property
    def conv_dim(self) -> int:
        return self.d_inner + 2 * self.ngroups * self.d_state

    @property
    def d_in_proj(self) -> int:
        return self.d_inner + self.conv_dim + self.nheads  # z | xBC | dt

    @property
    def padded_vocab_size(self) -> int:
        m = self.pad_vocab_size_multiple
        return -(-self.vocab_size // m) * m

    # --- our own checkpoints -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Mamba2Config:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise CheckpointError(f"language model config: unknown keys {unknown}")
        try:
            return cls(**d)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"language model config: {e}") from None

    # --- state-spaces config.json --------------------------------------------------------------------
    @classmethod
    def from_hf_dict(cls, d: dict[str, Any]) -> Mamba2Config:
        """Parse a state-spaces `config.json` (mamba_ssm's MambaConfig; absent fields take its defaults)."""
        if "model_type" in d and "ssm_cfg" not in d:
            raise CheckpointError(
                f"config is a transformers '{d['model_type']}' config, not the state-spaces layout "
                "(d_model, n_layer, ssm_cfg ...) that sam reads")
        ssm_cfg = dict(d.get("ssm_cfg") or {})
        layer = ssm_cfg.pop("layer", "Mamba1")
        if layer != "Mamba2":
            kind = "a Mamba-1" if layer == "Mamba1" else f"a {layer!r}"
            raise CheckpointError(f'this is {kind} config (ssm_cfg has no "layer": "Mamba2"); sam needs Mamba-2')
        for key in ("d_model", "n_layer"):
            if key not in d:
                raise CheckpointError(f"config has no {key!r}")
        if d.get("d_intermediate", 0):
            raise CheckpointError("config has MLP blocks (d_intermediate > 0); sam supports pure Mamba-2 only")
        if d.get("attn_layer_idx"):
            raise CheckpointError("config has attention layers (attn_layer_idx); sam supports pure Mamba-2 only")
        for key, value in ssm_cfg.items():
            if key in _SSM_SHAPE_KEYS or key in _SSM_IGNORED_KEYS:
                continue
            if key not in _SSM_FIXED_KEYS:
                raise CheckpointError(f"config ssm_cfg has unknown key {key!r}")
            wanted = _SSM_FIXED_KEYS[key]
            if isinstance(value, (list, tuple)):  # dt_limit comes back from JSON as a list
                value = list(value)
            if value != wanted:
                raise CheckpointError(f"config ssm_cfg {key}={value!r} is not supported (sam needs {wanted!r})")
        kwargs: dict[str, Any] = {k: ssm_cfg[k] for k in _SSM_SHAPE_KEYS if k in ssm_cfg}
        defaults = {"vocab_size": 50277, "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
                    "pad_vocab_size_multiple": 8, "tie_embeddings": True}  # MambaConfig's defaults
        kwargs.update({k: d.get(k, v) for k, v in defaults.items()})
        if "norm_epsilon" in d:
            kwargs["norm_eps"] = d["norm_epsilon"]
        try:
            return cls(d_model=d["d_model"], n_layer=d["n_layer"], **kwargs)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"config: {e}") from None

    def to_hf_dict(self) -> dict[str, Any]:
        """The state-spaces `config.json` layout; ssm_cfg lists only what differs from Mamba2's defaults."""
        ssm_cfg: dict[str, Any] = {"layer": "Mamba2"}
        ssm_cfg.update({k: getattr(self, k) for k, v in _SSM_SHAPE_KEYS.items() if getattr(self, k) != v})
        d: dict[str, Any] = {
            "d_model": self.d_model, "d_intermediate": 0, "n_layer": self.n_layer, "vocab_size": self.vocab_size,
            "ssm_cfg": ssm_cfg, "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": self.rms_norm,
            "residual_in_fp32": self.residual_in_fp32, "fused_add_norm": self.fused_add_norm,
            "pad_vocab_size_multiple": self.pad_vocab_size_multiple, "tie_embeddings": self.tie_embeddings,
        }
        if self.norm_eps != 1e-5:  # MambaConfig has no such field; written only when it matters
            d["norm_epsilon"] = self.norm_eps
        return d


@dataclass
class InferenceState:
    """The whole decoding memory: per layer, the last d_conv raw xBC inputs and the SSM state.

    conv_states[i]: (b, conv_dim, d_conv), oldest first, in the model dtype.
    ssm_states[i]:  (b, nheads, headdim, d_state), in fp32 (fp64 for a fp64 model).
    Its size does not depend on how many tokens were seen.
    """

    conv_states: list[Tensor]
    ssm_states: list[Tensor]

    @classmethod
    def zeros(cls, cfg: Mamba2Config, batch: int, device: torch.device | str | None = None,
              dtype: torch.dtype = torch.float32) -> InferenceState:
        sdt = torch.promote_types(dtype, torch.float32)
        return cls(
            conv_states=[torch.zeros(batch, cfg.conv_dim, cfg.d_conv, device=device, dtype=dtype)
                         for _ in range(cfg.n_layer)],
            ssm_states=[torch.zeros(batch, cfg.nheads, cfg.headdim, cfg.d_state, device=device, dtype=sdt)
                        for _ in range(cfg.n_layer)],
        )

    @property
    def batch_size(self) -> int:
        return self.ssm_states[0].shape[0]

    def clone(self) -> InferenceState:
        return InferenceState([c.clone() for c in self.conv_states], [s.clone() for s in self.ssm_states])

    def index_select(self, idx: Tensor | list[int]) -> InferenceState:
        """Rows idx (in that order, repeats allowed) as a new state."""
        idx = torch.as_tensor(idx, dtype=torch.long, device=self.ssm_states[0].device)
        return InferenceState([c.index_select(0, idx) for c in self.conv_states],
                              [s.index_select(0, idx) for s in self.ssm_states])

    def repeat_interleave(self, n: int) -> InferenceState:
        """Each row repeated n times, e.g. one prefilled prompt scoring n candidate answers."""
        return InferenceState([c.repeat_interleave(n, dim=0) for c in self.conv_states],
                              [s.repeat_interleave(n, dim=0) for s in self.ssm_states])

    def copy_(self, other: InferenceState) -> InferenceState:
        """Overwrite in place (static buffers of a captured CUDA graph keep their addresses)."""
        for dst, src in zip(self.conv_states + self.ssm_states, other.conv_states + other.ssm_states):
            dst.copy_(src)
        return self


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim, device=device, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.weight, self.eps)


class GatedRMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, group_size: int, device=None, dtype=None):
        super().__init__()
        self.eps, self.group_size = eps, group_size
        self.weight = nn.Parameter(torch.ones(dim, device=device, dtype=dtype))

    def forward(self, y: Tensor, z: Tensor) -> Tensor:
        return gated_rmsnorm(y, z, self.weight, self.eps, self.group_size)


def _on_meta(device) -> bool:
    """Whether modules are being built on the meta device (a checkpoint fills every tensor next). Random
    inits are skipped there: most ops on meta tensors run PyTorch's Python references, whose first call
    imports torch._dynamo, a large share of every CLI command's start-up on the CPU."""
    return torch.empty(0, device=device).is_meta


class Mamba2Mixer(nn.Module):
    """The Mamba-2 block's mixer: in_proj -> conv(xBC) -> SSD -> gated RMSNorm -> out_proj."""

    def __init__(self, cfg: Mamba2Config, device=None, dtype=None):
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.cfg = cfg
        d_inner, nheads, conv_dim = cfg.d_inner, cfg.nheads, cfg.conv_dim
        self.in_proj = nn.Linear(cfg.d_model, cfg.d_in_proj, bias=False, **fk)
        # Kept as an nn.Conv1d for its state-dict layout (conv_dim, 1, d_conv); applied by causal_conv1d.
        self.conv1d = nn.Conv1d(conv_dim, conv_dim, cfg.d_conv, groups=conv_dim, padding=cfg.d_conv - 1, bias=True,
                                **fk)
        # mamba_ssm's inits: dt log-uniform in [1e-3, 1e-1] (floored at 1e-4) stored as inverse softplus,
        # A = uniform[1, 16] stored as log, D = 1. Not on meta (see _on_meta).
        if _on_meta(device):
            self.dt_bias = nn.Parameter(torch.empty(nheads, **fk))
            self.A_log = nn.Parameter(torch.empty(nheads, device=device, dtype=dtype or torch.get_default_dtype()))
        else:
            dt = torch.exp(torch.rand(nheads, **fk) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
            self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
            A = torch.empty(nheads, device=device, dtype=torch.float32).uniform_(1, 16)
            self.A_log = nn.Parameter(torch.log(A).to(dtype or torch.get_default_dtype()))
        self.D = nn.Parameter(torch.ones(nheads, **fk))
        self.norm = GatedRMSNorm(d_inner, MIXER_NORM_EPS, group_size=d_inner // cfg.ngroups, **fk)
        self.out_proj = nn.Linear(d_inner, cfg.d_model, bias=False, **fk)

    def _split(self, zxbcdt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c = self.cfg
        return torch.split(zxbcdt, [c.d_inner, c.conv_dim, c.nheads], dim=-1)

    def _dt_A(self, dt: Tensor) -> tuple[Tensor, Tensor]:
        # fp32 (at least): in fp16, exp(A_log) and softplus lose too much.
        return F.softplus(upcast(dt) + upcast(self.dt_bias)), -torch.exp(upcast(self.A_log))

    def forward(self, u: Tensor, conv_state: Tensor | None = None, ssm_state: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        """u (b, l, d_model), continuing from (conv_state, ssm_state) if given -> (out, conv_state, ssm_state)."""
        c = self.cfg
        b, l, _ = u.shape
        z, xBC, dt = self._split(self.in_proj(u))
        xBC, conv_state = causal_conv1d(xBC, self.conv1d.weight[:, 0, :], self.conv1d.bias, conv_state)
        x, B, C = torch.split(xBC, [c.d_inner, c.ngroups * c.d_state, c.ngroups * c.d_state], dim=-1)
        dt, A = self._dt_A(dt)
        y, ssm_state = ssd_chunked(
            x.view(b, l, c.nheads, c.headdim), dt, A, B.view(b, l, c.ngroups, c.d_state),
            C.view(b, l, c.ngroups, c.d_state), c.chunk_size, D=self.D, initial_state=ssm_state)
        y = self.norm(y.reshape(b, l, c.d_inner), z)
        return self.out_proj(y), conv_state, ssm_state


class Block(nn.Module):
    """Pre-norm residual block: r <- r + mixer(norm(r)), with the residual r kept in fp32."""

    def __init__(self, cfg: Mamba2Config, device=None, dtype=None):
        super().__init__()
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps, device=device, dtype=dtype)
        self.mixer = Mamba2Mixer(cfg, device=device, dtype=dtype)

    def forward(self, residual: Tensor, conv_state: Tensor | None = None, ssm_state: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        out, conv_state, ssm_state = self.mixer(self.norm(residual), conv_state, ssm_state)
        return residual + out.to(residual.dtype), conv_state, ssm_state


class Mamba2Backbone(nn.Module):
    def __init__(self, cfg: Mamba2Config, device=None, dtype=None):
        super().__init__()
        weight = torch.empty(cfg.padded_vocab_size, cfg.d_model, device=device, dtype=dtype) if _on_meta(device) else None
        self.embedding = nn.Embedding(cfg.padded_vocab_size, cfg.d_model, device=device, dtype=dtype, _weight=weight)
        self.layers = nn.ModuleList([Block(cfg, device=device, dtype=dtype) for _ in range(cfg.n_layer)])
        self.norm_f = RMSNorm(cfg.d_model, cfg.norm_eps, device=device, dtype=dtype)


class Mamba2LMHeadModel(nn.Module):
    def __init__(self, cfg: Mamba2Config, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        self.cfg = cfg
        self.backbone = Mamba2Backbone(cfg, device=device, dtype=dtype)
        self.lm_head = nn.Linear(cfg.d_model, cfg.padded_vocab_size, bias=False, device=device, dtype=dtype)
        self.gradient_checkpointing = False  # set by the trainer
        self._init_weights()
        self.tie_weights()

    def _init_weights(self) -> None:
        # As mamba_ssm's _init_weights: embedding N(0, 0.02); out_proj re-drawn with PyTorch's Linear init
        # and scaled by 1/sqrt(n_layer) (GPT-2's residual scaling, one residual per block). The rest keeps
        # PyTorch's defaults and the mixer's own inits.
        if not self.backbone.embedding.weight.is_meta:  # see _on_meta
            nn.init.normal_(self.backbone.embedding.weight, std=0.02)
        with torch.no_grad():
            for layer in self.backbone.layers:
                w = layer.mixer.out_proj.weight
                nn.init.kaiming_uniform_(w, a=math.sqrt(5))
                w /= math.sqrt(self.cfg.n_layer)

    def tie_weights(self) -> None:
        if self.cfg.tie_embeddings:
            self.lm_head.weight = self.backbone.embedding.weight

    @property
    def dtype(self) -> torch.dtype:
        return self.backbone.embedding.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.backbone.embedding.weight.device

    def _residual_dtype(self) -> torch.dtype:
        return torch.promote_types(self.dtype, torch.float32) if self.cfg.residual_in_fp32 else self.dtype

    def _logits(self, residual: Tensor) -> Tensor:
        # Logits in fp32 (fp64 for a fp64 model): sampling and log-probs want the precision.
        h = self.backbone.norm_f(residual)
        return self.lm_head(h).to(torch.promote_types(h.dtype, torch.float32))

    def allocate_state(self, batch: int) -> InferenceState:
        return InferenceState.zeros(self.cfg, batch, device=self.device, dtype=self.dtype)

    def embed(self, input_ids: Tensor) -> Tensor:
        return self.backbone.embedding(input_ids)

    def forward(
        self,
        input_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        state: InferenceState | None = None,
        return_state: bool = False,
        num_last_tokens: int = 0,
    ) -> Tensor | tuple[Tensor, InferenceState]:
        """Logits [B, L, V] (or of the last num_last_tokens positions) for a whole sequence, in parallel.

        With `state`, the sequence continues from it (it is not modified); with return_state, the state
        after the last position is returned too: (logits, state), exactly what stepping would leave.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        h = self.embed(input_ids) if inputs_embeds is None else inputs_embeds.to(self.dtype)
        residual = h.to(self._residual_dtype())
        conv_states, ssm_states = [], []
        use_ckpt = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        for i, layer in enumerate(self.backbone.layers):
            cs = state.conv_states[i] if state is not None else None
            ss = state.ssm_states[i] if state is not None else None
            if use_ckpt:
                residual, cs, ss = checkpoint(layer, residual, cs, ss, use_reentrant=False)
            else:
                residual, cs, ss = layer(residual, cs, ss)
            conv_states.append(cs)
            ssm_states.append(ss)
        if num_last_tokens > 0:
            residual = residual[:, -num_last_tokens:]
        logits = self._logits(residual)
        if return_state:
            return logits, InferenceState(conv_states, ssm_states)
        return logits

    def step(self, input_ids: Tensor | None, state: InferenceState, inputs_embeds: Tensor | None = None) -> Tensor:
        """One token per row (input_ids [B] or inputs_embeds [B, D]) -> logits [B, V]; `state` updated in place."""
        return decode_step(ReferenceStep(self), state, input_ids, inputs_embeds)


# ---------------------------------------------------------------------------------------------------------
# One decode step. Every backend runs this loop (accel/: the CPU's fp16 copies, the GPU kernels, CUDA graphs);
# what differs is how each stage is computed, so each backend supplies its `StepOps`.


class StepOps(Protocol):
    """The stages of one decode step. `carry` is the backend's residual stream (the reference: a fp32 tensor;
    the fused kernels: (hidden, residual), their add being fused into the next norm)."""

    n_layer: int

    def begin(self, input_ids: Tensor | None, inputs_embeds: Tensor | None) -> Any:
        """The embedding of the new token -> the carry."""

    def norm_in_proj(self, i: int, carry: Any) -> tuple[Tensor, Any]:
        """Layer i's pre-norm and in_proj -> (zxbcdt (b, d_in_proj), carry)."""

    def conv_ssm(self, i: int, zx: Tensor, conv_state: Tensor, ssm_state: Tensor) -> Tensor:
        """The conv and SSM update of one token (both states in place) -> y (b, d_inner), D skip included."""

    def gate_out_proj(self, i: int, y: Tensor, zx: Tensor, carry: Any) -> Any:
        """RMSNorm(y * silu(z)), out_proj, and the residual add -> the carry."""

    def head(self, carry: Any) -> Tensor:
        """The final norm and the LM head -> logits (fp32)."""


def decode_step(ops: StepOps, state: InferenceState, input_ids: Tensor | None = None,
                inputs_embeds: Tensor | None = None) -> Tensor:
    """One token a row through every layer: the one decode step, whatever computes its stages."""
    carry = ops.begin(input_ids, inputs_embeds)
    for i in range(ops.n_layer):
        zx, carry = ops.norm_in_proj(i, carry)
        y = ops.conv_ssm(i, zx, state.conv_states[i], state.ssm_states[i])
        carry = ops.gate_out_proj(i, y, zx, carry)
    return ops.head(carry)


def split_xbc(cfg: Mamba2Config, xBC: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The conv's output (b, conv_dim) -> x (b, nheads, headdim), B and C (b, ngroups, d_state)."""
    b, g, n = xBC.shape[0], cfg.ngroups, cfg.d_state
    x, B, C = torch.split(xBC, [cfg.d_inner, g * n, g * n], dim=-1)
    return x.view(b, cfg.nheads, cfg.headdim), B.view(b, g, n), C.view(b, g, n)


class ReferenceStep:
    """The readable step: the model's own modules and `ssd`'s reference ops, residual in fp32."""

    def __init__(self, lm: Mamba2LMHeadModel):
        self.lm, self.cfg = lm, lm.cfg
        self.n_layer = lm.cfg.n_layer
        self.layers = list(lm.backbone.layers)

    def begin(self, input_ids: Tensor | None, inputs_embeds: Tensor | None) -> Tensor:
        h = self.lm.embed(input_ids) if inputs_embeds is None else inputs_embeds.to(self.lm.dtype)
        return h.to(self.lm._residual_dtype())

    def norm_in_proj(self, i: int, residual: Tensor) -> tuple[Tensor, Tensor]:
        layer = self.layers[i]
        return layer.mixer.in_proj(layer.norm(residual)), residual

    def conv_ssm(self, i: int, zx: Tensor, conv_state: Tensor, ssm_state: Tensor) -> Tensor:
        mixer, c = self.layers[i].mixer, self.cfg
        _, xBC, dt = mixer._split(zx)
        xBC = causal_conv1d_step(conv_state, xBC, mixer.conv1d.weight[:, 0, :], mixer.conv1d.bias)
        x, B, C = split_xbc(c, xBC)
        dt, A = mixer._dt_A(dt)
        return ssd_step(ssm_state, x, dt, A, B, C, mixer.D).reshape(zx.shape[0], c.d_inner)

    def gate_out_proj(self, i: int, y: Tensor, zx: Tensor, residual: Tensor) -> Tensor:
        mixer = self.layers[i].mixer
        z = zx[:, : self.cfg.d_inner]
        return residual + mixer.out_proj(mixer.norm(y, z)).to(residual.dtype)

    def head(self, residual: Tensor) -> Tensor:
        return self.lm._logits(residual)
