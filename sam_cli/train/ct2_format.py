"""CTranslate2's model.bin, read and written from its documented binary layout (header, spec name and
revision, named variables with shape and dtype, aliases; int8/int16 variables dequantised with their
`_scale`). No pickle, no ctranslate2 needed. For the training-time Whisper teacher (whisper_ct2.py)."""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

CT2_DTYPES: tuple[tuple[str, Any], ...] = (
    ("float32", np.float32), ("int8", np.int8), ("int16", np.int16), ("int32", np.int32),
    ("float16", np.float16), ("bfloat16", None),  # bfloat16: read as uint16 bits, widened below
)



@dataclass
class CT2Model:
    version: int
    spec: str
    revision: int
    variables: dict[str, Tensor]  # as stored (quantised ones still quantised)
    dtypes: dict[str, str]
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> target

    def get(self, name: str) -> Tensor:
        name = self.aliases.get(name, name)
        return self.variables[name]

    def __contains__(self, name: str) -> bool:
        return self.aliases.get(name, name) in self.variables

    def scalar(self, name: str, default: Any = None) -> Any:
        if name not in self:
            return default
        return self.get(name).item()

    def float(self, name: str) -> Tensor:
        """The variable as float32, dequantised (int8/int16 weights divided by their `_scale`)."""
        target = self.aliases.get(name, name)
        t = self.variables[target]
        kind = self.dtypes[target]
        if kind in ("int8", "int16"):
            scale = self.variables.get(target + "_scale")
            if scale is None:
                raise ValueError(f"{name} is {kind} but has no {target}_scale")
            scale = scale.float()
            if scale.dim() == 1 and t.dim() >= 1:
                scale = scale.reshape(-1, *([1] * (t.dim() - 1)))
            return t.float() / scale
        return t.float()


def _read_string(buf: memoryview, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<H", buf, pos)
    raw = bytes(buf[pos + 2: pos + 2 + n])
    if n == 0 or raw[-1] != 0:
        raise ValueError(f"malformed string at byte {pos}")
    return raw[:-1].decode("utf-8"), pos + 2 + n


def read_ct2(path: str | Path) -> CT2Model:
    """Parse a CTranslate2 model.bin (a file, or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    data = path.read_bytes()
    buf = memoryview(data)
    pos = 0

    def u(fmt: str) -> int:
        nonlocal pos
        (v,) = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return v

    version = u("I")
    if not 1 <= version <= 6:
        raise ValueError(f"{path}: unsupported CTranslate2 binary version {version}")
    spec, revision = "", 1
    if version >= 2:
        spec, pos = _read_string(buf, pos)
        revision = u("I")
    variables: dict[str, Tensor] = {}
    dtypes: dict[str, str] = {}
    for _ in range(u("I")):
        name, pos = _read_string(buf, pos)
        rank = u("B")
        dims = [u("I") for _ in range(rank)]
        if version >= 4:
            type_id = u("B")
            num_bytes = u("I")
            if type_id >= len(CT2_DTYPES):
                raise ValueError(f"{path}: {name} has unknown dtype id {type_id}")
            kind, np_type = CT2_DTYPES[type_id]
        else:
            item = u("B")
            num_bytes = u("I") * item
            kind, np_type = {4: ("float32", np.float32), 2: ("int16", np.int16), 1: ("int8", np.int8)}[item]
        if pos + num_bytes > len(data):
            raise ValueError(f"{path}: truncated in variable {name}")
        raw = buf[pos: pos + num_bytes]
        pos += num_bytes
        if kind == "bfloat16":
            bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np_type).copy()
        n = math.prod(dims) if dims else 1
        if arr.size != n:
            raise ValueError(f"{path}: {name} has {arr.size} items for shape {dims}")
        variables[name] = torch.from_numpy(arr.reshape(dims) if dims else arr.reshape(()))
        dtypes[name] = kind
    aliases: dict[str, str] = {}
    if version >= 3:
        for _ in range(u("I")):
            alias, pos = _read_string(buf, pos)
            target, pos = _read_string(buf, pos)
            aliases[alias] = target
            if target + "_scale" in variables:
                aliases[alias + "_scale"] = target + "_scale"
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes")
    return CT2Model(version, spec, revision, variables, dtypes, aliases)


def write_ct2(m: CT2Model, path: str | Path) -> None:
    """Write `m` in CTranslate2's binary layout, version 6 (as read_ct2 reads it), atomically."""
    ids = {kind: i for i, (kind, _) in enumerate(CT2_DTYPES)}

    def string(text: str) -> bytes:
        raw = text.encode("utf-8") + b"\0"
        return struct.pack("<H", len(raw)) + raw

    out = [struct.pack("<I", 6), string(m.spec), struct.pack("<I", m.revision), struct.pack("<I", len(m.variables))]
    for name, t in m.variables.items():
        kind = m.dtypes[name]
        if kind == "bfloat16":  # held widened to float32: store the upper 16 bits again
            raw = (t.contiguous().numpy().view(np.uint32) >> 16).astype(np.uint16).tobytes()
        else:
            raw = np.ascontiguousarray(t.numpy(), dtype=dict(CT2_DTYPES)[kind]).tobytes()
        out += [string(name), struct.pack("<B", t.dim()), *(struct.pack("<I", d) for d in t.shape),
                struct.pack("<B", ids[kind]), struct.pack("<I", len(raw)), raw]
    aliases = {a: t for a, t in m.aliases.items() if t in m.variables and not (a.endswith("_scale") and
                                                                                 a[:-6] in m.aliases)}
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [string(alias), string(target)]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(b"".join(out))
    os.replace(tmp, path)


def encoder_subset(m: CT2Model, dtype: str | None = "float16") -> CT2Model:
    """Only the encoder's variables (what distillation needs: ~16 MB of Whisper-tiny's 75 MB in float16),
    floating-point ones cast to `dtype` (None: as stored; quantised ones are dequantised first)."""
    variables, dtypes = {}, {}
    for name, kind in m.dtypes.items():
        if not name.startswith("encoder/") or name.endswith("_scale") and name[:-6] in m.dtypes:
            continue
        if dtype is None or kind == "int32" or m.variables[name].dim() == 0:
            variables[name], dtypes[name] = m.variables[name], kind
        else:
            value = m.float(name)
            variables[name] = value if dtype == "bfloat16" else value.to(getattr(torch, dtype))
            dtypes[name] = dtype
    return CT2Model(m.version, m.spec, m.revision, variables, dtypes, {})
