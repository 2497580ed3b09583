"""Every command end to end on a tiny checkpoint in the real format and real audio files.

Most runs go through the real `sam` process (python -m sam_cli), so exit codes, stdout/stderr separation and
the absence of tracebacks are what a user sees.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import need_system, tone
from helpers import REPO, alsa_config, assert_clean_error, err, out, sam

@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    files = {
        "short": d / "short.wav",
        "stereo44": d / "stereo44.flac",
        "long": d / "long.wav",
        "silence": d / "silence.wav",
        "empty": d / "empty.wav",
        "nan": d / "nan.wav",
        "text": d / "notes.wav",
    }
    sf.write(files["short"], tone(3.0), 16000)
    sf.write(files["stereo44"], tone(2.0, sr=44100, channels=2), 44100)
    sf.write(files["long"], tone(25.0, freq=220.0), 16000)
    sf.write(files["silence"], np.zeros(16000, dtype=np.float32), 16000)
    sf.write(files["empty"], np.zeros(0, dtype=np.float32), 16000)
    bad = tone(1.0)
    bad[100] = np.nan
    sf.write(files["nan"], bad, 16000, subtype="FLOAT")
    files["text"].write_text("this is not audio\n")
    return files


# --- describe ---------------------------------------------------------------------------------------------
def test_describe_prints_a_caption(tiny_model_dir, clips):
    p = sam("describe", str(clips["short"]), model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    lines = out(p).splitlines()
    assert len(lines) == 1 and lines[0].strip()
    assert "Traceback" not in err(p)


def test_describe_json_is_one_object_per_clip(tiny_model_dir, clips):
    p = sam("describe", str(clips["short"]), str(clips["stereo44"]), "--json", model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    records = [json.loads(l) for l in out(p).splitlines()]
    assert [r["file"] for r in records] == [str(clips["short"]), str(clips["stereo44"])]
    assert records[1]["duration"] == pytest.approx(2.0, abs=0.01)
    for r in records:
        assert r["task"] == "describe" and r["text"] == " ".join(s["text"] for s in r["segments"])
        assert r["prompt"].startswith("Close-ended question")


def test_long_audio_is_described_window_by_window(tiny_model_dir, clips):
    p = sam("describe", str(clips["long"]), "--format", "jsonl", "--max-tokens", "4", model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    rec = json.loads(out(p))
    assert [(s["start"], s["end"]) for s in rec["segments"]] == [(0.0, 10.24), (10.24, 20.48), (20.48, 25.0)]
    p = sam("describe", str(clips["long"]), "--max-tokens", "4", model=tiny_model_dir)
    assert out(p).splitlines()[0].startswith("[00:00.00 → 00:10.24]")


def test_describe_reads_stdin(tiny_model_dir, clips):
    p = sam("describe", "-", "--json", model=tiny_model_dir, stdin=clips["stereo44"].read_bytes())
    assert p.returncode == 0, err(p)
    assert json.loads(out(p))["file"] == "-"


def test_csv_and_output_dir(tiny_model_dir, clips, tmp_path):
    p = sam("describe", str(clips["short"]), str(clips["long"]), "--format", "csv", "--max-tokens", "3",
            model=tiny_model_dir)
    rows = list(csv.DictReader(io.StringIO(out(p))))
    assert [r["file"] for r in rows] == [str(clips["short"])] + [str(clips["long"])] * 3
    assert rows[2]["start"] == "10.24"
    p = sam("describe", str(clips["short"]), str(clips["long"]), "--json", "--output-dir", str(tmp_path / "o"),
            "--max-tokens", "3", model=tiny_model_dir)
    assert p.returncode == 0 and out(p) == ""
    assert sorted(f.name for f in (tmp_path / "o").iterdir()) == ["long.json", "short.json"]
    assert json.loads((tmp_path / "o" / "long.json").read_text())["file"] == str(clips["long"])


def test_subtitles(tiny_model_dir, clips, tmp_path):
    p = sam("describe", str(clips["long"]), "--format", "srt", "--max-tokens", "3", model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    blocks = out(p).strip().split("\n\n")
    assert [b.splitlines()[:2] for b in blocks][:2] == [["1", "00:00:00,000 --> 00:00:10,240"],
                                                       ["2", "00:00:10,240 --> 00:00:20,480"]]
    p = sam("describe", str(clips["short"]), str(clips["long"]), "-f", "vtt", "-o", str(tmp_path / "subs"),
            "--max-tokens", "3", model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    assert sorted(f.name for f in (tmp_path / "subs").iterdir()) == ["long.vtt", "short.vtt"]
    assert (tmp_path / "subs" / "short.vtt").read_text().startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:03.000\n")
    assert_clean_error(sam("describe", str(clips["short"]), str(clips["long"]), "-f", "srt", model=tiny_model_dir),
                       "give --output-dir DIR for 2 inputs", code=2)
    assert_clean_error(sam("classify", str(clips["short"]), "-f", "vtt", model=tiny_model_dir),
                       "holds timed captions", code=2)
    assert_clean_error(sam("batch", str(clips["short"]), "-o", str(tmp_path / "r.srt"), model=tiny_model_dir),
                       "(srt output cannot be resumed)", code=2)


def test_silence_gets_a_caption_not_a_crash(tiny_model_dir, clips):
    p = sam("describe", str(clips["silence"]), model=tiny_model_dir)
    assert p.returncode == 0, err(p)


def test_stats_go_to_stderr(tiny_model_dir, clips):
    p = sam("describe", str(clips["short"]), "--stats", model=tiny_model_dir)
    assert p.returncode == 0
    assert "real-time factor" in err(p) and "tok/s" in err(p)
    assert "real-time factor" not in out(p)


# --- ask, classify ----------------------------------------------------------------------------------------
def test_ask_answers_and_choices_are_scored(tiny_model_dir, clips):
    p = sam("ask", str(clips["short"]), "Is there a dog?", "--json", model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    rec = json.loads(out(p))
    assert rec["task"] == "ask" and rec["prompt"] == "Is there a dog?"
    p = sam("ask", str(clips["short"]), "Is there a dog?", "--choices", "yes,no,maybe", "--json",
            model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    rec = json.loads(out(p))
    probs = [c["prob"] for c in rec["choices"]]
    assert sorted(c["choice"] for c in rec["choices"]) == ["maybe", "no", "yes"]
    assert sum(probs) == pytest.approx(1.0, abs=1e-3) and probs == sorted(probs, reverse=True)
    assert rec["answer"] == rec["choices"][0]["choice"]


def test_classify_with_the_encoder_head_and_with_labels(tiny_model_dir, clips, tmp_path):
    p = sam("classify", str(clips["short"]), "--top", "3", "--json", model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    labels = json.loads(out(p))["labels"]
    assert len(labels) == 3 and all(l["label"].startswith("tag ") and 0 <= l["score"] <= 1 for l in labels)
    label_file = tmp_path / "labels.txt"
    label_file.write_text("# animals\ndog barking\ncat meowing\n\nbird song\n")
    p = sam("classify", str(clips["short"]), "--labels", str(label_file), "--json", model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    got = json.loads(out(p))["labels"]
    assert sorted(l["label"] for l in got) == ["bird song", "cat meowing", "dog barking"]
    assert sum(l["score"] for l in got) == pytest.approx(1.0, abs=1e-3)


# --- bad input: one clear line, non-zero exit, no traceback -----------------------------------------------
@pytest.mark.parametrize("case,pattern", [
    ("missing", "no such file"),
    ("directory", "is a directory"),
    ("text", "not a readable audio file"),
    ("empty", "no samples"),
    ("nan", "NaN"),
])
def test_bad_audio(tiny_model_dir, clips, tmp_path, case, pattern):
    path = {"missing": str(tmp_path / "nope.wav"), "directory": str(tmp_path)}.get(case) or str(clips[case])
    assert_clean_error(sam("describe", path, model=tiny_model_dir), pattern)


def test_unsupported_container_without_ffmpeg(tiny_model_dir, tmp_path):
    need_system("ffmpeg")  # to write the .m4a
    src = tmp_path / "a.wav"
    sf.write(src, tone(1.0), 16000)
    m4a = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(src), str(m4a)], check=True)
    assert sam("describe", str(m4a), model=tiny_model_dir).returncode == 0  # with ffmpeg: fine
    p = sam("describe", str(m4a), model=tiny_model_dir, env={"PATH": str(tmp_path / "empty-bin")})
    assert_clean_error(p, "install ffmpeg")


def test_bad_models(tiny_model_dir, clips, tmp_path):
    assert_clean_error(sam("describe", str(clips["short"]), model=tmp_path / "no-model"), "no such model folder")
    mamba1 = tmp_path / "mamba1"
    mamba1.mkdir()
    (mamba1 / "config.json").write_text(json.dumps({"d_model": 768, "n_layer": 24, "ssm_cfg": {}}))
    assert_clean_error(sam("describe", str(clips["short"]), model=mamba1), "Mamba")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, corrupt)
    data = (corrupt / "model.safetensors").read_bytes()
    (corrupt / "model.safetensors").write_bytes(data[:1000])
    assert_clean_error(sam("describe", str(clips["short"]), model=corrupt), "corrupt")
    p = sam("describe", str(clips["short"]), env={"SAM_MODEL": "someone/sam-base"})
    assert_clean_error(p, "sam pull someone/sam-base")


def test_bad_options(tiny_model_dir, clips, tmp_path):
    assert_clean_error(sam("ask", str(clips["short"]), "Which?", "--choices", "dog", model=tiny_model_dir),
                       "at least two", code=2)
    empty = tmp_path / "labels.txt"
    empty.write_text("\n# nothing\n")
    assert_clean_error(sam("classify", str(clips["short"]), "--labels", str(empty), model=tiny_model_dir),
                       "empty", code=2)
    assert_clean_error(sam("describe", str(clips["short"]), "--format", "xml", model=tiny_model_dir),
                       "unknown format", code=2)
    assert_clean_error(sam("describe", model=tiny_model_dir), "no input", code=2)
    assert_clean_error(sam("--state-dtype", "fp8", "describe", str(clips["short"]), model=tiny_model_dir),
                       "--state-dtype fp8", code=2)


def test_one_bad_file_among_good_ones(tiny_model_dir, clips):
    p = sam("describe", str(clips["short"]), str(clips["text"]), "--json", model=tiny_model_dir)
    assert p.returncode == 1
    assert [json.loads(l)["file"] for l in out(p).splitlines()] == [str(clips["short"])]
    assert "notes.wav" in err(p) and "Traceback" not in err(p)


def _write_noise_wav(path: Path, seconds: int, sr: int = 16000) -> None:
    rng = np.random.default_rng(0)
    with wave.open(str(path), "wb") as w:  # written in minute blocks, as a recorder would
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        for start in range(0, seconds, 60):
            n = sr * min(60, seconds - start)
            w.writeframes((rng.standard_normal(n) * 3000).astype("<i2").tobytes())


def _describe_peak_rss(model: Path, path: Path) -> tuple[dict, float]:
    """Run `sam describe` in a fresh process; return its JSON record and its peak RSS in MB."""
    code = (
        "import resource, sys; from sam_cli.cli import main; sys.argv=['sam','describe',sys.argv[1],"
        "'--max-tokens','1','--format','jsonl'];\n"
        "try: main()\nexcept SystemExit: pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAM_")}
    env["SAM_MODEL"] = str(model)
    p = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, env=env, timeout=600)
    assert p.returncode == 0, err(p)
    return json.loads(out(p)), int(err(p).strip().splitlines()[-1]) / 1024


def test_hour_long_file_runs_in_bounded_memory(tiny_model_dir, tmp_path):
    hour, minute = tmp_path / "hour.wav", tmp_path / "minute.wav"
    _write_noise_wav(hour, 3600)
    _write_noise_wav(minute, 60)
    rec, peak_hour = _describe_peak_rss(tiny_model_dir, hour)
    assert len(rec["segments"]) == 352 and rec["segments"][-1]["end"] == pytest.approx(3600.0)
    assert [s["start"] for s in rec["segments"][:3]] == [0.0, 10.24, 20.48]
    _, peak_minute = _describe_peak_rss(tiny_model_dir, minute)
    decoded_mb = 16000 * 3600 * 4 / 2**20  # the whole hour as float32: 220 MB
    # Memory must not grow with the audio: the hour may cost little more than a minute does.
    assert peak_hour - peak_minute < decoded_mb / 4, (peak_hour, peak_minute)


# --- misc ------------------------------------------------------------------------------------------------
def test_version_and_help():
    p = sam("--version")
    assert p.returncode == 0 and out(p).startswith("sam 0.")
    p = sam("--help")
    for cmd in ("describe", "ask", "classify", "batch", "record", "listen", "pull", "models", "rm"):
        assert cmd in out(p)


def test_man_page_is_up_to_date():
    from sam_cli.manpage import render

    committed = (REPO / "man" / "sam.1").read_text()
    assert committed == render(), "man/sam.1 is stale: run `python -m sam_cli.manpage > man/sam.1`"
    assert ".SS \\fBsam describe\\fR" in committed and "\\-\\-choices" in committed


def test_batch_command_resumes(tiny_model_dir, tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for i in range(3):
        sf.write(folder / f"c{i}.wav", tone(1.0, freq=300 + 100 * i), 16000)
    sf.write(folder / "sub" / "d.flac", tone(1.5), 16000)
    (folder / "broken.wav").write_text("nope")
    out_file = tmp_path / "res.jsonl"
    p = sam("batch", str(folder), "--output", str(out_file), "--max-tokens", "3", model=tiny_model_dir)
    assert p.returncode == 1  # one file failed
    rows = [json.loads(l) for l in out_file.read_text().splitlines()]
    assert len(rows) == 5 and sum("error" in r for r in rows) == 1
    # --state-dtype only changes GPU decoding; accepted everywhere, and the finished files are kept
    p = sam("batch", str(folder), "--output", str(out_file), "--max-tokens", "3", "--state-dtype", "model",
            model=tiny_model_dir)
    assert len(out_file.read_text().splitlines()) == 5
    assert p.returncode == 1 and "0 done, 4 already done, 0 failed" in err(p), err(p)
    assert "1 file failed in an earlier run" in err(p), err(p)


def test_record_from_a_real_portaudio_device(tmp_path):
    need_system("portaudio")
    pytest.importorskip("sounddevice")
    sys.path.insert(0, str(Path(__file__).parent))

    ref = alsa_config(tmp_path)
    target = tmp_path / "rec.wav"
    p = sam("record", str(target), "--seconds", "1", env={"ALSA_CONFIG_PATH": str(tmp_path / "asound.conf")})
    if p.returncode != 0 and "PortAudio" in err(p) and os.environ.get("SAM_TEST_REQUIRE_DEVICES") != "1":
        pytest.skip(err(p))
    assert p.returncode == 0, err(p)
    assert out(p).strip() == str(target)
    got, sr = sf.read(target, dtype="float32")
    assert sr == 16000 and len(got) == 16000
    np.testing.assert_allclose(got, ref.mean(axis=1)[:16000], atol=1e-4)  # 16-bit file


def test_pull_models_rm_through_a_local_hub(tiny_model_dir, tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from hubserver import FakeHub

    files = {f.name: f.read_bytes() for f in tiny_model_dir.iterdir()}
    with FakeHub() as hub:
        commit = hub.add_repo("acme/sam-tiny", files)
        env = {"HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
        p = sam("pull", "acme/sam-tiny", env=env)
        assert p.returncode == 0, err(p)
        path, got_commit = out(p).strip().split("\t")
        assert got_commit == commit and Path(path, "model.safetensors").read_bytes() == files["model.safetensors"]
    offline = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    p = sam("models", "--json", env=offline)
    names = [json.loads(l)["name"] for l in out(p).splitlines()]
    assert "acme/sam-tiny" in names
    clip = tmp_path / "c.wav"
    sf.write(clip, tone(1.0), 16000)
    p = sam("describe", str(clip), "--model", "acme/sam-tiny", env=offline)
    assert p.returncode == 0, err(p)
    p = sam("rm", "acme/sam-tiny", env=offline)
    assert p.returncode == 0, err(p)
    p = sam("models", "--json", env=offline)
    assert "acme/sam-tiny" not in out(p)
    assert_clean_error(sam("describe", str(clip), "--model", "acme/sam-tiny", env=offline),
                       "sam pull acme/sam-tiny")


def test_listen_captions_the_microphone_until_ctrl_c(tiny_model_dir, tmp_path):
    need_system("portaudio")
    pytest.importorskip("sounddevice")
    import signal

    sys.path.insert(0, str(Path(__file__).parent))

    alsa_config(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAM_")}
    env.update(SAM_MODEL=str(tiny_model_dir), ALSA_CONFIG_PATH=str(tmp_path / "asound.conf"))
    proc = subprocess.Popen([sys.executable, "-m", "sam_cli", "listen", "--every", "2", "--max-tokens", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    try:
        lines = [proc.stdout.readline().decode() for _ in range(2)]  # two live captions
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if "PortAudio" in stderr.decode() and os.environ.get("SAM_TEST_REQUIRE_DEVICES") != "1":
        pytest.skip(stderr.decode())
    assert all(l.startswith("[") and "] " in l for l in lines), lines
    assert proc.returncode == 0 and "stopped" in stderr.decode() and "Traceback" not in stderr.decode()
