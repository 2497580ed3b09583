"""The audio front end: decoding, windows and EAT's fbank features (docs/design.md §2, §3)."""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from conftest import SYSTEM_NEEDS

from sam_cli import audio
from sam_cli.audio import load as audio_load
from sam_cli.audio import fbank, iter_windows, load_audio, split_windows
from sam_cli.errors import AudioError

HAVE_FFMPEG = shutil.which("ffmpeg") is not None
HAVE_MP3 = "MP3" in sf.available_formats()
PAD_VALUE = float((torch.zeros(()) - (-4.268)) / (2 * 4.569))  # computed in float32, as the features are


def kaldi_reference(wav: torch.Tensor, target_length: int = 1024) -> torch.Tensor:
    """docs/design.md §3 written out literally, as EAT's own preprocessing does it."""
    wav = wav - wav.mean()
    mel = torchaudio.compliance.kaldi.fbank(
        wav[None], htk_compat=True, sample_frequency=16000, use_energy=False, window_type="hanning",
        num_mel_bins=128, dither=0.0, frame_shift=10,
    )  # fmt: skip
    n = mel.shape[0]
    mel = torch.nn.functional.pad(mel, (0, 0, 0, target_length - n)) if n < target_length else mel[:target_length]
    return (mel - (-4.268)) / (4.569 * 2)


def noise(seconds: float, sr: int = 16000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(int(seconds * sr), generator=g) + 0.05  # with a DC offset fbank must remove


def test_constants_are_eats():
    assert (audio.SAMPLE_RATE, audio.TARGET_LENGTH, audio.NUM_MEL_BINS) == (16000, 1024, 128)
    assert (audio.FBANK_MEAN, audio.FBANK_STD, audio.WINDOW_SECONDS) == (-4.268, 4.569, 10.24)


# ---------------------------------------------------------------------------------------------------------
# fbank


def test_fbank_matches_kaldi_reference_and_pads_before_normalising():
    wav = noise(10.0)
    feats = fbank(wav)
    assert feats.shape == (1024, 128) and feats.dtype == torch.float32
    torch.testing.assert_close(feats, kaldi_reference(wav), rtol=0, atol=0)
    # 10.0 s gives 998 real frames, then zero rows that were normalised like any other value.
    real = torchaudio.compliance.kaldi.fbank((wav - wav.mean())[None], htk_compat=True, sample_frequency=16000,
                                             use_energy=False, window_type="hanning", num_mel_bins=128,
                                             dither=0.0, frame_shift=10)  # fmt: skip
    assert real.shape[0] == 998
    assert torch.all(feats[998:] == PAD_VALUE)
    assert not torch.isclose(feats[:998], torch.tensor(PAD_VALUE)).any()


def test_fbank_removes_the_clip_mean():
    wav = noise(2.0)
    torch.testing.assert_close(fbank(wav), fbank(wav + 0.3), rtol=0, atol=1e-4)


def test_fbank_crops_to_the_first_frames():
    wav = noise(12.0)
    feats = fbank(wav)
    assert feats.shape == (1024, 128)
    torch.testing.assert_close(feats, kaldi_reference(wav), rtol=0, atol=0)
    # The first frames of the whole clip, not of the last 10.24 s.
    torch.testing.assert_close(feats[:100], kaldi_reference(wav[:32000])[:100], rtol=0, atol=1e-4)
    assert not torch.allclose(feats[-100:], kaldi_reference(wav[-163840:])[-100:], atol=1e-2)


@pytest.mark.parametrize("n", [0, 1, 100, 399, 400])
def test_fbank_of_very_short_audio_has_one_frame(n):
    feats = fbank(noise(1.0)[:n])
    assert feats.shape == (1024, 128)
    assert torch.isfinite(feats).all()
    assert torch.all(feats[1:] == PAD_VALUE)


def test_fbank_batch_and_target_length():
    wavs = [noise(1.0, seed=1), noise(3.0, seed=2)]
    batch = audio.fbank_batch(wavs, target_length=256)
    assert batch.shape == (2, 1, 256, 128)
    torch.testing.assert_close(batch[1, 0], fbank(wavs[1], 256), rtol=0, atol=0)
    assert fbank(wavs[0][None]).shape == (1024, 128)  # a [1, N] waveform is accepted too


# ---------------------------------------------------------------------------------------------------------
# Decoding


def _band_limited_signal(rate: int, seconds: float, fmax: float, seed: int = 0) -> np.ndarray:
    """A chirp plus noise, defined in continuous time, sampled at `rate`: the same sound at every rate.

    The noise is a random Fourier series (period `seconds`) with components in 50 Hz..fmax only, so
    sampling it at 44.1 kHz or at 16 kHz gives exactly the same band-limited signal.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    freqs = np.arange(int(fmax * seconds) + 1) / seconds
    coef = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * (freqs > 50)
    spectrum = np.zeros(n // 2 + 1, complex)
    spectrum[: len(coef)] = coef
    series = np.fft.irfft(spectrum, n) * n
    series *= 0.1 / np.sqrt(np.sum(np.abs(coef) ** 2) * 2)  # rms 0.1 whatever the rate
    chirp = 0.3 * np.sin(2 * np.pi * (100 * t + (fmax - 500 - 100) * t**2 / (2 * seconds)))
    return chirp + series


def test_44k_stereo_matches_16k_mono(tmp_path):
    seconds, fmax = 4.0, 5500.0
    s44 = _band_limited_signal(44100, seconds, fmax)
    side = 0.2 * np.sin(2 * np.pi * 440 * np.arange(len(s44)) / 44100)  # cancels in the channel average
    sf.write(tmp_path / "stereo44.wav", np.stack([s44 + side, s44 - side], axis=1), 44100, subtype="PCM_16")
    sf.write(tmp_path / "mono16.wav", _band_limited_signal(16000, seconds, fmax), 16000, subtype="PCM_16")

    a, b = load_audio(tmp_path / "stereo44.wav"), load_audio(tmp_path / "mono16.wav")
    assert a.shape == b.shape == (64000,) and a.dtype == torch.float32
    diff = (fbank(a) - fbank(b)).abs()[:398]  # 4 s = 398 real frames
    # Mel bins wholly below fmax hold the signal; above it both files hold only 16-bit quantisation noise
    # and resampler leakage, whose logs differ legitimately. In band, what remains is the resampler's
    # passband ripple and PCM rounding: ~0.002 in normalised units (~0.06 dB); allow 0.005 (~0.2 dB).
    mel = lambda f: 1127 * np.log1p(f / 700)  # noqa: E731  (HTK mel scale, as Kaldi with htk_compat)
    upper_edges = 700 * np.expm1(np.linspace(mel(20), mel(8000), 130)[2:] / 1127)
    in_band = torch.from_numpy(upper_edges < fmax)
    assert in_band.sum() > 100
    assert diff[:, in_band].max() < 5e-3
    assert diff.mean() < 0.02


def test_flac_and_ogg_round_trip(tmp_path):
    wav = torch.from_numpy(_band_limited_signal(16000, 2.0, 5000.0)).float()
    audio.write_audio(tmp_path / "x.flac", wav)
    audio.write_audio(tmp_path / "x.ogg", wav)
    flac = load_audio(tmp_path / "x.flac")
    torch.testing.assert_close(flac, wav, rtol=0, atol=1 / 32768)  # lossless up to 16-bit rounding
    ogg = load_audio(tmp_path / "x.ogg")
    assert ogg.shape == wav.shape
    assert torch.corrcoef(torch.stack([ogg, wav]))[0, 1] > 0.95  # lossy, but the same waveform


def _dominant_frequency(wav: torch.Tensor, sr: int = 16000) -> float:
    spectrum = torch.fft.rfft(wav).abs()
    return float(spectrum.argmax()) * sr / len(wav)


@pytest.mark.skipif(not HAVE_MP3, reason="this libsndfile has no MP3 support")
@pytest.mark.parametrize("ext,subtype", [("wav", "PCM_16"), ("flac", "PCM_16"), ("wav", "PCM_24"), ("wav", "FLOAT")])
def test_samples_are_libsndfiles_float32_values(tmp_path, ext, subtype):
    # 16-bit PCM takes a faster read (int16, scaled by us): it must give exactly libsndfile's own floats,
    # extremes included; other encodings are read as float32 directly.
    rng = np.random.default_rng(0)
    ints = rng.integers(-32768, 32768, size=(40000, 2), dtype=np.int16)
    ints[:4] = [[-32768, 32767], [32767, -32768], [0, -1], [1, 0]]
    path = tmp_path / f"x.{ext}"
    sf.write(path, ints, 16000, subtype=subtype)
    want = torch.from_numpy(sf.read(path, dtype="float32", always_2d=True)[0]).mean(dim=1)
    got = torch.cat([w.samples for w in iter_windows(path)])
    assert torch.equal(got, want)
    assert torch.equal(load_audio(path), want)


def test_mp3_via_soundfile(tmp_path):
    t = np.arange(3 * 44100) / 44100
    sf.write(tmp_path / "tone.mp3", 0.5 * np.sin(2 * np.pi * 1000 * t), 44100)
    wav = load_audio(tmp_path / "tone.mp3")
    assert abs(len(wav) - 48000) < 2000  # codec delay and padding
    assert abs(_dominant_frequency(wav) - 1000) < 5


@pytest.mark.skipif(not HAVE_FFMPEG, reason=SYSTEM_NEEDS["ffmpeg"])
@pytest.mark.parametrize("rate", [16000, 22050])
def test_low_rate_mp3_streams_without_decoder_errors(tmp_path, rate):
    """libsndfile's MP3 decoder, read in blocks, garbled a frame at some block boundaries of 16-24 kHz
    (MPEG-2) files, and libmpg123 printed "error: part2_3_length ..." on stderr for each (C code: only a
    separate process's stderr shows it)."""
    wav = tmp_path / "voice.wav"
    t = np.arange(30 * rate) / rate
    sf.write(wav, 0.3 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 0.5 * t), rate)
    mp3 = tmp_path / "voice.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), str(mp3)], check=True)
    code = ("import sys; from sam_cli.audio import iter_windows, load_audio; w = list(iter_windows(sys.argv[1])); "
            "print(len(w), sum(x.samples.numel() for x in w), load_audio(sys.argv[1]).numel())")
    p = subprocess.run([sys.executable, "-c", code, str(mp3)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "error" not in p.stderr, p.stderr
    windows, streamed, whole = map(int, p.stdout.split())
    assert windows == 3 and streamed == whole and abs(whole - 480000) < 3000, p.stdout


def test_bytes_and_file_objects(tmp_path):
    path = tmp_path / "clip.flac"
    sf.write(path, _band_limited_signal(22050, 1.5, 5000.0), 22050)
    ref = load_audio(path)
    assert ref.shape == (24000,)
    torch.testing.assert_close(load_audio(path.read_bytes()), ref, rtol=0, atol=0)
    with open(path, "rb") as f:
        torch.testing.assert_close(load_audio(f), ref, rtol=0, atol=0)
    torch.testing.assert_close(load_audio(io.BytesIO(path.read_bytes())), ref, rtol=0, atol=0)
    torch.testing.assert_close(load_audio(str(path), sr=22050), load_audio(path, 22050), rtol=0, atol=0)


def test_channels_are_averaged(tmp_path):
    left, right = np.full(800, 0.5), np.full(800, -0.25)
    sf.write(tmp_path / "lr.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    torch.testing.assert_close(load_audio(tmp_path / "lr.wav"), torch.full((800,), 0.125), rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------------------
# Bad inputs


def _raises(source, *phrases: str, name: str | None = None) -> str:
    with pytest.raises(AudioError) as info:
        load_audio(source)
    message = str(info.value)
    assert "\n" not in message
    for phrase in (name, *phrases):
        if phrase:
            assert phrase in message, message
    return message


def test_missing_file_and_directory(tmp_path):
    _raises(tmp_path / "nope.wav", "file not found", name="nope.wav")
    _raises(tmp_path, "is a directory", name=str(tmp_path))
    with pytest.raises(AudioError, match="file not found"):
        iter_windows(tmp_path / "nope.wav")  # path errors come at once, before iteration


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    _raises(path, "not a readable audio file", name="notes.wav")
    with pytest.raises(AudioError, match="notes.wav: not a readable audio file"):
        list(iter_windows(path))


def test_empty_inputs(tmp_path):
    sf.write(tmp_path / "silent.wav", np.zeros((0, 1)), 16000)
    _raises(tmp_path / "silent.wav", "contains no samples", name="silent.wav")
    with pytest.raises(AudioError, match="contains no samples"):
        list(iter_windows(tmp_path / "silent.wav"))
    (tmp_path / "zero.wav").write_bytes(b"")
    _raises(tmp_path / "zero.wav", "empty", name="zero.wav")
    _raises(b"", "no audio data")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_and_inf_samples_are_rejected(tmp_path, bad):
    data = np.full(1600, 0.1, dtype=np.float32)
    data[700] = bad
    sf.write(tmp_path / "bad.wav", data, 16000, subtype="FLOAT")
    _raises(tmp_path / "bad.wav", "NaN or infinite", name="bad.wav")
    with pytest.raises(AudioError, match="NaN or infinite"):
        list(iter_windows(tmp_path / "bad.wav"))


def test_unreadable_file_and_folder():
    with tempfile.TemporaryDirectory() as folder:  # not under pytest's tmp root, which is private to its user
        os.chmod(folder, 0o755)
        path = Path(folder) / "locked.wav"
        sf.write(path, np.zeros(1600), 16000)
        path.chmod(0)
        locked_dir = Path(folder) / "locked"
        locked_dir.mkdir()
        sf.write(locked_dir / "inside.wav", np.zeros(1600), 16000)
        locked_dir.chmod(0)
        try:
            for p in (path, locked_dir / "inside.wav"):
                with pytest.raises(AudioError) as info:
                    _load_unprivileged(p)
                assert str(info.value) == f"{p}: permission denied"
        finally:
            locked_dir.chmod(0o755)


def _load_unprivileged(path: Path) -> None:
    """load_audio(path) without root's power to read anything: as is, or in a child forked as `nobody`."""
    if os.geteuid() != 0:
        load_audio(path)
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            load_audio(path)
            os.write(write, b"loaded")
        except AudioError as e:
            os.write(write, b"AudioError:" + str(e).encode())
        except BaseException as e:  # noqa: BLE001 - report anything to the parent
            os.write(write, repr(e).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        message = f.read().decode()
    os.waitpid(pid, 0)
    if message.startswith("AudioError:"):
        raise AudioError(message.removeprefix("AudioError:"))
    raise AssertionError(f"expected an AudioError, got: {message}")


def test_unsupported_format_without_ffmpeg(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = tmp_path / "song.m4a"
    path.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(200))
    _raises(path, "unsupported audio format (install ffmpeg to read it)", name="song.m4a")
    _raises(path.read_bytes(), "unsupported audio format (install ffmpeg to read it)")
    notes = tmp_path / "notes.wav"
    notes.write_text("this is not audio\n" * 20)
    _raises(notes, "not a readable audio file (libsndfile: Format not recognised; installing ffmpeg may help)")
    with pytest.raises(AudioError, match="install ffmpeg"):
        audio.audio_info(path)


# ---------------------------------------------------------------------------------------------------------
# ffmpeg fallback


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.mark.skipif(not HAVE_FFMPEG, reason=SYSTEM_NEEDS["ffmpeg"])
def test_ffmpeg_formats(tmp_path):
    src = tmp_path / "src.wav"
    t = np.arange(int(2.5 * 44100)) / 44100
    tone = 0.4 * np.sin(2 * np.pi * 1000 * t)
    sf.write(src, np.stack([tone, 0.5 * tone], axis=1), 44100, subtype="PCM_16")
    _ffmpeg("-i", str(src), "-c:a", "pcm_s16le", str(tmp_path / "x.mka"))
    _ffmpeg("-i", str(src), "-c:a", "aac", "-b:a", "128k", str(tmp_path / "x.m4a"))

    # Lossless PCM in Matroska decodes to exactly what libsndfile gives for the wav.
    ref = load_audio(src)
    torch.testing.assert_close(load_audio(tmp_path / "x.mka"), ref, rtol=0, atol=0)
    torch.testing.assert_close(load_audio((tmp_path / "x.mka").read_bytes()), ref, rtol=0, atol=0)
    m4a = load_audio(tmp_path / "x.m4a")
    assert abs(len(m4a) - 40000) < 1600 and abs(_dominant_frequency(m4a) - 1000) < 5
    seconds, rate, channels = audio.audio_info(tmp_path / "x.m4a")
    assert (rate, channels) == (44100, 2) and abs(seconds - 2.5) < 0.1

    windows = list(iter_windows(tmp_path / "x.mka", window_seconds=1.0))
    expected = split_windows(ref, 1.0)
    assert len(windows) == len(expected) == 3
    for w, e in zip(windows, expected):
        assert (w.start, w.end) == (e.start, e.end)
        torch.testing.assert_close(w.samples, e.samples, rtol=0, atol=1e-5)
    stream = iter_windows(tmp_path / "x.m4a", window_seconds=0.5)
    assert next(stream).index == 0
    stream.close()  # stopping early must end ffmpeg quietly, not hang or raise


@pytest.mark.skipif(not HAVE_FFMPEG, reason=SYSTEM_NEEDS["ffmpeg"])
def test_ffmpeg_rejects_garbage_and_video_without_audio(tmp_path):
    junk = tmp_path / "junk.m4a"
    junk.write_bytes(os.urandom(4000))
    _raises(junk, "not a readable audio file (ffmpeg:", name="junk.m4a")
    _ffmpeg("-f", "lavfi", "-i", "color=black:size=32x32:duration=1", "-c:v", "ffv1", str(tmp_path / "v.mkv"))
    _raises(tmp_path / "v.mkv", "has no audio stream", name="v.mkv")


# ---------------------------------------------------------------------------------------------------------
# Windows


def test_split_windows_cover_everything_once():
    wav = torch.arange(int(25.0 * 16000), dtype=torch.float32)
    windows = split_windows(wav)
    assert [len(w.samples) for w in windows] == [163840, 163840, 72320]
    assert [(w.index, w.start, w.end) for w in windows] == [(0, 0.0, 10.24), (1, 10.24, 20.48), (2, 20.48, 25.0)]
    assert torch.equal(torch.cat([w.samples for w in windows]), wav)

    assert len(split_windows(wav[:163840])) == 1  # an exact multiple has no empty tail
    short = split_windows(wav[:1000])
    assert len(short) == 1 and (short[0].start, short[0].end) == (0.0, 1000 / 16000)
    assert audio.duration(wav) == 25.0


@pytest.mark.parametrize("rate", [16000, 44100, 48000, 22050, 8000])
def test_iter_windows_equals_split_windows(tmp_path, rate):
    path = tmp_path / f"long{rate}.flac"
    data = _band_limited_signal(rate, 3.3, min(5000.0, 0.45 * rate))
    sf.write(path, np.stack([data, -0.5 * data], axis=1), rate)
    # An odd window length, so window edges fall inside the resampler's groups of samples.
    expected = split_windows(load_audio(path), 0.7777)
    windows = list(iter_windows(path, window_seconds=0.7777))
    assert len(windows) == len(expected) == 5
    for w, e in zip(windows, expected):
        assert (w.index, w.start, w.end) == (e.index, e.start, e.end)
        # Same filter taps on the same inputs; only float summation order may differ.
        torch.testing.assert_close(w.samples, e.samples, rtol=0, atol=1e-5)
    assert windows[-1].end == pytest.approx(3.3)


def test_iter_windows_streams_with_small_blocks(tmp_path, monkeypatch):
    # Blocks much smaller than a window exercise the buffering; the result must not change.
    monkeypatch.setattr(audio_load, "_BLOCK_FRAMES", 1000)
    path = tmp_path / "x.wav"
    sf.write(path, _band_limited_signal(44100, 2.0, 5000.0), 44100)
    expected = split_windows(load_audio(path), 0.5)
    windows = list(iter_windows(path.read_bytes(), window_seconds=0.5))
    assert len(windows) == len(expected) == 4
    for w, e in zip(windows, expected):
        torch.testing.assert_close(w.samples, e.samples, rtol=0, atol=1e-5)


def test_streaming_reads_only_what_the_window_needs():
    # One window of a "one-hour" 44.1 kHz stream must not read the hour: memory stays bounded.
    read = []

    def blocks():
        for i in range(3600 * 44100 // 4410):
            read.append(i)
            yield torch.full((4410,), 0.01 * (i % 7))

    windows = audio_load._resampled_windows(blocks(), 44100, 16000, 163840)
    first = next(windows)
    assert first[:2] == (0, 163840) and len(first[2]) == 163840
    assert len(read) * 4410 < 451584 + 2 * 4410 + 2000  # one window of input, a block, filter context
    for _ in range(3):
        next(windows)
    assert len(read) * 4410 < 4 * 451584 + 2 * 4410 + 2000


def test_audio_info_and_write_audio(tmp_path):
    stereo = torch.from_numpy(_band_limited_signal(44100, 1.5, 5000.0)).float().repeat(2, 1)
    audio.write_audio(tmp_path / "s.wav", stereo, 44100)
    assert audio.audio_info(tmp_path / "s.wav") == (1.5, 44100, 2)
    assert audio.audio_info((tmp_path / "s.wav").read_bytes()) == (1.5, 44100, 2)
    back = sf.read(tmp_path / "s.wav", dtype="float32")[0]
    assert back.shape == (66150, 2) and math.isclose(float(np.abs(back - stereo.T.numpy()).max()), 0, abs_tol=1e-4)
    with pytest.raises(AudioError, match="cannot write audio"):
        audio.write_audio(tmp_path / "no" / "such" / "dir.wav", stereo[0])
