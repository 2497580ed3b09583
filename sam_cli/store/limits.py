"""Limits on what a checkpoint's config may ask for, checked before anything is built or allocated.

A config.json comes from whoever published the folder. Its numbers decide how many modules are built and how
big every tensor is, so each is checked here first: its type, and a range wide enough for any real model
(the largest published Mamba-2 has 64 layers and a width of 2560; EAT-large 24 blocks of 1024). Then the
loaders compare the tensors the config implies with the weights file's header (shapes only, no data), so a
config can never make sam allocate more than the file holds.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from sam_cli.errors import CheckpointError

MAX_LAYERS = 512  # lm.n_layer, encoder.depth
MAX_DIM = 65536  # any width: d_model, embed_dim, heads, d_state, hidden sizes ...
MAX_VOCAB = 1_000_000  # lm.vocab_size, encoder.num_classes
MAX_POSITIONS = 65536  # encoder.max_length (time patches of the position table)
MAX_WINDOW_FRAMES = 65536  # target_length: fbank frames per window (655 s)
MAX_MEL_BINS = 1024
MAX_LABELS = MAX_VOCAB
MAX_NAME_BYTES = 255  # one file or folder name (NAME_MAX); longer ones fail with ENAMETOOLONG
MAX_PATH_BYTES = 4095  # a whole path (PATH_MAX - 1)

# kind: "int" (lo, hi), "num" (lo, hi: finite, lo exclusive when 0 and the eps kind), "bool", "str", "opt_int",
# "opt_num", "labels". Fields absent from a dict take the dataclass defaults (valid).
_EPS = ("num", 0.0, 1.0)
ENCODER_FIELDS: dict[str, tuple] = {
    "embed_dim": ("int", 4, MAX_DIM),
    "depth": ("int", 0, MAX_LAYERS),
    "num_heads": ("int", 1, MAX_DIM),
    "patch_size": ("int", 1, MAX_MEL_BINS),
    "in_chans": ("int", 1, 16),
    "mlp_ratio": ("num", 0.0, 64.0),
    "qkv_bias": ("bool",),
    "norm_eps": _EPS,
    "mel_bins": ("int", 1, MAX_MEL_BINS),
    "max_length": ("int", 1, MAX_POSITIONS),
    "num_classes": ("int", 0, MAX_VOCAB),
    "head_norm_eps": _EPS,
    "target_length": ("int", 1, MAX_WINDOW_FRAMES),
    "model_variant": ("str",),
}
AUDIO_MAMBA_FIELDS: dict[str, tuple] = {  # encoder.type "audio_mamba" (models/audio_mamba.py)
    "type": ("str",),
    "dims": ("ints", 1, MAX_DIM),
    "depths": ("ints", 0, MAX_LAYERS),
    "patch_size": ("int", 1, MAX_MEL_BINS),
    "in_chans": ("int", 1, 16),
    "mel_bins": ("int", 1, MAX_MEL_BINS),
    "directions": ("int", 1, 4),
    "d_state": ("int", 1, MAX_DIM),
    "d_conv": ("int", 1, 64),
    "expand": ("int", 1, 16),
    "headdim": ("int", 1, MAX_DIM),
    "chunk_size": ("int", 1, MAX_DIM),
    "mlp_ratio": ("num", -1.0, 64.0),
    "norm_eps": _EPS,
    "num_classes": ("int", 0, MAX_VOCAB),
    "target_length": ("int", 1, MAX_WINDOW_FRAMES),
}
MAX_STAGES = 8
LM_FIELDS: dict[str, tuple] = {
    "d_model": ("int", 1, MAX_DIM),
    "n_layer": ("int", 1, MAX_LAYERS),
    "vocab_size": ("int", 1, MAX_VOCAB),
    "d_state": ("int", 1, MAX_DIM),
    "d_conv": ("int", 1, 64),
    "expand": ("int", 1, 16),
    "headdim": ("int", 1, MAX_DIM),
    "ngroups": ("int", 1, MAX_DIM),
    "chunk_size": ("int", 1, MAX_DIM),
    "rms_norm": ("bool",),
    "norm_eps": _EPS,
    "residual_in_fp32": ("bool",),
    "fused_add_norm": ("bool",),
    "pad_vocab_size_multiple": ("int", 1, 1024),
    "tie_embeddings": ("bool",),
}
CONNECTOR_FIELDS: dict[str, tuple] = {
    "kind": ("str",),
    "encoder_dim": ("int", 1, MAX_DIM),
    "lm_dim": ("int", 1, MAX_DIM),
    "num_bands": ("int", 1, MAX_MEL_BINS),
    "hidden_dim": ("opt_int", 1, MAX_DIM),
    "separator_init": ("str",),
    "separator_text": ("str",),
}
SAM_FIELDS: dict[str, tuple] = {
    "lora_rank": ("int", 0, MAX_DIM),
    "lora_alpha": ("opt_num", 0.0, 1e6),
    "prompt_template": ("str",),
    "describe_prompt": ("str",),
    "loss_on": ("str",),
    "target_length": ("int", 1, MAX_WINDOW_FRAMES),
    "labels": ("labels",),
}


def check_fields(d: Any, schema: dict[str, tuple], source: str, prefix: str = "") -> None:
    """Raise CheckpointError naming the first field of `d` whose type or range is wrong."""
    if not isinstance(d, dict):
        raise CheckpointError(f"{source}: {prefix.rstrip('.') or 'config'} must be a JSON object, "
                              f"not {_kind(d)}")
    for name, rule in schema.items():
        if name in d:
            problem = _problem(d[name], rule)
            if problem:
                raise CheckpointError(f"{source}: {prefix}{name} {problem}")


def check_sam_dict(raw: dict[str, Any], source: str) -> None:
    """The SAM config.json (its encoder, lm and connector sections and its own fields), before parsing."""
    check_fields(raw, SAM_FIELDS, source)
    if "lm" not in raw:
        raise CheckpointError(f"{source}: no 'lm' section")
    encoder = raw.get("encoder", {})
    kind = encoder.get("type", "eat") if isinstance(encoder, dict) else "eat"
    if kind not in ("eat", "audio_mamba"):
        raise CheckpointError(f"{source}: encoder.type {_kind(kind)} is not one sam knows ('eat', 'audio_mamba')")
    audio_mamba = kind == "audio_mamba"
    check_fields(encoder, AUDIO_MAMBA_FIELDS if audio_mamba else ENCODER_FIELDS, source, "encoder.")
    check_fields(raw["lm"], LM_FIELDS, source, "lm.")
    check_fields(raw.get("connector", {}), CONNECTOR_FIELDS, source, "connector.")
    for key in ("d_model", "n_layer"):
        if key not in raw["lm"]:
            raise CheckpointError(f"{source}: lm.{key} is missing")


def check_lm_sizes(cfg: Any, source: str, prefix: str = "") -> None:
    """A parsed Mamba2Config: every field in range, and the sizes derived from them too."""
    check_fields({k: getattr(cfg, k) for k in LM_FIELDS}, LM_FIELDS, source, prefix)
    if cfg.d_inner > 4 * MAX_DIM or cfg.d_in_proj > 8 * MAX_DIM:
        raise CheckpointError(f"{source}: {prefix}expand x {prefix}d_model = {cfg.d_inner} is over the limit "
                              f"{4 * MAX_DIM}")


def check_encoder_sizes(cfg: Any, source: str, prefix: str = "") -> None:
    """A parsed EATConfig (or AudioMambaConfig): every field in range, and its MLP width."""
    if getattr(cfg, "type", "eat") == "audio_mamba":
        check_fields({k: getattr(cfg, k) for k in AUDIO_MAMBA_FIELDS}, AUDIO_MAMBA_FIELDS, source, prefix)
        if sum(cfg.depths) > MAX_LAYERS or max(cfg.dims) * max(cfg.mlp_ratio, cfg.expand) > 4 * MAX_DIM:
            raise CheckpointError(f"{source}: {prefix}depths or {prefix}dims are over the limits ({MAX_LAYERS} blocks, "
                                  f"widths up to {4 * MAX_DIM})")
        return
    check_fields({k: getattr(cfg, k) for k in ENCODER_FIELDS}, ENCODER_FIELDS, source, prefix)
    if not 1 <= cfg.mlp_dim <= 4 * MAX_DIM:
        raise CheckpointError(f"{source}: {prefix}mlp_ratio x {prefix}embed_dim = {cfg.mlp_dim} is out of range "
                              f"(1 to {4 * MAX_DIM})")


def check_path_length(path: str | Path, what: str = "file") -> None:
    """CheckpointError for a path no file system can hold (a name over 255 bytes, or 4095 in all), before
    any system call meets it as ENAMETOOLONG."""
    raw = os.fsencode(path)
    if len(raw) > MAX_PATH_BYTES or any(len(part) > MAX_NAME_BYTES for part in raw.split(b"/")):
        raise CheckpointError(f"{short_path(path)}: {what} name too long (at most {MAX_NAME_BYTES} bytes a name, "
                              f"{MAX_PATH_BYTES} in all)")


def short_path(path: str | Path, limit: int = 80) -> str:
    """A path shortened for a one-line message: its start and its end, with the middle left out."""
    text = os.fsdecode(path)
    return text if len(text) <= limit else f"{text[:limit - 30]}...{text[-25:]}"


def _problem(value: Any, rule: tuple) -> str | None:
    kind = rule[0]
    if kind in ("opt_int", "opt_num"):
        if value is None:
            return None
        kind = kind[4:]
    if kind == "bool":
        return None if isinstance(value, bool) else f"must be true or false, not {_kind(value)}"
    if kind == "str":
        return None if isinstance(value, str) else f"must be a string, not {_kind(value)}"
    if kind == "labels":
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "must be a list of strings"
        return None if len(value) <= MAX_LABELS else f"has {len(value)} entries, over the limit {MAX_LABELS}"
    lo, hi = rule[1], rule[2]
    if kind == "ints":  # a short list of integers (Audio Mamba's stages)
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_STAGES:
            return f"must be a list of 1 to {MAX_STAGES} integers, not {_kind(value)}"
        return next((p for p in (_problem(v, ("int", lo, hi)) for v in value) if p), None)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, not {_kind(value)}"
        if not lo <= value <= hi:
            return f"is {_num(value)}, out of range ({lo} to {hi})"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number, not {_kind(value)}"
    if not math.isfinite(value) or not lo < value <= hi:
        return f"is {_num(value)}, out of range (over {lo}, up to {hi})"
    return None


def _num(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        shown = repr(value)
        return f"the string {shown if len(shown) <= 40 else shown[:36] + '...'}"
    if isinstance(value, (int, float)):
        return f"the number {_num(value)}"
    return {"dict": "an object", "list": "a list"}.get(type(value).__name__, type(value).__name__)
