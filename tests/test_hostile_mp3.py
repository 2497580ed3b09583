"""Corrupt MP3s through the real `sam` process (issue 23, item 15): libmpg123, inside libsndfile, writes "Note: ..."
and "Warning: ..." lines straight to stderr while it resyncs on garbage. sam walks the MP3 frame headers first and
sends a damaged stream to ffmpeg (whose messages are captured), or refuses it in one line without ffmpeg; valid
MP3s still decode through libsndfile exactly as before.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import need_system
from helpers import assert_clean_error, err, out, sam
from sam_cli.audio import load_audio
from sam_cli.audio.mp3 import _mp3_problem

pytestmark = pytest.mark.skipif("MP3" not in sf.available_formats(), reason="this libsndfile has no MP3 support")

NOISE = ("Note:", "Warning:", "warning:", "libmpg123", "Traceback")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory) -> dict[str, Path]:
    """Damaged MP3s, each of which made libmpg123 print to stderr before the fix."""
    d = tmp_path_factory.mktemp("mp3")
    rng = np.random.default_rng(0)
    t = np.arange(44100 * 3) / 44100
    sf.write(d / "tone.mp3", 0.5 * np.sin(2 * np.pi * 440 * t), 44100)  # LAME via libsndfile: ID3v2 + Xing
    good = (d / "tone.mp3").read_bytes()
    tag_end = 10 + (good[6] << 21 | good[7] << 14 | good[8] << 7 | good[9])
    files = {
        "random": rng.bytes(50000),
        "zeros": bytes(20000),
        "id3_then_garbage": good[:tag_end] + rng.bytes(5000),
        "overwritten": good[:3000] + rng.bytes(len(good) - 3000),
        "hole": good[:3000] + rng.bytes(3000) + good[6000:],
        "truncated": good[: len(good) // 2],
        "truncated_small": good[:700],
        "trailing_zeros": good + bytes(300),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = d / f"{name}.mp3"
        paths[name].write_bytes(data)
    return paths


CASES = ["random", "zeros", "id3_then_garbage", "overwritten", "hole", "truncated", "truncated_small",
         "trailing_zeros"]


@pytest.mark.parametrize("case", CASES)
def test_corrupt_mp3_with_ffmpeg_keeps_stderr_clean(tiny_model_dir, corrupt, case):
    need_system("ffmpeg")
    p = sam("describe", str(corrupt[case]), model=tiny_model_dir)
    assert not any(n in err(p) for n in NOISE), err(p)
    if p.returncode == 0:  # ffmpeg decoded what is left
        assert err(p).strip() == "" and out(p).strip()
    else:
        assert_clean_error(p, f"{case}.mp3: not a readable audio file", 1)


@pytest.mark.parametrize("case", CASES)
def test_corrupt_mp3_without_ffmpeg_is_one_line(tiny_model_dir, corrupt, case, tmp_path):
    p = sam("describe", str(corrupt[case]), model=tiny_model_dir, env={"PATH": str(tmp_path)})  # no ffmpeg
    assert_clean_error(p, f"{case}.mp3: not a readable audio file (corrupt MP3 stream", 1)
    assert "installing ffmpeg may help" in err(p)


def test_corrupt_mp3_on_stdin_keeps_stderr_clean(tiny_model_dir, corrupt, tmp_path):
    p = sam("describe", "-", model=tiny_model_dir, stdin=corrupt["overwritten"].read_bytes(),
            env={"PATH": str(tmp_path)})
    assert_clean_error(p, "not a readable audio file", 1)
    assert "Note:" not in err(p)


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> list[Path]:
    """CBR, VBR with a Xing header, without Xing/ID3v2, with ID3v2+ID3v1, 8-48 kHz, mono and stereo."""
    need_system("ffmpeg")
    d = tmp_path_factory.mktemp("valid")
    paths = []
    for rate in (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000):
        for ch in (1, 2):
            src = ["-f", "lavfi", "-i", f"sine=f=440:r={rate}:d=1.3", "-ac", str(ch)]
            for kind, opts in {"cbr": ["-b:a", "64k"], "vbr": ["-q:a", "5"],
                               "bare": ["-q:a", "5", "-write_xing", "0", "-id3v2_version", "0"],
                               "id3v1": ["-b:a", "32k", "-write_id3v1", "1", "-metadata", "title=x"]}.items():
                paths.append(d / f"{kind}_{rate}_{ch}.mp3")
                _ffmpeg(*src, *opts, str(paths[-1]))
            paths.append(d / f"sf_{rate}_{ch}.mp3")
            sf.write(paths[-1], np.random.default_rng(rate).uniform(-0.3, 0.3, (rate, ch)), rate)
    return paths


def test_valid_mp3s_pass_the_check_and_decode_as_before(valid):
    for path in valid:
        assert _mp3_problem(".mp3", path.read_bytes(), False) is None, path
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        if rate >= 32000:  # lower rates go to ffmpeg, as before (libsndfile garbles them in blocks)
            import torch
            import torchaudio.functional as AF

            want = AF.resample(torch.from_numpy(data).mean(dim=1), rate, 16000)
            assert torch.equal(load_audio(path), want), path


def test_valid_mp3s_through_sam_have_clean_stderr(tiny_model_dir, valid):
    for path in valid[::7]:
        p = sam("describe", str(path), model=tiny_model_dir)
        assert p.returncode == 0 and err(p).strip() == "", (path, err(p))


def test_wav_named_mp3_still_reads(tiny_model_dir, tmp_path):
    path = tmp_path / "really_a.wav.mp3"
    sf.write(path, np.zeros(16000, np.float32), 16000, format="WAV", subtype="PCM_16")
    assert _mp3_problem(".mp3", path.read_bytes(), False) is None
