"""The Mamba-2 LM on fused GPU kernels: same weights, same numbers (to rounding) as `sam_cli.mamba2`.

`FastMamba2` is an inference-only view of a `Mamba2LMHeadModel`: it owns no weights (except LoRA-merged
copies, below) and runs the model's own parameters through `sam_cli.kernels`:

    prefill (forward): fused add+RMSNorm -> in_proj -> causal_conv1d_fn -> mamba_chunk_scan_combined
                       (returns the final SSM state) -> gated RMSNorm kernel -> out_proj
    step:              fused add+RMSNorm -> in_proj -> causal_conv1d_update -> selective_state_update
                       -> gated RMSNorm kernel -> out_proj

`forward` and `step` take and return exactly what `Mamba2LMHeadModel.forward` / `.step` do (InferenceState
in the same layout), so either can continue the other's state. The CUDA-graph decoder (sam_cli.cuda_graphs)
is built on top. `fast_lm_for(lm)` hands out one per model, or None where the reference must run (CPU, no
kernels, training, autocast, unsupported config).

LoRA: adapters that are not merged are folded into private merged copies of in_proj/out_proj (the model is
left untouched, so training can go on); these copies cost the projections' memory once more. Derived
constants (A = -exp(A_log), merged weights) are refreshed in place when the parameters change, so captured
CUDA graphs stay valid; if parameters are replaced (new storage), everything is rebuilt.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sam_cli import kernels
from sam_cli.lora import LoRALinear
from sam_cli.mamba2 import MIXER_NORM_EPS, InferenceState, Mamba2LMHeadModel

_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


@dataclass
class LayerParams:
    norm_w: Tensor  # block RMSNorm weight (d_model,)
    in_w: Tensor  # (d_in_proj, d_model), LoRA merged
    conv_w: Tensor  # (conv_dim, d_conv): a view of conv1d.weight
    conv_b: Tensor  # (conv_dim,)
    dt_bias: Tensor  # (nheads,)
    A: Tensor  # (nheads,) fp32 = -exp(A_log), refreshed in place
    D: Tensor  # (nheads,)
    gnorm_w: Tensor  # gated RMSNorm weight (d_inner,)
    out_w: Tensor  # (d_model, d_inner), LoRA merged


def _version(t: Tensor) -> int:
    """In-place update counter; parameters made under torch.inference_mode have none (and cannot be updated
    in place outside it), so they count as never changing."""
    try:
        return t._version
    except RuntimeError:
        return -1


def why_not_fast(lm: Any) -> str | None:
    """None if `lm` can run on the fused kernels now, else the reason (for --stats and tests)."""
    if not isinstance(lm, Mamba2LMHeadModel):
        return "not a Mamba2LMHeadModel"
    if lm.device.type != "cuda":
        return "the model is not on a CUDA device"
    if os.environ.get("SAM_KERNELS", "1") == "0":
        return "disabled by SAM_KERNELS=0"
    if not kernels.available():
        return kernels.why_unavailable() or "kernels unavailable"
    if lm.training:
        return "the model is in training mode"
    if torch.is_autocast_enabled("cuda"):
        return "autocast is on (the eager path follows autocast's casting rules)"
    if lm.dtype not in _DTYPES:
        return f"dtype {lm.dtype} (kernels take float16, bfloat16, float32)"
    if not lm.cfg.residual_in_fp32:
        return "residual_in_fp32 is false"
    return None


def fast_lm_for(lm: Any) -> FastMamba2 | None:
    """The model's FastMamba2 (made once, refreshed when its parameters changed), or None."""
    if why_not_fast(lm) is not None:
        return None
    fast = lm.__dict__.get("_sam_fast")
    if fast is None or not fast.sync():
        fast = FastMamba2(lm)
        lm.__dict__["_sam_fast"] = fast  # a plain attribute: not a submodule, not in the state dict
    return fast


def runner_for(lm: Mamba2LMHeadModel) -> Any:
    """Whatever runs `lm`'s forward/step here: its FastMamba2 on CUDA with kernels, else the model itself."""
    if lm.device.type != "cuda":  # the CPU never imports the kernels
        return lm
    return fast_lm_for(lm) or lm


class FastMamba2:
    def __init__(self, lm: Mamba2LMHeadModel):
        self.lm = lm
        self.cfg = lm.cfg
        self.decoders: OrderedDict[tuple, Any] = OrderedDict()  # (batch, state dtype) -> cuda_graphs.GraphDecoder
        self.max_decoders = 3
        self._build()

    # --- parameters -----------------------------------------------------------------------------------
    @staticmethod
    def _effective(linear: torch.nn.Linear, cached: Tensor | None) -> Tensor:
        """The weight the eager Linear applies: W, or W + scale * B @ A for an unmerged adapter."""
        if isinstance(linear, LoRALinear) and not linear.merged:
            merged = (linear.weight.float() + linear.delta().float()).to(linear.weight.dtype)
            if cached is not None and cached.shape == merged.shape:
                cached.copy_(merged)  # same storage: captured graphs see the new values
                return cached
            return merged
        return linear.weight

    def _fingerprint(self) -> tuple:
        """Storage of every parameter we read (a change means: rebuild, graphs invalid) and versions of those
        we derive from (a change means: refresh in place)."""
        ptrs, versions = [], []
        for p in self.lm.parameters():
            ptrs.append(p.data_ptr())
        for layer in self.lm.backbone.layers:
            m = layer.mixer
            versions.append(_version(m.A_log))
            for lin in (m.in_proj, m.out_proj):
                if isinstance(lin, LoRALinear):
                    versions += [_version(lin.weight), _version(lin.lora_A), _version(lin.lora_B), int(lin.merged)]
        return tuple(ptrs), tuple(versions)

    @torch.no_grad()
    def _build(self) -> None:
        lm = self.lm
        with torch.inference_mode(False):  # buffers usable inside and outside inference mode
            self.layers = []
            for layer in lm.backbone.layers:
                m = layer.mixer
                self.layers.append(LayerParams(
                    norm_w=layer.norm.weight, in_w=self._effective(m.in_proj, None), conv_w=m.conv1d.weight[:, 0, :],
                    conv_b=m.conv1d.bias, dt_bias=m.dt_bias, A=-torch.exp(m.A_log.detach().float()), D=m.D,
                    gnorm_w=m.norm.weight, out_w=self._effective(m.out_proj, None)))
        self.embedding = lm.backbone.embedding.weight
        self.norm_f_w = lm.backbone.norm_f.weight
        self.head_w = lm.lm_head.weight
        self._ptrs, self._versions = self._fingerprint()
        self.decoders.clear()

    @torch.no_grad()
    def sync(self) -> bool:
        """Bring derived constants up to date; False if parameters were replaced (this view is stale)."""
        ptrs, versions = self._fingerprint()
        if ptrs != self._ptrs or self.lm.device != self.embedding.device or self.lm.dtype != self.embedding.dtype:
            return False
        if versions != self._versions:
            with torch.inference_mode(False):
                for p, layer in zip(self.layers, self.lm.backbone.layers):
                    m = layer.mixer
                    p.A.copy_(-torch.exp(m.A_log.detach().float()))
                    p.in_w = self._effective(m.in_proj, p.in_w if p.in_w is not m.in_proj.weight else None)
                    p.out_w = self._effective(m.out_proj, p.out_w if p.out_w is not m.out_proj.weight else None)
            _, self._versions = self._fingerprint()
            # A merged copy that had to be reallocated (an adapter switched on) moves a captured pointer.
            if any(d.uses_stale_weights(self) for d in self.decoders.values()):
                self.decoders.clear()
        return True

    @property
    def dtype(self) -> torch.dtype:
        return self.embedding.dtype

    @property
    def device(self) -> torch.device:
        return self.embedding.device

    def embed(self, input_ids: Tensor) -> Tensor:
        return F.embedding(input_ids, self.embedding)

    # --- prefill --------------------------------------------------------------------------------------
    def _mixer_forward(self, p: LayerParams, u: Tensor, conv_state: Tensor | None, ssm_state: Tensor | None
                       ) -> tuple[Tensor, Tensor, Tensor]:
        c = self.cfg
        b, l, _ = u.shape
        zxbcdt = F.linear(u, p.in_w)
        z, xBC, dt = torch.split(zxbcdt, [c.d_inner, c.conv_dim, c.nheads], dim=-1)
        xBC, conv_state = kernels.causal_conv1d(xBC, p.conv_w, p.conv_b, conv_state)
        x, B, C = torch.split(xBC, [c.d_inner, c.ngroups * c.d_state, c.ngroups * c.d_state], dim=-1)
        # softplus(dt + dt_bias) inside the scan kernel, in fp32, as the eager _dt_A.
        y, ssm_state = kernels.ssd_chunked_raw_dt(
            x.unflatten(-1, (c.nheads, c.headdim)), dt, p.A, B.unflatten(-1, (c.ngroups, c.d_state)),
            C.unflatten(-1, (c.ngroups, c.d_state)), c.chunk_size, p.D, ssm_state, dt_bias=p.dt_bias, dt_softplus=True)
        y = kernels.gated_rmsnorm(y.flatten(-2), z, p.gnorm_w, MIXER_NORM_EPS, c.d_inner // c.ngroups)
        return F.linear(y, p.out_w), conv_state, ssm_state

    @torch.no_grad()
    def forward(self, input_ids: Tensor | None = None, inputs_embeds: Tensor | None = None,
                state: InferenceState | None = None, return_state: bool = False, num_last_tokens: int = 0,
                out_state: InferenceState | None = None, out_rows: Tensor | slice | None = None
                ) -> Tensor | tuple[Tensor, InferenceState]:
        """As Mamba2LMHeadModel.forward. With `out_state`, the final states are written into its rows
        `out_rows` (all rows if None), layer by layer, instead of being returned: a CUDA-graph decoder's
        static buffers are filled without a second copy of the whole state in memory."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        hidden = self.embed(input_ids) if inputs_embeds is None else inputs_embeds.to(self.dtype)
        residual = None
        eps = self.cfg.norm_eps
        conv_states, ssm_states = [], []
        for i, p in enumerate(self.layers):
            h, residual = kernels.add_rms_norm(hidden, residual, p.norm_w, eps)
            cs = state.conv_states[i] if state is not None else None
            ss = state.ssm_states[i] if state is not None else None
            hidden, cs, ss = self._mixer_forward(p, h, cs, ss)
            if out_state is not None:
                rows = slice(None) if out_rows is None else out_rows
                out_state.conv_states[i][rows] = cs.to(out_state.conv_states[i].dtype)
                out_state.ssm_states[i][rows] = ss
            else:
                conv_states.append(cs)
                ssm_states.append(ss)
        if num_last_tokens > 0:
            hidden, residual = hidden[:, -num_last_tokens:], residual[:, -num_last_tokens:]
        h, _ = kernels.add_rms_norm(hidden, residual, self.norm_f_w, eps)
        logits = F.linear(h, self.head_w).to(torch.promote_types(h.dtype, torch.float32))
        if return_state:
            return logits, (out_state if out_state is not None else InferenceState(conv_states, ssm_states))
        return logits

    __call__ = forward

    # --- one decode step ------------------------------------------------------------------------------
    def mixer_step(self, p: LayerParams, u: Tensor, conv_state: Tensor, ssm_state: Tensor) -> Tensor:
        """One token through a mixer (library kernels); both states updated in place."""
        c = self.cfg
        b = u.shape[0]
        zxbcdt = F.linear(u, p.in_w)
        z, xBC, dt = torch.split(zxbcdt, [c.d_inner, c.conv_dim, c.nheads], dim=-1)
        xBC = kernels.causal_conv1d_step(conv_state, xBC, p.conv_w, p.conv_b)
        x, B, C = torch.split(xBC, [c.d_inner, c.ngroups * c.d_state, c.ngroups * c.d_state], dim=-1)
        y = kernels.ssd_step_raw_dt(ssm_state, x.view(b, c.nheads, c.headdim), dt, p.A,
                                    B.view(b, c.ngroups, c.d_state), C.view(b, c.ngroups, c.d_state), p.D,
                                    dt_bias=p.dt_bias, dt_softplus=True)
        y = kernels.gated_rmsnorm(y.view(b, c.d_inner), z, p.gnorm_w, MIXER_NORM_EPS, c.d_inner // c.ngroups)
        return F.linear(y, p.out_w)

    def step_hidden(self, input_ids: Tensor | None, state: InferenceState, inputs_embeds: Tensor | None = None
                    ) -> Tensor:
        """All layers and the final norm for one token a row -> normalised hidden (b, d_model)."""
        hidden = self.embed(input_ids) if inputs_embeds is None else inputs_embeds.to(self.dtype)
        residual = None
        eps = self.cfg.norm_eps
        for p, cs, ss in zip(self.layers, state.conv_states, state.ssm_states):
            h, residual = kernels.add_rms_norm(hidden, residual, p.norm_w, eps)
            hidden = self.mixer_step(p, h, cs, ss)
        h, _ = kernels.add_rms_norm(hidden, residual, self.norm_f_w, eps)
        return h

    @torch.no_grad()
    def step(self, input_ids: Tensor | None, state: InferenceState, inputs_embeds: Tensor | None = None) -> Tensor:
        """As Mamba2LMHeadModel.step: logits [B, V] (fp32); `state` updated in place."""
        h = self.step_hidden(input_ids, state, inputs_embeds)
        return F.linear(h, self.head_w).to(torch.promote_types(h.dtype, torch.float32))

    def allocate_state(self, batch: int, ssm_dtype: torch.dtype | None = None) -> InferenceState:
        """Zero states; the SSM state in fp32 (the reference's), or in `ssm_dtype` (decoding kernels only)."""
        with torch.inference_mode(False):
            st = InferenceState.zeros(self.cfg, batch, device=self.device, dtype=self.dtype)
            if ssm_dtype is not None and ssm_dtype != st.ssm_states[0].dtype:
                st.ssm_states = [s.to(ssm_dtype) for s in st.ssm_states]
            return st

    # --- CUDA graphs ----------------------------------------------------------------------------------
    def decoder(self, batch: int, state_dtype: torch.dtype | None = None) -> Any:
        """The CUDA-graph decoder for this batch size and SSM-state dtype (None: fp32), captured on first
        use; a few are kept, least recently used dropped first, since each holds a whole static state."""
        from sam_cli.cuda_graphs import GraphDecoder

        key = (batch, state_dtype)
        dec = self.decoders.pop(key, None)
        if dec is None:
            while len(self.decoders) >= self.max_decoders:
                self.decoders.popitem(last=False)
            dec = GraphDecoder(self, batch, state_dtype=state_dtype)
        self.decoders[key] = dec
        return dec
