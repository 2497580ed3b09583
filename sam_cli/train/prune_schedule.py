"""The pruning rate while training: the paper's cosine shrinking (docs/design.md §4a).

Lee & Lee anneal the keep rate from 1 to its target along half a cosine, so the encoder and everything after
it meet fewer tokens gradually. Here, over the first `prune_ramp_steps` optimizer steps of each stage (at
most all but its last step, so the stage ends, and the model is saved, at the target rate); the rate is a
function of the step alone, so `--resume` continues on the same curve.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def ramped_rate(target: float, step: int, ramp_steps: int, total: int) -> float:
    """The rate at 0-based `step` of a stage of `total` steps: 0 at step 0, `target` from the ramp's end on."""
    span = min(ramp_steps, total - 1)
    if span <= 0 or step >= span:
        return target
    return target * (1 - math.cos(math.pi * step / span)) / 2


def apply(model: Any, cfg: Any, step: int, total: int) -> None:
    """Set the model's pruning rate for `step` (a no-op unless both prune_tokens and prune_ramp_steps are set)."""
    if cfg.prune_tokens is None or not cfg.prune_ramp_steps:
        return
    model.cfg.prune = dataclasses.replace(model.cfg.prune,
                                          rate=ramped_rate(cfg.prune_tokens, step, cfg.prune_ramp_steps, total))
