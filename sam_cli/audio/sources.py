"""Where audio comes from: paths, bytes, and stdin / FIFOs / devices (spooled once to a temporary file),
opened as a soundfile or ffmpeg stream; the input limits (duration, bytes, sample rate, sample values) and the
MP3 frame check that keeps libmpg123's resync notes off stderr. `load.py` builds the public API on this.
"""

from __future__ import annotations

import io
import json
import math
import mmap
import os
import shutil
import stat
import struct
import subprocess
import tempfile
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np
import torch
import torchaudio.functional as AF

from sam_cli.audio.limits import (
    MAX_AUDIO_SECONDS_ENV,
    MAX_FLOAT_SAMPLE,
    MAX_RESAMPLE_KERNEL,
    MAX_SAMPLE_RATE,
    MAX_STREAM_BYTES_ENV,
    MIN_SAMPLE_RATE,
    max_audio_seconds,
    max_stream_bytes,
)
from sam_cli.audio.mp3 import _mp3_problem
from sam_cli.errors import AudioError

if TYPE_CHECKING:
    import soundfile as sf


SAMPLE_RATE = 16000


AudioSource = Union[str, Path, bytes, bytearray, BinaryIO]


# Extensions libsndfile reads; a failure on one of these means a broken file, not a missing decoder.
_SOUNDFILE_EXTENSIONS = {
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd",
    ".caf", ".w64", ".rf64",
}


_SPOOL_CHUNK = 1 << 20


_SPOOL_HEAD = 1 << 20  # bytes of a stream that must already look like audio before we copy the rest


class SpooledInput(os.PathLike):
    """A non-regular input (stdin, a FIFO, a device, `<(…)`) read once, in chunks, into a temporary file.

    Such inputs can be read only once and have no length, so they are copied (memory bounded by one chunk,
    at most `max_stream_bytes()`) and then read like any file: durations from the header, windows streamed
    from disk. Pass it wherever a path is accepted; `name` is what messages call it. The file is deleted on
    `close()` or when the object is garbage-collected.
    """

    def __init__(self, name: str, path: Path):
        self.name, self.path = name, path
        self._finalizer = weakref.finalize(self, _unlink, path)

    def __fspath__(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self._finalizer()

    def __repr__(self) -> str:
        return f"SpooledInput({self.name!r})"


def spool(source: str | Path | BinaryIO, name: str | None = None) -> SpooledInput:
    """Read `source` (a binary stream, or the path of a FIFO or device, opened once) into a SpooledInput.

    Raises AudioError past `max_stream_bytes()`, when nothing arrives, and as soon as the first MiB is not
    audio that libsndfile or ffmpeg recognises (so `/dev/zero` stops at once instead of filling a disk).
    """
    if hasattr(source, "read"):
        label = name or str(getattr(source, "name", "<stream>"))
        return _spool_from(source, label)
    label = name or str(source)
    try:
        with open(source, "rb", buffering=0) as f:
            return _spool_from(f, label)
    except PermissionError:
        raise AudioError(f"{label}: permission denied") from None
    except OSError as e:
        raise AudioError(f"{label}: cannot read file ({e.strerror or e})") from None


def _spool_from(stream: BinaryIO, name: str) -> SpooledInput:
    limit = max_stream_bytes()
    fd, tmp = tempfile.mkstemp(prefix="sam-input-")
    out = SpooledInput(name, Path(tmp))
    total, checked = 0, False
    try:
        with os.fdopen(fd, "wb") as f:
            while True:
                chunk = stream.read(_SPOOL_CHUNK)
                if chunk is None:  # a non-blocking stream with nothing yet
                    continue
                if not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise AudioError(f"{name}: expected a binary stream, got text")
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise AudioError(f"{name}: more than {_size(limit)} of input (the limit for stdin, pipes "
                                     f"and devices; set ${MAX_STREAM_BYTES_ENV} to raise it)")
                f.write(chunk)
                if not checked and total >= _SPOOL_HEAD:
                    f.flush()
                    _check_head(_Source(name, path=out.path))
                    checked = True
    except OSError as e:
        out.close()
        raise AudioError(f"{name}: cannot copy the input to a temporary file ({e.strerror or e})") from None
    except BaseException:
        out.close()
        raise
    if total == 0:
        out.close()
        raise AudioError(f"{name}: no audio data (0 bytes)")
    return out


def _check_head(src: _Source) -> None:
    """Refuse a stream whose first MiB neither libsndfile nor ffmpeg reads as audio."""
    import soundfile as sf

    sf_error = ""
    if not _corrupt_mp3(src, partial=True):  # a corrupt MP3 must not reach libmpg123, which writes to stderr
        try:
            sf.SoundFile(os.fsencode(src.path)).close()
            return
        except (RuntimeError, TypeError) as e:
            sf_error = getattr(e, "error_string", None) or _first_line(e)
    _require_ffmpeg(src, sf_error.rstrip("."))
    with open(src.path, "rb") as f:
        head = f.read(12)
    if head[4:8] == b"ftyp":  # MP4 / M4A / MOV: the index may be at the end, so the head alone cannot tell
        return
    if shutil.which("ffprobe") is None or _ffprobe_info(src, head_only=True) is not None:
        return
    raise AudioError(f"{src.name}: not a readable audio file (its first MiB is no format libsndfile or ffmpeg "
                     "knows)")


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    return str(n)


@dataclass
class _Source:
    name: str  # what error messages call it
    path: Path | None = None  # a regular file on disk (or a SpooledInput's copy)...
    data: bytes | None = None  # ...or its bytes in memory
    keep: object = None  # the SpooledInput whose file `path` is, kept alive while this is in use

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()


def _resolve(source: AudioSource, name: str | None) -> _Source:
    """Turn any accepted source into a checked _Source, raising the path errors up front."""
    if isinstance(source, SpooledInput):
        src = _Source(name or source.name, path=source.path, keep=source)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        src = _Source(name or "<bytes>", data=bytes(source))
    elif hasattr(source, "read"):  # read once, in chunks, into a temporary file
        spooled = spool(source, name)
        src = _Source(spooled.name, path=spooled.path, keep=spooled)
    else:
        path = Path(source)
        src = _Source(name or str(source), path=path)
        try:
            if not path.exists():
                raise AudioError(f"{src.name}: file not found")
            if path.is_dir():
                raise AudioError(f"{src.name}: is a directory, not an audio file")
            if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or device: opened once, copied in chunks
                spooled = spool(path, src.name)
                return _Source(spooled.name, path=spooled.path, keep=spooled)
            with open(path, "rb") as f:
                if not f.read(1):
                    raise AudioError(f"{src.name}: file is empty (0 bytes)")
        except PermissionError:
            raise AudioError(f"{src.name}: permission denied") from None
        except OSError as e:
            raise AudioError(f"{src.name}: cannot read file ({e.strerror or e})") from None
    if src.data is not None and not src.data:
        raise AudioError(f"{src.name}: no audio data (0 bytes)")
    return src


def _require_ffmpeg(src: _Source, sf_error: str = "") -> None:
    if shutil.which("ffmpeg"):
        return
    if src.suffix in _SOUNDFILE_EXTENSIONS:
        # libsndfile should have read this: most likely not audio at all, or an exotic codec.
        detail = f"libsndfile: {sf_error}; " if sf_error else ""
        raise AudioError(f"{src.name}: not a readable audio file ({detail}installing ffmpeg may help)")
    raise AudioError(f"{src.name}: unsupported audio format (install ffmpeg to read it)")


class _Stream:
    src: _Source
    rate: int
    channels: int

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        """The decoded blocks, refused once they add up to more than `max_audio_seconds()`."""
        limit, total = max_audio_seconds(), 0
        for block in self._blocks(frames):
            total += len(block)
            if total > limit * self.rate:
                raise AudioError(_too_long(self.src.name, limit))
            yield block

    def _blocks(self, frames: int) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SoundFileStream(_Stream):
    def __init__(self, src: _Source, f: sf.SoundFile):
        self.src, self.f = src, f
        self.rate, self.channels = f.samplerate, f.channels

    def _blocks(self, frames: int) -> Iterator[np.ndarray]:
        # 16-bit PCM (most WAV files) is read as int16 and scaled here: the same float32 values libsndfile
        # gives (x / 32768, exact), at half the CPU time, which is what `sam batch` spends per clip.
        pcm16 = self.f.subtype == "PCM_16"
        while True:
            try:
                block = self.f.read(frames, dtype="int16" if pcm16 else "float32", always_2d=True)
            except RuntimeError as e:
                raise AudioError(f"{self.src.name}: corrupt audio data ({_first_line(e)})") from None
            if len(block) == 0:
                return
            if pcm16:
                block = block.astype(np.float32) * np.float32(1 / 32768)
            else:
                _check_finite(block, self.src)
            yield block

    def close(self) -> None:
        self.f.close()


class _FFmpegStream(_Stream):
    """ffmpeg decoding to Sun .au on a pipe: a 24-byte header (rate, channels) then big-endian float32."""

    def __init__(self, src: _Source):
        self.src = src
        self.stderr = tempfile.TemporaryFile()  # a file, not a pipe, so a chatty ffmpeg cannot block
        inp = "pipe:0" if src.data is not None else "file:" + str(src.path)  # file: keeps "-x" or "a:b" literal
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", inp, "-map", "0:a:0", "-c:a", "pcm_f32be",
               "-f", "au", "-"]  # fmt: skip
        if src.data is None:
            cmd.insert(1, "-nostdin")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if src.data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        if src.data is not None:
            # Feed stdin from a thread: writing it all first could deadlock against a full stdout pipe.
            threading.Thread(target=_feed, args=(self.proc.stdin, src.data), daemon=True).start()
        header = self._read(24)
        if len(header) < 24:
            self._fail()
        magic, offset, _, encoding, self.rate, self.channels = struct.unpack(">6I", header)
        if magic != 0x2E736E64 or encoding != 6 or self.channels < 1:  # ".snd", 6 = 32-bit IEEE float
            self.close()
            raise AudioError(f"{src.name}: unexpected output from ffmpeg")
        try:
            _check_rate(src, self.rate)
        except AudioError:
            self.close()
            raise
        self._read(offset - 24)  # skip ffmpeg's annotation field

    def _read(self, n: int) -> bytes:
        assert self.proc.stdout is not None
        return self.proc.stdout.read(n)

    def _fail(self) -> None:
        self.proc.wait()
        self.stderr.seek(0)
        lines = [ln for ln in self.stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        self.close()
        if any("matches no streams" in ln for ln in lines):  # from "-map 0:a:0"
            raise AudioError(f"{self.src.name}: has no audio stream")
        message = lines[-1].strip() if lines else f"ffmpeg exited with status {self.proc.returncode}"
        for prefix in ("pipe:0: ", "file:" + str(self.src.path) + ": "):
            message = message.removeprefix(prefix)
        shown = 5 + len(str(self.src.path))  # ffmpeg shows control characters of the name as "?"
        if message.startswith("file:") and message[shown : shown + 2] == ": ":
            message = message[shown + 2 :]
        raise AudioError(f"{self.src.name}: not a readable audio file (ffmpeg: {message})")

    def _blocks(self, frames: int) -> Iterator[np.ndarray]:
        frame_bytes = 4 * self.channels
        while True:
            chunk = self._read(frames * frame_bytes)
            whole = len(chunk) // frame_bytes * frame_bytes
            if whole == 0:
                break
            block = np.frombuffer(chunk[:whole], dtype=">f4").astype(np.float32).reshape(-1, self.channels)
            _check_finite(block, self.src)
            yield block
        if self.proc.wait() != 0:
            self._fail()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


def _feed(pipe: BinaryIO, data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass  # ffmpeg stopped reading (error or early close); its exit status tells the story
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def _open(src: _Source) -> _Stream:
    """libsndfile if it recognises the data, else ffmpeg if installed, else a clear AudioError."""
    import soundfile as sf  # imported here: fbank and windows must not need libsndfile (e.g. on a GPU box)

    if _corrupt_mp3(src):
        return _FFmpegStream(src)
    try:
        f = sf.SoundFile(_sf_target(src))
    except (RuntimeError, TypeError) as e:
        sf_error = getattr(e, "error_string", None) or _first_line(e)  # without "Error opening '<path>': "
        _require_ffmpeg(src, sf_error.rstrip("."))
        return _FFmpegStream(src)
    # libsndfile 1.2's MP3 decoder, read in blocks, garbles a frame at some block boundaries of MPEG-2 and 2.5
    # files (rates below 32 kHz) and lets libmpg123 print "error: part2_3_length ..." on stderr; ffmpeg
    # decodes them cleanly. MPEG-1 files (32-48 kHz) read cleanly in blocks.
    try:
        _check_rate(src, f.samplerate)
        if f.seekable() and f.frames > max_audio_seconds() * f.samplerate:  # the header's length, before decoding
            raise AudioError(_too_long(src.name, max_audio_seconds()))
    except AudioError:
        f.close()
        raise
    if f.format == "MP3" and f.samplerate < 32000 and shutil.which("ffmpeg"):
        f.close()
        return _FFmpegStream(src)
    return _SoundFileStream(src, f)




def _corrupt_mp3(src: _Source, partial: bool = False) -> bool:
    """True for an MP3 stream with damage that would make libmpg123 (inside libsndfile) print "Note: ..." or
    "Warning: ..." lines straight to stderr while it resyncs: ffmpeg decodes those instead (its messages are
    captured), and without ffmpeg they are refused. `partial`: only the head of the stream is there yet."""
    if src.data is not None:
        problem = _mp3_problem(src.suffix, src.data, partial)
    else:
        try:
            with open(src.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                problem = _mp3_problem(src.suffix, data, partial)
        except (OSError, ValueError):
            return False  # unreadable or unmappable: libsndfile reports it as before
    if problem is None:
        return False
    if not shutil.which("ffmpeg"):
        raise AudioError(f"{src.name}: not a readable audio file (corrupt MP3 stream: {problem}; installing ffmpeg "
                         "may help)")
    return True


def _soundfile_info(src: _Source) -> tuple[float, int, int] | None:
    import soundfile as sf

    if _corrupt_mp3(src):
        return None
    try:
        with sf.SoundFile(_sf_target(src)) as f:
            info = f.frames / f.samplerate, f.samplerate, f.channels
    except (RuntimeError, TypeError):
        return None
    _check_rate(src, info[1])
    return info


def _sf_target(src: _Source):
    # Bytes, not str: soundfile encodes a str strictly, which fails on a file name that is not UTF-8.
    return os.fsencode(src.path) if src.path is not None else io.BytesIO(src.data)


def _ffprobe_info(src: _Source, head_only: bool = False) -> tuple[float, int, int] | None:
    inp = "pipe:0" if src.data is not None else "file:" + str(src.path)
    cmd = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels,duration:format=duration", "-of", "json", inp]  # fmt: skip
    try:
        out = subprocess.run(cmd, input=src.data, capture_output=True, check=True).stdout
        probe = json.loads(out)
        stream = probe["streams"][0]
        if head_only:
            return 0.0, int(stream["sample_rate"]), int(stream["channels"])
        seconds = stream.get("duration") or probe.get("format", {}).get("duration")
        info = float(seconds), int(stream["sample_rate"]), int(stream["channels"])
    except (subprocess.CalledProcessError, OSError, ValueError, KeyError, IndexError, TypeError):
        return None  # no usable header: the caller decodes and counts
    _check_rate(src, info[1])
    return info


def _check_finite(block: np.ndarray, src: _Source) -> None:
    """Float samples: NaN, infinite, or far outside [-1, 1] (beyond MAX_FLOAT_SAMPLE) are refused."""
    peak = float(np.abs(block).max(initial=0.0))  # NaN propagates, inf stays inf
    if not math.isfinite(peak):
        raise AudioError(f"{src.name}: contains NaN or infinite samples (a corrupt float file?)")
    if peak > MAX_FLOAT_SAMPLE:
        raise AudioError(f"{src.name}: float samples reach {peak:.3g}, far outside [-1, 1] (more than "
                         f"{MAX_FLOAT_SAMPLE:g}); scale the file to [-1, 1]")


def _check_rate(src: _Source, rate: int) -> None:
    """Refuse a sample rate that is implausible or that torchaudio's resampler could not handle in bounded memory,
    before anything is resampled."""
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{src.name}: sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    g = math.gcd(rate, SAMPLE_RATE)
    orig, new = rate // g, SAMPLE_RATE // g
    width = math.ceil(6 * orig / (0.99 * min(orig, new)))
    if new * (orig + 2 * width) > MAX_RESAMPLE_KERNEL:
        raise AudioError(f"{src.name}: sample rate {rate} Hz cannot be converted to {SAMPLE_RATE} Hz in bounded "
                         f"memory (its ratio to {SAMPLE_RATE} does not reduce); resample the file first")


def _too_long(name: str, limit: float) -> str:
    return (f"{name}: longer than {limit:g} s, the limit per input (set ${MAX_AUDIO_SECONDS_ENV} to raise it)")


def _mix_down(block: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(block))
    return x[:, 0].clone() if x.shape[1] == 1 else x.mean(dim=1)


def _resample(wav: torch.Tensor, rate: int, sr: int) -> torch.Tensor:
    return wav if rate == sr else AF.resample(wav, rate, sr)  # torchaudio's defaults, as EAT


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
