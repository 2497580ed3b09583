"""Microphone input: one-shot recording (`--mic`) and rolling chunks for live captions (`sam listen`).

Everything goes through `sounddevice` (PortAudio), the optional extra `mic`. It is imported lazily, inside
the functions, because importing it raises OSError on machines without the PortAudio library and the rest
of `sam` must work there. All results are what the model wants: 1-D float32 mono tensors at 16 kHz.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torchaudio.functional as AF

from sam_cli.errors import AudioError, UsageError

SAMPLE_RATE = 16000
# Callback block length for streaming: short enough for low latency, long enough to keep Python's
# per-callback overhead negligible.
_BLOCK_SECONDS = 0.05
# A stream that delivers nothing for this long is dead (unplugged, or a device that opens but never runs).
_STALL_SECONDS = 5.0
# Rates tried when the device refuses the one asked for; its own default rate goes first.
_COMMON_RATES = (48000, 44100, 32000, 22050)
_GAP = None  # queue marker: audio was lost here, so the next chunk must not straddle it


def _sounddevice() -> Any:
    """Import sounddevice, turning each way it can fail into a one-line AudioError."""
    try:
        import sounddevice as sd
    except ImportError:
        raise AudioError("microphone input needs the sounddevice package: install the mic extra: "
                         "pip install 'sam-cli[mic]'") from None
    except OSError:  # sounddevice's import raises this when libportaudio cannot be found or loaded
        message = "PortAudio is not installed (apt install libportaudio2) — needed for microphone input"
        raise AudioError(message) from None
    except Exception as e:  # PortAudio present but Pa_Initialize failed
        raise AudioError(f"cannot initialise PortAudio: {e}") from None
    return sd


def _input_devices(sd: Any) -> list[dict[str, Any]]:
    return [dict(d) for d in sd.query_devices() if d["max_input_channels"] > 0]


def _default_input_index(sd: Any) -> int | None:
    try:
        return int(sd.query_devices(kind="input")["index"])
    except Exception:  # PortAudio has no default input (Pa_GetDefaultInputDevice() == -1)
        return None


def _resolve_device(sd: Any, device: str | int | None) -> dict[str, Any]:
    """The PortAudio device info of `device` (None: the default input), or a one-line AudioError."""
    inputs = _input_devices(sd)
    if not inputs:
        raise AudioError("no microphone found (no audio input device is available)")
    if device is None:
        index = _default_input_index(sd)
        # Without a host default, the first input is the only sensible guess.
        return dict(sd.query_devices(index)) if index is not None else inputs[0]
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)  # the CLI hands over "3" for index 3
    available = "; ".join(f"{d['index']}: {d['name']}" for d in inputs)
    try:
        return dict(sd.query_devices(device, kind="input"))
    except ValueError as e:
        if str(e).startswith("Multiple"):
            raise AudioError(f"microphone name {device!r} is ambiguous; give its index ({available})") from None
        raise AudioError(f"unknown microphone {device!r}; available: {available}") from None
    except sd.PortAudioError:  # an index PortAudio does not know
        raise AudioError(f"unknown microphone {device!r}; available: {available}") from None


def _capture_settings(sd: Any, info: dict[str, Any], samplerate: int) -> tuple[int, int]:
    """(rate, channels) to open the device with: `samplerate` if it accepts it, else a rate it does."""
    # Two channels where there are two: averaging them is a better mono than PortAudio's "first channel".
    channels = min(2, int(info["max_input_channels"]))
    rates = dict.fromkeys([samplerate, int(info["default_samplerate"]), *_COMMON_RATES])
    for rate in rates:
        try:
            sd.check_input_settings(device=info["index"], channels=channels, dtype="float32", samplerate=rate)
            return rate, channels
        except Exception:  # PortAudioError ("Invalid sample rate") or ValueError
            continue
    raise AudioError(f"microphone {info['name']!r} accepts none of the sample rates "
                     f"{', '.join(map(str, rates))} Hz")


def _to_mono(frames: np.ndarray, rate: int, samplerate: int, length: int) -> torch.Tensor:
    """(n, channels) float32 at `rate` → 1-D float32 of exactly `length` samples at `samplerate`."""
    wav = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).mean(dim=1)
    if rate != samplerate:
        wav = AF.resample(wav, rate, samplerate)
    # Resampling rounds the length up; pin it so callers get exactly seconds × samplerate.
    if wav.numel() >= length:
        return wav[:length].contiguous()
    return torch.cat([wav, wav.new_zeros(length - wav.numel())])


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise UsageError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


def list_input_devices() -> list[dict[str, Any]]:
    """Every input device: name, index, channels, default_samplerate, hostapi, is_default."""
    sd = _sounddevice()
    default = _default_input_index(sd)
    return [{
        "name": d["name"],
        "index": int(d["index"]),
        "channels": int(d["max_input_channels"]),
        "default_samplerate": float(d["default_samplerate"]),
        "hostapi": sd.query_hostapis(d["hostapi"])["name"],
        "is_default": d["index"] == default,
    } for d in _input_devices(sd)]


def check_microphone(device: str | int | None = None) -> None:
    """Raise AudioError unless `device` (None: the default input) can be recorded from."""
    sd = _sounddevice()
    _capture_settings(sd, _resolve_device(sd, device), SAMPLE_RATE)


def record(seconds: float, *, samplerate: int = SAMPLE_RATE, device: str | int | None = None) -> torch.Tensor:
    """Record `seconds` from the microphone: 1-D float32 mono at `samplerate` (default 16 kHz)."""
    seconds = _positive("recording length", seconds)
    sd = _sounddevice()
    info = _resolve_device(sd, device)
    rate, channels = _capture_settings(sd, info, samplerate)

    frames = max(1, round(seconds * rate))
    buf = np.zeros((frames, channels), dtype=np.float32)
    filled = 0
    done = threading.Event()

    def callback(indata: np.ndarray, n: int, _time: Any, _status: Any) -> None:
        nonlocal filled
        take = min(n, frames - filled)
        buf[filled:filled + take] = indata[:take]
        filled += take
        if filled >= frames:
            raise sd.CallbackStop

    stream = _open(sd, info, callback=callback, samplerate=rate, channels=channels, finished_callback=done.set)
    try:  # not `with stream:`, whose __enter__ (start) can be interrupted before __exit__ is armed
        stream.start()
        seen, since = 0, time.monotonic()
        # Wait in short steps (not done.wait()) so a stalled device becomes an error, not a hang.
        while not done.wait(0.1):
            if filled != seen:
                seen, since = filled, time.monotonic()
            elif time.monotonic() - since > _STALL_SECONDS:
                raise AudioError(f"microphone {info['name']!r} stopped delivering audio")
    finally:
        stream.close(ignore_errors=True)
    if filled < frames:  # PortAudio ended the stream early (device error): never pad with silence
        raise AudioError(f"microphone {info['name']!r} stopped delivering audio")
    return _to_mono(buf, rate, samplerate, max(1, round(seconds * samplerate)))


def stream_chunks(chunk_seconds: float, *, samplerate: int = SAMPLE_RATE, device: str | int | None = None,
                  hop_seconds: float | None = None) -> Iterator[torch.Tensor]:
    """Rolling chunks from the microphone, until the caller stops iterating.

    Yields 1-D float32 mono tensors of `chunk_seconds` at `samplerate`, one every `hop_seconds` of audio
    (default: `chunk_seconds`, i.e. back to back; smaller overlaps, larger skips). Device problems raise
    here, at the call; the stream opens on the first `next()` and is closed on every way out: the
    generator closed or garbage-collected, an error, or KeyboardInterrupt (Ctrl-C) arriving while it
    waits for audio — the interrupt then propagates as usual. If the consumer falls more than a few
    seconds behind real time, audio is dropped rather than queued without bound, and the next chunk
    starts fresh after the gap, so a chunk never splices non-adjacent audio.
    """
    chunk_seconds = _positive("chunk length", chunk_seconds)
    hop_seconds = chunk_seconds if hop_seconds is None else _positive("hop length", hop_seconds)
    sd = _sounddevice()
    info = _resolve_device(sd, device)
    rate, channels = _capture_settings(sd, info, samplerate)
    return _stream(sd, info, rate, channels, samplerate, chunk_seconds, hop_seconds)


def _stream(sd: Any, info: dict[str, Any], rate: int, channels: int, samplerate: int,
            chunk_seconds: float, hop_seconds: float) -> Iterator[torch.Tensor]:
    chunk_n = max(1, round(chunk_seconds * rate))
    hop_n = max(1, round(hop_seconds * rate))
    out_n = max(1, round(chunk_seconds * samplerate))
    blocksize = max(1, round(rate * _BLOCK_SECONDS))
    # Bound the backlog: a live caption seconds late is useful, one minutes late is not.
    backlog_seconds = chunk_seconds + hop_seconds + 2.0
    blocks: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=math.ceil(backlog_seconds / _BLOCK_SECONDS))
    dropped = False  # touched only by the callback thread

    def callback(indata: np.ndarray, _n: int, _time: Any, status: Any) -> None:
        nonlocal dropped
        dropped = dropped or bool(status.input_overflow)  # PortAudio lost samples before we saw them
        try:
            if dropped:
                blocks.put_nowait(_GAP)
                dropped = False
            blocks.put_nowait(indata.copy())  # PortAudio reuses indata's memory
        except queue.Full:
            dropped = True

    stream = _open(sd, info, callback=callback, samplerate=rate, channels=channels, blocksize=blocksize)
    pending: list[np.ndarray] = []
    have = 0  # frames in pending
    skip = 0  # frames still to discard when hop_seconds > chunk_seconds
    try:  # close on every exit: generator close, Ctrl-C (even inside start()), errors
        stream.start()
        last = time.monotonic()
        while True:
            try:
                block = blocks.get(timeout=0.1)  # a timeout keeps Ctrl-C and stall checks responsive
            except queue.Empty:
                if time.monotonic() - last > _STALL_SECONDS or not stream.active:
                    raise AudioError(f"microphone {info['name']!r} stopped delivering audio") from None
                continue
            last = time.monotonic()
            if block is _GAP:
                pending, have, skip = [], 0, 0
                continue
            if skip:
                cut = min(skip, len(block))
                block, skip = block[cut:], skip - cut
            if len(block) == 0:
                continue
            pending.append(block)
            have += len(block)
            while have >= chunk_n:
                audio = np.concatenate(pending)
                yield _to_mono(audio[:chunk_n], rate, samplerate, out_n)
                last = time.monotonic()  # the consumer's own time is not a stall
                rest = audio[hop_n:]
                skip = max(0, hop_n - len(audio))
                pending, have = ([rest] if len(rest) else []), len(rest)
    finally:
        # sounddevice streams have no finaliser: one dropped unclosed keeps PortAudio calling a freed
        # callback, which crashes the process.
        stream.close(ignore_errors=True)


def _open(sd: Any, info: dict[str, Any], **kwargs: Any) -> Any:
    try:
        return sd.InputStream(device=info["index"], dtype="float32", **kwargs)
    except Exception as e:
        raise AudioError(f"cannot open microphone {info['name']!r}: {e}") from None
