"""SAM: EAT encoder -> connector -> Mamba-2 LM with LoRA (paper §2, docs/design.md §2). No I/O here.

The LM sees [E_a, E_p] for inference and [E_a, E_p, E_c] for training, where E_a are the connector's audio
embeddings and E_p / E_c the embedded prompt and caption (answer) tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from sam_cli.models.audio_mamba import ENCODER_TYPE as AUDIO_MAMBA, AudioMambaConfig, AudioMambaEncoder
from sam_cli.models.connector import Connector, ConnectorConfig
from sam_cli.models.encoder import EATConfig, EATEncoder
from sam_cli.models.lora import apply_lora
from sam_cli.models.mamba2 import Mamba2Config, Mamba2LMHeadModel
from sam_cli.models.pruning import PruneConfig, to_grid, token_counts
from sam_cli.models.tokenizer import DESCRIBE_PROMPT, PROMPT_TEMPLATE

IGNORE_INDEX = -100


@dataclass
class SAMConfig:
    encoder: EATConfig | AudioMambaConfig = field(default_factory=EATConfig)  # by encoder.type; none: EAT
    lm: Mamba2Config = field(default_factory=lambda: Mamba2Config(d_model=768, n_layer=24))
    connector: ConnectorConfig = field(default_factory=ConnectorConfig)
    lora_rank: int = 0  # 0: no adapters (e.g. merged at export)
    lora_alpha: float | None = None  # None: 2 * rank, as the paper
    prompt_template: str = PROMPT_TEMPLATE
    describe_prompt: str = DESCRIBE_PROMPT
    loss_on: str = "answer"  # "answer" or "all" (LTU computed it on prompt and answer)
    target_length: int = 1024  # fbank frames per window (10.24 s)
    labels: list[str] | None = None  # names of the encoder head's classes, when it has one
    prune: PruneConfig = field(default_factory=PruneConfig)  # TopK token pruning in the encoder; rate 0 = off

    def __post_init__(self) -> None:
        # The connector must agree with the encoder and LM it sits between.
        self.connector.encoder_dim = self.encoder.embed_dim
        self.connector.lm_dim = self.lm.d_model
        self.connector.num_bands = self.encoder.num_bands
        if self.loss_on not in ("answer", "all"):
            raise ValueError(f"loss_on must be 'answer' or 'all', not {self.loss_on!r}")
        if self.prune.on or self.prune.layers is not None:  # checked at load: pruning is EAT's, inside its blocks
            if not isinstance(self.encoder, EATConfig):
                raise ValueError("token pruning (prune) works on the EAT encoder only")
            self.prune.blocks(self.encoder.depth)

    @property
    def window_seconds(self) -> float:
        return self.target_length / 100.0  # 10 ms frame shift

    @property
    def num_audio_tokens(self) -> int:
        full = self.connector.num_tokens(self.target_length // token_frames(self.encoder))
        if not self.prune.on or self.connector.kind == "concat":
            return full
        n = self.encoder.num_patches(self.target_length)  # the sequence connectors drop pruned positions
        return full - n + token_counts(n, self.encoder.depth, self.prune)[-1][1]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["encoder"] = self.encoder.to_dict()
        d["lm"] = self.lm.to_dict()
        d["connector"] = self.connector.to_dict()
        d["prune"] = self.prune.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SAMConfig:
        d = dict(d)
        enc_d = d.pop("encoder", {})
        enc = (AudioMambaConfig if enc_d.get("type", "eat") == AUDIO_MAMBA else EATConfig).from_dict(enc_d)
        lm = Mamba2Config.from_dict(d.pop("lm"))
        conn = ConnectorConfig.from_dict(d.pop("connector", {}))
        d["prune"] = PruneConfig.from_dict(d.get("prune") or {})  # absent in older checkpoints: off
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(encoder=enc, lm=lm, connector=conn, **known)


def token_frames(encoder: EATConfig | AudioMambaConfig) -> int:
    """fbank frames per time step of the encoder's token grid (EAT: its patch size; Audio Mamba: its stride)."""
    return encoder.time_stride if isinstance(encoder, AudioMambaConfig) else encoder.patch_size


class SAM(nn.Module):
    def __init__(self, cfg: SAMConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = (AudioMambaEncoder if isinstance(cfg.encoder, AudioMambaConfig) else EATEncoder)(cfg.encoder)
        self.connector = Connector(cfg.connector)
        self.lm = Mamba2LMHeadModel(cfg.lm)
        if cfg.lora_rank > 0:
            apply_lora(self.lm, cfg.lora_rank, cfg.lora_alpha)
        self.tokenizer = None  # set by the checkpoint loader; not a module, not saved in the state dict

    @property
    def device(self) -> torch.device:
        return self.lm.backbone.embedding.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.lm.backbone.embedding.weight.dtype

    # --- audio ---------------------------------------------------------------------------------------
    def encode_audio(self, fbank: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """fbank [B, 1, T, 128] -> (E_a [B, M, d_model], encoder tokens [B, 1+N, D]). With pruning on, the
        tokens come back on the full grid (`to_grid`) and the connector is told which survived."""
        if not self.cfg.prune.on:
            tokens = self.encoder(fbank.to(self.encoder_dtype))
            return self.connector(tokens.to(self.connector_dtype)).to(self.dtype), tokens
        kept_tokens, index, last = self.encoder.forward_pruned(fbank.to(self.encoder_dtype), self.cfg.prune)
        tokens, kept = to_grid(kept_tokens, index, last, self.cfg.prune.fill)
        return self.connector(tokens.to(self.connector_dtype), kept).to(self.dtype), tokens

    @property
    def encoder_dtype(self) -> torch.dtype:
        return self.encoder.dtype

    @property
    def connector_dtype(self) -> torch.dtype:
        return self.connector.mlp[0].weight.dtype

    def classify(self, tokens: torch.Tensor) -> torch.Tensor:
        """Probabilities of the encoder's own AudioSet head (sigmoid, multi-label)."""
        return torch.sigmoid(self.encoder.classify(tokens).float())

    @property
    def has_audio_head(self) -> bool:
        return self.cfg.encoder.num_classes > 0 and hasattr(self.encoder, "head")

    # --- language model ------------------------------------------------------------------------------
    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm.embed(ids)

    def forward(self, fbank: torch.Tensor, input_ids: torch.Tensor, labels: torch.Tensor | None = None,
                audio_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Training forward: [E_a, embed(input_ids)] -> (text logits [B, L, V], loss or None).

        text_logits[:, i] is the prediction for input_ids[:, i] (read from the position before it), so
        `labels` has input_ids' shape, with IGNORE_INDEX on prompt and padding tokens. Right padding is
        harmless here: the LM is causal and padded positions come after the real ones.
        """
        if audio_embeds is None:
            audio_embeds, _ = self.encode_audio(fbank)
        x = torch.cat([audio_embeds, self.embed_text(input_ids)], dim=1)
        # Position m-1 (the last audio embedding) predicts the first text token; the audio positions before
        # it predict nothing, so their lm_head rows are not computed.
        text_logits = self.lm(inputs_embeds=x, num_last_tokens=input_ids.shape[1] + 1)[:, :-1]
        if labels is None:
            return text_logits, None
        loss = F.cross_entropy(text_logits.float().reshape(-1, text_logits.shape[-1]), labels.reshape(-1),
                               ignore_index=IGNORE_INDEX)
        return text_logits, loss
