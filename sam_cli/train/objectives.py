"""The module a training step runs: SAM plus the training-only objectives on its encoder tokens.

One forward computes the LM logits, the distillation loss (a Whisper teacher's frames: train/distill.py) and
the tagging loss (the records' sound classes: train/tagging.py), each only when its targets are given, so
that DDP reduces all their gradients together. It holds `sam` and the distillation head by reference: save and
export `sam` as before (the tagging head is part of it; the distillation head is not, and is saved apart).
"""

from __future__ import annotations

from torch import Tensor, nn

from sam_cli.train.data import Batch
from sam_cli.train.distill import DistillationHead, distill_loss
from sam_cli.train.tagging import tag_loss


class TrainingNet(nn.Module):
    """forward(fbank, input_ids, teacher_frames=None, tags=None, tag_known=None) -> (text logits, distillation
    loss or None, tagging loss or None), each loss summed over the micro-batch's samples."""

    def __init__(self, sam: nn.Module, head: DistillationHead | None = None, kind: str = "cosine",
                 pooled_weight: float = 0.25):
        super().__init__()
        self.sam, self.head = sam, head
        self.kind, self.pooled_weight = kind, pooled_weight

    def forward(self, fbank: Tensor, input_ids: Tensor, teacher_frames: Tensor | None = None,
                tags: Tensor | None = None, tag_known: Tensor | None = None
                ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        audio_embeds, tokens = self.sam.encode_audio(fbank)
        logits, _ = self.sam(fbank, input_ids, audio_embeds=audio_embeds)
        dist = None
        if teacher_frames is not None:
            assert self.head is not None
            dist = distill_loss(tokens, teacher_frames, self.head, kind=self.kind, pooled_weight=self.pooled_weight,
                                reduction="sum")
        tag = None
        if tags is not None:
            assert tag_known is not None
            tag = tag_loss(self.sam, tokens, tags, tag_known)
        return logits, dist, tag


def forward(net: nn.Module, b: Batch, teacher: nn.Module | None, tagging: bool
            ) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """One micro-batch through `net` (a SAM, or a TrainingNet when `teacher` or `tagging`): (text logits,
    distillation loss or None, tagging loss or None). A dummy batch (every clip failed: no samples) gets its
    auxiliary losses zeroed, not dropped, since DDP must see every parameter take part."""
    if teacher is None and not tagging:
        logits, _ = net(b.fbank, b.input_ids)
        return logits, None, None
    frames = None
    if teacher is not None:
        assert b.wav is not None
        frames = teacher(b.wav)
    logits, dist, tag = net(b.fbank, b.input_ids, frames, b.tags, b.tag_known)  # tags: None unless tagging
    if not b.indices:
        dist = None if dist is None else dist * 0.0
        tag = None if tag is None else tag * 0.0
    return logits, dist, tag
