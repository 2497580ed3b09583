"""Loading and saving EAT encoders: Hub folders and single files, in the Hub or the original fairseq key format.

Key formats (docs/design.md §4), mapped onto `EATEncoder.state_dict()` names:
- Hub (`worstchan/EAT-*`): our names with a leading "model.".
- fairseq (`EAT-base_epoch30_*.pt`): a {"model": {...}, "cfg": ..., ...} dict; the encoder's stem lives under
  "modality_encoders.IMAGE." (context_encoder.norm = our pre_norm), the blocks at "blocks.{i}.", with "model."
  in front of both in fine-tunes (whose fc_norm / head have no prefix). Pre-training leftovers (the decoder,
  the EMA teacher, ...) are dropped.

Nothing from a checkpoint is executed. Fairseq pickles also hold their training config as omegaconf objects,
which `torch.load(weights_only=True)` refuses; see `_read_pickle` for how those are read as inert data.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import torch

from sam_cli.models.encoder import EATConfig, EATEncoder
from sam_cli.errors import CheckpointError
from sam_cli.store.limits import ENCODER_FIELDS, check_encoder_sizes, check_fields, check_path_length
from sam_cli.store.weights import (PICKLE_SUFFIXES, SAFETENSORS_SUFFIXES, TensorInfo, check_state_dict, read_json,
                                   read_tensors, tensor_shapes, write_safetensors)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CONFIG_METADATA = "eat_config"  # safetensors metadata key holding our config.json text
FAIRSEQ_STEM = "modality_encoders.IMAGE."
FAIRSEQ_NAMES = {  # fairseq name (after "modality_encoders.IMAGE.") -> ours
    "local_encoder.proj.": "local_encoder.proj.",
    "extra_tokens": "extra_tokens",
    "fixed_positional_encoder.positions": "fixed_positional_encoder.positions",
    "context_encoder.norm.": "pre_norm.",
}
# Parts of pre-training checkpoints that inference does not use. Anything else unknown is an error: silently
# ignoring, say, a final norm or an ALiBi bias would give wrong outputs.
DROP = re.compile(
    r"^(_ema(\..*)?|shared_decoder\..*|recon_proj\..*|cls_proj\..*|center"
    r"|modality_encoders\.IMAGE\.(decoder\..*|encoder_mask))$"
)
HEAD_DIM = 64  # every EAT size (base 768/12, large 1024/16): the head count when no config says otherwise


def eat_state_dict_to_ours(sd: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A Hub or fairseq EAT state dict (or the whole fairseq checkpoint dict) -> `EATEncoder` key names.

    Known-unused keys are dropped; unknown keys are kept (under their stripped name) so that loading reports them.
    """
    sd = _unwrap(sd)
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        name = key[len("model.") :] if key.startswith("model.") else key
        if DROP.match(name):
            continue
        if name.startswith(FAIRSEQ_STEM):
            rest = name[len(FAIRSEQ_STEM) :]
            for theirs, ours in FAIRSEQ_NAMES.items():
                if rest == theirs or (theirs.endswith(".") and rest.startswith(theirs)):
                    name = ours + rest[len(theirs) :]
                    break
        if not isinstance(value, (torch.Tensor, TensorInfo)):
            raise CheckpointError(f"checkpoint entry {key!r} is a {type(value).__name__}, not a tensor")
        if name in out:
            raise CheckpointError(f"checkpoint has {key!r} twice (with and without a prefix)")
        out[name] = value
    if "fixed_positional_encoder.positions" in out and out["fixed_positional_encoder.positions"].dim() == 2:
        out["fixed_positional_encoder.positions"] = out["fixed_positional_encoder.positions"][None]
    return out


def encoder_config_from_state_dict(sd: dict[str, Any], num_heads: int | None = None) -> EATConfig:
    """Infer the EATConfig of a Hub or fairseq state dict from its tensor shapes.

    The head count is not in the shapes: `num_heads`, else embed_dim / 64 (true of every EAT size).
    mel_bins is assumed 128 (EAT's fbank). fc_norm's eps follows the format's source code.
    """
    raw = _unwrap(sd)
    fairseq = any(k.startswith(FAIRSEQ_STEM) or k.startswith("model." + FAIRSEQ_STEM) for k in raw)
    sd = eat_state_dict_to_ours(raw)
    for key in ("local_encoder.proj.weight", "fixed_positional_encoder.positions", "blocks.0.mlp.fc1.weight"):
        if key not in sd:
            raise CheckpointError(f"not an EAT checkpoint: no {key!r} (found e.g. {_few(sd)})")
    proj = sd["local_encoder.proj.weight"]
    if proj.dim() != 4 or proj.shape[2] != proj.shape[3]:
        raise CheckpointError(f"local_encoder.proj.weight: expected a square conv kernel, got {list(proj.shape)}")
    embed_dim, in_chans, patch = proj.shape[0], proj.shape[1], proj.shape[2]
    if not (1 <= patch <= 128 and embed_dim >= 1):
        raise CheckpointError(f"local_encoder.proj.weight: shape {list(proj.shape)} is not an EAT patch embedding")
    depth = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"blocks\.(\d{1,9})\.", k)))
    rows = sd["fixed_positional_encoder.positions"].shape[-2]
    bands = 128 // patch
    if rows % bands:
        raise CheckpointError(f"fixed_positional_encoder.positions: {rows} rows is not a multiple of {bands} bands")
    has_head = "head.weight" in sd
    heads = num_heads or max(1, embed_dim // HEAD_DIM)
    try:
        return EATConfig(
            embed_dim=embed_dim,
            depth=depth,
            num_heads=heads,
            patch_size=patch,
            in_chans=in_chans,
            mlp_ratio=sd["blocks.0.mlp.fc1.weight"].shape[0] / embed_dim,
            qkv_bias="blocks.0.attn.qkv.bias" in sd,
            mel_bins=128,
            max_length=rows // bands,
            num_classes=sd["head.weight"].shape[0] if has_head else 0,
            head_norm_eps=1e-6 if fairseq else 1e-5,
            model_variant="finetune" if has_head else "pretrain",
        )
    except ValueError as e:
        raise CheckpointError(f"unsupported EAT checkpoint: {e}") from None


def load_audio_encoder(
    path: str | Path, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> EATEncoder:
    """An EAT encoder in eval mode from a Hub-style folder (config.json + model.safetensors or pytorch_model.bin)
    or a single .safetensors / .pt / .bin file, in the Hub or the fairseq key format. dtype defaults to float32."""
    check_path_length(path, "file or folder")
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder")
    weights = _find_weights(path) if path.is_dir() else path
    config = _read_config(weights, in_folder=path.is_dir())
    shapes = tensor_shapes(weights)
    if shapes is not None:  # safetensors: the config is checked against the header before any tensor is read
        _build_checked(config, shapes, {}, weights)
    raw, hints = _read_weights(weights)
    encoder, sd = _build_checked(config, raw, hints, weights)
    encoder.load_state_dict(sd, strict=True, assign=True)
    encoder.to(device=device, dtype=dtype or torch.float32)
    return encoder.eval()


def _build_checked(config: EATConfig | None, raw: dict[str, Any], hints: dict[str, Any],
                   weights: Path) -> tuple[EATEncoder, dict[str, Any]]:
    """The encoder for `config` (else the one the shapes imply) on the meta device, once its sizes are within
    the limits and every tensor it needs is in `raw` (tensors, or a safetensors header's TensorInfo) with
    its shape. -> (encoder, raw in our key names)."""
    sd = eat_state_dict_to_ours(raw)
    if config is None:
        config = encoder_config_from_state_dict(raw, num_heads=hints.get("num_heads"))
    elif "fixed_positional_encoder.positions" in sd:
        config = copy.copy(config)
        # Tables of 512 (old) and 6144 rows both work: the model uses the first N rows of whatever it has.
        rows = sd["fixed_positional_encoder.positions"].shape[-2]
        if rows % config.num_bands == 0:
            config.max_length = rows // config.num_bands
    check_encoder_sizes(config, str(weights))
    blocks = len({m.group(1) for k in sd if (m := re.match(r"blocks\.(\d{1,6})\.", k))})
    if blocks != config.depth:
        raise CheckpointError(f"{weights}: the config says depth {config.depth}, but the weights hold {blocks} blocks")
    with torch.device("meta"):  # no random init: every tensor comes from the checkpoint
        encoder = EATEncoder(config)
    _check_keys(encoder, sd, weights)
    return encoder, sd


def save_audio_encoder(encoder: EATEncoder, folder: str | Path) -> None:
    """Write the Hub layout: config.json + model.safetensors with "model."-prefixed keys."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(encoder.config.to_hub_dict(), indent=2) + "\n")
    tensors = {f"model.{k}": v for k, v in encoder.state_dict().items()}
    # The config also goes into the file's metadata, so that the .safetensors alone is a complete checkpoint.
    metadata = {"format": "pt", CONFIG_METADATA: json.dumps(encoder.config.to_hub_dict())}
    write_safetensors(tensors, folder / "model.safetensors", metadata=metadata)


# -- helpers --------------------------------------------------------------------------------------------------


def _unwrap(sd: dict[str, Any]) -> dict[str, Any]:
    """A whole training checkpoint ({"model": state_dict, "cfg": ..., ...}) -> its state dict."""
    for key in ("model", "state_dict"):
        if isinstance(sd.get(key), dict):
            return sd[key]
    return sd


def _find_weights(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    found = [p for p in folder.iterdir() if p.suffix in SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES]
    if len(found) == 1:
        return found[0]
    raise CheckpointError(
        f"{folder}: no EAT weights: expected {' or '.join(WEIGHT_FILES)}"
        + (f" (found several candidates: {', '.join(p.name for p in found)})" if found else "")
    )


def _read_config(weights: Path, in_folder: bool) -> EATConfig | None:
    """The config.json of a Hub folder; for a single file, a config.json beside it that says model_type "eat"
    (another one may belong to something else, e.g. a SAM checkpoint) or else the config we store in our
    .safetensors metadata. None: infer it from the tensor shapes."""
    source = weights.parent / "config.json"
    data = read_json(source) if source.is_file() else None
    if data is not None and not in_folder and data.get("model_type") != "eat":
        data = None
    if data is None and weights.suffix in SAFETENSORS_SUFFIXES:
        source, data = weights, _safetensors_metadata_config(weights)
    if data is None:
        return None
    check_fields(data, ENCODER_FIELDS, str(source))
    try:
        config = EATConfig.from_hub_dict(data)
    except (ValueError, TypeError, AttributeError, ArithmeticError) as e:
        raise CheckpointError(f"{source}: {str(e)[:200]}") from None
    check_encoder_sizes(config, str(source))
    return config


def _safetensors_metadata_config(path: Path) -> dict[str, Any] | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            text = (f.metadata() or {}).get(CONFIG_METADATA)
        data = json.loads(text) if text else None
    except Exception:  # unreadable files are reported by read_tensors, with the file named
        return None
    return data if isinstance(data, dict) else None


def _read_weights(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """-> (tensors, hints from a fairseq config such as num_heads)."""
    if path.suffix in SAFETENSORS_SUFFIXES:
        return read_tensors(path), {}
    data = _read_pickle(path)
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, found {type(data).__name__}")
    return data, _fairseq_hints(data.get("cfg"))


class _Inert:
    """Stands in for a class named in a pickle (omegaconf's DictConfig, an Enum, typing.Any, ...).

    It only records what the pickle gives it; it never imports, resolves or calls the real thing.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> _Inert:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _read_pickle(path: Path) -> Any:
    """`torch.load(weights_only=True)` (via read_tensors), where every non-torch global the pickle names is
    allowlisted as a fresh `_Inert` subclass. Safe because what an unpickler can do is limited to calling the
    globals it is given: torch's own allowlist still decides every torch.* name, torch still blocks os/sys, and
    everything else becomes a recorder with no behaviour. The tensors are rebuilt by torch as usual."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # not a zip checkpoint, or unreadable: read_tensors reports it properly
        names = []
    stand_ins = [(_stand_in(name), name) for name in names if not name.startswith("torch.")]
    with torch.serialization.safe_globals(stand_ins):
        return read_tensors(path)


def _stand_in(name: str) -> Any:
    if name == "collections.defaultdict":  # its items arrive via SETITEMS, which torch allows on plain dicts only
        return _plain_dict
    return type(name.rpartition(".")[2] or "Global", (_Inert,), {"pickled_name": name})


def _plain_dict(*args: Any) -> dict:
    return {}


def _plain(obj: Any, depth: int = 0) -> Any:
    """omegaconf containers read as `_Inert` (their pickled state holds "_content" / "_val") -> plain data."""
    if depth > 50:
        return None
    if isinstance(obj, _Inert):
        state = getattr(obj, "state", None)
        if isinstance(state, dict):
            for key in ("_content", "_val"):
                if key in state:
                    return _plain(state[key], depth + 1)
        return None
    if isinstance(obj, dict):
        return {k: _plain(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, depth + 1) for v in obj]
    return obj


def _fairseq_hints(cfg: Any) -> dict[str, Any]:
    """num_heads from a fairseq cfg: cfg.model.num_heads (pre-training) or, in fine-tunes,
    cfg.model.pretrained_model_args.model.num_heads. Best effort: {} when absent."""
    cfg = _plain(cfg)
    model = cfg.get("model") if isinstance(cfg, dict) else None
    for candidate in (model, _get(model, "pretrained_model_args", "model")):
        heads = _get(candidate, "num_heads")
        if isinstance(heads, int) and not isinstance(heads, bool) and heads > 0:
            return {"num_heads": heads}
    return {}


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _check_keys(encoder: EATEncoder, sd: dict[str, torch.Tensor], source: Path) -> None:
    check_state_dict(encoder, sd, str(source), "EAT checkpoint")


def _few(keys: Any, n: int = 4) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")
