"""EAT audio encoder (Chen et al., IJCAI 2024), as used by SAM (docs/design.md §4).

No I/O here: loading and saving live in `sam_cli.store.eat_files`.

fbank [B, 1, T, 128] -> 16x16 patches -> N = (T/16)*8 tokens, TIME-MAJOR (token n = time n//8, band n%8) ->
+ fixed 2-D sin-cos positions -> [CLS] prepended (no position) -> LayerNorm ("pre_norm") -> post-LN ViT blocks.

Parameter names follow the Hub checkpoints (`worstchan/EAT-*`) with their leading "model." removed, so that
`EATEncoder.state_dict()` and a Hub `model.safetensors` differ only by that prefix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam_cli.models import pruning

VARIANTS = ("finetune", "pretrain")


@dataclass
class EATConfig:
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    patch_size: int = 16
    in_chans: int = 1
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    mel_bins: int = 128
    max_length: int = 768  # time patches in the position table (768 -> 6144 rows; old checkpoints: 64 -> 512)
    num_classes: int = 527  # AudioSet head; 0 = no head
    head_norm_eps: float = 1e-5  # fc_norm: 1e-5 in the Hub code, 1e-6 in the original fairseq code
    target_length: int = 1024  # fbank frames per window the model was trained on (10.24 s)
    model_variant: str = "finetune"  # "pretrain" checkpoints have no fc_norm / head

    def __post_init__(self) -> None:
        if self.model_variant not in VARIANTS:
            raise ValueError(f"model_variant must be one of {VARIANTS}, not {self.model_variant!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.embed_dim % 4:
            raise ValueError(f"embed_dim {self.embed_dim} must be a multiple of 4 (2-D sin-cos positions)")
        if self.mel_bins % self.patch_size:
            raise ValueError(f"mel_bins {self.mel_bins} is not a multiple of patch_size {self.patch_size}")

    @property
    def num_bands(self) -> int:
        """Frequency patches per time step (128 // 16 = 8)."""
        return self.mel_bins // self.patch_size

    @property
    def pos_rows(self) -> int:
        return self.max_length * self.num_bands

    @property
    def mlp_dim(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)

    @property
    def has_head(self) -> bool:
        return self.model_variant == "finetune" and self.num_classes > 0

    def num_patches(self, target_length: int | None = None) -> int:
        """Patch tokens (CLS excluded) for `target_length` fbank frames: 1024 -> 64 * 8 = 512."""
        t = self.target_length if target_length is None else target_length
        return (t // self.patch_size) * self.num_bands

    # -- (de)serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EATConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_hub_dict(cls, d: dict[str, Any]) -> EATConfig:
        """From a Hub `config.json` (fields of docs/design.md §4). Absent fields take the defaults; unknown ones are
        ignored; settings this implementation does not have (pre-LN, overlapping patches, ...) raise ValueError."""
        if d.get("model_type", "eat") != "eat":
            raise ValueError(f"model_type is {d['model_type']!r}, not 'eat'")
        unsupported = {"layer_norm_first": False, "norm_affine": True, "fixed_positions": True}
        for key, want in unsupported.items():
            if key in d and bool(d[key]) != want:
                raise ValueError(f"{key}={d[key]!r} is not supported (EAT uses {key}={want})")
        patch = int(d.get("patch_size", 16))
        if int(d.get("stride", patch)) != patch:
            raise ValueError(f"stride {d['stride']} != patch_size {patch}: overlapping patches are not supported")
        kw = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        img_size = d.get("img_size")
        if "target_length" not in d and isinstance(img_size, (list, tuple)) and len(img_size) == 2:
            kw["target_length"] = int(img_size[0])
        return cls(**kw)

    def to_hub_dict(self) -> dict[str, Any]:
        """The Hub `config.json` fields (plus our `head_norm_eps`, which the Hub code ignores)."""
        return {
            "model_type": "eat",
            "embed_dim": self.embed_dim,
            "depth": self.depth,
            "num_heads": self.num_heads,
            "patch_size": self.patch_size,
            "stride": self.patch_size,
            "in_chans": self.in_chans,
            "mlp_ratio": self.mlp_ratio,
            "qkv_bias": self.qkv_bias,
            "layer_norm_first": False,
            "norm_eps": self.norm_eps,
            "norm_affine": True,
            "fixed_positions": True,
            "model_variant": self.model_variant,
            "mel_bins": self.mel_bins,
            "max_length": self.max_length,
            "num_classes": self.num_classes,
            "img_size": [self.target_length, self.mel_bins],
            "head_norm_eps": self.head_norm_eps,
        }


def sincos_positions(max_length: int, bands: int, dim: int) -> Tensor:
    """EAT's fixed 2-D sin-cos table, [max_length * bands, dim] float32.

    Row r = time * bands + band (time-major, like the tokens): EAT builds it from a (time, band) meshgrid
    flattened row by row. Dims [0, dim/2) encode the BAND and [dim/2, dim) the TIME step; each half is
    sin(p * w_k) for k < dim/4 followed by cos(p * w_k), with w_k = 1 / 10000^(k / (dim/4)).
    Computed in float64 (EAT used float32 numpy; real checkpoints carry their own table anyway).
    """
    if dim % 4:
        raise ValueError(f"dim {dim} must be a multiple of 4")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)

    def encode(pos: Tensor) -> Tensor:
        angles = pos[:, None] * omega[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    time = torch.arange(max_length, dtype=torch.float64).repeat_interleave(bands)  # 0,0,..,0,1,1,..
    band = torch.arange(bands, dtype=torch.float64).repeat(max_length)  # 0,1,..,7,0,1,..
    return torch.cat([encode(band), encode(time)], dim=1).float()


class PatchEmbed(nn.Module):
    def __init__(self, cfg: EATConfig):
        super().__init__()
        p = cfg.patch_size
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, kernel_size=p, stride=p)

    def forward(self, x: Tensor) -> Tensor:
        # (B, C, T, F) -> (B, D, T/p, F/p) -> (B, T/p * F/p, D): flattening puts time outermost.
        return self.proj(x).flatten(2).transpose(1, 2)


class FixedPositions(nn.Module):
    """Holds the checkpoint's table as a buffer (saved and loaded, never trained)."""

    def __init__(self, rows: int, dim: int):
        super().__init__()
        self.register_buffer("positions", torch.zeros(1, rows, dim))


class Attention(nn.Module):
    def __init__(self, cfg: EATConfig):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.qkv = nn.Linear(cfg.embed_dim, 3 * cfg.embed_dim, bias=cfg.qkv_bias)  # rows: q | k | v
        self.proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)

    def forward(self, x: Tensor, scores: str | None = None) -> tuple[Tensor, Tensor | None]:
        """-> (output, None or the attention scores of the patch tokens [B, L-1] averaged over heads: from CLS
        (scores="attention") or from every patch token ("mean-attention"); docs/design.md §4a)."""
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head_dim)) v
        out = self.proj(out.transpose(1, 2).reshape(B, L, D))
        if scores is None:
            return out, None
        # SDPA does not return its weights: recompute the rows needed (one for CLS, all patch rows otherwise).
        rows = q[:, :, :1] if scores == "attention" else q[:, :, 1:]
        w = ((rows @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5).float().softmax(dim=-1)
        return out, w[..., 1:].mean(dim=(1, 2))


class Mlp(nn.Module):
    def __init__(self, cfg: EATConfig):
        super().__init__()
        self.fc1 = nn.Linear(cfg.embed_dim, cfg.mlp_dim)
        self.fc2 = nn.Linear(cfg.mlp_dim, cfg.embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU, as nn.GELU()


class Block(nn.Module):
    """Post-LN transformer block (EAT: layer_norm_first=False)."""

    def __init__(self, cfg: EATConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.mlp = Mlp(cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(x + self.attn(x)[0])
        return self.norm2(x + self.mlp(x))

    def forward_pruned(self, x: Tensor, keep: float, criterion: str, rank: Tensor | None = None
                       ) -> tuple[Tensor, Tensor, Tensor]:
        """TopK pruning between attention and MLP (docs/design.md §4a): keep CLS and the best ceil(keep*n) patch
        tokens by `criterion` (or by `rank` [B, n], patch statistics), in their order. -> (output [B, 1+k, D],
        kept positions among the input's patch tokens [B, k], the patch tokens as they were when pruned)."""
        a, scores = self.attn(x, scores=criterion if rank is None else None)
        h = self.norm1(x + a)
        top = pruning.select(scores if rank is None else rank, pruning.kept_count(h.shape[1] - 1, keep))
        kept = torch.cat([h[:, :1], pruning.gather_tokens(h[:, 1:], top)], dim=1)
        return self.norm2(kept + self.mlp(kept)), top, h[:, 1:]


class EATEncoder(nn.Module):
    def __init__(self, config: EATConfig):
        super().__init__()
        self.config = cfg = config
        self.local_encoder = PatchEmbed(cfg)
        self.extra_tokens = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))  # the CLS token
        self.fixed_positional_encoder = FixedPositions(cfg.pos_rows, cfg.embed_dim)
        self.pre_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        if cfg.has_head:
            self.fc_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.head_norm_eps)
            self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Fresh weights (EAT's init) and the exact sin-cos table. Loading a checkpoint overwrites all of it."""
        if self.extra_tokens.is_meta:
            return
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.local_encoder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))  # like a Linear over the flattened patch
        nn.init.zeros_(self.local_encoder.proj.bias)
        nn.init.trunc_normal_(self.extra_tokens, std=0.02)
        cfg = self.config
        self.fixed_positional_encoder.positions.copy_(
            sincos_positions(cfg.max_length, cfg.num_bands, cfg.embed_dim)[None]
        )

    @property
    def dtype(self) -> torch.dtype:
        return self.local_encoder.proj.weight.dtype

    def embed_patches(self, fbank: Tensor) -> Tensor:
        """fbank [B, 1, T, mel_bins] -> patch embeddings [B, N, D], token n = (time n // bands, band n % bands)."""
        cfg = self.config
        if fbank.dim() != 4 or fbank.shape[1] != cfg.in_chans or fbank.shape[3] != cfg.mel_bins:
            raise ValueError(
                f"expected fbank of shape [B, {cfg.in_chans}, T, {cfg.mel_bins}], got {list(fbank.shape)}"
            )
        if fbank.shape[2] % cfg.patch_size:
            raise ValueError(f"fbank length {fbank.shape[2]} is not a multiple of the patch size {cfg.patch_size}")
        return self.local_encoder(fbank.to(self.dtype))

    def _embed(self, fbank: Tensor) -> Tensor:
        x = self.embed_patches(fbank)
        table = self.fixed_positional_encoder.positions
        if x.shape[1] > table.shape[1]:
            raise ValueError(
                f"{fbank.shape[2]} frames give {x.shape[1]} tokens but the position table has {table.shape[1]} "
                f"rows ({table.shape[1] // self.config.num_bands * self.config.patch_size} frames at most)"
            )
        x = x + table[:, : x.shape[1]]  # first N rows, no interpolation
        x = torch.cat([self.extra_tokens.expand(x.shape[0], -1, -1), x], dim=1)  # CLS gets no position
        return self.pre_norm(x)

    def forward(self, fbank: Tensor) -> Tensor:
        """fbank [B, 1, T, mel_bins] -> tokens [B, 1 + N, D], CLS first, then N = (T/16) * bands time-major."""
        x = self._embed(fbank)
        for block in self.blocks:
            x = block(x)
        return x

    def forward_pruned(self, fbank: Tensor, prune: pruning.PruneConfig) -> tuple[Tensor, Tensor, Tensor]:
        """TopK token pruning (docs/design.md §4a) -> (tokens [B, 1+M, D], index [B, M] of each kept token's
        original patch number, ascending, and `last` [B, N, D]: each pruned token as it was when dropped).
        M < N: `pruning.to_grid` puts the tokens back on the time x band grid the connectors read."""
        x = self._embed(fbank)
        b, n, d = x.shape[0], x.shape[1] - 1, x.shape[2]
        index = torch.arange(n, device=x.device).expand(b, -1)
        last = x.new_zeros(b, n, d)
        stats = None if prune.criterion in pruning.ATTENTION_CRITERIA else \
            pruning.patch_stats(fbank, self.config.patch_size, prune.criterion)
        layers = prune.blocks(len(self.blocks))
        for i, block in enumerate(self.blocks):
            if i not in layers:
                x = block(x)
                continue
            rank = None if stats is None else stats.gather(1, index)
            x, top, before = block.forward_pruned(x, prune.keep, prune.criterion, rank)
            last = last.scatter(1, index[..., None].expand(-1, -1, d), before.to(last.dtype))  # kept: overwritten later
            index = index.gather(1, top)
        return x, index, last

    def classify(self, tokens: Tensor) -> Tensor:
        """tokens [B, 1 + N, D] -> AudioSet logits [B, num_classes] (CLS -> fc_norm -> head; apply sigmoid)."""
        if not self.config.has_head:
            raise ValueError("this EAT encoder has no classification head (a 'pretrain' variant)")
        return self.head(self.fc_norm(tokens[:, 0]))
