"""Training settings: typed fields, LTU's stage presets, config files (TOML / YAML / JSON) and overrides.

Precedence, lowest first: the stage preset < the config file < command-line options < a per-stage table of
the config file (`[stages.3]`, the most specific). Every key of a file is checked against the typed fields
below: an unknown key or a value of the wrong type is a one-line ConfigError naming the file and the key.

LTU's curriculum (docs/design.md §10; effective batch 256, AdamW with weight decay 0, 100 warm-up steps then linear
decay to zero, bf16). What each stage trains and on which records (`task` field of OpenAQA):

  stage  trains                          lr     epochs  records (task patterns)
  1      connector                       1e-3   2       classification: "cla*" (cla_label, cla_label_des)
  2      encoder + connector + LoRA      1e-4   2       classification: "cla*"
  3      encoder + connector + LoRA      1e-4   1       closed-ended: every task but open-ended ("*open*")
  4      encoder + connector + LoRA      1e-4   1       everything
The LM's base weights stay frozen (LoRA only), except for a model trained from scratch, whose LM has nothing
to preserve and is trained whole ("train_lm = full"). Patterns are shell-style, case-insensitive; one that
starts with "!" excludes. `tasks` in a file or `--tasks` replaces a stage's patterns.
"""

from __future__ import annotations

import difflib
import json
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from sam_cli.errors import UsageError


class ConfigError(UsageError):
    """A training config (file or options) that is malformed or inconsistent."""


TRAIN_LM_MODES = ("none", "lora", "full")
LOSS_ON = ("answer", "all")
CONNECTORS = ("concat", "time_major", "frequency_major")
EXPORT_DTYPES = ("float32", "bfloat16", "float16")
DISTILL_LOSSES = ("cosine", "mse")
PRUNE_CRITERIA = ("attention", "mean-attention", "intensity", "variation")  # models.pruning.CRITERIA (no torch here)

CLASSIFICATION = ("cla*",)
CLOSED_ENDED = ("*", "!*open*")
EVERYTHING = ("*",)

STAGE_PRESETS: dict[int, dict[str, Any]] = {
    1: {"lr": 1e-3, "epochs": 2, "tasks": CLASSIFICATION, "train_encoder": False, "train_connector": True,
        "train_lm": "none"},
    2: {"lr": 1e-4, "epochs": 2, "tasks": CLASSIFICATION, "train_encoder": True, "train_connector": True,
        "train_lm": "lora"},
    3: {"lr": 1e-4, "epochs": 1, "tasks": CLOSED_ENDED, "train_encoder": True, "train_connector": True,
        "train_lm": "lora"},
    4: {"lr": 1e-4, "epochs": 1, "tasks": EVERYTHING, "train_encoder": True, "train_connector": True,
        "train_lm": "lora"},
}
STAGE_KEYS = ("lr", "epochs", "max_steps", "warmup_steps", "tasks", "train_encoder", "train_connector", "train_lm")


@dataclass
class ScratchModel:
    """The architecture of a model trained from scratch (`scratch = true`); the tokenizer is trained on the
    data's text. Defaults give a small (~10M) model; the tests use far smaller ones."""

    d_model: int = 256
    n_layer: int = 4
    d_state: int = 64
    headdim: int = 32
    chunk_size: int = 64
    encoder_dim: int = 192
    encoder_depth: int = 4
    encoder_heads: int = 3
    encoder_type: str = "eat"  # or "audio_mamba" (models/audio_mamba.py; encoder_dim is then its last width)
    encoder_depths: list[int] | None = None  # audio_mamba: blocks per stage; None: [2, 2, 6, 2]
    encoder_dims: list[int] | None = None  # audio_mamba: width per stage; None: encoder_dim halved per stage back
    connector_hidden: int | None = None  # None: the LM width
    vocab_size: int = 4096  # of the tokenizer trained on the data


@dataclass
class TrainConfig:
    # --- data ---
    train_json: str | None = None  # OpenAQA/LTU JSON (a list of records)
    audio_root: str | None = None  # relative audio_id paths resolve against it (default: the JSON's folder)
    eval_json: str | None = None  # held-out records for the periodic eval loss and sample generations
    eval_split: float = 0.0  # else hold out this fraction of train_json (deterministic, by seed)
    tasks: list[str] | None = None  # task patterns; None: the stage's
    max_text_tokens: int = 108  # LTU's cutoff_len: prompt + answer + EOS
    # --- starting point: exactly one of init / (lm, encoder, tokenizer) / scratch ---
    init: str | None = None  # a SAM checkpoint: folder, Hub id, or bundled name
    lm: str | None = None  # a state-spaces/mamba2-* folder or Hub id
    encoder: str | None = None  # an EAT folder / file or Hub id
    tokenizer: str | None = None  # a tokenizer.json, a folder holding one, or a Hub id
    scratch: bool = False
    model: ScratchModel = field(default_factory=ScratchModel)
    connector: str | None = None  # for a fresh connector (parts, scratch): concat (default), time_major, ...
    target_length: int | None = None  # fbank frames per clip; None: the model's (1024 = 10.24 s)
    # --- recipe ---
    stage: int | None = None  # 1-4; None: 4 (everything trains, all records)
    curriculum: bool = False  # stages 1, 2, 3, 4 in order, each from the previous one's weights
    lr: float | None = None
    epochs: int | None = None
    max_steps: int | None = None  # optimizer steps for the stage; overrides epochs when set
    warmup_steps: int = 100
    weight_decay: float = 0.0
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 1.0  # max gradient norm (0: off)
    batch_size: int = 256  # effective (global) batch: micro_batch_size x accumulation x processes
    micro_batch_size: int = 8  # per process and forward pass
    lora_rank: int | None = None  # None: 8, or the --init checkpoint's rank; 0 for scratch models
    lora_alpha: float | None = None  # None: 2 * rank
    train_encoder: bool | None = None  # None: the stage's
    freeze_encoder: bool = False  # wins over train_encoder and the stage
    train_connector: bool | None = None
    train_lm: str | None = None  # none | lora | full; None: the stage's ("full" for scratch)
    loss_on: str = "all"  # LTU computed the loss on prompt and answer; "answer" is the other option
    bf16: bool | None = None  # autocast; None: on for CUDA
    gradient_checkpointing: bool = False
    seed: int = 0
    # --- distillation (sam_cli/train/distill.py): a frozen Whisper encoder teaches EAT in stages that train it ---
    distill_teacher: str | None = None  # a CTranslate2 Whisper folder (model.bin); None: off
    distill_weight: float = 0.5  # the distillation loss's weight beside the LM loss
    distill_loss: str = "cosine"  # cosine | mse, per 160-ms step against the teacher's pooled frames
    distill_pooled_weight: float = 0.25  # the CLS -> clip-mean term, per sample
    distill_full_context: bool = True  # the teacher sees each window zero-padded to its 30 s (else the window)
    # --- tagging (sam_cli/train/tagging.py): the encoder's head learns the records' `tags` beside the LM loss ---
    tag_weight: float = 0.0  # the tagging loss's weight (binary cross-entropy per sample, summed over classes); 0: off
    # --- TopK token pruning in the EAT encoder (docs/design.md §4a); saved with the model, which then runs pruned ---
    prune_tokens: float | None = None  # share of tokens dropped at each pruning block, [0, 1); None: the model's
    prune_by: str | None = None  # attention | mean-attention | intensity | variation; None: the model's
    prune_ramp_steps: int = 0  # steps of each stage over which the rate rises from 0 to prune_tokens (cosine)
    num_workers: int = 4  # DataLoader workers decoding audio (0: in the main process)
    group_by_length: bool = True
    device: str = "auto"
    # --- run folder ---
    output: str | None = None
    resume: bool = False
    save_every: int = 500  # optimizer steps between checkpoints (LTU: 500)
    keep_last: int = 3
    time_limit: float | None = None  # seconds of this process; then checkpoint and stop (exit 75), --resume goes on
    log_every: int = 10
    eval_every: int = 500
    num_samples: int = 4  # greedy sample generations at each eval
    sample_max_tokens: int = 48
    analyze_data: str | None = None  # audio (a folder or file): `sam analyze`'s measures logged at each checkpoint
    analyze_limit: int = 32  # its first N files
    merge_lora: bool = True  # export with the adapters merged into the LM weights
    export_dtype: str = "float32"
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-stage overrides {"3": {"lr": ...}}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.scratch:  # the [model] table sizes only a model built from scratch; elsewhere it would
            del d["model"]    # be the defaults, not the model's shapes (those are in its own config)
        return d

    @property
    def stage_list(self) -> list[int]:
        return [1, 2, 3, 4] if self.curriculum else [self.stage or 4]


@dataclass(frozen=True)
class StagePlan:
    """What one stage does, after presets and overrides are resolved."""

    stage: int
    lr: float
    epochs: int
    max_steps: int | None
    warmup_steps: int
    tasks: tuple[str, ...]
    train_encoder: bool
    train_connector: bool
    train_lm: str

    def selects(self, task: str) -> bool:
        return task_selected(task, self.tasks)

    def describe(self) -> str:
        parts = [p for p, on in (("encoder", self.train_encoder), ("connector", self.train_connector)) if on]
        if self.train_lm != "none":
            parts.append("LoRA" if self.train_lm == "lora" else "LM")
        return " + ".join(parts) or "nothing"


def task_selected(task: str, patterns: tuple[str, ...] | list[str]) -> bool:
    task = task.lower()
    include = [p.lower() for p in patterns if not p.startswith("!")]
    exclude = [p[1:].lower() for p in patterns if p.startswith("!")]
    return any(fnmatchcase(task, p) for p in include) and not any(fnmatchcase(task, p) for p in exclude)


def plan_stage(cfg: TrainConfig, stage: int) -> StagePlan:
    values = dict(STAGE_PRESETS[stage])
    if cfg.scratch and values["train_lm"] == "lora":
        values["train_lm"] = "full"  # a random LM has nothing to preserve
    for key in STAGE_KEYS:  # warmup_steps and max_steps have no preset: always taken from here
        top = getattr(cfg, key)
        if top is not None or key not in values:
            values[key] = top
    values.update(cfg.stages.get(str(stage), {}))
    if cfg.freeze_encoder:
        values["train_encoder"] = False
    plan = StagePlan(stage=stage, **{k: (tuple(v) if k == "tasks" else v) for k, v in values.items()})
    if plan.train_lm == "lora" and cfg.lora_rank == 0:
        raise ConfigError(f"stage {stage} trains LoRA adapters (train_lm = lora) but lora_rank is 0")
    if not (plan.train_encoder or plan.train_connector or plan.train_lm != "none"):
        raise ConfigError(f"stage {stage} trains nothing (encoder, connector and LM all frozen)")
    return plan


# ---------------------------------------------------------------------------------------------------------
# Loading and checking


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a .toml, .yaml/.yml or .json file; ConfigError if unreadable or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); or use TOML") from None

            data = yaml.safe_load(text)
            data = {} if data is None else data
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"{path}: unknown config format {suffix!r} (use .toml, .yaml or .json)")
    except ConfigError:
        raise
    except Exception as e:  # tomllib / yaml / json each have their own error types
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()} ({first})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings at the top level")
    return data


def build_config(file_values: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None,
                 source: str = "config") -> TrainConfig:
    """A checked TrainConfig from a file's values, then overrides (None values are 'not given')."""
    values: dict[str, Any] = {}
    for key, value in (file_values or {}).items():
        values[_field_name(key, source)] = value
    for key, value in (overrides or {}).items():
        if value is not None:
            values[_field_name(key, "option")] = value
    hints = typing.get_type_hints(TrainConfig)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{source}: {key}"
        if key == "model":
            kwargs[key] = _scratch_model(value, where)
        elif key == "stages":
            kwargs[key] = _stage_tables(value, where)
        else:
            kwargs[key] = _check(value, hints[key], where)
    cfg = TrainConfig(**kwargs)
    validate(cfg, source)
    return cfg


def validate(cfg: TrainConfig, source: str = "config") -> None:
    def bad(msg: str) -> ConfigError:
        return ConfigError(f"{source}: {msg}")

    if cfg.stage is not None and cfg.stage not in STAGE_PRESETS:
        raise bad(f"stage must be 1, 2, 3 or 4, not {cfg.stage}")
    if cfg.curriculum and cfg.stage is not None:
        raise bad("give either stage or curriculum, not both")
    starts = [name for name, given in (("init", cfg.init), ("lm/encoder/tokenizer", cfg.lm or cfg.encoder
                                       or cfg.tokenizer), ("scratch", cfg.scratch)) if given]
    if len(starts) > 1:
        raise bad(f"give one starting point, not {' and '.join(starts)}")
    if cfg.lm or cfg.encoder or cfg.tokenizer:
        missing = [n for n in ("lm", "encoder", "tokenizer") if not getattr(cfg, n)]
        if missing:
            raise bad(f"starting from the published parts needs --lm, --encoder and --tokenizer (missing: "
                      f"{', '.join('--' + m for m in missing)})")
    for name, allowed in (("connector", CONNECTORS), ("loss_on", LOSS_ON), ("export_dtype", EXPORT_DTYPES),
                          ("distill_loss", DISTILL_LOSSES)):
        if getattr(cfg, name) not in allowed + (None,) * (name == "connector"):
            raise bad(f"{name} must be one of {', '.join(allowed)}, not {getattr(cfg, name)!r}")
    if cfg.train_lm is not None and cfg.train_lm not in TRAIN_LM_MODES:
        raise bad(f"train_lm must be one of {', '.join(TRAIN_LM_MODES)}, not {cfg.train_lm!r}")
    positive = ("batch_size", "micro_batch_size", "max_text_tokens", "save_every", "keep_last", "log_every",
                "eval_every", "epochs", "max_steps", "target_length", "sample_max_tokens", "analyze_limit")
    for name in positive:
        value = getattr(cfg, name)
        if value is not None and value <= 0:
            raise bad(f"{name} must be positive, not {value}")
    for name in ("warmup_steps", "num_workers", "num_samples", "weight_decay", "grad_clip", "lora_rank",
                 "distill_weight", "distill_pooled_weight", "tag_weight"):
        value = getattr(cfg, name)
        if value is not None and value < 0:
            raise bad(f"{name} must not be negative, not {value}")
    if cfg.analyze_data and not Path(cfg.analyze_data).exists():
        raise bad(f"analyze_data {cfg.analyze_data}: no such file or folder")
    if cfg.prune_tokens is not None and not 0.0 <= cfg.prune_tokens < 1.0:
        raise bad(f"prune_tokens must be at least 0 and below 1, not {cfg.prune_tokens}")
    if cfg.prune_ramp_steps < 0:
        raise bad(f"prune_ramp_steps must not be negative, not {cfg.prune_ramp_steps}")
    if cfg.prune_ramp_steps and cfg.prune_tokens is None:
        raise bad("prune_ramp_steps needs prune_tokens (the rate it rises to)")
    if cfg.prune_by is not None and cfg.prune_by not in PRUNE_CRITERIA:
        raise bad(f"prune_by must be one of {', '.join(PRUNE_CRITERIA)}, not {cfg.prune_by!r}")
    if cfg.time_limit is not None and cfg.time_limit <= 0:
        raise bad(f"time_limit must be positive, not {cfg.time_limit}")
    if cfg.lr is not None and cfg.lr <= 0:
        raise bad(f"lr must be positive, not {cfg.lr}")
    if not 0.0 <= cfg.eval_split < 1.0:
        raise bad(f"eval_split must be in [0, 1), not {cfg.eval_split}")
    if cfg.eval_split and cfg.eval_json:
        raise bad("give either eval_json or eval_split, not both")
    if cfg.batch_size % cfg.micro_batch_size:
        raise bad(f"batch_size {cfg.batch_size} is not a multiple of micro_batch_size {cfg.micro_batch_size}")
    if len(cfg.adam_betas) != 2 or not all(0.0 <= b < 1.0 for b in cfg.adam_betas):
        raise bad(f"adam_betas must be two numbers in [0, 1), not {cfg.adam_betas}")
    if cfg.target_length is not None and cfg.target_length % 16:
        raise bad(f"target_length must be a multiple of 16 (the patch size), not {cfg.target_length}")
    for stage in cfg.stage_list:
        plan_stage(cfg, stage)


def _field_name(key: str, source: str) -> str:
    name = str(key).replace("-", "_")
    known = [f.name for f in fields(TrainConfig)]
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{source}: unknown setting {key!r}{hint}")
    return name


def _scratch_model(value: Any, where: str) -> ScratchModel:
    if isinstance(value, ScratchModel):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table of model settings, got {_kind(value)}")
    hints = typing.get_type_hints(ScratchModel)
    kwargs = {}
    for key, v in value.items():
        name = str(key).replace("-", "_")
        if name not in hints:
            close = difflib.get_close_matches(name, list(hints), n=1)
            raise ConfigError(f"{where}: unknown setting {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        kwargs[name] = _check(v, hints[name], f"{where}.{name}")
        if isinstance(kwargs[name], int) and kwargs[name] <= 0:
            raise ConfigError(f"{where}.{name} must be positive, not {kwargs[name]}")
    return ScratchModel(**kwargs)


def _stage_tables(value: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table per stage ([stages.1] ... [stages.4])")
    hints = typing.get_type_hints(TrainConfig)
    out: dict[str, dict[str, Any]] = {}
    for stage, table in value.items():
        if str(stage) not in ("1", "2", "3", "4"):
            raise ConfigError(f"{where}: unknown stage {stage!r} (stages are 1, 2, 3, 4)")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}.{stage}: expected a table of settings, got {_kind(table)}")
        checked = {}
        for key, v in table.items():
            name = str(key).replace("-", "_")
            if name not in STAGE_KEYS:
                raise ConfigError(f"{where}.{stage}: {key!r} cannot be set per stage (only {', '.join(STAGE_KEYS)})")
            checked[name] = _check(v, hints[name], f"{where}.{stage}.{name}")
            if name == "tasks" and checked[name] is None:
                raise ConfigError(f"{where}.{stage}.tasks: expected a list of patterns")
        out[str(stage)] = checked
    return out


def _check(value: Any, hint: Any, where: str) -> Any:
    """`value` if it fits the type hint (ints are accepted as floats), else a ConfigError."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check(value, option, where)
            except ConfigError as e:
                errors.append(e)
        raise errors[0]
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, str) and item is str:
            value = [v.strip() for v in value.split(",") if v.strip()]  # "cla*,caption*" from the CLI
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_kind(value)}")
        return [_check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {_kind(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {_kind(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {_kind(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {_kind(value)}")
    raise AssertionError(f"unhandled type {hint!r} for {where}")


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "a table", type(None): "nothing"}
    shown = repr(value) if not isinstance(value, (dict, list)) else ""
    return f"{names.get(type(value), type(value).__name__)}{' ' + shown if shown else ''}"
