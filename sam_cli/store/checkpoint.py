"""The SAM checkpoint folder: config.json + model.safetensors + tokenizer.json.

config.json holds every sub-config (encoder, LM, connector, LoRA, prompt template, audio settings, label
names), so a folder is self-describing. Loading never unpickles and never runs code from the folder.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import torch

from sam_cli.errors import CheckpointError
from sam_cli.models.audio_mamba import AudioMambaConfig
from sam_cli.models.sam import SAM, SAMConfig
from sam_cli.models.tokenizer import Tokenizer
from sam_cli.store.limits import check_encoder_sizes, check_lm_sizes, check_path_length, check_sam_dict
from sam_cli.store.weights import (TensorInfo, check_state_dict, load_state_dict_checked, read_json,
                                   read_safetensors_header, read_tensors, write_safetensors)

MODEL_TYPE = "sam"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
TIED_KEY = "lm.lm_head.weight"


def save_checkpoint(model: SAM, tokenizer: Tokenizer, folder: str | Path, extra: dict | None = None) -> Path:
    """Write `model` and `tokenizer` into `folder`; each file is written aside, then renamed into place."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_type": MODEL_TYPE, "format_version": FORMAT_VERSION, **model.cfg.to_dict()}
    if extra:
        config["extra"] = extra
    sd = model.state_dict()
    if model.cfg.lm.tie_embeddings:
        sd.pop(TIED_KEY, None)  # the same tensor as the embedding; re-tied on load
    _atomic_write(folder / WEIGHTS_FILE, lambda p: write_safetensors(sd, p, metadata={"format": "pt"}))
    _atomic_write(folder / TOKENIZER_FILE, lambda p: tokenizer.save(p))
    _atomic_write(folder / CONFIG_FILE, lambda p: Path(p).write_text(json.dumps(config, indent=2) + "\n"))
    return folder


def read_config(folder: str | Path) -> SAMConfig:
    check_path_length(folder, "folder")
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such model folder")
    raw = read_json(folder / CONFIG_FILE)
    if raw.get("model_type") != MODEL_TYPE:
        raise CheckpointError(f"{folder}: {_what_is_it(raw)}, not a SAM checkpoint (config.json model_type is "
                              f"{raw.get('model_type')!r})")
    version = raw.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{folder / CONFIG_FILE}: format_version must be an integer")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{folder}: checkpoint format {raw['format_version']} is newer than this sam "
                              f"understands ({FORMAT_VERSION}); upgrade sam-cli")
    source = str(folder / CONFIG_FILE)
    check_sam_dict(raw, source)  # types and sane ranges, before anything is built from them
    try:
        cfg = SAMConfig.from_dict({k: v for k, v in raw.items() if k not in ("model_type", "format_version", "extra")})
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as e:
        raise CheckpointError(f"{source}: invalid SAM config ({str(e)[:200]})") from None
    check_lm_sizes(cfg.lm, source, "lm.")
    check_encoder_sizes(cfg.encoder, source, "encoder.")
    if isinstance(cfg.encoder, AudioMambaConfig):  # no position table: any multiple of its stride
        if cfg.target_length % cfg.encoder.time_stride:
            raise CheckpointError(f"{source}: target_length {cfg.target_length} must be a multiple of the Audio Mamba "
                                  f"encoder's stride {cfg.encoder.time_stride}")
        return cfg
    patch, steps = cfg.encoder.patch_size, cfg.target_length // cfg.encoder.patch_size
    if cfg.target_length % patch or steps > cfg.encoder.max_length:
        raise CheckpointError(f"{source}: target_length {cfg.target_length} must be a multiple of encoder.patch_size "
                              f"{patch}, at most encoder.max_length x patch_size = {cfg.encoder.max_length * patch}")
    return cfg


def load_checkpoint(folder: str | Path, device: str | torch.device | None = None,
                    dtype: torch.dtype | None = None) -> SAM:
    folder = Path(folder)
    cfg = read_config(folder)
    tokenizer = Tokenizer.from_file(folder / TOKENIZER_FILE)
    if tokenizer.vocab_size > cfg.lm.padded_vocab_size:
        raise CheckpointError(f"{folder}: tokenizer has {tokenizer.vocab_size} tokens but the LM only "
                              f"{cfg.lm.padded_vocab_size}")
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights}: file not found")
    # The config is checked against the file's header (shapes only) before any tensor is read or allocated:
    # a config can ask for no more memory than the file holds.
    shapes = read_safetensors_header(weights)
    check_config_against_weights(cfg, shapes, str(weights))
    optional = (TIED_KEY,) if cfg.lm.tie_embeddings else ()
    with torch.device("meta"):
        model = SAM(cfg)  # no memory, no random init: every tensor comes from the file
    check_state_dict(model, shapes, str(weights), optional=optional)
    sd = read_tensors(weights)
    # As model.to_empty("cpu"), without its empty_like on meta tensors (PyTorch's Python references, whose
    # first call imports torch._dynamo: a noticeable share of every command's start-up).
    model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device="cpu"))
    load_state_dict_checked(model, sd, str(folder / WEIGHTS_FILE), optional=optional)
    if cfg.lm.tie_embeddings:
        model.lm.lm_head.weight = model.lm.backbone.embedding.weight
    _restore_buffers(model)
    model.tokenizer = tokenizer
    model.eval()
    return model.to(device=device or "cpu", dtype=dtype) if dtype else model.to(device or "cpu")


def check_config_against_weights(cfg: SAMConfig, shapes: dict[str, TensorInfo], source: str) -> None:
    """The config's layer counts and main widths against the weights file's tensors, naming the field that
    disagrees (the full key-by-key shape check follows, on the module built on the meta device)."""
    where = f"{CONFIG_FILE} says"
    layers = _count_blocks(shapes, r"lm\.backbone\.layers\.(\d+)\.")
    if layers != cfg.lm.n_layer:
        raise CheckpointError(f"{source}: {where} lm.n_layer {cfg.lm.n_layer}, but the weights hold {layers} LM layers")
    eat = not isinstance(cfg.encoder, AudioMambaConfig)  # Audio Mamba's stages: the key-by-key check that follows
    blocks = _count_blocks(shapes, r"encoder\.blocks\.(\d+)\.")
    if eat and blocks != cfg.encoder.depth:
        raise CheckpointError(f"{source}: {where} encoder.depth {cfg.encoder.depth}, but the weights hold {blocks} "
                              "encoder blocks")
    emb = shapes.get("lm.backbone.embedding.weight")
    if emb is not None and emb.dim() == 2:
        if emb.shape[1] != cfg.lm.d_model:
            raise CheckpointError(f"{source}: {where} lm.d_model {cfg.lm.d_model}, but the weights' embedding is "
                                  f"{emb.shape[1]} wide")
        if emb.shape[0] != cfg.lm.padded_vocab_size:
            raise CheckpointError(f"{source}: {where} lm.vocab_size {cfg.lm.vocab_size} (padded to "
                                  f"{cfg.lm.padded_vocab_size}), but the weights' embedding has {emb.shape[0]} rows")
    proj = shapes.get("encoder.local_encoder.proj.weight")
    if eat and proj is not None and proj.dim() >= 1 and proj.shape[0] != cfg.encoder.embed_dim:
        raise CheckpointError(f"{source}: {where} encoder.embed_dim {cfg.encoder.embed_dim}, but the weights' "
                              f"patch embedding is {proj.shape[0]} wide")


def _count_blocks(shapes: dict[str, TensorInfo], pattern: str) -> int:
    found = {int(m.group(1)) for k in shapes if (m := re.match(pattern, k)) and len(m.group(1)) < 7}
    return len(found)


def _restore_buffers(model: SAM) -> None:
    # Non-persistent buffers are not in the file; to_empty left them uninitialised, so rebuild them.
    for module in model.modules():
        reset = getattr(module, "reset_nonpersistent_buffers", None)
        if callable(reset):
            reset()


def _what_is_it(raw: dict) -> str:
    if "ssm_cfg" in raw or raw.get("model_type") in ("mamba", "mamba2"):
        return "a Mamba LM (a SAM component: start `sam train` from it)"
    if raw.get("model_type") == "eat":
        return "an EAT audio encoder (a SAM component: start `sam train` from it)"
    return "not a SAM model"


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a model folder is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
