"""What the training loop reports beside its training loss: the held-out loss, greedy sample answers, and the
formatting of its progress line. The Trainer (loop.py) decides when; these compute what."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from sam_cli.models.sam import IGNORE_INDEX, SAM
from sam_cli.train import distributed
from sam_cli.train.config import TrainConfig
from sam_cli.train.data import AudioTextDataset, Collate, Examples, eval_micro_batches

Autocast = Callable[[], contextlib.AbstractContextManager]


@dataclasses.dataclass
class StepStats:
    loss: float
    targets: int
    tokens: int
    samples: int
    failed: int
    grad_norm: float
    distill_loss: float | None = None  # per-sample mean over the global batch, before distill_weight
    tag_loss: float | None = None  # the same for the tagging loss, before tag_weight


def worker_init(_: int) -> None:
    torch.set_num_threads(1)  # fbank in N workers: one thread each, not N x all cores


@torch.no_grad()
def held_out_loss(model: SAM, held_out: Examples, cfg: TrainConfig, d: distributed.Dist, autocast: Autocast,
                  skipped: dict[str, str]) -> float:
    """Mean cross-entropy per target token over `held_out`, split across processes and summed back. Clips
    whose audio fails are added to `skipped`."""
    model.eval()
    batches = eval_micro_batches(held_out.lengths, cfg.micro_batch_size, d.rank, d.world)
    loader = DataLoader(AudioTextDataset(held_out, model.cfg.target_length), batch_sampler=batches,
                        collate_fn=Collate(model.tokenizer.eos_id, cfg.loss_on, model.cfg.target_length),
                        num_workers=min(cfg.num_workers, len(batches)), worker_init_fn=worker_init)
    total, count = 0.0, 0
    for b in loader:
        for path, reason in b.failed:
            skipped.setdefault(path, reason)
        b = b.to(d.device)
        with autocast():
            logits, _ = model(b.fbank, b.input_ids)
        total += float(F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), b.labels.reshape(-1),
                                       ignore_index=IGNORE_INDEX, reduction="sum"))
        count += b.num_targets
    total, count = distributed.all_reduce_sum(d, [total, count])
    model.train()
    return total / count if count else float("nan")


def sample_answers(model: SAM, examples: Examples, cfg: TrainConfig, device: torch.device,
                   autocast: Autocast) -> list[dict[str, str]]:
    """Greedy answers for the first `cfg.num_samples` readable examples: {audio, prompt, reference, output}."""
    from sam_cli.decoding.generate import generate
    from sam_cli.decoding.options import DecodeOptions

    ds = AudioTextDataset(examples, model.cfg.target_length)
    items = []
    for i in range(len(examples)):
        item = ds[i]
        if item["error"] is None:
            items.append(item)
        if len(items) == cfg.num_samples:
            break
    if not items:
        return []
    model.eval()
    with torch.no_grad(), autocast():
        fb = torch.stack([it["fbank"] for it in items]).to(device)
        embeds, _ = model.encode_audio(fb)
        prompts = [it["tokens"][: it["prompt_len"]].tolist() for it in items]
        out = generate(model, embeds, prompts, DecodeOptions(max_new_tokens=cfg.sample_max_tokens))
    model.train()
    tok = model.tokenizer
    return [{"audio": it["path"], "prompt": tok.decode(it["tokens"][: it["prompt_len"]].tolist()),
             "reference": tok.decode(it["tokens"][it["prompt_len"]:].tolist()), "output": tok.decode(ids)}
            for it, ids in zip(items, out)]


def si(x: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.0f}"


def duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
