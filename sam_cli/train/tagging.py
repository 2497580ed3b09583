"""Training-time tagging: the encoder's own head learns which sound classes each clip holds (issue 24).

Why: the LM loss reaches the encoder only through the words of captions and answers, a weak and indirect
signal for telling sounds apart; a multi-label target on every window is a direct one. Unlike distillation
the head is part of the model: EAT's `fc_norm` + `head` over the CLS token (the "finetune" variant), with
the class names in `SAMConfig.labels`. It ships with the export, and `sam classify` without --labels reads
it (tasks.classify): a score per class, from the encoder alone.

The classes are the training records' `tags`, sorted. A run that starts from a model whose head already has
exactly these classes keeps it (a resume, a continued run); otherwise the head is made fresh, its bias at
-log(classes), so that every class starts rare and the first steps are not spent pushing hundreds of
negatives down. Loss per sample: binary cross-entropy summed over the classes; rows whose record has no
`tags` count for nothing. `tag_loss` sums over the micro-batch, so that a step divides by its global sample
count as it does for distillation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam_cli.models.encoder import EATConfig
from sam_cli.models.sam import SAM
from sam_cli.train.config import ConfigError
from sam_cli.train.data import Record


def tag_classes(records: Sequence[Record]) -> list[str]:
    """The sorted classes the records' tags name; ConfigError when no record has a `tags` list."""
    tagged = [r.tags for r in records if r.tags is not None]
    if not tagged:
        raise ConfigError("tag_weight is set but no training record has a 'tags' list (the sound classes in its "
                          "clip; scripts/build_scenes.py --mode clips writes them)")
    return sorted({t for tags in tagged for t in tags})


def ensure_head(model: SAM, classes: list[str], seed: int, log: Callable[[str], None]) -> None:
    """Give the model's encoder a head over `classes` (kept when it already has exactly these)."""
    enc_cfg = model.cfg.encoder
    if not isinstance(enc_cfg, EATConfig):
        raise ConfigError("tag_weight: the tagging loss trains the EAT encoder's head, not an Audio Mamba one")
    if model.has_audio_head and model.cfg.labels == classes:
        log(f"tagging: the encoder's head over {len(classes)} classes goes on training")
        return
    new_cfg = dataclasses.replace(enc_cfg, model_variant="finetune", num_classes=len(classes))
    ref = model.encoder.extra_tokens
    with torch.random.fork_rng(devices=[]):  # the same head on every process; the run's RNG untouched
        torch.manual_seed(seed)
        fc_norm = nn.LayerNorm(new_cfg.embed_dim, eps=new_cfg.head_norm_eps)
        head = nn.Linear(new_cfg.embed_dim, len(classes))
        nn.init.trunc_normal_(head.weight, std=0.02)
        nn.init.constant_(head.bias, -math.log(len(classes)))
    model.encoder.fc_norm = fc_norm.to(ref.device, ref.dtype)
    model.encoder.head = head.to(ref.device, ref.dtype)
    model.encoder.config = new_cfg
    model.cfg.encoder = new_cfg
    model.cfg.labels = list(classes)
    log(f"tagging: a fresh head over {len(classes)} classes on the encoder's CLS token "
        f"({sum(p.numel() for p in (*fc_norm.parameters(), *head.parameters())):,} parameters)")


def tag_loss(model: SAM, tokens: Tensor, tags: Tensor, known: Tensor) -> Tensor:
    """Binary cross-entropy of the head's logits against the 0/1 `tags` [B, classes], summed over classes and
    over the rows whose record has tags (`known` [B] bool), in float32."""
    logits = model.encoder.classify(tokens).float()
    per_sample = F.binary_cross_entropy_with_logits(logits, tags.float(), reduction="none").sum(-1)
    return (per_sample * known.to(per_sample.dtype)).sum()
