"""Connectors: EAT's 512 patch tokens -> audio embeddings E_a in the LM's width (paper §2.3, docs/design.md §5).

All three start from the patch tokens (CLS dropped) viewed as a (time, band, dim) grid — EAT's tokens are
time-major, so token n is (time n // bands, band n % bands). The MLP is LLaVA's: Linear, GELU, Linear.

- concat          : the bands of each time step concatenated -> T tokens of bands*dim    (64 for 10.24 s)
- time_major      : every token, a separator after each time step's bands             -> T*(bands+1)  (576)
- frequency_major : tokens reordered band by band, a separator after each band        -> (T+1)*bands  (520)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

CONNECTORS = ("concat", "time_major", "frequency_major")


@dataclass
class ConnectorConfig:
    kind: str = "concat"
    encoder_dim: int = 768
    lm_dim: int = 768
    num_bands: int = 8
    hidden_dim: int | None = None  # None: the LM width, as LLaVA's projector
    # The paper builds the "&&" separator from the text embedding of "&&"; "learned" starts it from noise.
    separator_init: str = "text"
    separator_text: str = "&&"

    def __post_init__(self) -> None:
        if self.kind not in CONNECTORS:
            raise ValueError(f"unknown connector {self.kind!r}; choose one of {', '.join(CONNECTORS)}")

    @property
    def in_dim(self) -> int:
        return self.encoder_dim * self.num_bands if self.kind == "concat" else self.encoder_dim

    def num_tokens(self, time_steps: int) -> int:
        """|E_a| for a grid of `time_steps` x num_bands patch tokens."""
        if self.kind == "concat":
            return time_steps
        if self.kind == "time_major":
            return time_steps * (self.num_bands + 1)
        return (time_steps + 1) * self.num_bands

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ConnectorConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class Connector(nn.Module):
    def __init__(self, cfg: ConnectorConfig):
        super().__init__()
        self.cfg = cfg
        hidden = cfg.hidden_dim or cfg.lm_dim
        self.mlp = nn.Sequential(nn.Linear(cfg.in_dim, hidden), nn.GELU(), nn.Linear(hidden, cfg.lm_dim))
        if cfg.kind != "concat":
            self.separator = nn.Parameter(torch.randn(cfg.lm_dim) * 0.02)

    def grid(self, tokens: torch.Tensor) -> torch.Tensor:
        """Encoder output [B, 1+N, D] (CLS first) -> patch grid [B, T, bands, D]."""
        patches = tokens[:, 1:]
        b, n, d = patches.shape
        if n % self.cfg.num_bands:
            raise ValueError(f"{n} patch tokens do not fill a grid of {self.cfg.num_bands} bands")
        return patches.reshape(b, n // self.cfg.num_bands, self.cfg.num_bands, d)

    def forward(self, tokens: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
        """tokens [B, 1+N, D] -> E_a [B, M, lm_dim]. `kept` [B, N]: which patch tokens survived TopK pruning
        (docs/design.md §4a). `concat` ignores it: its MLP reads whole time steps, so it needs every band and
        takes the grid with pruned positions already filled (`pruning.to_grid`). The sequence connectors drop
        the pruned positions (the separators stay): every clip keeps as many tokens, so a batch keeps one
        length, and the LM prefills fewer positions."""
        g = self.grid(tokens)  # [B, T, F, D]
        b, t, f, d = g.shape
        kind = self.cfg.kind
        if kind == "concat":
            return self.mlp(g.reshape(b, t, f * d))
        e = self.mlp(g)  # [B, T, F, d_lm]
        if kind == "frequency_major":
            e = e.transpose(1, 2)  # [B, F, T, d_lm]: band by band
        sep = self.separator.to(e.dtype).expand(b, e.shape[1], 1, e.shape[-1])
        out = torch.cat([e, sep], dim=2).reshape(b, -1, e.shape[-1])
        if kept is None:
            return out
        mask = kept.reshape(b, t, f)
        if kind == "frequency_major":
            mask = mask.transpose(1, 2)
        mask = torch.cat([mask, mask.new_ones(b, mask.shape[1], 1)], dim=2).reshape(b, -1)
        return out[mask].reshape(b, -1, out.shape[-1])
