"""Reading tensors and JSON from disk, safely.

Checkpoints come from strangers on the internet, so nothing here unpickles arbitrary objects: safetensors
files are read as such, and PyTorch pickles go through `torch.load(weights_only=True)`, which only rebuilds
tensors and plain containers.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sam_cli.errors import CheckpointError
from sam_cli.store.limits import check_path_length

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
MAX_JSON_BYTES = 64 * 2**20  # config.json, tokenizer.json
MAX_HEADER_BYTES = 100 * 2**20  # a safetensors header (the format's own limit)
# safetensors dtype name -> bytes per element; the floating-point ones can fill a model's parameters.
ST_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I16": 2,
             "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
ST_FLOATS = ("F64", "F32", "F16", "BF16")


@dataclass(frozen=True)
class TensorInfo:
    """A tensor as a safetensors header describes it: enough to check shapes before reading any data."""

    shape: tuple[int, ...]
    dtype: str

    def dim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return math.prod(self.shape)

    def is_floating_point(self) -> bool:
        return self.dtype in ST_FLOATS

    def __getitem__(self, index: Any) -> TensorInfo:  # only x[None], as eat_state_dict_to_ours does
        if index is None:
            return TensorInfo((1, *self.shape), self.dtype)
        raise TypeError("TensorInfo supports only [None]")


def read_safetensors_header(path: str | Path) -> dict[str, TensorInfo]:
    """The tensors a .safetensors file holds, from its header alone (8-byte little-endian length, then JSON).

    Every entry is checked against the file's size, so the shapes returned are ones the file really holds.
    """
    check_path_length(path)
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"{size} bytes: too short for a header")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise ValueError(f"header length {n} does not fit the file ({size} bytes)")
            header = json.loads(f.read(n).decode("utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: corrupt or unreadable safetensors file ({_first_line(e)})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors file (the header is not a JSON object)")
    data_bytes = size - 8 - n
    out: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        problem = _entry_problem(entry, data_bytes)
        if problem:
            raise CheckpointError(f"{path}: corrupt safetensors file (tensor {name[:80]!r}: {problem})")
        out[name] = TensorInfo(tuple(entry["shape"]), entry["dtype"])
    return out


def _entry_problem(entry: Any, data_bytes: int) -> str | None:
    if not isinstance(entry, dict):
        return "not an object"
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in ST_DTYPES:
        return f"unknown dtype {str(dtype)[:20]!r}"
    if not isinstance(shape, list) or len(shape) > 8 or not all(_is_count(v) for v in shape):
        return "bad shape"
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(v) for v in offsets):
        return "bad data_offsets"
    begin, end = offsets
    if not begin <= end <= data_bytes or end - begin != math.prod(shape) * ST_DTYPES[dtype]:
        return f"shape {shape[:8]} does not match its {end - begin} bytes of data in the file"
    return None


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62


def tensor_shapes(path: str | Path) -> dict[str, TensorInfo] | None:
    """read_safetensors_header for a .safetensors file; None for other formats (their shapes are only known
    once loaded; a PyTorch zip file is memory-mapped, so that costs no more memory than the file)."""
    return read_safetensors_header(path) if Path(path).suffix in SAFETENSORS_SUFFIXES else None


def read_json(path: str | Path) -> dict[str, Any]:
    check_path_length(path)
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        size = os.path.getsize(path)
        if size > MAX_JSON_BYTES:
            raise CheckpointError(f"{path}: {size} bytes, over the limit for a JSON file ({MAX_JSON_BYTES})")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: also ints of > 4300 digits
        raise CheckpointError(f"{path}: not valid JSON ({_first_line(e)})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def read_tensors(path: str | Path) -> dict[str, Any]:
    """Load a state dict from a .safetensors file or a PyTorch pickle (weights only).

    Pickles may hold nested dicts (e.g. fairseq's {"model": {...}}); those are returned as they are.
    """
    check_path_length(path)
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
        if not isinstance(v, (torch.Tensor, TensorInfo)) or not v.is_floating_point():
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
