"""Issue 23, hostile input to `sam batch` and to where results go, each through the real `sam` process:
#3 two runs racing for one output (the race forced, not hoped for) and an output given through a symlink,
#4 a carriage return or newline in a file name in CSV, #6 --output-dir with inputs that share a name,
#11 a full disk (a small tmpfs) under `sam batch`, and stdout on /dev/full."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from conftest import tone
from helpers import REPO, assert_clean_error, err, out, sam
from sam_cli.batch.ledger import TEST_PAUSE_ENV, lock_path
from sam_cli.writers import read_records

ARGS = ("--max-tokens", "3", "--workers", "1")


def _env(model: Path, extra: dict | None = None) -> dict:
    # As helpers.sam builds it, for processes that must run side by side.
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SAM_", "HF_"))}
    e.update(HF_HOME=e.get("SAM_TEST_HF_HOME", "/nonexistent-hf-home"), HF_HUB_OFFLINE="1", SAM_MODEL=str(model))
    e.update(extra or {})
    return e


def _start(model: Path, *args: str, pause: tuple[str, Path] | None = None) -> subprocess.Popen:
    """A real `sam` process in the background; with `pause` = (stage, folder) it stops at that stage of taking
    the batch lock, says so by creating folder/stage, and goes on once folder/go exists."""
    extra = {TEST_PAUSE_ENV: f"{pause[0]}:{pause[1]}"} if pause else {}
    if pause:
        pause[1].mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "sam_cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env(model, extra), cwd=REPO)


def _wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before {marker.name}: {proc.stderr.read().decode()}")
        assert time.monotonic() < deadline, f"no {marker} after {timeout} s"
        time.sleep(0.05)


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    _, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, stderr.decode()


def _clips(folder: Path, n: int, seconds: float = 0.3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        sf.write(folder / f"c{i:02d}.wav", tone(seconds, freq=300 + 40 * i, seed=i), 16000)
        paths.append(folder / f"c{i:02d}.wav")
    return paths


def _one_row_each(output: Path, files: list[Path]) -> None:
    names = [r["file"] for r in read_records(output)]
    assert sorted(names) == sorted(map(str, files)), names
    assert all("error" not in r for r in read_records(output))


# ---------------------------------------------------------------------------------------------------------
# 3: one writer per real output path


def test_a_run_that_opened_the_lock_before_it_was_released_cannot_share_it(tiny_model_dir, tmp_path):
    """The issue's race, forced: A opens the lock file while B holds it; B finishes; C takes the lock; then A
    locks. When the lock file was deleted at the end of B, A and C locked two different files and both
    wrote (48 of 64 rows lost, exit 0). Now A must refuse, and C's rows and B's all stay."""
    files = _clips(tmp_path / "in", 8)
    output = tmp_path / "out.jsonl"
    first = files[:4]
    b = _start(tiny_model_dir, "batch", *map(str, first), "-o", str(output), *ARGS, pause=("locked", tmp_path / "b"))
    _wait_for(tmp_path / "b" / "locked", b)
    a = _start(tiny_model_dir, "batch", str(tmp_path / "in"), "-o", str(output), *ARGS,
               pause=("opened", tmp_path / "a"))
    try:
        _wait_for(tmp_path / "a" / "opened", a)  # A has the lock file open, not locked
        (tmp_path / "b" / "go").touch()
        assert _finish(b)[0] == 0
        assert lock_path(output).exists()  # never deleted
        c = _start(tiny_model_dir, "batch", str(tmp_path / "in"), "-o", str(output), *ARGS,
                   pause=("locked", tmp_path / "c"))
        _wait_for(tmp_path / "c" / "locked", c)
        (tmp_path / "a" / "go").touch()  # A now tries to lock what it opened, while C holds the lock
        code, text = _finish(a)
        assert code == 2 and "Traceback" not in text, text
        assert [l for l in text.splitlines() if l.strip()] == [
            f"sam: error: {output}: another `sam batch` is writing it; wait for it to finish"], text
        (tmp_path / "c" / "go").touch()
        code, text = _finish(c)
        assert code == 0 and "4 done, 4 already done, 0 failed" in text, text
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
    _one_row_each(output, files)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted([output.name, lock_path(output).name])


def test_a_symlinked_output_shares_the_lock_of_its_target_and_stays_a_link(tiny_model_dir, tmp_path):
    files = _clips(tmp_path / "in", 6)
    real = tmp_path / "real" / "results.jsonl"
    real.parent.mkdir()
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)  # dangling until the first run writes the target
    a = _start(tiny_model_dir, "batch", *map(str, files[:3]), "-o", str(link), *ARGS, pause=("locked", tmp_path / "a"))
    try:
        _wait_for(tmp_path / "a" / "locked", a)
        for other in (real, link):  # the target, and the link itself, while A holds the lock through the link
            p = sam("batch", str(tmp_path / "in"), "-o", str(other), *ARGS, model=tiny_model_dir)
            assert_clean_error(p, f"{other}: another `sam batch` is writing it", 2)
        other = tmp_path / "link2.jsonl"  # a second link, relative, to the same target: the same lock
        other.symlink_to(Path("real") / "results.jsonl")
        p = sam("batch", str(tmp_path / "in"), "-o", str(other), *ARGS, model=tiny_model_dir)
        assert_clean_error(p, f"another `sam batch` is writing it (it is {real})", 2)
        (tmp_path / "a" / "go").touch()
        code, text = _finish(a)
        assert code == 0, text
    finally:
        if a.poll() is None:
            a.kill()
    assert link.is_symlink() and os.readlink(link) == str(real)  # written through, not replaced
    _one_row_each(real, files[:3])
    # The rest through the target's real path: the link's rows are there, so only 3 are done.
    p = sam("batch", str(tmp_path / "in"), "-o", str(real), *ARGS, model=tiny_model_dir)
    assert p.returncode == 0 and "3 done, 3 already done, 0 failed" in err(p), err(p)
    assert link.is_symlink()
    _one_row_each(link, files)
    assert sorted(p.name for p in real.parent.iterdir()) == [".results.jsonl.lock", "results.jsonl"]
    assert not (tmp_path / ".link.jsonl.lock").exists()


# ---------------------------------------------------------------------------------------------------------
# 4: CSV with a carriage return or a newline in a file name


NAMES = ["cr\rname.wav", "lf\nname.wav", "crlf\r\nname.wav", 'quote"comma,name.wav', "plain.wav"]


def test_csv_file_names_with_carriage_returns_and_newlines_resume(tiny_model_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, name in enumerate(NAMES):
        sf.write(folder / name, tone(0.3, seed=i), 16000)
    output = tmp_path / "r.csv"
    p = sam("batch", str(folder), "-o", str(output), *ARGS, model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    rows = read_records(output)
    assert sorted(r["file"] for r in rows) == sorted(str(folder / n) for n in NAMES)
    # Any CSV reader sees one header and one row per file (no field split at the \r).
    table = list(csv.reader(io.StringIO(output.read_bytes().decode(), newline="")))
    assert len(table) == 1 + len(NAMES) and {len(r) for r in table} == {8}
    before = output.read_bytes()
    p = sam("batch", str(folder), "-o", str(output), *ARGS, model=tiny_model_dir)  # the rerun resumes
    assert p.returncode == 0 and f"0 done, {len(NAMES)} already done, 0 failed" in err(p), err(p)
    assert output.read_bytes() == before
    # describe --format csv quotes the same way.
    p = sam("describe", str(folder / NAMES[0]), str(folder / NAMES[2]), "--format", "csv", "--max-tokens", "3",
            model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    table = list(csv.reader(io.StringIO(out(p), newline="")))
    assert [r[0] for r in table[1:]] == [str(folder / NAMES[0]), str(folder / NAMES[2])]


# ---------------------------------------------------------------------------------------------------------
# 6: --output-dir with inputs that share a name


def test_output_dir_keeps_every_result_when_inputs_share_a_name(tiny_model_dir, tmp_path):
    inputs = [tmp_path / "a" / "same.wav", tmp_path / "b" / "same.wav", tmp_path / "c" / "Same.wav",
              tmp_path / "same-2.wav"]
    for i, path in enumerate(inputs):
        path.parent.mkdir(exist_ok=True)
        sf.write(path, tone(0.3 + 0.1 * i, seed=i), 16000)
    outdir = tmp_path / "o"
    p = sam("describe", *map(str, inputs), "--output-dir", str(outdir), "--json", "--max-tokens", "3",
            model=tiny_model_dir)
    assert p.returncode == 0, err(p)
    written = {f.name: json.loads(f.read_text())["file"] for f in outdir.iterdir()}
    # Names that differ only in case clash too (a case-insensitive file system would merge them).
    assert written == {"same.json": str(inputs[0]), "same-2.json": str(inputs[1]), "Same-3.json": str(inputs[2]),
                       "same-2-2.json": str(inputs[3])}
    assert f"wrote {outdir / 'same-2.json'} for {inputs[1]} ({inputs[0]} has the same name)" in err(p), err(p)
    assert f"wrote {outdir / 'same.json'}\n" in err(p)
    p = sam("describe", "--help", env={"COLUMNS": "300"})
    assert "NAME-2.json" in " ".join(out(p).split()), out(p)


# ---------------------------------------------------------------------------------------------------------
# 11: disk full


def _run_to(stdout_path: str, model: Path, *args: str) -> tuple[int, str]:
    with open(stdout_path, "w") as fh:
        p = subprocess.run([sys.executable, "-m", "sam_cli", *args], stdout=fh, stderr=subprocess.PIPE,
                           env=_env(model), cwd=REPO, timeout=120)
    return p.returncode, p.stderr.decode()


@pytest.mark.parametrize("extra", [(), ("--json",), ("--format", "csv")])
def test_stdout_on_a_full_device_is_a_one_line_error(tiny_model_dir, wav_file, extra):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    code, text = _run_to("/dev/full", tiny_model_dir, "describe", str(wav_file), str(wav_file), "--max-tokens",
                         "3", *extra)
    assert code == 1 and "Traceback" not in text, text
    assert [l for l in text.splitlines() if l.strip()] == ["sam: error: stdout: cannot write (No space left on "
                                                           "device)"], text


@pytest.fixture
def small_disk(tmp_path):
    """A 64-KiB tmpfs: a real ENOSPC. Needs root (CAP_SYS_ADMIN); skipped otherwise."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {p.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _fill(folder: Path, leave: int) -> Path:
    """Fill the file system of `folder` but `leave` bytes."""
    filler = folder / "filler"
    st = os.statvfs(folder)
    filler.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


def test_a_full_disk_stops_the_batch_with_one_line_and_a_rerun_resumes(tiny_model_dir, tmp_path, small_disk):
    files = _clips(tmp_path / "in", 30, seconds=0.2)
    output = small_disk / "results.jsonl"
    filler = _fill(small_disk, 4096)  # room for a page of rows: fewer than 30
    p = sam("--quiet", "batch", str(tmp_path / "in"), "-o", str(output), *ARGS, model=tiny_model_dir)
    assert_clean_error(p, f"{output}: cannot write (No space left on device); the rows written so far are kept; "
                       "rerun to resume", 1)
    kept = read_records(output)
    assert 0 < len(kept) < len(files)
    before = output.read_bytes()
    # A rerun on the still-full disk: the rewrite fails, its temp file goes, the output is as it was.
    p = sam("--quiet", "batch", str(tmp_path / "in"), "-o", str(output), *ARGS, model=tiny_model_dir)
    assert_clean_error(p, f"{output}: cannot write (No space left on device); it is unchanged", 1)
    assert output.read_bytes() == before
    assert sorted(f.name for f in small_disk.iterdir()) == [".results.jsonl.lock", "filler", "results.jsonl"]
    filler.unlink()
    p = sam("batch", str(tmp_path / "in"), "-o", str(output), *ARGS, model=tiny_model_dir)
    assert p.returncode == 0 and f"{len(files) - len(kept)} done, {len(kept)} already done" in err(p), err(p)
    _one_row_each(output, files)


def test_a_full_disk_under_output_dir_is_a_one_line_error(tiny_model_dir, wav_file, small_disk):
    outdir = small_disk / "o"
    outdir.mkdir()
    _fill(small_disk, 0)
    p = sam("describe", str(wav_file), "--output-dir", str(outdir), "--max-tokens", "3", model=tiny_model_dir)
    assert_clean_error(p, f"{outdir / 'clip.txt'}: cannot write (No space left on device)", 1)
    assert list(outdir.iterdir()) == []  # no partial result file
