"""The Mamba-2 LM on fused GPU kernels: same weights, same numbers (to rounding) as `sam_cli.models.mamba2`.

`FastMamba2` is an inference-only view of a `Mamba2LMHeadModel`: it owns no weights (except LoRA-merged
copies, below) and runs the model's own parameters through `sam_cli.accel.kernels`:

    prefill (forward): fused add+RMSNorm -> in_proj -> causal_conv1d_fn -> mamba_chunk_scan_combined
                       (returns the final SSM state) -> gated RMSNorm kernel -> out_proj
    step:              fused add+RMSNorm -> in_proj -> causal_conv1d_update -> selective_state_update
                       -> gated RMSNorm kernel -> out_proj

`forward` and `step` take and return exactly what `Mamba2LMHeadModel.forward` / `.step` do (InferenceState
in the same layout), so either can continue the other's state. The CUDA-graph decoder (sam_cli.accel.cuda_graphs)
is built on top. `accel.select` hands out one per model where it can run, and refreshes it when the weights change.

LoRA: adapters that are not merged are folded into private merged copies of in_proj/out_proj (the model is
left untouched, so training can go on); these copies cost the projections' memory once more. Derived
constants (A = -exp(A_log), merged weights) are refreshed in place when the parameters change, so captured
CUDA graphs stay valid; if parameters are replaced (new storage), everything is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from sam_cli.accel import kernels
from sam_cli.models.lora import LoRALinear, effective_weight
from sam_cli.models.mamba2 import MIXER_NORM_EPS, InferenceState, Mamba2LMHeadModel, decode_step, split_xbc

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


class FastMamba2:
    def __init__(self, lm: Mamba2LMHeadModel):
        self.lm = lm
        self.cfg = lm.cfg
        self._build()

    # --- parameters -----------------------------------------------------------------------------------
    @staticmethod
    def _effective(linear: torch.nn.Linear, cached: Tensor | None) -> Tensor:
        """The weight the eager Linear applies (lora.effective_weight); a merged copy is written into `cached`
        when given, so captured graphs see the new values at the same address."""
        if isinstance(linear, LoRALinear) and not linear.merged:
            merged = effective_weight(linear)
            if cached is not None and cached.shape == merged.shape:
                cached.copy_(merged)
                return cached
            return merged
        return linear.weight

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

    @torch.no_grad()
    def refresh(self) -> None:
        """Bring derived constants up to date after the parameters changed in place (same storage)."""
        with torch.inference_mode(False):
            for p, layer in zip(self.layers, self.lm.backbone.layers):
                m = layer.mixer
                p.A.copy_(-torch.exp(m.A_log.detach().float()))
                p.in_w = self._effective(m.in_proj, p.in_w if p.in_w is not m.in_proj.weight else None)
                p.out_w = self._effective(m.out_proj, p.out_w if p.out_w is not m.out_proj.weight else None)

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
    @torch.no_grad()
    def step(self, input_ids: Tensor | None, state: InferenceState, inputs_embeds: Tensor | None = None) -> Tensor:
        """As Mamba2LMHeadModel.step: logits [B, V] (fp32); `state` updated in place."""
        return decode_step(LibraryStep(self), state, input_ids, inputs_embeds)

    def allocate_state(self, batch: int, ssm_dtype: torch.dtype | None = None) -> InferenceState:
        """Zero states; the SSM state in fp32 (the reference's), or in `ssm_dtype` (decoding kernels only)."""
        with torch.inference_mode(False):
            st = InferenceState.zeros(self.cfg, batch, device=self.device, dtype=self.dtype)
            if ssm_dtype is not None and ssm_dtype != st.ssm_states[0].dtype:
                st.ssm_states = [s.to(ssm_dtype) for s in st.ssm_states]
            return st


class LibraryStep:
    """The decode step's stages on the library kernels: mamba_ssm's fused add + RMSNorm (so the carry is
    (hidden, residual): each layer's residual add happens in the next norm), causal_conv1d's update,
    selective_state_update, the gated-norm kernel and cuBLAS."""

    def __init__(self, fast: FastMamba2):
        self.fast, self.cfg = fast, fast.cfg
        self.n_layer = fast.cfg.n_layer

    def begin(self, input_ids: Tensor | None, inputs_embeds: Tensor | None) -> tuple[Tensor, None]:
        f = self.fast
        return (f.embed(input_ids) if inputs_embeds is None else inputs_embeds.to(f.dtype)), None

    def norm_in_proj(self, i: int, carry: tuple[Tensor, Tensor | None]) -> tuple[Tensor, tuple[None, Tensor]]:
        p = self.fast.layers[i]
        h, residual = kernels.add_rms_norm(carry[0], carry[1], p.norm_w, self.cfg.norm_eps)
        return F.linear(h, p.in_w), (None, residual)

    def conv_ssm(self, i: int, zx: Tensor, conv_state: Tensor, ssm_state: Tensor) -> Tensor:
        c, p = self.cfg, self.fast.layers[i]
        b = zx.shape[0]
        _, xBC, dt = torch.split(zx, [c.d_inner, c.conv_dim, c.nheads], dim=-1)
        xBC = kernels.causal_conv1d_step(conv_state, xBC, p.conv_w, p.conv_b)
        x, B, C = split_xbc(c, xBC)
        y = kernels.ssd_step_raw_dt(ssm_state, x, dt, p.A, B, C, p.D, dt_bias=p.dt_bias, dt_softplus=True)
        return y.view(b, c.d_inner)

    def gate_out_proj(self, i: int, y: Tensor, zx: Tensor, carry: tuple[None, Tensor]) -> tuple[Tensor, Tensor]:
        c, p = self.cfg, self.fast.layers[i]
        y = kernels.gated_rmsnorm(y, zx[:, : c.d_inner], p.gnorm_w, MIXER_NORM_EPS, c.d_inner // c.ngroups)
        return F.linear(y, p.out_w), carry[1]

    def final_hidden(self, carry: tuple[Tensor, Tensor]) -> Tensor:
        h, _ = kernels.add_rms_norm(carry[0], carry[1], self.fast.norm_f_w, self.cfg.norm_eps)
        return h

    def head(self, carry: tuple[Tensor, Tensor]) -> Tensor:
        h = self.final_hidden(carry)
        return F.linear(h, self.fast.head_w).to(torch.promote_types(h.dtype, torch.float32))
