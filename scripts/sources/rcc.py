"""A reader of Qt's binary resource files (`.rcc`, as `rcc -binary` writes them), in pure Python.

GCompris ships its sounds inside such archives. The layout (Qt's rcc.cpp / qresource.cpp, all numbers
big-endian):

    header   "qres", u32 format version (1, 2 or 3), u32 tree offset, u32 data offset, u32 names offset,
             and from version 3 a u32 of overall flags (which compressions appear)
    tree     fixed-size entries; entry 0 is the root directory. Each: u32 name offset, u16 flags
             (1 zlib-compressed, 2 directory, 4 zstd-compressed), then
               directory: u32 child count, u32 index of the first child (children are consecutive)
               file:      u16 territory, u16 language, u32 data offset
             and from version 2 a u64 last-modified time (ms since the epoch): 14 or 22 bytes an entry
    names    u16 length in UTF-16 code units, u32 hash, then the name in UTF-16 big-endian
    data     u32 length, then the bytes. zlib entries hold qCompress output: a u32 uncompressed length, then
             a zlib stream. zstd entries hold one zstd frame (read with the `zstandard` module if present).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

FLAG_ZLIB = 0x01
FLAG_DIR = 0x02
FLAG_ZSTD = 0x04


class RccError(ValueError):
    pass


@dataclass
class RccEntry:
    path: str  # "/" separated, without a leading slash ("gcompris/src/.../sound.ogg")
    flags: int
    data_offset: int  # where the entry's u32 length sits, relative to the data section
    territory: int = 0
    language: int = 0

    @property
    def compression(self) -> str:
        return "zstd" if self.flags & FLAG_ZSTD else "zlib" if self.flags & FLAG_ZLIB else "none"


class RccArchive:
    def __init__(self, blob: bytes):
        if len(blob) < 20 or blob[:4] != b"qres":
            raise RccError("not a Qt binary resource file (no 'qres' magic)")
        self.blob = blob
        self.version, self.tree, self.data, self.names = struct.unpack_from(">IIII", blob, 4)
        if self.version not in (1, 2, 3):
            raise RccError(f"unknown rcc format version {self.version}")
        self.overall_flags = struct.unpack_from(">I", blob, 20)[0] if self.version >= 3 else 0
        self.entry_size = 14 if self.version == 1 else 22
        for off in (self.tree, self.data, self.names):
            if off > len(blob):
                raise RccError("section offset beyond the end of the file")
        self._entries: list[RccEntry] | None = None

    @classmethod
    def open(cls, path: Path | str) -> "RccArchive":
        return cls(Path(path).read_bytes())

    def _name(self, offset: int) -> str:
        pos = self.names + offset
        (n,) = struct.unpack_from(">H", self.blob, pos)
        raw = self.blob[pos + 6: pos + 6 + 2 * n]
        if len(raw) != 2 * n:
            raise RccError("name runs past the end of the file")
        return raw.decode("utf-16-be")

    def _node(self, index: int) -> tuple[int, int, tuple[int, ...]]:
        pos = self.tree + index * self.entry_size
        if pos + 14 > len(self.blob):
            raise RccError(f"tree entry {index} beyond the end of the file")
        name_off, flags = struct.unpack_from(">IH", self.blob, pos)
        if flags & FLAG_DIR:
            rest = struct.unpack_from(">II", self.blob, pos + 6)
        else:
            rest = struct.unpack_from(">HHI", self.blob, pos + 6)
        return name_off, flags, rest

    def entries(self) -> list[RccEntry]:
        """Every file in the archive, depth first, in the archive's own order."""
        if self._entries is not None:
            return self._entries
        out: list[RccEntry] = []
        seen: set[int] = set()

        def walk(index: int, prefix: str) -> None:
            if index in seen:
                raise RccError("the resource tree loops")
            seen.add(index)
            name_off, flags, rest = self._node(index)
            name = "" if index == 0 else self._name(name_off)
            path = f"{prefix}/{name}" if prefix else name
            if flags & FLAG_DIR:
                count, first = rest
                for child in range(first, first + count):
                    walk(child, path)
            else:
                territory, language, data_off = rest
                out.append(RccEntry(path, flags, data_off, territory, language))

        walk(0, "")
        self._entries = out
        return out

    def read(self, entry: RccEntry | str) -> bytes:
        if isinstance(entry, str):
            found = [e for e in self.entries() if e.path == entry.lstrip("/")]
            if not found:
                raise KeyError(entry)
            entry = found[0]
        pos = self.data + entry.data_offset
        (n,) = struct.unpack_from(">I", self.blob, pos)
        raw = self.blob[pos + 4: pos + 4 + n]
        if len(raw) != n:
            raise RccError(f"{entry.path}: data runs past the end of the file")
        if entry.flags & FLAG_ZSTD:
            return _unzstd(raw, entry.path)
        if entry.flags & FLAG_ZLIB:
            (size,) = struct.unpack_from(">I", raw, 0)
            out = zlib.decompress(raw[4:])
            if len(out) != size:
                raise RccError(f"{entry.path}: uncompressed {len(out)} bytes, header says {size}")
            return out
        return raw


def _unzstd(raw: bytes, what: str) -> bytes:
    try:
        import zstandard  # type: ignore[import-not-found]
        return zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 30)
    except ImportError:
        pass
    exe = shutil.which("zstd")
    if exe is None:
        raise RccError(f"{what} is zstd-compressed: install the zstandard module or the zstd program")
    res = subprocess.run([exe, "-d", "-q", "-c"], input=raw, capture_output=True)
    if res.returncode != 0:
        raise RccError(f"{what}: zstd failed: {res.stderr.decode(errors='replace').strip()}")
    return res.stdout


def extract(rcc: Path | str, dest: Path | str, suffixes: tuple[str, ...] = ()) -> list[Path]:
    """Write the archive's files (those ending in one of `suffixes`, or all) under `dest`; return their paths."""
    arc = RccArchive.open(rcc)
    dest = Path(dest)
    out = []
    for e in arc.entries():
        if suffixes and not e.path.lower().endswith(suffixes):
            continue
        rel = Path(e.path)
        if rel.is_absolute() or ".." in rel.parts:
            raise RccError(f"unsafe path in archive: {e.path}")
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(arc.read(e))
        out.append(target)
    return out
