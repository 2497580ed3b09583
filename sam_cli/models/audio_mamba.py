"""Audio Mamba encoder: a hierarchical state-space encoder over EAT's fbank (docs/design.md §15). No I/O here.

The design of Audio Mamba (Lin & Hu, arXiv 2405.13636: a VMamba backbone over an HTS-AT-style spectrogram
patching) rebuilt from this project's Mamba-2 pieces (`sam_cli.models.ssd`):

    fbank [B, 1, T, 128] -> p x p patches (Conv2d, stride p) -> grid [B, T/p, 128/p, dims[0]] -> LayerNorm
    -> stage 0: depths[0] blocks -> patch merging (2 x 2 neighbours -> LayerNorm -> Linear) -> stage 1 -> ...
    -> final LayerNorm -> grid [B, T/s, 128/s, dims[-1]], s = p * 2^(stages - 1)

A block is pre-norm residual: x + mixer(LN(x)), then x + MLP(LN(x)) when mlp_ratio > 0. The mixer is the
Mamba-2 mixer (in_proj -> causal conv -> SSD -> gated RMSNorm -> out_proj) scanning the grid in several
orders, VMamba's "cross scan": time-major forwards and backwards (directions = 2, the bidirectional scan), and
band-major forwards and backwards too (directions = 4, VMamba's four). Each direction has its own conv, dt
bias, A and D; in_proj, the gate and out_proj are shared, and the directions' outputs are summed before the
gated norm (VMamba's cross merge). No position table: the scans and the conv know the order, so any length
works, and time and memory grow linearly with it.

Output, for the connectors and the tagging head: [B, 1 + N, D] with token 0 the mean of the N grid tokens
(where EAT has its CLS) and then the grid TIME-MAJOR, N = (T / s) * (128 / s), exactly the layout of EAT's
tokens, so every connector reads it as a (T / s) x bands grid (`num_bands`, `time_stride`). With the
defaults (p = 4, four stages) s = 32: a 10.24-s window gives 32 steps x 4 bands = 128 tokens (`concat`: 32
audio embeddings). The tagging head is a Linear over token 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam_cli.models.mamba2 import MIXER_NORM_EPS, GatedRMSNorm, Mamba2Config, _on_meta
from sam_cli.models.ssd import causal_conv1d, ssd_chunked, upcast

ENCODER_TYPE = "audio_mamba"
DIRECTIONS = (2, 4)


@dataclass
class AudioMambaConfig:
    type: str = ENCODER_TYPE  # tells it from EATConfig inside a SAM config.json ("eat" when absent)
    dims: list[int] = field(default_factory=lambda: [96, 192, 384, 768])  # width of each stage
    depths: list[int] = field(default_factory=lambda: [2, 2, 6, 2])  # blocks of each stage
    patch_size: int = 4  # square patches of the first stage (frames x mel bins)
    in_chans: int = 1
    mel_bins: int = 128
    directions: int = 4  # 2: time-major forwards + backwards; 4: also band-major (VMamba's cross scan)
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    headdim: int = 64  # fewer, wider heads: the reference's per-head chunk decays are most of its CPU time
    chunk_size: int = 16  # SSD chunk of the reference (cost ~ tokens x chunk x heads); the fused path takes its own
    mlp_ratio: float = 4.0  # 0: blocks without an MLP
    norm_eps: float = 1e-5
    num_classes: int = 0  # tagging head; 0 = none
    target_length: int = 1024  # fbank frames of the windows it was trained on (any multiple of time_stride runs)

    def __post_init__(self) -> None:
        self.dims, self.depths = [int(d) for d in self.dims], [int(d) for d in self.depths]
        if self.type != ENCODER_TYPE:
            raise ValueError(f"type must be {ENCODER_TYPE!r}, not {self.type!r}")
        if not 1 <= len(self.dims) <= 8 or len(self.dims) != len(self.depths):
            raise ValueError(f"dims {self.dims} and depths {self.depths} must list 1 to 8 stages each")
        if self.mlp_ratio < 0 or min(self.patch_size, self.d_state, self.d_conv, self.chunk_size, self.expand) < 1:
            raise ValueError("mlp_ratio must be >= 0 and patch_size, d_state, d_conv, chunk_size, expand >= 1")
        if self.directions not in DIRECTIONS:
            raise ValueError(f"directions must be one of {DIRECTIONS}, not {self.directions}")
        for d in self.dims:
            if d <= 0 or (self.expand * d) % self.headdim:
                raise ValueError(f"stage width {d} x expand {self.expand} is not a positive multiple of headdim "
                                 f"{self.headdim}")
        if self.mel_bins % self.time_stride:
            raise ValueError(f"mel_bins {self.mel_bins} is not a multiple of the final stride {self.time_stride} "
                             "(patch_size x 2^(stages - 1))")

    @property
    def embed_dim(self) -> int:
        """Width of the output tokens (the connector's encoder_dim)."""
        return self.dims[-1]

    @property
    def time_stride(self) -> int:
        """fbank frames (and mel bins) per output token: patch_size x 2 per merge."""
        return self.patch_size * 2 ** (len(self.dims) - 1)

    @property
    def num_bands(self) -> int:
        """Frequency tokens per time step of the output grid (128 // 32 = 4 with the defaults)."""
        return self.mel_bins // self.time_stride

    @property
    def has_head(self) -> bool:
        return self.num_classes > 0

    def num_patches(self, target_length: int | None = None) -> int:
        t = self.target_length if target_length is None else target_length
        return (t // self.time_stride) * self.num_bands

    def mixer_config(self, stage: int) -> Mamba2Config:
        """The shapes of one stage's mixer, as a Mamba-2 config (n_layer and the vocabulary are unused)."""
        return Mamba2Config(d_model=self.dims[stage], n_layer=1, vocab_size=1, d_state=self.d_state,
                            d_conv=self.d_conv, expand=self.expand, headdim=self.headdim, ngroups=1,
                            chunk_size=self.chunk_size, pad_vocab_size_multiple=1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AudioMambaConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# ---------------------------------------------------------------------------------------------------------
# Scan orders of a (time, band) grid flattened time-major: direction k reads the tokens in order(k).


def reorder(x: Tensor, direction: int, grid: tuple[int, int]) -> Tensor:
    """x [b, T*F, c] time-major -> the sequence direction `direction` scans: 0 time-major, 1 time-major
    reversed, 2 band-major, 3 band-major reversed."""
    if direction >= 2:
        b, _, c = x.shape
        x = x.view(b, grid[0], grid[1], c).transpose(1, 2).reshape(b, -1, c)
    return x.flip(1) if direction % 2 else x


def restore(y: Tensor, direction: int, grid: tuple[int, int]) -> Tensor:
    """The inverse of `reorder`: a direction's outputs back in time-major order. y [b, T*F, ...]."""
    if direction % 2:
        y = y.flip(1)
    if direction >= 2:
        b, rest = y.shape[0], y.shape[2:]
        y = y.view(b, grid[1], grid[0], *rest).transpose(1, 2).reshape(b, -1, *rest)
    return y


def linear_scan(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int, D: Tensor,
                chunks_per_segment: int = 32) -> Tensor:
    """ssd_chunked over segments of `chunks_per_segment` chunks, each starting from the state the previous one
    ended in: the same outputs (to rounding), but time and memory linear in the length, where one call's
    passing of states between chunks is quadratic in their number (5 minutes at the first stage: ~3,700)."""
    seg = chunk_size * chunks_per_segment
    if x.shape[1] <= seg:
        return ssd_chunked(x, dt, A, B, C, chunk_size, D=D)[0]
    out, state = [], None
    for i in range(0, x.shape[1], seg):
        y, state = ssd_chunked(x[:, i:i + seg], dt[:, i:i + seg], A, B[:, i:i + seg], C[:, i:i + seg], chunk_size,
                               D=D, initial_state=state)
        out.append(y)
    return torch.cat(out, dim=1)


class CrossScanMixer(nn.Module):
    """The Mamba-2 mixer scanning a token grid in `directions` orders; per-direction parameters are stacked
    on dim 0 (conv_weight [k, conv_dim, d_conv], dt_bias/A_log/D [k, nheads]) so a fused path can run all
    directions as one scan, each a group of heads."""

    def __init__(self, cfg: Mamba2Config, directions: int):
        super().__init__()
        self.cfg, self.directions = cfg, directions
        k, h = directions, cfg.nheads
        self.in_proj = nn.Linear(cfg.d_model, cfg.d_in_proj, bias=False)  # z | xBC | dt, shared
        self.conv_weight = nn.Parameter(torch.empty(k, cfg.conv_dim, cfg.d_conv))
        self.conv_bias = nn.Parameter(torch.empty(k, cfg.conv_dim))
        self.dt_bias = nn.Parameter(torch.empty(k, h))
        self.A_log = nn.Parameter(torch.empty(k, h))
        self.D = nn.Parameter(torch.empty(k, h))
        if not _on_meta(None):  # on meta a checkpoint fills every tensor next (see mamba2._on_meta)
            self._init_scan_parameters()
        self.norm = GatedRMSNorm(cfg.d_inner, MIXER_NORM_EPS, group_size=cfg.d_inner)
        self.out_proj = nn.Linear(cfg.d_inner, cfg.d_model, bias=False)

    @torch.no_grad()
    def _init_scan_parameters(self) -> None:
        bound = self.cfg.d_conv ** -0.5  # nn.Conv1d's default init for a depthwise kernel
        self.conv_weight.uniform_(-bound, bound)
        self.conv_bias.uniform_(-bound, bound)
        # mamba_ssm's inits, as Mamba2Mixer: dt log-uniform in [1e-3, 1e-1] stored as inverse softplus,
        # A uniform in [1, 16] stored as log, D = 1.
        lo, hi = math.log(1e-3), math.log(0.1)
        dt = torch.exp(torch.rand_like(self.dt_bias) * (hi - lo) + lo).clamp(min=1e-4)
        self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log.copy_(torch.log(torch.empty_like(self.A_log).uniform_(1, 16)))
        self.D.fill_(1.0)

    def split(self, zxbcdt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c = self.cfg
        return torch.split(zxbcdt, [c.d_inner, c.conv_dim, c.nheads], dim=-1)

    def forward(self, u: Tensor, grid: tuple[int, int]) -> Tensor:
        """u [b, T*F, d_model] time-major -> [b, T*F, d_model]: one reference scan per direction, summed."""
        c = self.cfg
        b, l, _ = u.shape
        z, xBC, dt = self.split(self.in_proj(u))
        y = 0
        for k in range(self.directions):
            seq, _ = causal_conv1d(reorder(xBC, k, grid), self.conv_weight[k], self.conv_bias[k])
            x, B, C = torch.split(seq, [c.d_inner, c.d_state, c.d_state], dim=-1)
            dt_k = F.softplus(upcast(reorder(dt, k, grid)) + upcast(self.dt_bias[k]))
            y_k = linear_scan(x.view(b, l, c.nheads, c.headdim), dt_k, -torch.exp(upcast(self.A_log[k])),
                              B.view(b, l, 1, c.d_state), C.view(b, l, 1, c.d_state), c.chunk_size, self.D[k])
            y = y + restore(y_k, k, grid)
        return self.out_proj(self.norm(y.reshape(b, l, c.d_inner), z))


class Block(nn.Module):
    def __init__(self, cfg: AudioMambaConfig, stage: int):
        super().__init__()
        dim = cfg.dims[stage]
        self.norm1 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.mixer = CrossScanMixer(cfg.mixer_config(stage), cfg.directions)
        hidden = int(dim * cfg.mlp_ratio)
        if hidden:
            self.norm2 = nn.LayerNorm(dim, eps=cfg.norm_eps)
            self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, grid: tuple[int, int], mix: Callable[..., Tensor]) -> Tensor:
        x = x + mix(self.mixer, self.norm1(x), grid)
        if hasattr(self, "mlp"):
            x = x + self.mlp(self.norm2(x))
        return x


class PatchMerging(nn.Module):
    """2 x 2 neighbouring tokens (time, band) -> one: concatenated (4C), LayerNorm, Linear to the next width."""

    def __init__(self, dim: int, out_dim: int, eps: float):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim, eps=eps)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)

    def forward(self, g: Tensor) -> Tensor:
        """grid [b, T, F, C] -> [b, T/2, F/2, out_dim]."""
        x = torch.cat([g[:, 0::2, 0::2], g[:, 1::2, 0::2], g[:, 0::2, 1::2], g[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class Stage(nn.Module):
    def __init__(self, cfg: AudioMambaConfig, stage: int):
        super().__init__()
        self.blocks = nn.ModuleList(Block(cfg, stage) for _ in range(cfg.depths[stage]))
        if stage + 1 < len(cfg.dims):
            self.downsample = PatchMerging(cfg.dims[stage], cfg.dims[stage + 1], cfg.norm_eps)


def reference_mix(mixer: CrossScanMixer, x: Tensor, grid: tuple[int, int]) -> Tensor:
    return mixer(x, grid)


class AudioMambaEncoder(nn.Module):
    def __init__(self, config: AudioMambaConfig):
        super().__init__()
        self.config = cfg = config
        self.patch_embed = nn.Conv2d(cfg.in_chans, cfg.dims[0], kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.patch_norm = nn.LayerNorm(cfg.dims[0], eps=cfg.norm_eps)
        self.stages = nn.ModuleList(Stage(cfg, i) for i in range(len(cfg.dims)))
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        if cfg.has_head:
            self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        if self.norm.weight.is_meta:  # a checkpoint fills every tensor next
            return
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @property
    def dtype(self) -> torch.dtype:
        return self.patch_embed.weight.dtype

    def embed_patches(self, fbank: Tensor) -> Tensor:
        """fbank [B, 1, T, mel_bins] -> the first stage's grid [B, T/p, mel_bins/p, dims[0]]."""
        cfg = self.config
        if fbank.dim() != 4 or fbank.shape[1] != cfg.in_chans or fbank.shape[3] != cfg.mel_bins:
            raise ValueError(f"expected fbank of shape [B, {cfg.in_chans}, T, {cfg.mel_bins}], got {list(fbank.shape)}")
        if fbank.shape[2] % cfg.time_stride or fbank.shape[2] == 0:
            raise ValueError(f"fbank length {fbank.shape[2]} is not a positive multiple of {cfg.time_stride} frames "
                             "(patch_size x 2^(stages - 1))")
        return self.patch_norm(self.patch_embed(fbank.to(self.dtype)).permute(0, 2, 3, 1))

    def run(self, fbank: Tensor, mix: Callable[..., Tensor]) -> Tensor:
        """The encoder with `mix(mixer, x, grid)` computing each mixer: `reference_mix` here; accel/ passes a
        fused one. -> [B, 1 + N, D], token 0 the mean of the grid tokens, then the grid time-major."""
        g = self.embed_patches(fbank)
        for stage in self.stages:
            b, t, f, c = g.shape
            x = g.reshape(b, t * f, c)
            for block in stage.blocks:
                x = block(x, (t, f), mix)
            g = x.view(b, t, f, c)
            if hasattr(stage, "downsample"):
                g = stage.downsample(g)
        x = self.norm(g.reshape(g.shape[0], -1, g.shape[-1]))
        return torch.cat([x.mean(dim=1, keepdim=True), x], dim=1)

    def forward(self, fbank: Tensor) -> Tensor:
        return self.run(fbank, reference_mix)

    def classify(self, tokens: Tensor) -> Tensor:
        """tokens [B, 1 + N, D] -> tag logits [B, num_classes] (a Linear over the pooled token; apply sigmoid)."""
        if not self.config.has_head:
            raise ValueError("this Audio Mamba encoder has no tagging head (num_classes 0)")
        return self.head(tokens[:, 0])
