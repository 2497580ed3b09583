"""Reading tensors and JSON from disk, safely.

Checkpoints come from strangers on the internet, so nothing here unpickles arbitrary objects: safetensors
files are read as such, and PyTorch pickles go through `torch.load(weights_only=True)`, which only rebuilds
tensors and plain containers.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from sam_cli.errors import CheckpointError

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


def read_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def read_tensors(path: str | Path) -> dict[str, Any]:
    """Load a state dict from a .safetensors file or a PyTorch pickle (weights only).

    Pickles may hold nested dicts (e.g. fairseq's {"model": {...}}); those are returned as they are.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    if path.suffix in SAFETENSORS_SUFFIXES:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{path}: corrupt or unreadable safetensors file ({_first_line(e)})") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=_is_zip(path))
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refusing to load: the file holds Python objects other than tensors ({_first_line(e)})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path}: corrupt or unreadable PyTorch file ({_first_line(e)})") from None


def write_safetensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    # safetensors refuses shared or non-contiguous storage; copying to the CPU gives each key its own
    # contiguous tensor without a second copy of the model on the GPU.
    save_file({k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}, str(path),
              metadata=metadata)


def _is_zip(path: Path) -> bool:
    return zipfile.is_zipfile(path)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def check_state_dict(module: torch.nn.Module, sd: dict[str, Any], source: str, what: str = "model",
                     optional: tuple[str, ...] = ()) -> None:
    """Raise one CheckpointError naming every kind of mismatch between `sd` and `module`'s own state dict:
    missing keys, unexpected keys, non-float tensors and wrong shapes. Keys in `optional` may be absent
    (e.g. a tied lm_head)."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    problems = []
    missing = [k for k in expected if k not in sd and k not in optional]
    if missing:
        problems.append(f"missing keys {_some(missing)}")
    unexpected = [k for k in sd if k not in expected]
    if unexpected:
        problems.append(f"unexpected keys {_some(unexpected)}")
    bad = []
    for k, shape in expected.items():
        v = sd.get(k)
        if v is None:
            continue
        if not isinstance(v, torch.Tensor) or not v.is_floating_point():
            bad.append(f"{k} is not a floating-point tensor")
        elif tuple(v.shape) != shape:
            bad.append(f"{k} has shape {list(v.shape)}, expected {list(shape)}")
    if bad:
        problems.append("; ".join(bad[:3]) + (f" (and {len(bad) - 3} more wrong tensors)" if len(bad) > 3 else ""))
    if problems:
        raise CheckpointError(f"{source}: not a valid {what}: " + "; ".join(problems))


def load_state_dict_checked(module: torch.nn.Module, sd: dict[str, torch.Tensor], source: str,
                            optional: tuple[str, ...] = (), what: str = "model") -> None:
    """load_state_dict with errors a user can act on (see check_state_dict); values are cast to each
    parameter's dtype by load_state_dict itself."""
    check_state_dict(module, sd, source, what, optional)
    module.load_state_dict(sd, strict=False)


def _some(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (f" (and {len(keys) - n} more)" if len(keys) > n else "")
