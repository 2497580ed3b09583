"""Microphone tests through real PortAudio devices (no fake sounddevice).

Two device setups, built once per module under a temporary folder:

* ALSA: a private ALSA config (ALSA_CONFIG_PATH, so neither ~/.asoundrc nor the system config is read)
  whose `default` PCM is alsa-lib's `file` plugin over a `null` slave. Capture reads its samples from a
  raw float32 stereo file we write, so a recording must equal that file sample for sample. The null PCM
  has no clock: recordings take milliseconds. Needs only libportaudio2 (and libasound2, its dependency).
* JACK: a private jackd (dummy backend, 48 kHz, real-time clocked) that, like many real devices, refuses
  16 kHz; jack_simple_client's two sines (240 Hz left, 720 Hz right at 48 kHz) are patched into our
  input ports with jack_connect. Needs jackd2; these tests skip, saying so, without jackd.

Set SAM_TEST_REQUIRE_DEVICES=1 (CI does) to make a missing device setup fail instead of skip.
PortAudio enumerates devices only when it initialises, so the fixture re-initialises it after setting
the environment, and again on the way out.
"""

from __future__ import annotations

import ctypes
import inspect
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conftest import need_system
from helpers import alsa_config
from sam_cli.audio import mic
from sam_cli.errors import AudioError, UsageError

REPO = Path(__file__).resolve().parents[1]
JACK_RATE = 48000
TONE_LEFT_HZ, TONE_RIGHT_HZ, TONE_AMPLITUDE = 240.0, 720.0, 0.2  # jack_simple_client at 48 kHz
ENV_KEYS = ("ALSA_CONFIG_PATH", "JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER", "JACK_NO_AUDIO_RESERVATION")


@dataclass
class Devices:
    sd: Any
    ref_stereo: np.ndarray  # (n, 2) float32: what the ALSA device delivers
    jack_skip: str | None  # why the JACK device is missing, or None

    @property
    def ref_mono(self) -> np.ndarray:
        return self.ref_stereo.mean(axis=1, dtype=np.float32)

    def need_jack(self) -> None:
        if self.jack_skip:
            _skip(self.jack_skip)


def _skip(reason: str) -> None:
    # CI sets SAM_TEST_REQUIRE_DEVICES=1 so that a broken device setup fails instead of skipping quietly.
    if os.environ.get("SAM_TEST_REQUIRE_DEVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _jack(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=10).stdout


def _wait_for_port(port: str, proc: subprocess.Popen, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if port in _jack("jack_lsp").split():
            return True
        time.sleep(0.1)
    return False


def _die_with_parent(sig: int) -> Any:
    """preexec_fn: if pytest itself dies (a crash skips fixture teardown), take the child with it."""
    return lambda: ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # 1 = PR_SET_PDEATHSIG


def _start_jack(folder: Path) -> tuple[list[subprocess.Popen], str | None]:
    """Start jackd (dummy backend) and the sine client; return the processes and a skip reason."""
    if not (shutil.which("jackd") and shutil.which("jack_simple_client") and shutil.which("jack_connect")):
        return [], "JACK device unavailable: jackd2 is not installed (apt install jackd2)"
    with open(folder / "jackd.log", "wb") as log:  # the children keep their own copies of the fd
        return _spawn_jack(folder, log)


def _spawn_jack(folder: Path, log: Any) -> tuple[list[subprocess.Popen], str | None]:
    server = ["jackd", "--no-realtime", "--port-max", "64", "-n", os.environ["JACK_DEFAULT_SERVER"]]
    backend = ["-d", "dummy", "-r", str(JACK_RATE), "-p", "1024", "-C", "2", "-P", "2"]
    jackd = subprocess.Popen(server + backend, stdout=log, stderr=log, preexec_fn=_die_with_parent(signal.SIGTERM))
    if not _wait_for_port("system:capture_1", jackd):
        jackd.kill()
        return [], f"JACK device unavailable: jackd did not start (see {folder / 'jackd.log'})"
    # SIGKILL: the client's own SIGTERM handler can hang once its server is gone.
    tone = subprocess.Popen(["jack_simple_client", "samtone"], stdout=log, stderr=log,
                            preexec_fn=_die_with_parent(signal.SIGKILL))
    if not _wait_for_port("samtone:output1", tone):
        tone.kill()
        jackd.kill()
        return [], "JACK device unavailable: jack_simple_client did not start"
    return [tone, jackd], None


@pytest.fixture(scope="module")
def devices(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("mic")
    ref = alsa_config(folder)
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    os.environ.update(ALSA_CONFIG_PATH=str(folder / "asound.conf"), JACK_NO_START_SERVER="1",
                      JACK_DEFAULT_SERVER=f"samtest{os.getpid()}", JACK_NO_AUDIO_RESERVATION="1")
    procs, jack_skip = _start_jack(folder)
    try:
        try:
            import sounddevice as sd
        except ImportError:
            _skip("sounddevice is not installed (pip install 'sam-cli[test]')")
        except OSError:
            _skip("PortAudio is not installed (apt install libportaudio2)")
        sd._terminate()  # re-enumerate devices with the environment above
        sd._initialize()
        yield Devices(sd, ref, jack_skip)
    finally:
        sd = sys.modules.get("sounddevice")
        if sd is not None:
            sd._terminate()  # leave JACK before its server goes
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if sd is not None:
            os.environ.setdefault("JACK_NO_START_SERVER", "1")  # never let libjack spawn a server
            sd._initialize()
            if saved["JACK_NO_START_SERVER"] is None:
                os.environ.pop("JACK_NO_START_SERVER")


def _portaudio_ports() -> dict[int, str]:
    """Our open stream's JACK input ports, by channel number."""
    ports = {}
    for name in _jack("jack_lsp").split():
        m = re.fullmatch(r"PortAudio[^:]*:in_(\d+)", name)
        if m:
            ports[int(m.group(1))] = name
    return ports


class TonePatcherThread(threading.Thread):
    """Connects the sines to our input ports (left → channel 0, right → 1) as soon as a stream opens them."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.connected = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ports = _portaudio_ports()
            if len(ports) >= 2:
                first, second = sorted(ports)[:2]  # PortAudio numbers ports on, stream after stream
                _jack("jack_connect", "samtone:output1", ports[first])
                _jack("jack_connect", "samtone:output2", ports[second])
                self.connected.set()
                return
            time.sleep(0.01)


def _amplitude_at(x: np.ndarray, hz: float, rate: int = mic.SAMPLE_RATE) -> float:
    """Amplitude of the sinusoid at `hz` in x (Hann-windowed FFT peak, corrected for the window gain)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = round(hz * len(x) / rate)
    return float(spectrum[k - 2:k + 3].max() * 2 / np.hanning(len(x)).sum())


# --- ALSA file device: exact samples -----------------------------------------------------------------------

def test_list_input_devices(devices: Devices) -> None:
    found = {d["name"]: d for d in mic.list_input_devices()}
    assert found["default"]["hostapi"] == "ALSA" and found["default"]["is_default"]
    assert found["default"]["channels"] >= 2 and isinstance(found["default"]["index"], int)
    if not devices.jack_skip:
        assert found["system"]["channels"] == 2 and found["system"]["default_samplerate"] == JACK_RATE
        assert not found["system"]["is_default"]


def test_record_returns_the_device_samples_averaged_to_mono(devices: Devices) -> None:
    wav = mic.record(1.5)
    assert wav.dtype == torch.float32 and wav.shape == (int(1.5 * mic.SAMPLE_RATE),)
    # The device delivers the file verbatim; record() must average L and R, nothing more.
    np.testing.assert_allclose(wav.numpy(), devices.ref_mono[:len(wav)], atol=1e-7)


def test_record_by_name_and_index(devices: Devices) -> None:
    index = next(d["index"] for d in mic.list_input_devices() if d["name"] == "default")
    for device in ("default", index, str(index)):
        wav = mic.record(0.25, device=device)
        np.testing.assert_allclose(wav.numpy(), devices.ref_mono[:4000], atol=1e-7)


def test_stream_chunks_overlap_by_hop(devices: Devices) -> None:
    chunks = mic.stream_chunks(0.5, hop_seconds=0.25)
    got = [next(chunks) for _ in range(3)]
    chunks.close()
    assert inspect.getgeneratorstate(chunks) == inspect.GEN_CLOSED
    # The backlog (several seconds) fills in one go on this unclocked device, so the first chunks are
    # contiguous: chunk k starts k hops into the signal.
    for k, chunk in enumerate(got):
        assert chunk.dtype == torch.float32 and chunk.shape == (8000,)
        np.testing.assert_allclose(chunk.numpy(), devices.ref_mono[4000 * k:4000 * k + 8000], atol=1e-7)


def test_stream_chunks_hop_longer_than_chunk_skips_audio(devices: Devices) -> None:
    chunks = mic.stream_chunks(0.25, hop_seconds=0.5)
    got = [next(chunks).numpy() for _ in range(2)]
    chunks.close()
    np.testing.assert_allclose(got[1], devices.ref_mono[8000:12000], atol=1e-7)


# --- JACK: a clocked device that refuses 16 kHz ------------------------------------------------------------

def test_jack_device_really_refuses_16k(devices: Devices) -> None:
    devices.need_jack()
    with pytest.raises(devices.sd.PortAudioError):
        devices.sd.check_input_settings(device="system", samplerate=16000, channels=2, dtype="float32")
    mic.check_microphone("system")  # but sam can use it, at 48 kHz


def test_record_resamples_when_16k_is_refused(devices: Devices) -> None:
    devices.need_jack()
    patcher = TonePatcherThread()
    patcher.start()
    start = time.monotonic()
    wav = mic.record(1.0, device="system").numpy()
    elapsed = time.monotonic() - start
    patcher.join()
    assert patcher.connected.is_set()
    assert wav.dtype == np.float32 and wav.shape == (16000,)
    assert 0.9 < elapsed < 5  # a clocked device: one second of audio takes about a second
    # Mono = mean of the two channels, each carrying its own sine: both at half their amplitude.
    # The patch lands shortly after the stream opens, so look at the second half.
    tail = wav[8000:]
    assert _amplitude_at(tail, TONE_LEFT_HZ) == pytest.approx(TONE_AMPLITUDE / 2, rel=0.1)
    assert _amplitude_at(tail, TONE_RIGHT_HZ) == pytest.approx(TONE_AMPLITUDE / 2, rel=0.1)
    assert _amplitude_at(tail, 1000.0) < 0.005  # and nothing else (a wrong rate would move the peaks)


def test_stream_chunks_live_from_clocked_device(devices: Devices) -> None:
    devices.need_jack()

    def capture() -> list[np.ndarray]:
        patcher = TonePatcherThread()
        patcher.start()
        chunks = mic.stream_chunks(0.5, hop_seconds=0.25, device="system")
        start = time.monotonic()
        got = [next(chunks).numpy() for _ in range(4)]
        elapsed = time.monotonic() - start
        assert _portaudio_ports(), "stream should be open while iterating"
        chunks.close()
        assert not _portaudio_ports(), "closing the generator must close the stream"
        patcher.join()
        assert all(c.shape == (8000,) and c.dtype == np.float32 for c in got)
        assert 1.0 < elapsed < 6  # 0.5 s + 3 hops of 0.25 s of real time
        assert _amplitude_at(got[-1], TONE_LEFT_HZ) == pytest.approx(TONE_AMPLITUDE / 2, rel=0.1)
        return got

    def overlaps_match(got: list[np.ndarray]) -> bool:
        # Consecutive chunks overlap by chunk − hop; each chunk is resampled on its own, so compare the
        # overlap away from the edges, where the resampling filter sees the same neighbourhood.
        return all(np.allclose(a[4000 + 64:-64], b[64:4000 - 64], atol=1e-4, rtol=0) for a, b in zip(got, got[1:]))

    # On a busy machine PortAudio can lose input (an overflow); the chunk after such a gap starts afresh by
    # design and does not overlap the one before. So: overlapping chunks in at least one of three captures.
    tries = [overlaps_match(capture())]
    while not tries[-1] and len(tries) < 3:
        tries.append(overlaps_match(capture()))
    assert tries[-1], f"consecutive chunks never overlapped in {len(tries)} captures"


def test_ctrl_c_while_waiting_closes_the_stream(devices: Devices) -> None:
    devices.need_jack()
    import _thread

    chunks = mic.stream_chunks(5.0, device="system")  # long chunk: we interrupt while it is waiting
    main = threading.main_thread().ident

    def interrupt_when_waiting() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            frame = sys._current_frames().get(main)
            names = set()
            while frame is not None:
                names.add(frame.f_code.co_name)
                frame = frame.f_back
            if {"_stream", "get"} <= names:  # in blocks.get(), i.e. the stream runs and we wait
                _thread.interrupt_main()
                return
            time.sleep(0.01)

    threading.Thread(target=interrupt_when_waiting, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        next(chunks)
    assert inspect.getgeneratorstate(chunks) == inspect.GEN_CLOSED
    assert not _portaudio_ports(), "Ctrl-C must close the stream"


# --- errors ----------------------------------------------------------------------------------------------

def test_unknown_device_name_and_index(devices: Devices) -> None:
    with pytest.raises(AudioError, match=r"unknown microphone 'no-such-mic'; available: \d+: default"):
        mic.check_microphone("no-such-mic")
    with pytest.raises(AudioError, match="unknown microphone 999"):
        mic.record(0.1, device=999)
    with pytest.raises(AudioError, match="unknown microphone"):
        mic.stream_chunks(1.0, device="no-such-mic")  # raised at the call, not at the first next()


def test_bad_lengths_are_usage_errors(devices: Devices) -> None:
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(UsageError):
            mic.record(bad)
    with pytest.raises(UsageError):
        mic.stream_chunks(1.0, hop_seconds=0)


def test_sounddevice_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # makes `import sounddevice` raise ImportError
    with pytest.raises(AudioError, match=r"install the mic extra: pip install 'sam-cli\[mic\]'"):
        mic.check_microphone()


def _run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


CHECK = ("from sam_cli.audio import mic\nfrom sam_cli.errors import AudioError\n"
         "try:\n    mic.check_microphone()\nexcept AudioError as e:\n    print('AudioError:', e)\n"
         "else:\n    print('ok')\n")


def test_portaudio_unloadable(tmp_path: Path) -> None:
    # A broken libportaudio.so.2 first on the loader's path: dlopen fails exactly as on a machine
    # where the library is missing or damaged.
    (tmp_path / "libportaudio.so.2").write_bytes(b"not a shared library")
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path))
    out = _run_python(CHECK, env)
    assert out.stdout.strip() == ("AudioError: PortAudio is not installed (apt install libportaudio2) — "
                                  "needed for microphone input"), out.stderr


def test_no_microphone(tmp_path: Path) -> None:
    need_system("portaudio")
    # A fresh machine without a sound card: ALSA's default PCM points at a card that is not there, and
    # there is no JACK server. (An ALSA config without any PCM makes PortAudio abort, so not that.)
    (tmp_path / "empty.conf").write_text("pcm.!default { type hw card 99 }\n")
    env = dict(os.environ, ALSA_CONFIG_PATH=str(tmp_path / "empty.conf"), JACK_NO_START_SERVER="1",
               JACK_DEFAULT_SERVER="sam-no-such-server")
    out = _run_python(CHECK + "import sounddevice as sd\nprint(len(sd.query_devices()))\n", env)
    lines = out.stdout.split("\n")
    assert len(lines) == 3, out.stderr
    if lines[1] != "0":  # a dev machine's sound card shows up without any config
        pytest.skip("this machine has a sound card, so 'no microphone' cannot be staged")
    assert lines[0] == "AudioError: no microphone found (no audio input device is available)", out.stderr

