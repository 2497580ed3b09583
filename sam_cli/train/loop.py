"""The training loop: stages, gradient accumulation, DDP, checkpoints; when to report the held-out loss and
sample generations (reports.py computes them).

The loss of a step is the mean cross-entropy over every target token of the GLOBAL batch: each micro-batch
contributes sum(CE) / (target tokens of the whole step, counted across processes before the first forward).
So gradients do not depend on how the batch is cut into micro-batches and processes: 2 processes with 1
micro-batch each compute what 1 process computes with 2 accumulated micro-batches (tested).

Under torchrun each process trains a DDP replica; rank 0 alone logs, writes metrics and saves (the run folder
must be shared for multi-node runs). Only optimizer-step boundaries are checkpointed, so the data position of
a resume is just the step number (StepSampler replays batches from there).

Distillation (`distill_teacher`, sam_cli/train/distill.py): in stages that train the encoder, a frozen Whisper
encoder hears each micro-batch's waveforms and a DistillationHead learns to predict its frames from EAT's
tokens; the step's loss adds distill_weight x the per-sample distillation loss, averaged over the GLOBAL
batch's samples (as the LM loss is over its target tokens). The head is trained with the stage's optimizer
and saved in trainer_state.pt for resume; it is not part of SAM, so checkpoints' weights and the export are
what they are without it. The teacher is never saved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from sam_cli.errors import UsageError
from sam_cli.models.lora import lora_layers, remove_lora
from sam_cli.models.sam import IGNORE_INDEX, SAM
from sam_cli.models.tokenizer import DESCRIBE_PROMPT, PROMPT_TEMPLATE, Tokenizer, format_prompt, train_tokenizer
from sam_cli.train import build, distributed, prune_schedule, reports
from sam_cli.train.checkpoints import SKIPPED_FILE, STATE_VERSION, RunFolder, Saved, rng_state, set_rng_state
from sam_cli.train.config import ConfigError, StagePlan, TrainConfig, plan_stage
from sam_cli.train.data import (AudioTextDataset, Batch, Collate, DataError, Examples, Record, StepSampler,
                                read_records, resolve_audio_root, split_eval, tokenize)
from sam_cli.train.distill import DistillationHead, WhisperTeacher, setup_distillation
from sam_cli.train.objectives import TrainingNet, forward
from sam_cli.train.tagging import ensure_head, tag_classes

# Settings that fix the data order: a resume with other values would not continue the same run.
RESUME_FIXED = ("train_json", "eval_json", "eval_split", "seed", "batch_size", "group_by_length", "curriculum",
                "stage", "max_text_tokens")


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1 over `warmup` steps, then linear decay to 0 at `total` (step counts from 0)."""
    warm = (step + 1) / max(1, warmup)
    decay = (total - step) / max(1, total - warmup)
    return max(0.0, min(warm, decay, 1.0))


def _same_layout(p: torch.nn.Parameter):
    def hook(grad: torch.Tensor) -> torch.Tensor:
        return grad if grad.stride() == p.stride() else grad.clone(memory_format=torch.contiguous_format)

    return hook


class Stopped(Exception):
    """Training stopped early at a checkpoint (time limit or SIGTERM); `--resume` continues it."""

    exit_code = 75  # EX_TEMPFAIL: "try again later", which is what a job scheduler should do

    def __init__(self, reason: str, stage: int, step: int, total: int, output: str):
        super().__init__(f"stopped ({reason}) at stage {stage} step {step}/{total}, after saving a checkpoint; "
                         f"continue with: sam train --resume -o {output}")


class Trainer:
    def __init__(self, cfg: TrainConfig):
        if not cfg.output:
            raise ConfigError("no run folder: give --output DIR")
        if not cfg.train_json:
            raise ConfigError("no training data: give --train-json FILE")
        self.cfg = cfg
        self.d = distributed.setup(cfg.device)
        self.run = RunFolder(cfg.output)
        self.bf16 = cfg.bf16 if cfg.bf16 is not None else self.d.device.type == "cuda"
        self.skipped: dict[str, str] = {}
        self.metrics: TextIO | None = None
        self.t_start = time.monotonic()
        self.stop_reason: str | None = None  # set by SIGTERM; checked at the next step boundary
        self.teacher: WhisperTeacher | None = None  # distillation: the frozen teacher and the trained head
        self.head: DistillationHead | None = None
        self.tag_classes: list[str] | None = None  # tagging: the head's classes (tag_weight > 0)
        self.analysis = None  # with analyze_data: sam_cli.analysis.run.CheckpointAnalysis, made at the first save
        if self.d.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    # --- output ------------------------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        if self.d.is_main:
            print(f"sam train: {msg}", file=sys.stderr, flush=True)

    def write_metrics(self, record: dict[str, Any]) -> None:
        if self.metrics is not None:
            clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
            self.metrics.write(json.dumps(clean) + "\n")
            self.metrics.flush()

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=self.d.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    # --- the run -----------------------------------------------------------------------------------------
    def fit(self) -> Path | None:
        """Train every stage and export; returns the exported folder (on rank 0; None on the others)."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            return self._fit()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if self.metrics is not None:
                self.metrics.close()
            distributed.teardown(self.d)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        # Schedulers send SIGTERM before killing a job: finish the step, save, and leave.
        self.stop_reason = "SIGTERM"

    def _should_stop(self) -> str | None:
        """Why to stop after this step (time limit or SIGTERM), agreed by every process; None to go on."""
        reason = self.stop_reason
        limit = self.cfg.time_limit
        if reason is None and limit is not None and time.monotonic() - self.t_start >= limit:
            reason = f"time limit of {limit:g} s"
        if self.d.active:  # one process must not stop while the others wait in the next all-reduce
            (votes,) = distributed.all_reduce_sum(self.d, [1.0 if reason else 0.0])
            if votes and reason is None:
                reason = "another process was stopped"
        return reason

    def _fit(self) -> Path | None:
        cfg, d = self.cfg, self.d
        plans = {s: plan_stage(cfg, s) for s in cfg.stage_list}
        if (cfg.batch_size // cfg.micro_batch_size) % d.world:
            raise ConfigError(f"batch_size {cfg.batch_size} must be a multiple of micro_batch_size x processes "
                              f"({cfg.micro_batch_size} x {d.world} = {cfg.micro_batch_size * d.world})")
        saved = self._open_run()
        train_records, eval_records = self._read_data(any(p.tasks != ("*",) for p in plans.values()))

        start_index, start_step, opt_state, rngs, head_state = 0, 0, None, None, None
        if saved is not None:
            if saved.stage not in cfg.stage_list:
                raise UsageError(f"the checkpoint {saved.path.name} is from stage {saved.stage}, which this run "
                                 f"(stages {cfg.stage_list}) does not have")
            model, state = self.run.load(saved)
            tokenizer = model.tokenizer
            self._check_resume(state)
            self.skipped = dict(state["skipped"])
            # Continue the checkpoint's stage; _stage skips it if it is complete (a larger max_steps extends it).
            start_index = cfg.stage_list.index(saved.stage)
            start_step, opt_state, rngs = saved.step, state["optimizer"], state["rng"]
            head_state = state.get("distill_head")
            if d.is_main:
                self.run.truncate_metrics(state["metrics_offset"])
            self.log(f"resuming from {saved.path}")
        else:
            model, tokenizer = self._start(train_records)
            if d.is_main and self.run.metrics_path.exists():
                self.run.metrics_path.unlink()  # from a run killed before its first checkpoint
        if d.is_main:
            self.run.write_json(self.run.config_path, cfg.to_dict())
            self.metrics = open(self.run.metrics_path, "a", encoding="utf-8")
        model = build.finish(model, cfg, tokenizer).to(d.device)
        model.train()
        self.teacher, self.head = setup_distillation(model, cfg, plans, d.device, head_state, self.log)
        if cfg.tag_weight > 0 and any(p.train_encoder for p in plans.values()):
            self.tag_classes = tag_classes(train_records)
            if saved is not None and model.cfg.labels != self.tag_classes:
                raise UsageError("the checkpoint's tagging head has other classes than the data's tags; resume "
                                 "with the data it was trained on")
            ensure_head(model, self.tag_classes, cfg.seed, self.log)

        for stage in cfg.stage_list[start_index:]:
            self._stage(model, tokenizer, plans[stage], train_records, eval_records, start_step, opt_state, rngs)
            start_step, opt_state, rngs = 0, None, None
        return self._export(model, tokenizer)

    def _open_run(self) -> Saved | None:
        """Create the run folder, clear what a kill left half-written; the checkpoint to resume from, if any."""
        if self.d.is_main:
            self.run.create()
            self.run.clean_partial()
        distributed.barrier(self.d)
        saved = self.run.latest()
        if saved is not None and not self.cfg.resume:
            raise UsageError(f"{self.run.root} already holds a training run ({saved.path.name}); pass --resume to "
                             "continue it, or choose another --output")
        if self.cfg.resume and saved is None:
            self.log(f"no checkpoint in {self.run.root}; starting from the beginning")
        return saved

    def _read_data(self, by_task: bool) -> tuple[list[Record], list[Record]]:
        cfg = self.cfg
        need_task = by_task or bool(cfg.tasks)
        train_records = read_records(cfg.train_json, need_task)
        self.audio_root = self.eval_root = resolve_audio_root(cfg.audio_root, cfg.train_json)
        eval_records: list[Record] = []
        if cfg.eval_json:  # its relative paths start from --audio-root, else from its own folder
            eval_records = read_records(cfg.eval_json, need_task)
            self.eval_root = resolve_audio_root(cfg.audio_root, cfg.eval_json)
        train_records, split = split_eval(train_records, cfg.eval_split, cfg.seed)
        return train_records, eval_records or split

    def _start(self, records: list[Record]) -> tuple[SAM, Tokenizer]:
        cfg = self.cfg
        if cfg.init:
            model = build.from_checkpoint(cfg)
            return model, model.tokenizer
        if cfg.lm:
            tokenizer = build.load_tokenizer(cfg.tokenizer)
            return build.from_parts(cfg, tokenizer), tokenizer
        if cfg.scratch:
            tokenizer = self._scratch_tokenizer(records)
            return build.from_scratch(cfg, tokenizer), tokenizer
        raise ConfigError("no starting point: give --init CHECKPOINT, or --lm, --encoder and --tokenizer, "
                          "or --scratch")

    def _scratch_tokenizer(self, records: list[Record]) -> Tokenizer:
        """Trained by rank 0 on the data's text and shared through the run folder (BPE ties must not differ)."""
        path = self.run.root / "tokenizer.json"
        if self.d.is_main:
            texts = [format_prompt(r.question, PROMPT_TEMPLATE) for r in records] + [r.output for r in records]
            texts.append(format_prompt(DESCRIBE_PROMPT, PROMPT_TEMPLATE))
            train_tokenizer(texts, vocab_size=self.cfg.model.vocab_size).save(path)
            self.log(f"trained a tokenizer on the data's text: {path}")
        distributed.barrier(self.d)
        return Tokenizer.from_file(path)

    def _check_resume(self, state: dict[str, Any]) -> None:
        then = state["train_config"]
        for key in RESUME_FIXED:
            if then.get(key) != getattr(self.cfg, key):
                raise UsageError(f"cannot resume: {key} was {then.get(key)!r} in the checkpoint, now "
                                 f"{getattr(self.cfg, key)!r} (it changes the data order)")
        if bool(then.get("distill_teacher")) != bool(self.cfg.distill_teacher):  # the teacher's folder may move
            was = "on" if then.get("distill_teacher") else "off"
            raise UsageError(f"cannot resume: distillation was {was} in the checkpoint (its optimizer state "
                             "belongs to it); start a new run from the checkpoint with --init instead")

    # --- one stage ---------------------------------------------------------------------------------------
    def _examples(self, records: list[Record], plan: StagePlan, tokenizer: Tokenizer, model: SAM,
                  root: Path, tags: list[str] | None = None) -> Examples:
        chosen = [r for r in records if plan.selects(r.task or "")] if plan.tasks != ("*",) else records
        return tokenize(chosen, tokenizer, root, model.cfg.prompt_template, self.cfg.max_text_tokens, tags)

    def _stage(self, model: SAM, tokenizer: Tokenizer, plan: StagePlan, train_records: list[Record],
               eval_records: list[Record], start_step: int, opt_state: dict | None, rngs: list | None) -> None:
        cfg, d = self.cfg, self.d
        tagging = self.tag_classes is not None and plan.train_encoder
        train = self._examples(train_records, plan, tokenizer, model, self.audio_root,
                               self.tag_classes if tagging else None)
        if len(train) == 0:
            raise DataError(f"stage {plan.stage} trains on records whose task matches {', '.join(plan.tasks)}; none "
                            f"of the {len(train_records)} records in {cfg.train_json} does (see `sam train --help`)")
        held_out = self._examples(eval_records, plan, tokenizer, model, self.eval_root)
        os.environ["TOKENIZERS_PARALLELISM"] = "false"  # workers fork after this; they never tokenise
        sampler = StepSampler(train.lengths, cfg.batch_size, cfg.micro_batch_size, d.rank, d.world,
                              seed=cfg.seed * 10 + plan.stage, group_by_length=cfg.group_by_length)
        total = plan.max_steps or plan.epochs * sampler.steps_per_epoch
        sampler.total_steps, sampler.start_step = total, start_step
        if start_step >= total:
            self.log(f"stage {plan.stage}: already complete ({start_step} steps)")
            return

        trainable = build.set_trainable(model, plan, train_head=tagging)
        params = [p for _, p in trainable]
        distill = self.head is not None and plan.train_encoder
        net: torch.nn.Module = model
        if distill or tagging:
            if distill:
                assert self.head is not None
                params += list(self.head.parameters())
            net = TrainingNet(model, self.head if distill else None, cfg.distill_loss, cfg.distill_pooled_weight)
        optimizer = torch.optim.AdamW(params, lr=plan.lr, betas=tuple(cfg.adam_betas), weight_decay=cfg.weight_decay)
        if opt_state is not None:
            optimizer.load_state_dict(opt_state)
        hooks = []
        if d.active:
            # Some gradients come out with odd strides (EAT's CLS token, expanded over the batch: size-1 dims);
            # DDP's buckets want the parameter's own layout, and warns on every step otherwise.
            hooks = [p.register_hook(_same_layout(p)) for p in params]
            net = DDP(net, device_ids=[d.device.index] if d.device.type == "cuda" else None, broadcast_buffers=False,
                      gradient_as_bucket_view=True)
        if rngs is not None and d.rank < len(rngs):
            set_rng_state(rngs[d.rank])

        target_length = model.cfg.target_length
        collate = Collate(tokenizer.eos_id, cfg.loss_on, target_length, with_wav=distill,
                          num_tags=len(self.tag_classes or []) if tagging else 0)
        loader = DataLoader(AudioTextDataset(train, target_length, with_wav=distill), batch_sampler=sampler,
                            collate_fn=collate,
                            num_workers=cfg.num_workers, worker_init_fn=reports.worker_init,
                            pin_memory=d.device.type == "cuda", prefetch_factor=4 if cfg.num_workers else None)
        head_params = sum(p.numel() for p in self.head.parameters()) if distill and self.head is not None else 0
        self.log(f"stage {plan.stage}: training {plan.describe()} ({build.count(trainable):,} parameters"
                 + (f", and a distillation head of {head_params:,}" if distill else "") + ") on "
                 f"{len(train)} examples" + (f" ({train.truncated} cut at {cfg.max_text_tokens} tokens)"
                                              if train.truncated else "")
                 + f"; {total} steps of {cfg.batch_size} = {sampler.accumulation} x {cfg.micro_batch_size} x "
                 f"{d.world} process{'es' if d.world > 1 else ''}, lr {plan.lr:g}, {d.device}"
                 + (", bf16" if self.bf16 else ""))
        if start_step:
            self.log(f"stage {plan.stage}: continuing at step {start_step}")
        else:
            self.write_metrics({"type": "stage", "stage": plan.stage, "examples": len(train),
                                "eval_examples": len(held_out), "steps": total, "trains": plan.describe(),
                                "parameters": build.count(trainable), "lr": plan.lr, "tasks": list(plan.tasks)})

        audio_tokens = model.cfg.num_audio_tokens
        gc.freeze()  # the records stay put in forked workers: the collector would otherwise touch (copy) them all
        it = iter(loader)
        ema, t_stage = None, time.perf_counter()
        for step in range(start_step, total):
            t0 = time.perf_counter()
            micro = [next(it) for _ in range(sampler.accumulation)]
            lr = plan.lr * lr_factor(step, plan.warmup_steps, total)
            prune_schedule.apply(model, cfg, step, total)
            stats = self._step(net, optimizer, params, micro, lr, audio_tokens, distill, tagging)
            dt = time.perf_counter() - t0
            ema = dt if ema is None else 0.9 * ema + 0.1 * dt
            done = step + 1
            epoch = done / sampler.steps_per_epoch
            self.write_metrics({"type": "train", "stage": plan.stage, "step": done, "epoch": epoch, "loss": stats.loss,
                                "lr": lr, "grad_norm": stats.grad_norm, "samples": stats.samples, "tokens": stats.tokens,
                                "tokens_per_s": stats.tokens / dt, "skipped": stats.failed,
                                "time": time.perf_counter() - t_stage}
                               | ({"distill_loss": stats.distill_loss} if distill else {})
                               | ({"tag_loss": stats.tag_loss} if tagging else {}))
            if done % cfg.log_every == 0 or done == total or done == start_step + 1:
                eta = reports.duration(ema * (total - done))
                self.log(f"stage {plan.stage} step {done}/{total} (epoch {epoch:.2f})  loss "
                         f"{stats.loss:.4f}" + (f"  distill {stats.distill_loss:.4f}" if distill else "")
                         + (f"  tags {stats.tag_loss:.4f}" if tagging else "")
                         + f"  lr {lr:.2e}  {reports.si(stats.tokens / dt)} tok/s  ETA {eta}"
                         + (f"  skipped {len(self.skipped)} clips" if self.skipped else ""))
            if len(held_out) and (done % cfg.eval_every == 0 or done == total):
                self._evaluate(model, held_out, plan, done)
            if cfg.num_samples and (done % cfg.eval_every == 0 or done == total):
                self._samples(model, held_out if len(held_out) else train, plan, done)
            saved = done % cfg.save_every == 0 or done == total
            if saved:
                self._save(model, tokenizer, optimizer, plan, done, total)
            reason = self._should_stop() if done < total else None
            if reason is not None:
                if not saved:
                    self._save(model, tokenizer, optimizer, plan, done, total)
                raise Stopped(reason, plan.stage, done, total, str(cfg.output))
        del it, loader
        for h in hooks:
            h.remove()

    def _step(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter],
              micro: list[Batch], lr: float, audio_tokens: int, distill: bool = False,
              tagging: bool = False) -> reports.StepStats:
        d = self.d
        for b in micro:
            for path, reason in b.failed:
                self.skipped.setdefault(path, reason)
        local_targets = sum(b.num_targets for b in micro)
        local_samples = sum(len(b.indices) for b in micro)
        targets, global_samples = distributed.all_reduce_sum(d, [local_targets, local_samples])
        scale = d.world / max(targets, 1.0)  # DDP averages gradients over processes; undo that, divide by tokens
        distill_scale = self.cfg.distill_weight * d.world / max(global_samples, 1.0)  # ... or by samples
        loss_sum = torch.zeros((), dtype=torch.float64, device=d.device)
        distill_sum = torch.zeros((), dtype=torch.float64, device=d.device)
        tag_scale = self.cfg.tag_weight * d.world / max(global_samples, 1.0)
        tag_sum = torch.zeros((), dtype=torch.float64, device=d.device)
        for j, b in enumerate(micro):
            b = b.to(d.device)
            sync = j == len(micro) - 1
            ctx = net.no_sync() if isinstance(net, DDP) and not sync else contextlib.nullcontext()
            with ctx:
                with self.autocast():
                    logits, dist, tag = forward(net, b, self.teacher if distill else None, tagging)
                ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), b.labels.reshape(-1),
                                     ignore_index=IGNORE_INDEX, reduction="sum")
                loss = ce * scale
                if dist is not None:
                    loss = loss + dist * distill_scale
                    distill_sum += dist.detach().double()
                if tag is not None:
                    loss = loss + tag * tag_scale
                    tag_sum += tag.detach().double()
                loss.backward()
            loss_sum += ce.detach().double()
        clip = self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens = sum(b.num_text_tokens + audio_tokens * len(b.indices) for b in micro)
        total_loss, total_distill, total_tag, tokens, failed = distributed.all_reduce_sum(
            d, [float(loss_sum), float(distill_sum), float(tag_sum), tokens, sum(len(b.failed) for b in micro)])
        loss = total_loss / targets if targets else float("nan")
        distill_loss = (total_distill / global_samples if global_samples else float("nan")) if distill else None
        tag_loss = (total_tag / global_samples if global_samples else float("nan")) if tagging else None
        return reports.StepStats(loss, int(targets), int(tokens), int(global_samples), int(failed), grad_norm, distill_loss,
                         tag_loss)

    # --- eval, samples, checkpoints ----------------------------------------------------------------------
    def _evaluate(self, model: SAM, held_out: Examples, plan: StagePlan, step: int) -> None:
        loss = reports.held_out_loss(model, held_out, self.cfg, self.d, self.autocast, self.skipped)
        self.write_metrics({"type": "eval", "stage": plan.stage, "step": step, "eval_loss": loss,
                            "eval_examples": len(held_out)})
        self.log(f"stage {plan.stage} step {step}: held-out loss {loss:.4f} ({len(held_out)} examples)")

    def _samples(self, model: SAM, examples: Examples, plan: StagePlan, step: int) -> None:
        """Greedy answers for the first few examples (rank 0 only; the others wait at their next step)."""
        if not self.d.is_main:
            return
        for sample in reports.sample_answers(model, examples, self.cfg, self.d.device, self.autocast):
            self.write_metrics({"type": "sample", "stage": plan.stage, "step": step} | sample)
            self.log(f"  sample {Path(sample['audio']).name}: {sample['output']!r}  "
                     f"(reference: {sample['reference']!r})")

    def _save(self, model: SAM, tokenizer: Tokenizer, optimizer: torch.optim.Optimizer, plan: StagePlan, step: int,
              total: int) -> None:
        d = self.d
        rngs = distributed.all_gather_objects(d, rng_state())
        for part in distributed.all_gather_objects(d, self.skipped):
            for path, reason in part.items():
                self.skipped.setdefault(path, reason)
        if d.is_main:
            if self.cfg.analyze_data:  # logged before the checkpoint's metrics offset: a resume keeps it
                self._log_analysis(model, plan, step)
            assert self.metrics is not None
            self.metrics.flush()
            state = {"version": STATE_VERSION, "stage": plan.stage, "step": step, "total_steps": total,
                     "stage_complete": step == total, "optimizer": optimizer.state_dict(), "rng": rngs,
                     "metrics_offset": self.metrics.tell(), "skipped": sorted(self.skipped.items()),
                     "world_size": d.world, "train_config": self.cfg.to_dict()}
            if self.head is not None:
                state["distill_head"] = self.head.state_dict()
            extra = {"train_config": self.cfg.to_dict(), "stage": plan.stage, "step": step, "total_steps": total}
            path = self.run.save(model, tokenizer, plan.stage, step, state, extra, self.cfg.keep_last)
            self.log(f"saved {path}")
            self._write_skipped()
        distributed.barrier(d)

    def _log_analysis(self, model: SAM, plan: StagePlan, step: int) -> None:
        from sam_cli.analysis.run import CheckpointAnalysis

        if self.analysis is None:
            self.analysis = CheckpointAnalysis(self.cfg.analyze_data, self.cfg.analyze_limit, self.log)
        record = self.analysis(model)
        if record is not None:
            self.write_metrics({"type": "analysis", "stage": plan.stage, "step": step} | record)
            self.log(f"stage {plan.stage} step {step}: audio tokens' τ-effective rank {record['effective_rank']:.1f}, "
                     f"cosine {record['cosine_similarity']:.2f} ({record['windows']} windows)")

    def _write_skipped(self) -> None:
        path = self.run.root / SKIPPED_FILE
        if self.skipped:
            path.write_text("".join(f"{p}\t{r}\n" for p, r in sorted(self.skipped.items())), encoding="utf-8")

    def _export(self, model: SAM, tokenizer: Tokenizer) -> Path | None:
        d, cfg = self.d, self.cfg
        for part in distributed.all_gather_objects(d, self.skipped):
            for path, reason in part.items():
                self.skipped.setdefault(path, reason)
        out = None
        if d.is_main:
            model.eval()
            if cfg.merge_lora and lora_layers(model):
                remove_lora(model)
                model.cfg = dataclasses.replace(model.cfg, lora_rank=0, lora_alpha=None)
            model.to(getattr(torch, cfg.export_dtype))
            out = self.run.export(model, tokenizer, {"train_config": cfg.to_dict(), "stages": cfg.stage_list})
            self._write_skipped()
            if self.skipped:
                self.log(f"skipped {len(self.skipped)} clips with missing or unreadable audio (listed in "
                         f"{self.run.root / SKIPPED_FILE})")
            self.log(f"exported {out}")
        distributed.barrier(d)
        return out

