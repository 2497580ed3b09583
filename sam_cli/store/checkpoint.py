"""The SAM checkpoint folder: config.json + model.safetensors + tokenizer.json.

config.json holds every sub-config (encoder, LM, connector, LoRA, prompt template, audio settings, label
names), so a folder is self-describing. Loading never unpickles and never runs code from the folder.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from sam_cli.errors import CheckpointError
from sam_cli.models.sam import SAM, SAMConfig
from sam_cli.models.tokenizer import Tokenizer
from sam_cli.store.weights import load_state_dict_checked, read_json, read_tensors, write_safetensors

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
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such model folder")
    raw = read_json(folder / CONFIG_FILE)
    if raw.get("model_type") != MODEL_TYPE:
        raise CheckpointError(f"{folder}: {_what_is_it(raw)}, not a SAM checkpoint (config.json model_type is "
                              f"{raw.get('model_type')!r})")
    if raw.get("format_version", 1) > FORMAT_VERSION:
        raise CheckpointError(f"{folder}: checkpoint format {raw['format_version']} is newer than this sam "
                              f"understands ({FORMAT_VERSION}); upgrade sam-cli")
    try:
        return SAMConfig.from_dict({k: v for k, v in raw.items() if k not in ("model_type", "format_version", "extra")})
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / CONFIG_FILE}: invalid SAM config ({e})") from None


def load_checkpoint(folder: str | Path, device: str | torch.device | None = None,
                    dtype: torch.dtype | None = None) -> SAM:
    folder = Path(folder)
    cfg = read_config(folder)
    tokenizer = Tokenizer.from_file(folder / TOKENIZER_FILE)
    if tokenizer.vocab_size > cfg.lm.padded_vocab_size:
        raise CheckpointError(f"{folder}: tokenizer has {tokenizer.vocab_size} tokens but the LM only "
                              f"{cfg.lm.padded_vocab_size}")
    sd = read_tensors(folder / WEIGHTS_FILE)
    with torch.device("meta"):
        model = SAM(cfg)  # no memory, no random init: every tensor comes from the file
    # As model.to_empty("cpu"), without its empty_like on meta tensors (PyTorch's Python references, whose
    # first call imports torch._dynamo: a noticeable share of every command's start-up).
    model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device="cpu"))
    optional = (TIED_KEY,) if cfg.lm.tie_embeddings else ()
    load_state_dict_checked(model, sd, str(folder / WEIGHTS_FILE), optional=optional)
    if cfg.lm.tie_embeddings:
        model.lm.lm_head.weight = model.lm.backbone.embedding.weight
    _restore_buffers(model)
    model.tokenizer = tokenizer
    model.eval()
    return model.to(device=device or "cpu", dtype=dtype) if dtype else model.to(device or "cpu")


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
