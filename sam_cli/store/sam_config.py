"""Telling a SAM checkpoint folder from other models by its config.json and files, without loading it
(no torch: this runs before any download of weights)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sam_cli.errors import CheckpointError

SAM_MODEL_TYPE = "sam"


def _read_config(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{what}: config.json is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{what}: config.json is not a JSON object")
    return data


def _component_kind(config: dict[str, Any]) -> str | None:
    """Name the SAM component a config describes (a Mamba-2 LM or an EAT encoder), if it is one."""
    model_type = str(config.get("model_type", "")).lower()
    ssm_cfg = config.get("ssm_cfg")
    if model_type == "mamba2" or (isinstance(ssm_cfg, dict) and ssm_cfg.get("layer") == "Mamba2"):
        return "a Mamba-2 language model (like state-spaces/mamba2-*)"
    if model_type == "eat":
        return "an EAT audio encoder"
    return None


def check_sam_config(config_path: Path, what: str, *, strict: bool) -> None:
    """CheckpointError unless config.json describes a SAM model.

    strict: model_type must be "sam". Not strict: only a config that names something else is refused.
    """
    config = _read_config(config_path, what)
    model_type = config.get("model_type")
    if model_type == SAM_MODEL_TYPE:
        return
    component = _component_kind(config)
    if component:
        raise CheckpointError(
            f"{what}: not a SAM checkpoint but {component}, one of SAM's components;"
            " `sam train` can start from it"
        )
    if strict or model_type is not None:
        found = f"model_type {model_type!r}" if model_type is not None else "no model_type"
        raise CheckpointError(f"{what}: not a SAM checkpoint (config.json has {found}, expected 'sam')")


def is_sam_folder(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and config.get("model_type") == SAM_MODEL_TYPE


def missing_files(folder: Path) -> list[str]:
    """The files a complete SAM checkpoint needs that ``folder`` lacks (weights may be sharded)."""
    missing = [name for name in ("config.json", "tokenizer.json") if not (folder / name).is_file()]
    if not (folder / "model.safetensors").is_file() and not (folder / "model.safetensors.index.json").is_file():
        missing.append("model.safetensors")
    return missing
