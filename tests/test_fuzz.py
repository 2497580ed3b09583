"""Property-based fuzzing (issue 23): hostile config.json files, WAV/FLAC headers and CLI option values give a
clean one-line error or a result, never a traceback or a hang.

Budget: a fixed number of examples per family with a per-example deadline (about a minute in all on two busy
cores; `derandomize` so CI runs the same cases every time). Most examples go through the in-process API,
where a `sam` process per example would cost seconds each; one sample of each family goes through the real
`sam` process.
"""

from __future__ import annotations

import io
import json
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import tone  # noqa: E402
from helpers import err, out, sam  # noqa: E402

from sam_cli.errors import SamError  # noqa: E402

FUZZ = settings(max_examples=25, deadline=timedelta(seconds=20), derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def clean_or_result(p) -> None:
    """The real process: a result (exit 0), or one line on stderr with exit 1 or 2; never a traceback."""
    text = err(p)
    assert "Traceback" not in text, text
    if p.returncode != 0:
        assert p.returncode in (1, 2), (p.returncode, text)
        assert len([l for l in text.splitlines() if l.strip()]) == 1, text
        assert text.startswith("sam: error: "), text


# --- config.json ------------------------------------------------------------------------------------------------
def _leaves(d: dict, prefix: tuple = ()) -> list[tuple]:
    found = []
    for k, v in d.items():
        found += _leaves(v, prefix + (k,)) if isinstance(v, dict) else [prefix + (k,)]
    return found


HOSTILE = st.one_of(
    st.integers(min_value=-2, max_value=70),
    st.sampled_from([0, -1, 10**6, 10**9, 10**12, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@pytest.fixture(scope="module")
def config_paths(tiny_model_dir):
    return _leaves(json.loads((tiny_model_dir / "config.json").read_text()))


@FUZZ
@given(data=st.data())
def test_fuzz_config_json(tiny_model_dir, config_paths, tmp_path_factory, data):
    from sam_cli.store.checkpoint import load_checkpoint

    folder = tmp_path_factory.mktemp("fuzzcfg")
    for f in tiny_model_dir.iterdir():
        (folder / f.name).symlink_to(f)
    (folder / "config.json").unlink()
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        path = data.draw(st.sampled_from(config_paths), label="key")
        node = cfg
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = data.draw(HOSTILE, label="value")
    (folder / "config.json").write_text(json.dumps(cfg))
    try:
        load_checkpoint(folder)
    except SamError:
        pass  # a clean error; anything else fails the test with its traceback


def test_fuzz_config_json_sample_through_sam(tiny_model_dir, tmp_path, wav_file):
    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["lm"]["n_layer"], cfg["encoder"]["depth"] = 10**6, "deep"
    (folder / "config.json").write_text(json.dumps(cfg))
    p = sam("describe", str(wav_file), "--model", str(folder), timeout=60)
    clean_or_result(p)
    assert p.returncode == 1


# --- WAV / FLAC headers -----------------------------------------------------------------------------------------
def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(0.5, sr=8000), 8000, format=fmt, subtype="PCM_16")
    return buf.getvalue()


WAV, FLAC = _encoded("WAV"), _encoded("FLAC")


def _mutate(data, original: bytes) -> bytes:
    raw = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6), label="edits")):
        if not raw:
            break
        kind = data.draw(st.sampled_from(["byte", "word", "truncate"]), label="kind")
        i = data.draw(st.integers(0, min(len(raw), 96) - 1), label="at")  # the header and the first frames
        if kind == "byte":
            raw[i] = data.draw(st.integers(0, 255), label="byte")
        elif kind == "word":  # a size, rate or count field set to something extreme
            word = data.draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 3]), label="word")
            raw[i : i + 4] = word.to_bytes(4, "little")
        else:
            del raw[data.draw(st.integers(0, len(raw)), label="cut"):]
    return bytes(raw)


def _decode(path: Path) -> None:
    from sam_cli import audio as A

    A.audio_info(path)
    for w in A.iter_windows(path, window_seconds=10.24):
        assert np.isfinite(w.samples.numpy()).all()


@FUZZ
@given(data=st.data(), which=st.sampled_from(["wav", "flac"]))
def test_fuzz_audio_headers(tmp_path_factory, data, which):
    path = tmp_path_factory.mktemp("fuzzaudio") / f"x.{which}"
    path.write_bytes(_mutate(data, WAV if which == "wav" else FLAC))
    try:
        _decode(path)
    except SamError:
        pass


def test_fuzz_audio_header_samples_through_sam(tiny_model_dir, tmp_path):
    raw = bytearray(WAV)
    raw[24:28] = (0xFFFFFFFF).to_bytes(4, "little")  # sample rate 4.3 GHz
    (tmp_path / "rate.wav").write_bytes(bytes(raw))
    raw = bytearray(FLAC)
    raw[18:22] = b"\xff\xff\xff\xff"  # STREAMINFO: rate, channels, bits, length all ones
    (tmp_path / "info.flac").write_bytes(bytes(raw))
    for name in ("rate.wav", "info.flac"):
        p = sam("describe", str(tmp_path / name), "--model", str(tiny_model_dir), "--max-tokens", "2", timeout=90)
        clean_or_result(p)


# --- CLI option values -----------------------------------------------------------------------------------------
NUMBERS = st.one_of(st.integers(-10**12, 10**12).map(str), st.floats().map(str),
                    st.sampled_from(["", " ", "nan", "inf", "-0", "1e999", "0x10", "٣"]))
OPTIONS = {
    "--max-tokens": NUMBERS, "--temperature": NUMBERS, "--top-k": NUMBERS, "--top-p": NUMBERS, "--seed": NUMBERS,
    "--device": st.one_of(st.sampled_from(["tpu", "mps", "meta", "cuda:abc", "", "cpu:1", "CPU", "cuda:99"]),
                          st.text(max_size=8)),
    "--dtype": st.one_of(st.sampled_from(["fp8", "int8", "float64", "", "bf16", "half"]), st.text(max_size=6)),
    "--format": st.one_of(st.sampled_from(["xml", "srt", "JSON", "", "csv\n"]), st.text(max_size=6)),
    "--prompt": st.text(max_size=40),
}
SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@pytest.fixture(scope="module")
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@FUZZ
@given(data=st.data())
def test_fuzz_cli_options(runner, tiny_model_dir, wav_file, data):
    from sam_cli.cli import app

    command = data.draw(st.sampled_from(["describe", "ask", "classify"]), label="command")
    args = [command, str(wav_file)]
    if command == "ask":
        args.append(data.draw(SAFE_TEXT, label="question"))
        if data.draw(st.booleans(), label="choices?"):
            args += ["--choices", data.draw(SAFE_TEXT, label="choices")]
    names = ["--max-tokens", "--temperature", "--top-k", "--top-p", "--seed", "--device", "--dtype", "--format",
             "--prompt"]
    if command == "classify":
        names = ["--device", "--dtype", "--format", "--prompt", "--top", "--labels"]
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True), label="options")
    for name in chosen:
        strategy = OPTIONS.get(name, NUMBERS if name == "--top" else SAFE_TEXT)
        value = data.draw(strategy.filter(lambda v: "\x00" not in v), label=name)
        args.append(f"{name}={value}")
    if "--max-tokens" not in chosen and command != "classify":
        args += ["--max-tokens", "2"]
    result = runner.invoke(app, args, env={"SAM_MODEL": str(tiny_model_dir), "HF_HUB_OFFLINE": "1"})
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    if result.exit_code:
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and "Traceback" not in result.stderr, (args, result.stderr)


def test_fuzz_cli_option_samples_through_sam(tiny_model_dir, wav_file):
    for args in (["--device", "cuda:abc"], ["--max-tokens", "1e999"], ["--top-p", "nan"], ["--dtype", "fp8"],
                 ["--format", "csv\n"]):
        p = sam("describe", str(wav_file), *args, "--model", str(tiny_model_dir), timeout=60)
        clean_or_result(p)
        assert p.returncode == 2 or (p.returncode == 0 and out(p)), (args, err(p))
