"""How the sources' audio is stored, and `load_sources`, which reads it back (both formats).

sam-sources/2 (written by collect_sources.py): `audio.zip`, one uncompressed zip of Ogg Opus streams
("chunks", at most CHUNK_SECONDS each, all at one sample rate: 8 or 16 kHz). A chunk holds many recordings one
after another, each followed by GAP_SECONDS of silence (so that the codec's overlap never carries one
recording into the next); a record's `audio` entry says where: {"chunk": member name, "offset": first sample,
"num_samples"}. One Ogg stream per chunk, not one per recording: a short recording in its own Ogg Opus file
costs about a kilobyte of headers, which for 20,000 recordings would be half the budget. Opus at
OPUS_KBPS kbit/s, speech at SPEECH_KBPS, 8-kHz chunks at 3/4 of that (see scripts/README.md for the
measurements behind that choice). Encoded with ffmpeg's
libopus when ffmpeg is on the PATH (fast, byte-identical from run to run), else with libsndfile through the
soundfile package (slow, and its Ogg serial numbers are random). Decoded with soundfile (libsndfile) only.

sam-sources/1 (the older format): `audio.npz`, one int16 array per recording id.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable

import numpy as np

FORMAT = "sam-sources/2"
AUDIO_FILE = "audio.zip"
OPUS_KBPS = 16  # at 16 kHz; 8-kHz chunks get 3/4 of it (kbps_for)
SPEECH_KBPS = 12  # chunks of speech only (a chunk's key ends with SPEECH_KEY)
SPEECH_KEY = "#speech"
CHUNK_SECONDS = 120.0
GAP_SECONDS = 0.06
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


# ---------------------------------------------------------------------------------------------------------
# Writing


def kbps_for(sr: int, kbps: float) -> float:
    return kbps if sr >= 16000 else round(kbps * 0.75, 1)


def encode_opus(pcm: np.ndarray, sr: int, kbps: float = OPUS_KBPS) -> bytes:
    """int16 mono PCM -> an Ogg Opus stream (ffmpeg/libopus if present, else libsndfile)."""
    pcm = np.ascontiguousarray(pcm, dtype="<i2")
    if shutil.which("ffmpeg"):
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(sr), "-ac", "1",
               "-i", "-", "-c:a", "libopus", "-b:a", f"{kbps:g}k", "-vbr", "on", "-application", "audio",
               "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1", "-f", "ogg", "-"]
        res = subprocess.run(cmd, input=pcm.tobytes(), capture_output=True)
        if res.returncode == 0 and res.stdout:
            return res.stdout
        raise RuntimeError(f"ffmpeg could not encode Opus: {res.stderr.decode(errors='replace').strip()}")
    import soundfile as sf
    buf = io.BytesIO()
    # libsndfile maps compression level 0..1 linearly onto 256..6 kbit/s for Opus.
    level = float(np.clip(1.0 - (kbps - 6.0) / 250.0, 0.0, 1.0))
    with sf.SoundFile(buf, "w", samplerate=sr, channels=1, format="OGG", subtype="OPUS",
                      compression_level=level) as f:
        f.write(pcm)
    return buf.getvalue()


def decode_bytes(data: bytes) -> tuple[np.ndarray, int]:
    import soundfile as sf
    x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    if x.ndim > 1:
        x = x.mean(axis=1)
    return x.astype(np.float32, copy=False), int(sr)


def plan_chunks(items: list[tuple[str, int, int, str]], chunk_seconds: float = CHUNK_SECONDS
                ) -> list[tuple[str, int, list[str]]]:
    """items: (id, sr, num_samples, key) in the order to store them (key: e.g. the package; a chunk never holds
    two keys, so one package's audio can be read alone). -> [(chunk name, sr, [ids])]."""
    chunks: list[tuple[str, int, list[str]]] = []
    current: dict[tuple[int, str], tuple[list[str], float]] = {}
    for rid, sr, n, key in items:
        k = (sr, key)
        ids, secs = current.get(k, ([], 0.0))
        if ids and secs + n / sr > chunk_seconds:
            chunks.append(("", sr, ids))
            ids, secs = [], 0.0
        ids.append(rid)
        current[k] = (ids, secs + n / sr + GAP_SECONDS)
    for k, (ids, _) in current.items():
        if ids:
            chunks.append(("", k[0], ids))
    chunks.sort(key=lambda c: (c[1], c[2][0]))
    return [(f"c{i:05d}_{sr // 1000}k.opus", sr, ids) for i, (_, sr, ids) in enumerate(chunks)]


def write_store(out_dir: Path, pcm: dict[str, np.ndarray], rates: dict[str, int], keys: dict[str, str],
                order: Iterable[str], kbps: float = OPUS_KBPS, workers: int = 2,
                chunk_seconds: float = CHUNK_SECONDS, speech_kbps: float = SPEECH_KBPS) -> dict[str, dict[str, Any]]:
    """Encode int16 arrays into out_dir/audio.zip; -> {id: {"chunk", "offset", "num_samples"}}. keys: what
    keeps recordings in separate chunks (the package; "<package>#speech" for speech, at speech_kbps)."""
    order = list(order)
    chunks = plan_chunks([(i, rates[i], len(pcm[i]), keys[i]) for i in order], chunk_seconds)
    where: dict[str, dict[str, Any]] = {}

    def build(chunk: tuple[str, int, list[str]]) -> bytes:
        name, sr, ids = chunk
        gap = np.zeros(int(round(GAP_SECONDS * sr)), dtype=np.int16)
        parts = []
        for i in ids:
            parts += [pcm[i], gap]
        rate = speech_kbps if keys[ids[0]].endswith(SPEECH_KEY) else kbps
        return encode_opus(np.concatenate(parts), sr, kbps_for(sr, rate))

    pos_of: dict[str, tuple[str, int]] = {}
    for name, sr, ids in chunks:
        pos = 0
        gap = int(round(GAP_SECONDS * sr))
        for i in ids:
            pos_of[i] = (name, pos)
            pos += len(pcm[i]) + gap
    with ThreadPoolExecutor(max(1, workers)) as pool:
        blobs = list(pool.map(build, chunks))
    tmp = out_dir / (AUDIO_FILE + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
        for (name, _, _), blob in zip(chunks, blobs):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            z.writestr(info, blob)
    tmp.replace(out_dir / AUDIO_FILE)
    for i in order:
        name, off = pos_of[i]
        where[i] = {"chunk": name, "offset": off, "num_samples": int(len(pcm[i]))}
    return where


# ---------------------------------------------------------------------------------------------------------
# Reading


def load_sources(folder: str | Path, ids: Iterable[str] | None = None, workers: int = 4
                 ) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, int]]]:
    """Read a sources folder written by collect_sources.py, old format or new.

    -> (manifest, {recording id: (audio, sr)}): `manifest` is sources.json as written (its "recordings" list
    holds every record, with "split", "holdout", "category", ...); `audio` is float32 mono at the record's
    "sr" (8000 or 16000), exactly record["num_samples"] samples long, peak-normalised to 0.89 before
    encoding (lossy decoding overshoots on sharp attacks: about 2% of recordings peak over 1.0, up to ~1.8;
    nothing is clipped, so scale by level, not by assuming [-1, 1]). `ids`: load only these
    recordings (their chunks are still decoded whole). Decoding runs in `workers` threads (libsndfile releases
    the GIL): about 2 minutes of CPU for 7 hours of audio, 4 bytes a sample in memory.
    """
    folder = Path(folder)
    manifest = json.loads((folder / "sources.json").read_text())
    fmt = manifest.get("format")
    want = None if ids is None else set(ids)
    recs = [r for r in manifest["recordings"] if want is None or r["id"] in want]
    out: dict[str, tuple[np.ndarray, int]] = {}
    if fmt == "sam-sources/1":
        arrays = np.load(folder / manifest.get("audio", "audio.npz"))
        for r in recs:
            out[r["id"]] = (arrays[r["id"]].astype(np.float32) / 32768.0, int(r["sr"]))
        return manifest, out
    if fmt != FORMAT:
        raise ValueError(f"{folder / 'sources.json'}: format {fmt!r}, expected sam-sources/1 or {FORMAT}")
    by_chunk: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        by_chunk.setdefault(r["audio"]["chunk"], []).append(r)
    with zipfile.ZipFile(folder / manifest.get("audio", AUDIO_FILE)) as z:
        blobs = {name: z.read(name) for name in sorted(by_chunk)}

    def one(name: str) -> list[tuple[str, np.ndarray, int]]:
        x, sr = decode_bytes(blobs[name])
        got = []
        for r in by_chunk[name]:
            a, n = r["audio"]["offset"], r["audio"]["num_samples"]
            if sr != r["sr"]:
                raise ValueError(f"{name}: decoded at {sr} Hz, record {r['id']} says {r['sr']}")
            y = x[a:a + n]
            if len(y) < n:
                y = np.pad(y, (0, n - len(y)))
            got.append((r["id"], y.copy(), sr))
        return got

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for got in pool.map(one, sorted(by_chunk)):
            for rid, y, sr in got:
                out[rid] = (y, sr)
    return manifest, out
