"""scripts/sources/rcc.py: the Qt binary resource reader, on small archives the test writes itself."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from sources.rcc import RccArchive, RccError, extract  # noqa: E402


def qt_hash(name: str) -> int:
    h = 0
    enc = name.encode("utf-16-be")
    for i in range(0, len(enc), 2):
        c = int.from_bytes(enc[i:i + 2], "big")
        h = ((h << 4) + c) & 0xFFFFFFFF
        h ^= (h & 0xF0000000) >> 23
        h &= 0x0FFFFFFF
    return h


def write_rcc(files: dict[str, bytes], version: int = 3, compress: set[str] = frozenset()) -> bytes:
    """A minimal writer of the format (breadth-first tree, children consecutive and sorted by name hash)."""
    tree: dict = {}
    for path, data in files.items():
        node = tree
        *dirs, leaf = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = data

    names = bytearray()
    name_off: dict[str, int] = {}

    def name(n: str) -> int:
        if n not in name_off:
            name_off[n] = len(names)
            enc = n.encode("utf-16-be")
            names.extend(struct.pack(">HI", len(enc) // 2, qt_hash(n)) + enc)
        return name_off[n]

    data = bytearray()
    entries: list[bytes] = [b""]  # root first; filled at the end
    queue = [(0, "", tree)]
    tail = 22 if version >= 2 else 14
    while queue:
        index, nm, node = queue.pop(0)
        if isinstance(node, dict):
            kids = sorted(node.items(), key=lambda kv: qt_hash(kv[0]))
            first = len(entries)
            entries.extend(b"" for _ in kids)
            rec = struct.pack(">IHII", name(nm) if index else 0, 0x02, len(kids), first)
            for k, (kn, kv) in enumerate(kids):
                queue.append((first + k, kn, kv))
        else:
            payload = node
            flags = 0
            if nm in compress:
                payload = struct.pack(">I", len(node)) + zlib.compress(node)
                flags = 0x01
            rec = struct.pack(">IHHHI", name(nm), flags, 0, 0, len(data))
            data.extend(struct.pack(">I", len(payload)) + payload)
        entries[index] = rec + (b"\0" * 8 if version >= 2 else b"")
        assert len(entries[index]) == tail
    header_len = 24 if version >= 3 else 20
    data_off = header_len
    names_off = data_off + len(data)
    tree_off = names_off + len(names)
    header = b"qres" + struct.pack(">IIII", version, tree_off, data_off, names_off)
    if version >= 3:
        header += struct.pack(">I", 0x01 if compress else 0)
    return header + bytes(data) + bytes(names) + b"".join(entries)


FILES = {
    "gcompris/src/activities/x/resource/sound.ogg": b"OggS" + bytes(range(256)) * 40,
    "gcompris/src/activities/x/resource/door.wav": b"RIFF" + b"\x01\x02" * 500,
    "gcompris/src/activities/y/Ünïcode name.txt": "héllo".encode(),
    "top.txt": b"",
}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_reads_every_file(tmp_path: Path, version: int) -> None:
    blob = write_rcc(FILES, version=version, compress={"sound.ogg", "Ünïcode name.txt"})
    arc = RccArchive(blob)
    assert arc.version == version
    got = {e.path: arc.read(e) for e in arc.entries()}
    assert got == FILES
    comp = {e.path.rsplit("/", 1)[-1]: e.compression for e in arc.entries()}
    assert comp["sound.ogg"] == "zlib" and comp["door.wav"] == "none"
    (tmp_path / "a.rcc").write_bytes(blob)
    out = extract(tmp_path / "a.rcc", tmp_path / "x", suffixes=(".ogg", ".wav"))
    assert sorted(p.name for p in out) == ["door.wav", "sound.ogg"]
    assert (tmp_path / "x/gcompris/src/activities/x/resource/sound.ogg").read_bytes() == FILES[
        "gcompris/src/activities/x/resource/sound.ogg"]
    assert arc.read("/top.txt") == b""


def test_rejects_garbage() -> None:
    with pytest.raises(RccError):
        RccArchive(b"PK\x03\x04" + b"\0" * 40)
    blob = bytearray(write_rcc(FILES))
    blob[4:8] = struct.pack(">I", 9)
    with pytest.raises(RccError):
        RccArchive(bytes(blob))


@pytest.mark.parametrize("opts", [["--no-zstd"], ["--compress-algo", "zstd"], ["--format-version", "1", "--no-zstd"],
                                  ["--format-version", "2", "--no-zstd"], ["--no-compress"]])
def test_against_qt_rcc(tmp_path: Path, opts: list[str]) -> None:
    """Where Qt's own resource compiler is installed, read what it writes (zlib, zstd, format versions)."""
    rcc = shutil.which("rcc") or next((p for p in ("/usr/lib/qt6/libexec/rcc", "/usr/lib/qt5/bin/rcc")
                                       if Path(p).exists()), None)
    if rcc is None:
        pytest.skip("Qt's rcc is not installed (qt6-base-dev-tools or qtbase5-dev-tools)")
    (tmp_path / "snd").mkdir()
    big = bytes(range(200)) * 300  # compressible, so rcc compresses it
    (tmp_path / "snd/a.ogg").write_bytes(big)
    (tmp_path / "snd/b.txt").write_bytes(b"tiny")
    (tmp_path / "r.qrc").write_text('<RCC><qresource prefix="/pre"><file>snd/a.ogg</file>'
                                    "<file>snd/b.txt</file></qresource></RCC>")
    res = subprocess.run([rcc, "-binary", *opts, "r.qrc", "-o", "r.rcc"], cwd=tmp_path, capture_output=True,
                         text=True)
    if res.returncode != 0 and "zstd" in " ".join(opts):
        pytest.skip(f"this rcc has no zstd: {res.stderr.strip()}")
    assert res.returncode == 0, res.stderr
    arc = RccArchive.open(tmp_path / "r.rcc")
    if "zstd" in " ".join(opts) and not shutil.which("zstd"):
        try:
            import zstandard  # noqa: F401
        except ImportError:
            pytest.skip("neither the zstandard module nor the zstd program is installed")
    got = {e.path: arc.read(e) for e in arc.entries()}
    assert got == {"pre/snd/a.ogg": big, "pre/snd/b.txt": b"tiny"}
    comp = {e.path: e.compression for e in arc.entries()}
    want = {"--no-zstd": "zlib", "--format-version": "zlib", "--compress-algo": "zstd", "--no-compress": "none"}
    assert comp["pre/snd/a.ogg"] == want[opts[0]]
