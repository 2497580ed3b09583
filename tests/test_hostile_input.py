"""Hostile input through the real `sam` process (issue 23: items 2, 5, 10, 12, 14, 15).

Endless or huge inputs (/dev/zero, /dev/urandom, a 1-Hz WAV), inputs that can be opened only once (FIFOs,
`<(…)`, /dev/stdin), float samples far outside [-1, 1], file names that are not UTF-8 or hold terminal escape
sequences, and usage errors: each gives a result or one line on stderr and a non-zero exit, never a traceback
or a hang.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import REPO, assert_clean_error, err, out, sam

def _env(model: Path, extra: dict | None = None) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SAM_", "HF_"))}
    e.update(HF_HOME="/nonexistent-hf-home", HF_HUB_OFFLINE="1", SAM_MODEL=str(model), **(extra or {}))
    return e


def sam_shell(script: str, model: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a bash command line in which `SAM` is the real `sam` process (for `<(…)`, `< /dev/zero`, pipes)."""
    sam_cmd = f"{shlex.quote(sys.executable)} -m sam_cli"
    return subprocess.run(["bash", "-c", script.replace("SAM", sam_cmd)], capture_output=True, timeout=timeout,
                          env=_env(model, env), cwd=REPO)


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "x.wav"
    t = np.arange(16000 * 3) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000, subtype="PCM_16")
    return path


def caption(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 0 and "Traceback" not in err(p), err(p)
    return json.loads(out(p))["text"]


# --- item 2: unbounded reads --------------------------------------------------------------------------------


def test_dev_zero_by_path_is_refused_at_once(tiny_model_dir):
    p = sam("describe", "/dev/zero", model=tiny_model_dir, timeout=60)
    assert_clean_error(p, "/dev/zero: not a readable audio file", 1)


def test_dev_zero_on_stdin_is_refused_at_once(tiny_model_dir):
    p = sam_shell("SAM describe - < /dev/zero", tiny_model_dir, timeout=60)
    assert_clean_error(p, "stdin: not a readable audio file", 1)


def test_dev_urandom_is_refused_at_once(tiny_model_dir):
    p = sam("describe", "/dev/urandom", model=tiny_model_dir, timeout=60)
    assert_clean_error(p, "/dev/urandom: not a readable audio file", 1)


def test_a_1_hz_wav_on_stdin_is_refused_before_resampling(tiny_model_dir, tmp_path):
    # 200 KB at 1 Hz: resampled to 16 kHz it would need 6.4 GB.
    sf.write(tmp_path / "hz1.wav", np.zeros(100_000, np.int16), 1, subtype="PCM_16")
    p = sam("describe", "-", model=tiny_model_dir, stdin=(tmp_path / "hz1.wav").read_bytes(), timeout=60)
    assert_clean_error(p, "stdin: sample rate 1 Hz is outside 1000-768000 Hz", 1)


def test_a_rate_that_does_not_reduce_is_refused(tiny_model_dir, tmp_path):
    # 22051 Hz against 16 kHz: torchaudio's filter bank would be 16000 x 22069 floats (1.4 GB).
    sf.write(tmp_path / "odd.wav", np.zeros(22051, np.int16), 22051, subtype="PCM_16")
    p = sam("describe", str(tmp_path / "odd.wav"), model=tiny_model_dir)
    assert_clean_error(p, "odd.wav: sample rate 22051 Hz cannot be converted to 16000 Hz in bounded memory", 1)


def test_the_duration_limit_by_path_and_on_stdin(tiny_model_dir, tmp_path):
    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(16000 * 30, np.int16), 16000, subtype="PCM_16")
    limit = {"SAM_MAX_AUDIO_SECONDS": "20"}
    msg = "longer than 20 s, the limit per input (set $SAM_MAX_AUDIO_SECONDS to raise it)"
    assert_clean_error(sam("describe", str(long), model=tiny_model_dir, env=limit), "long.wav: " + msg, 1)
    assert_clean_error(sam("describe", "-", model=tiny_model_dir, env=limit, stdin=long.read_bytes()),
                       "stdin: " + msg, 1)
    # A stream whose header does not say its length is counted while it is decoded.
    raw = sam_shell(f"cat {shlex.quote(str(long))} | SAM describe -", tiny_model_dir, env=limit)
    assert_clean_error(raw, "stdin: " + msg, 1)
    p = sam("describe", str(long), "--json", model=tiny_model_dir, env={"SAM_MAX_AUDIO_SECONDS": "31"})
    assert json.loads(out(p))["duration"] == 30.0


def test_the_stream_byte_limit(tiny_model_dir, wav):
    p = sam("describe", "-", model=tiny_model_dir, stdin=wav.read_bytes(), env={"SAM_MAX_STREAM_BYTES": "50000"})
    assert_clean_error(p, "stdin: more than 48.8 KiB of input (the limit for stdin, pipes and devices; "
                          "set $SAM_MAX_STREAM_BYTES to raise it)", 1)


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan"])
def test_a_bad_limit_value_is_a_usage_error(tiny_model_dir, wav, value):
    p = sam("describe", str(wav), model=tiny_model_dir, env={"SAM_MAX_AUDIO_SECONDS": value})
    assert_clean_error(p, f"$SAM_MAX_AUDIO_SECONDS={value!r}: give a positive number", 2)


def test_stdin_gives_the_same_caption_as_the_path(tiny_model_dir, wav):
    by_path = caption(sam("describe", str(wav), "--json", model=tiny_model_dir))
    assert caption(sam("describe", "-", "--json", model=tiny_model_dir, stdin=wav.read_bytes())) == by_path


def test_an_empty_stdin(tiny_model_dir):
    assert_clean_error(sam("describe", "-", model=tiny_model_dir, stdin=b""), "stdin: no audio data (0 bytes)", 1)


# --- item 5: inputs that can be opened only once ------------------------------------------------------------


def test_a_fifo_is_read_once(tiny_model_dir, wav, tmp_path):
    fifo = tmp_path / "p"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as f:  # blocks until sam opens it; a second open would hang forever
            f.write(wav.read_bytes())

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    p = sam("describe", str(fifo), "--json", model=tiny_model_dir, timeout=60)
    writer.join(5)
    assert caption(p) == caption(sam("describe", str(wav), "--json", model=tiny_model_dir))
    assert json.loads(out(p))["duration"] == 3.0


def test_process_substitution_and_dev_stdin(tiny_model_dir, wav):
    expected = caption(sam("describe", str(wav), "--json", model=tiny_model_dir))
    q = shlex.quote(str(wav))
    assert caption(sam_shell(f"SAM describe --json <(cat {q})", tiny_model_dir, timeout=60)) == expected
    assert caption(sam_shell(f"cat {q} | SAM describe --json /dev/stdin", tiny_model_dir, timeout=60)) == expected


# --- item 10: huge finite float samples ---------------------------------------------------------------------


def test_float_samples_far_outside_full_scale_are_refused(tiny_model_dir, tmp_path):
    x = np.zeros(16000, np.float32)
    x[100] = 3e29
    sf.write(tmp_path / "huge.wav", x, 16000, subtype="FLOAT")
    for args in (["describe"], ["classify"], ["ask", "--choices", "yes,no"]):
        extra = ["is there a dog?"] if args[0] == "ask" else []
        p = sam(*args[:1], str(tmp_path / "huge.wav"), *extra, *args[1:], model=tiny_model_dir)
        assert_clean_error(p, "huge.wav: float samples reach 3e+29, far outside [-1, 1] (more than 65536); "
                              "scale the file to [-1, 1]", 1)


def test_float_overs_and_integer_scaled_floats_are_still_read(tiny_model_dir, tmp_path):
    for scale in (1.5, 32768.0):  # a float file clipping past full scale; one written at integer scale
        x = (scale * np.sin(np.arange(16000) / 5)).astype(np.float32)
        sf.write(tmp_path / "hot.wav", x, 16000, subtype="FLOAT")
        p = sam("describe", str(tmp_path / "hot.wav"), "--json", model=tiny_model_dir)
        assert caption(p)


def test_fbank_refuses_samples_that_overflow_it():
    import torch

    from sam_cli.audio import fbank
    from sam_cli.errors import AudioError

    with pytest.raises(AudioError, match="too large for the fbank features"):
        fbank(torch.zeros(16000).index_fill_(0, torch.tensor([100]), 3e29))


# --- items 12 and 14: file names ----------------------------------------------------------------------------


def test_a_file_name_that_is_not_utf8(tiny_model_dir, wav, tmp_path):
    name = os.fsdecode(b"n\xffx.wav")
    (tmp_path / name).write_bytes(wav.read_bytes())
    p = sam("describe", str(tmp_path / name), "--json", model=tiny_model_dir)
    assert p.returncode == 0 and "Traceback" not in err(p), err(p)
    record = json.loads(p.stdout.decode("utf-8", errors="surrogateescape"))  # the name's bytes, as they are
    assert record["file"] == str(tmp_path / name) and record["text"]
    (tmp_path / os.fsdecode(b"j\xffunk.wav")).write_bytes(b"not audio at all" * 100)
    p = sam("describe", str(tmp_path / os.fsdecode(b"j\xffunk.wav")), model=tiny_model_dir)
    assert_clean_error(p, "unk.wav: not a readable audio file", 1)


def test_escape_sequences_in_names_are_not_printed_raw(tiny_model_dir, wav, tmp_path):
    good = tmp_path / "e\x1b[31mred.wav"
    good.write_bytes(wav.read_bytes())
    bad = tmp_path / "b\x1b]0;pwn\x07.wav"
    bad.write_bytes(b"not audio at all" * 100)
    p = sam("describe", str(good), str(bad), model=tiny_model_dir)
    assert p.returncode == 1
    assert "\x1b" not in out(p) + err(p) and "\x07" not in err(p)
    assert "e\\x1b[31mred.wav: " in out(p)
    assert f"sam: error: {tmp_path}/b\\x1b]0;pwn\\x07.wav: not a readable audio file (ffmpeg: Invalid data" in err(p)
    assert_clean_error(sam("describe", str(bad), model=tiny_model_dir), "b\\x1b]0;pwn\\x07.wav: not a readable", 1)


# --- item 15: cosmetics -------------------------------------------------------------------------------------


def test_stdin_errors_name_stdin(tiny_model_dir):
    p = sam("describe", "-", model=tiny_model_dir, stdin=b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    assert_clean_error(p, "stdin: ", 1)
    assert "<bytes>" not in err(p)


@pytest.mark.parametrize("args, message", [
    (["describe", "--bogus"], "sam: error: No such option: --bogus (see '"),
    (["describe", "--max-tokens", "0", "x.wav"], "sam: error: Invalid value for '--max-tokens'"),
    (["bogus"], "sam: error: No such command 'bogus'."),
])
def test_usage_errors_take_one_line(tiny_model_dir, args, message):
    p = sam(*args, model=tiny_model_dir)
    assert_clean_error(p, message, 2)
