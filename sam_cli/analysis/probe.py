"""What a SAM model computes for its audio tokens, layer by layer, for the analysis (`measures.py`).

The readable reference path only: the encoder's own modules (its blocks' outputs read with forward hooks)
and the Mamba-2 reference decode step (`models.mamba2.decode_step` with `ReferenceStep`), run one audio token
at a time from a zero state, as inference does before the prompt. Stepping gives what the parallel scan
does not: the recurrent state h_t of every layer after every token. Nothing here changes the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sam_cli.analysis.measures import state_change
from sam_cli.models.encoder import EATEncoder
from sam_cli.models.mamba2 import InferenceState, ReferenceStep, decode_step
from sam_cli.models.sam import SAM


@dataclass
class Probe:
    """One batch of windows. tokens: name -> (b, tokens, width) — "encoder.J" (block J's patch tokens, CLS
    dropped), "connector" (E_a, what enters the LM), "lm.I" (layer I's residual stream at the audio tokens).
    state_change: (layers, b, M-1), ||h_t - h_{t-1}|| / ||h_{t-1}|| of each layer's SSM state.
    log_decay: (layers, b, M, heads), dt_t * A of each layer at each audio token."""

    tokens: dict[str, Tensor]
    state_change: Tensor
    log_decay: Tensor


class _RecordingStep(ReferenceStep):
    """The reference step, keeping each layer's residual output and dt*A of the token just stepped."""

    def __init__(self, lm):
        super().__init__(lm)
        self.hidden: list[Tensor | None] = [None] * self.n_layer
        self.log_decay: list[Tensor | None] = [None] * self.n_layer

    def conv_ssm(self, i: int, zx: Tensor, conv_state: Tensor, ssm_state: Tensor) -> Tensor:
        mixer = self.layers[i].mixer
        dt, A = mixer._dt_A(mixer._split(zx)[2])
        self.log_decay[i] = (dt * A).float()
        return super().conv_ssm(i, zx, conv_state, ssm_state)

    def gate_out_proj(self, i: int, y: Tensor, zx: Tensor, residual: Tensor) -> Tensor:
        out = super().gate_out_proj(i, y, zx, residual)
        self.hidden[i] = out.float()
        return out


@torch.inference_mode()
def probe(model: SAM, fbank: Tensor) -> Probe:
    """fbank [b, 1, T, 128] -> the Probe of those windows. With token pruning on (models/pruning.py) the
    encoder runs its own pruning path, and only E_a and the LM layers are seen."""
    tokens: dict[str, Tensor] = {}
    # EAT's blocks give [B, 1 + N, D] (CLS first); other encoders (models/audio_mamba.py) show only E_a here.
    blocks = model.encoder.blocks if isinstance(model.encoder, EATEncoder) else []
    hooks = [block.register_forward_hook(lambda _m, _i, out, j=j: tokens.__setitem__(f"encoder.{j}",
                                                                                    out[:, 1:].float()))
             for j, block in enumerate(blocks)]
    try:
        embeds, _ = model.encode_audio(fbank.to(model.device))
    finally:
        for h in hooks:
            h.remove()
    tokens["connector"] = embeds.float()
    lm = model.lm
    b, m, _ = embeds.shape
    ops = _RecordingStep(lm)
    state = InferenceState.zeros(lm.cfg, b, device=model.device, dtype=lm.dtype)
    prev = [s.clone() for s in state.ssm_states]
    hidden = [[] for _ in range(ops.n_layer)]
    decay = [[] for _ in range(ops.n_layer)]
    change = torch.zeros(ops.n_layer, b, max(m - 1, 0), dtype=torch.float64)
    for t in range(m):
        decode_step(ops, state, inputs_embeds=embeds[:, t])
        for i, s in enumerate(state.ssm_states):
            hidden[i].append(ops.hidden[i].cpu())
            decay[i].append(ops.log_decay[i].cpu())
            if t:
                change[i, :, t - 1] = state_change(prev[i], s).cpu()
            prev[i].copy_(s)
    for i in range(ops.n_layer):
        tokens[f"lm.{i}"] = torch.stack(hidden[i], dim=1)
    tokens = {k: v.cpu() for k, v in tokens.items()}
    return Probe(tokens, change, torch.stack([torch.stack(d, dim=1) for d in decay]))
