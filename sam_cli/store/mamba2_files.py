"""Loading and saving Mamba-2 language models in the `state-spaces/mamba2-*` folder layout.

A folder holds `config.json` (mamba_ssm's MambaConfig, with ssm_cfg {"layer": "Mamba2"}) and the weights as
`model.safetensors` or `pytorch_model.bin` (the published ones: fp16, both `backbone.embedding.weight` and
`lm_head.weight` present although they are tied). Tensors are read safely (sam_cli.store.weights).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from sam_cli.errors import CheckpointError, UsageError
from sam_cli.models.mamba2 import Mamba2Config, Mamba2LMHeadModel
from sam_cli.store import weights
from sam_cli.store.limits import LM_FIELDS, check_fields, check_lm_sizes, check_path_length
from sam_cli.store.weights import read_json, read_tensors, tensor_shapes, write_safetensors

CONFIG_NAME = "config.json"
WEIGHT_NAMES = {"safetensors": "model.safetensors", "bin": "pytorch_model.bin"}
EMBEDDING_KEY = "backbone.embedding.weight"
LM_HEAD_KEY = "lm_head.weight"


def read_lm_config(folder: str | Path) -> Mamba2Config:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {CONFIG_NAME} (expected a state-spaces/mamba2-* style folder)")
    raw = read_json(path)
    _check_hf_fields(raw, str(path))
    try:
        cfg = Mamba2Config.from_hf_dict(raw)
    except CheckpointError as e:
        if str(e).startswith(str(path)):
            raise
        raise CheckpointError(f"{path}: {e}") from None
    except (TypeError, ValueError, AttributeError, ArithmeticError) as e:
        raise CheckpointError(f"{path}: invalid config ({str(e)[:200]})") from None
    check_lm_sizes(cfg, str(path))
    return cfg


# config.json (state-spaces layout) fields -> the Mamba2Config field whose rule applies
_HF_TOP = {"d_model": "d_model", "n_layer": "n_layer", "vocab_size": "vocab_size", "rms_norm": "rms_norm",
           "residual_in_fp32": "residual_in_fp32", "fused_add_norm": "fused_add_norm",
           "pad_vocab_size_multiple": "pad_vocab_size_multiple", "tie_embeddings": "tie_embeddings",
           "norm_epsilon": "norm_eps"}
_HF_SSM = ("d_state", "d_conv", "expand", "headdim", "ngroups", "chunk_size")


def _check_hf_fields(raw: dict[str, Any], source: str) -> None:
    """Types and ranges of a state-spaces config.json, before anything is built from it."""
    check_fields(raw, {k: LM_FIELDS[v] for k, v in _HF_TOP.items()}, source)
    ssm_cfg = raw.get("ssm_cfg")
    if ssm_cfg is not None:
        if not isinstance(ssm_cfg, dict):
            raise CheckpointError(f"{source}: ssm_cfg must be a JSON object")
        check_fields(ssm_cfg, {k: LM_FIELDS[k] for k in _HF_SSM}, source, "ssm_cfg.")


def check_config_against_weights(cfg: Mamba2Config, shapes: dict[str, Any], source: str) -> None:
    """n_layer, d_model and vocab_size against the tensors in the weights (header shapes or loaded tensors),
    naming the config field that disagrees."""
    layers = len({m.group(1) for k in shapes if (m := re.match(r"backbone\.layers\.(\d{1,6})\.", k))})
    if layers != cfg.n_layer:
        raise CheckpointError(f"{source}: config.json says n_layer {cfg.n_layer}, but the weights hold {layers} layers")
    emb = shapes.get(EMBEDDING_KEY, shapes.get(LM_HEAD_KEY))
    if emb is not None and hasattr(emb, "shape") and len(emb.shape) == 2:
        if emb.shape[1] != cfg.d_model:
            raise CheckpointError(f"{source}: config.json says d_model {cfg.d_model}, but the weights' embedding "
                                  f"is {emb.shape[1]} wide")
        if emb.shape[0] != cfg.padded_vocab_size:
            raise CheckpointError(f"{source}: config.json says vocab_size {cfg.vocab_size} (padded to "
                                  f"{cfg.padded_vocab_size}), but the weights' embedding has {emb.shape[0]} rows")


def find_weights(folder: str | Path) -> Path:
    """The weights file of a folder: model.safetensors if present, else pytorch_model.bin."""
    for name in WEIGHT_NAMES.values():
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    raise CheckpointError(f"{folder}: no model weights (expected {' or '.join(WEIGHT_NAMES.values())})")


def load_language_model(path: str | Path, device: torch.device | str | None = None,
                        dtype: torch.dtype | None = None) -> Mamba2LMHeadModel:
    """A Mamba-2 LM from a state-spaces folder. dtype None: float32 on the CPU, else the stored dtype."""
    check_path_length(path, "folder")
    folder = Path(path)
    if not folder.exists():
        raise CheckpointError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a folder (expected {CONFIG_NAME} and the model weights in a folder)")
    cfg = read_lm_config(folder)
    weights = find_weights(folder)
    shapes = tensor_shapes(weights)
    if shapes is not None:  # safetensors: checked against the header before any tensor is read
        check_config_against_weights(cfg, shapes, str(weights))
        with torch.device("meta"):
            check_state_dict(Mamba2LMHeadModel(cfg), _tied(cfg, shapes), str(weights))
    return lm_from_state_dict(cfg, read_tensors(weights), device=device, dtype=dtype, source=str(weights))


def lm_from_state_dict(cfg: Mamba2Config, state_dict: dict[str, Any], device: torch.device | str | None = None,
                       dtype: torch.dtype | None = None, source: str = "checkpoint") -> Mamba2LMHeadModel:
    """Build the model for cfg and fill it from a state-spaces state dict, after checking every key and shape."""
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{source}: expected a dict of tensors, found {type(state_dict).__name__}")
    check_lm_sizes(cfg, source)
    check_config_against_weights(cfg, state_dict, source)
    with torch.device("meta"):  # no random init and no memory: every tensor comes from the checkpoint
        model = Mamba2LMHeadModel(cfg)
    sd = _tied(cfg, state_dict)
    check_state_dict(model, sd, source)
    if dtype is None:
        is_cpu = device is None or torch.device(device).type == "cpu"
        dtype = torch.float32 if is_cpu else sd[EMBEDDING_KEY].dtype
    model.load_state_dict(sd, strict=True, assign=True)
    model.tie_weights()  # assign=True replaced both tied parameters by separate ones
    return model.to(device=device, dtype=dtype)


def _tied(cfg: Mamba2Config, state_dict: dict[str, Any]) -> dict[str, Any]:
    sd = dict(state_dict)
    if cfg.tie_embeddings:  # either key stands for both; the embedding wins when both are there
        if EMBEDDING_KEY in sd:
            sd[LM_HEAD_KEY] = sd[EMBEDDING_KEY]
        elif LM_HEAD_KEY in sd:
            sd[EMBEDDING_KEY] = sd[LM_HEAD_KEY]
    return sd


def check_state_dict(model: Mamba2LMHeadModel, sd: dict[str, Any], source: str) -> None:
    """Raise one CheckpointError listing missing keys, unexpected keys and wrong shapes."""
    weights.check_state_dict(model, sd, source, "state-spaces Mamba-2 state dict for this config.json")


def save_language_model(model: Mamba2LMHeadModel, folder: str | Path, format: str = "safetensors",
                        dtype: torch.dtype | None = None) -> Path:
    """Write config.json and the weights in the exact state-spaces layout (both tied keys present).

    The other format's weights file, if present, is removed, so that the folder holds one model. Returns
    the weights path.
    """
    if format not in WEIGHT_NAMES:
        raise UsageError(f"unknown weights format {format!r} (use 'safetensors' or 'bin')")
    with torch.device("meta"):
        expected = Mamba2LMHeadModel(model.cfg).state_dict().keys()
    sd = model.state_dict()
    extra = [k for k in sd if k not in expected]
    if extra:
        raise UsageError(f"the model has weights outside the state-spaces layout ({_some(extra)}); "
                         "merge adapters first")
    tensors = {k: sd[k].detach().to("cpu", dtype=dtype or sd[k].dtype).contiguous() for k in expected}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_NAME).write_text(json.dumps(model.cfg.to_hf_dict(), indent=2) + "\n", encoding="utf-8")
    path = folder / WEIGHT_NAMES[format]
    if format == "safetensors":
        write_safetensors(tensors, path, metadata={"format": "pt"})
    else:
        torch.save(tensors, path)
    for name in WEIGHT_NAMES.values():
        if name != path.name:
            (folder / name).unlink(missing_ok=True)
    return path


def _some(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (f" (and {len(keys) - n} more)" if len(keys) > n else "")

