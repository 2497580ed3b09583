"""TopK token pruning for the EAT encoder (Lee & Lee, "Token Pruning in Audio Transformers", arXiv 2504.01690;
docs/design.md §4a). No I/O here.

At each pruning block the patch tokens are scored, and only the ceil(keep * n) best (keep = 1 - rate) go on
through the block's MLP and the blocks after it; CLS always stays. The kept tokens carry their positions
with them (the sin-cos table was added before block 0), so nothing is re-indexed: `index` records each kept
token's original patch number so the connector can put it back on the time x band grid.

Criteria (what the paper's code implements):
- "attention"      : attention CLS pays each patch token, averaged over heads (its AST code; EAT, like AST,
                     reads CLS for its head).
- "mean-attention" : attention each patch token receives from all patch tokens, averaged over heads and
                     queries (its AudioMAE code, whose CLS is unused).
- "intensity"      : the mean of the input fbank's 16 x 16 patch (its "mean" ablation).
- "variation"      : the standard deviation of that patch (its "std" ablation).

This file holds the config, the scoring and selection both paths share, the MAC count, and the readable
masked reference (`reference_pruned`) that `EATEncoder.forward_pruned` is tested against.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

CRITERIA = ("attention", "mean-attention", "intensity", "variation")
ATTENTION_CRITERIA = ("attention", "mean-attention")
FILLS = ("last", "zero")


@dataclass
class PruneConfig:
    """rate: share of the patch tokens dropped at EACH pruning block (the paper's 1 - keep rate); 0 = off.
    layers: 0-based blocks that prune; None = the paper's (3, 6, 9) of 12, i.e. depth * 1/4, 2/4, 3/4.
    fill: what the `concat` connector sees at a pruned position (see `to_grid`)."""

    rate: float = 0.0
    criterion: str = "attention"
    layers: list[int] | None = None
    fill: str = "last"

    def __post_init__(self) -> None:
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) or not math.isfinite(self.rate) \
                or not 0.0 <= self.rate < 1.0:
            raise ValueError(f"the pruning rate must be a number in [0, 1), not {self.rate!r}")
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown pruning criterion {self.criterion!r}; choose one of {', '.join(CRITERIA)}")
        if self.fill not in FILLS:
            raise ValueError(f"unknown pruning fill {self.fill!r}; choose one of {', '.join(FILLS)}")
        if self.layers is not None:
            self.layers = [int(i) for i in self.layers]

    @property
    def on(self) -> bool:
        return self.rate > 0.0

    @property
    def keep(self) -> float:
        return 1.0 - self.rate

    def blocks(self, depth: int) -> tuple[int, ...]:
        """The pruning blocks of an encoder `depth` blocks deep (12 -> 3, 6, 9; 6 -> 1, 3, 4)."""
        layers = self.layers if self.layers is not None else [depth * i // 4 for i in (1, 2, 3)]
        bad = [i for i in layers if not 0 <= i < depth]
        if bad:
            raise ValueError(f"pruning layers {bad} are outside the encoder's {depth} blocks")
        return tuple(sorted(set(layers)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PruneConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def kept_count(n: int, keep: float) -> int:
    """Tokens a pruning block keeps of n (the paper: ceil(keep * n), at least one)."""
    return max(1, min(n, math.ceil(keep * n)))


def token_counts(num_patches: int, depth: int, prune: PruneConfig | None) -> list[tuple[int, int]]:
    """Patch tokens (entering attention, leaving to the MLP) of each block."""
    layers = prune.blocks(depth) if prune is not None and prune.on else ()
    n, out = num_patches, []
    for i in range(depth):
        m = kept_count(n, prune.keep) if i in layers else n
        out.append((n, m))
        n = m
    return out


def patch_stats(fbank: Tensor, patch: int, criterion: str) -> Tensor:
    """fbank [B, 1, T, F] -> per patch mean ("intensity") or standard deviation ("variation") [B, N], patches
    time-major as the encoder's tokens."""
    b, c, t, f = fbank.shape
    p = fbank.float().reshape(b, c, t // patch, patch, f // patch, patch).permute(0, 2, 4, 1, 3, 5)
    p = p.reshape(b, (t // patch) * (f // patch), -1)
    return p.mean(dim=-1) if criterion == "intensity" else p.std(dim=-1)


def select(scores: Tensor, k: int) -> Tensor:
    """The k best-scoring positions of each row [B, n] -> [B, k], ascending (the kept tokens stay in time-major
    order; attention and the MLP do not care about order, the connector's grid does)."""
    return scores.topk(k, dim=1).indices.sort(dim=1).values


def gather_tokens(x: Tensor, idx: Tensor) -> Tensor:
    return x.gather(1, idx[..., None].expand(-1, -1, x.shape[-1]))


def to_grid(tokens: Tensor, index: Tensor, last: Tensor, fill: str) -> tuple[Tensor, Tensor]:
    """Pruned encoder output back on the full grid: -> (tokens [B, 1+N, D], kept mask [B, N]).

    `last` [B, N, D] holds each pruned token as it was when its block dropped it (after attention). fill="last"
    puts that there: it has the scale and content of an encoder token (post-LN), so the `concat` connector's
    MLP, which only knows full grids, sees an input like those it was trained on; "zero" leaves zeros, which
    no trained token looks like. The sequence connectors drop pruned positions with the mask instead."""
    b, n, d = last.shape
    base = last if fill == "last" else torch.zeros_like(last)
    patches = base.scatter(1, index[..., None].expand(-1, -1, d), tokens[:, 1:].to(base.dtype))
    kept = torch.zeros(b, n, dtype=torch.bool, device=tokens.device).scatter(1, index, True)
    return torch.cat([tokens[:, :1].to(base.dtype), patches], dim=1), kept


# ---------------------------------------------------------------------------------------------------------
# Cost


def score_macs(criterion: str, n: int, dim: int) -> int:
    """Extra MACs a pruning block spends on scores: the CLS row (attention) or all patch rows (mean-attention)
    of q k^T again, since the fused attention does not return its weights. Patch statistics cost no MACs."""
    if criterion == "attention":
        return (n + 1) * dim
    if criterion == "mean-attention":
        return n * (n + 1) * dim
    return 0


def encoder_macs(cfg: Any, frames: int | None = None, prune: PruneConfig | None = None) -> int:
    """Multiply-accumulates of one EAT forward over `frames` fbank frames (default the config's window): the
    patch convolution and every block's matrix products (qkv, q k^T, attention x v, proj, MLP), plus the
    pruning scores. Norms, softmax, GELU and the classification head are left out (as the paper's count)."""
    d, n0 = cfg.embed_dim, cfg.num_patches(frames)
    macs = n0 * d * cfg.in_chans * cfg.patch_size ** 2
    layers = prune.blocks(cfg.depth) if prune is not None and prune.on else ()
    for i, (n, m) in enumerate(token_counts(n0, cfg.depth, prune)):
        seq, out = n + 1, m + 1  # + CLS
        macs += seq * d * 3 * d + 2 * seq * seq * d + seq * d * d + 2 * out * d * cfg.mlp_dim
        if i in layers:
            macs += score_macs(prune.criterion, n, d)
    return macs


# ---------------------------------------------------------------------------------------------------------
# The readable reference: every token goes through every block; pruned ones are only masked out


def _attention(block: Any, x: Tensor, alive: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax attention written out, pruned tokens masked as keys: -> (output [B, L, D], weights [B, H, L, L])."""
    b, length, d = x.shape
    heads = block.attn.num_heads
    q, k, v = block.attn.qkv(x).view(b, length, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    w = (q @ k.transpose(-2, -1)) * (d // heads) ** -0.5
    keys = torch.cat([torch.ones_like(alive[:, :1]), alive], dim=1)  # CLS is always a key
    w = w.masked_fill(~keys[:, None, None, :], float("-inf")).softmax(dim=-1)
    out = (w @ v).transpose(1, 2).reshape(b, length, d)
    return block.attn.proj(out), w


def reference_pruned(encoder: Any, fbank: Tensor, prune: PruneConfig) -> tuple[Tensor, Tensor]:
    """-> (tokens [B, 1+N, D] on the full grid with pruned positions filled by `prune.fill`, kept mask [B, N]).

    No gathering: a boolean `alive` mask is narrowed at each pruning block and pruned tokens stop being keys;
    scores of dead tokens are -inf, so the top k are chosen among the living, as the gathered path does."""
    cfg = encoder.config
    x = encoder._embed(fbank)
    b, n = x.shape[0], x.shape[1] - 1
    alive = torch.ones(b, n, dtype=torch.bool, device=x.device)
    last = torch.zeros_like(x[:, 1:])
    stats = patch_stats(fbank, cfg.patch_size, prune.criterion) if prune.criterion not in ATTENTION_CRITERIA \
        else None
    layers = prune.blocks(cfg.depth)
    for i, block in enumerate(encoder.blocks):
        a, w = _attention(block, x, alive)
        h = block.norm1(x + a)
        if i in layers:
            if prune.criterion == "attention":
                scores = w[:, :, 0, 1:].float().mean(dim=1)
            elif prune.criterion == "mean-attention":  # mean over the living patch queries
                rows = w[:, :, 1:, 1:].float().mean(dim=1) * alive[:, :, None]
                scores = rows.sum(dim=1) / alive.sum(dim=1, keepdim=True)
            else:
                scores = stats
            k = kept_count(int(alive[0].sum()), prune.keep)
            chosen = scores.masked_fill(~alive, float("-inf")).topk(k, dim=1).indices
            last = torch.where((alive & ~torch.zeros_like(alive).scatter(1, chosen, True))[..., None],
                               h[:, 1:], last)  # those dropped here, as they are now
            alive = torch.zeros_like(alive).scatter(1, chosen, True)
        x = block.norm2(h + block.mlp(h))
    patches = torch.where(alive[..., None], x[:, 1:], last if prune.fill == "last" else torch.zeros_like(last))
    return torch.cat([x[:, :1], patches], dim=1), alive
