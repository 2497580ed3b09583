"""`sam batch` runner: one row per file, errors as rows, batching across files, resume after a kill, shards, OOM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import tone
from sam_cli import audio as A
from sam_cli.batch.files import find_audio_files, parse_shard, shard_from_env, shard_output
from sam_cli.batch.runner import run_batch, run_windows
from sam_cli.batch.workers import decode_events
from sam_cli.errors import SamError, UsageError
from sam_cli.decoding.options import DecodeOptions
from sam_cli.tasks import describe
from sam_cli.writers import read_records

ROOT = Path(__file__).resolve().parents[1]
OPTS = DecodeOptions(max_new_tokens=6)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from sam_cli.store.checkpoint import load_checkpoint

    return load_checkpoint(tiny_model_dir)


def make_data(root: Path) -> Path:
    """4 short clips, a 23 s clip (3 windows), a flac in a subfolder, a corrupt and an empty wav, a .txt."""
    data = root / "data"
    (data / "sub").mkdir(parents=True)
    for i in range(4):
        sf.write(data / f"clip{i}.wav", tone(0.5 + 0.5 * i, freq=300 + 150 * i, seed=i), 16000)
    sf.write(data / "long.wav", tone(23.0, freq=500), 16000)
    sf.write(data / "sub" / "other.flac", tone(2.0, sr=22050, freq=700), 22050)
    (data / "corrupt.wav").write_text("this is not audio, just text in a .wav file\n")
    sf.write(data / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    (data / "notes.txt").write_text("not audio; must be ignored")
    return data


GOOD = ["clip0.wav", "clip1.wav", "clip2.wav", "clip3.wav", "long.wav", "sub/other.flac"]
BAD = ["corrupt.wav", "empty.wav"]


def by_file(records: list[dict], data: Path) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for r in records:
        name = Path(r["file"]).relative_to(data).as_posix()
        assert name not in rows, f"two rows for {name}"
        rows[name] = r
    return rows


# ---------------------------------------------------------------------------------------------------------
# One run


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
def test_one_row_per_file_errors_and_segments(model, tmp_path, fmt):
    data = make_data(tmp_path)
    out = tmp_path / f"results.{fmt}"
    seen = []
    summary = run_batch(model, [data], out, opts=OPTS, batch_size=4, workers=2, progress=lambda *a: seen.append(a))
    assert (summary.done, summary.failed, summary.skipped, summary.windows) == (6, 2, 0, 4 + 3 + 1)
    rows = by_file(read_records(out), data)
    assert sorted(rows) == sorted(GOOD + BAD)  # the .txt is ignored, the subfolder searched
    assert "error" not in rows["clip0.wav"] and rows["clip0.wav"]["duration"] == 0.5
    assert rows["empty.wav"]["error"] == "contains no samples"
    assert "not a readable audio file" in rows["corrupt.wav"]["error"]
    long = rows["long.wav"]
    assert [(s["start"], s["end"]) for s in long["segments"]] == [(0.0, 10.24), (10.24, 20.48), (20.48, 23.0)]
    assert long["duration"] == 23.0
    assert long["text"] == " ".join(s["text"] for s in long["segments"] if s["text"])
    for name, r in rows.items():  # the fingerprint that resuming relies on
        st = os.stat(data / name)
        assert (r["size"], r["mtime_ns"]) == (st.st_size, st.st_mtime_ns)
    assert seen[0][:2] == (0, 8) and seen[-1][:2] == (8, 8) and seen[-1][3] == 0.0
    # No temp file left; the lock file stays (deleting it would let two runs hold "the" lock: issue 23 #3).
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["data", out.name, f".{out.name}.lock"])

    # A rerun finds everything done and leaves the file as it was.
    before = out.read_bytes()
    again = run_batch(model, [data], out, opts=OPTS, batch_size=4)
    assert (again.done, again.failed, again.skipped) == (0, 0, 8)
    assert out.read_bytes() == before


# ---------------------------------------------------------------------------------------------------------
# Decoding in processes (--processes)


def _events(files, **kw) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for e in decode_events(files, 2, 10.24, 8, **kw):
        w = e.window
        out.setdefault(e.file, []).append((e.count, e.error) if w is None else
                                          (w.index, w.start, w.end, w.samples.dtype, w.samples.numpy().tobytes()))
    return out


def test_decoding_processes_send_16_bit_audio_as_int16_when_exact():
    from sam_cli.batch.workers import pack_samples, unpack_samples

    pcm = np.array([-32768, -1, 0, 1, 12345, 32767], dtype=np.int16)
    x = pcm.astype(np.float32) / 32768  # what reading a 16-bit file gives
    packed = pack_samples(x)
    assert packed.dtype == np.int16 and np.array_equal(packed, pcm)
    back = unpack_samples(packed)
    assert back.dtype == torch.float32 and torch.equal(back, torch.from_numpy(x))
    for not_16_bit in (x + np.float32(1e-6), np.array([1.0], dtype=np.float32), x.astype(np.float64),
                       np.zeros(0, dtype=np.float32)):
        assert pack_samples(not_16_bit) is not_16_bit  # resampled, full-scale float, other dtypes: as they are
        assert torch.equal(unpack_samples(not_16_bit), torch.from_numpy(not_16_bit))


def test_processes_decode_what_threads_decode(model, tmp_path):
    import multiprocessing

    data = make_data(tmp_path)
    files = find_audio_files([data])
    assert _events(files, processes=True) == _events(files)  # same windows, counts and error messages
    assert multiprocessing.active_children() == []
    # Closing early (a consumer that stops, Ctrl-C) stops the processes too.
    gen = decode_events(files * 20, 2, 10.24, 4, processes=True)
    next(gen)
    gen.close()
    assert multiprocessing.active_children() == []
    # The whole run: the same rows as with threads.
    a, b = tmp_path / "threads.jsonl", tmp_path / "processes.jsonl"
    run_batch(model, [data], a, opts=OPTS, batch_size=4)
    summary = run_batch(model, [data], b, opts=OPTS, batch_size=4, processes=True)
    assert (summary.done, summary.failed) == (6, 2)
    assert {r["file"]: r for r in read_records(a)} == {r["file"]: r for r in read_records(b)}


def test_a_decoding_process_that_dies_stops_the_run_with_a_clear_error(tmp_path):
    import multiprocessing

    clip = tmp_path / "a.wav"
    sf.write(clip, tone(0.5), 16000)
    gen = decode_events([clip] * 200, 2, 10.24, 2, processes=True)
    next(gen)
    victim = multiprocessing.active_children()[0]
    os.kill(victim.pid, signal.SIGKILL)
    with pytest.raises(SamError, match=r"an audio decoding process died \(exit code -9\); run the same command"):
        for _ in gen:
            pass
    assert multiprocessing.active_children() == []


ORPHAN = """
import sys, time, multiprocessing
from pathlib import Path
from sam_cli.batch.workers import decode_events
if __name__ == "__main__":
    gen = decode_events([Path(sys.argv[1])] * 500, 2, 10.24, 2, processes=True)
    next(gen)
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    time.sleep(120)
"""


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc: no procps needed)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4, after "pid (comm) state"
                kids.append(int(entry.name))
    return kids


def _all_gone(pids: list[int], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return all(_gone(p) for p in pids)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return any(line.split()[:2] == ["State:", "Z"] for line in fh)  # a zombie has exited
    except FileNotFoundError:
        return True


def test_decoding_processes_exit_when_their_parent_is_killed(tmp_path):
    clip = tmp_path / "a.wav"
    sf.write(clip, tone(1.0), 16000)
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    parent = subprocess.Popen([sys.executable, str(script), str(clip)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _all_gone(pids), "decoding processes outlived their parent"
    finally:
        parent.kill()


def test_batched_rows_equal_one_file_at_a_time(model, tmp_path):
    data = make_data(tmp_path)
    one = by_file(read_records(run_batch(model, [data], tmp_path / "one.jsonl", opts=OPTS, batch_size=1,
                                         workers=0).output), data)
    four = by_file(read_records(run_batch(model, [data], tmp_path / "four.jsonl", opts=OPTS, batch_size=4,
                                          workers=2).output), data)
    assert one == four
    for name in GOOD:  # and both equal the single-file API
        ref = describe(model, data / name, opts=OPTS)
        assert [(s.start, s.end, s.text) for s in ref] == [(s["start"], s["end"], s["text"])
                                                            for s in one[name]["segments"]]


def test_windows_of_several_files_share_batches_and_come_back_to_their_file(model, tmp_path):
    # The tiny random model says nearly the same thing for any audio, so to check that every answer is
    # routed back to its own file and window, this batch function answers with a summary of the samples.
    data = make_data(tmp_path)
    batches = []

    def signature(model, wins, ids, opts, timings):
        batches.append(len(wins))
        return [f"{float(w.samples.abs().mean()):.6f}/{w.samples.numel()}" for w in wins]

    summary = run_batch(model, [data], tmp_path / "r.jsonl", batch_size=3, workers=2, batch_fn=signature)
    rows = by_file(read_records(summary.output), data)
    assert batches[0] == 3 and sum(batches) == 8  # windows of several files in one batch
    for name in GOOD:
        wins = A.split_windows(A.load_audio(data / name))
        expected = [f"{float(w.samples.abs().mean()):.6f}/{w.samples.numel()}" for w in wins]
        assert [s["text"] for s in rows[name]["segments"]] == expected


def test_find_audio_files(tmp_path):
    data = make_data(tmp_path)
    (data / "sub" / "loop").symlink_to(data, target_is_directory=True)  # a symlink loop
    (data / ".hidden").mkdir()
    sf.write(data / ".hidden" / "x.wav", tone(0.2), 16000)
    sf.write(data / "._clip0.wav", tone(0.2), 16000)
    (tmp_path / "video.mp4").write_bytes(b"x")
    files = find_audio_files([data, tmp_path / "video.mp4", data / "clip0.wav"])
    names = [f.relative_to(tmp_path).as_posix() for f in files]
    assert names == sorted(["data/" + n for n in GOOD + BAD] + ["video.mp4"], key=lambda n: n.split("/"))
    assert [f.name for f in find_audio_files([data], ["FLAC"])] == ["other.flac"]
    with pytest.raises(UsageError, match="no such file"):
        find_audio_files([tmp_path / "missing"])
    with pytest.raises(UsageError, match="no audio files"):
        run_batch(None, [data / "sub"], tmp_path / "r.jsonl", extensions=["mp3"])
    with pytest.raises(UsageError, match="cannot be resumed"):
        run_batch(None, [data], tmp_path / "r.txt")


# ---------------------------------------------------------------------------------------------------------
# Resuming


def test_changed_file_is_redone_and_its_stale_rows_dropped(model, tmp_path):
    data = make_data(tmp_path)
    out = tmp_path / "results.csv"  # csv: a 3-window file has 3 rows, all of which must go
    run_batch(model, [data], out, opts=OPTS, batch_size=4)
    sf.write(data / "long.wav", tone(12.0, freq=900), 16000)  # now 2 windows
    summary = run_batch(model, [data], out, opts=OPTS, batch_size=4)
    assert (summary.done, summary.skipped, summary.failed) == (1, 7, 0)
    lines = out.read_text().splitlines()
    assert len([ln for ln in lines if ln.startswith(str(data / "long.wav"))]) == 2
    rows = by_file(read_records(out), data)
    assert [(s["start"], s["end"]) for s in rows["long.wav"]["segments"]] == [(0.0, 10.24), (10.24, 12.0)]
    assert rows["long.wav"]["size"] == os.stat(data / "long.wav").st_size


def test_incomplete_multi_row_record_is_redone(model, tmp_path):
    data = make_data(tmp_path)
    out = tmp_path / "results.tsv"
    run_batch(model, [data], out, opts=OPTS, batch_size=4)
    lines = out.read_text().splitlines(keepends=True)
    # A crash between two rows of the 3-window file: its last row is missing.
    last = max(i for i, ln in enumerate(lines) if "long.wav" in ln)
    out.write_text("".join(lines[:last] + lines[last + 1 :]))
    summary = run_batch(model, [data], out, opts=OPTS, batch_size=4)
    assert (summary.done, summary.skipped) == (1, 7)
    assert len(by_file(read_records(out), data)["long.wav"]["segments"]) == 3


def test_retry_errors(model, tmp_path):
    data = make_data(tmp_path)
    out = tmp_path / "results.jsonl"

    def no_memory_for_clip2(model, wins, ids, opts, timings):  # a transient failure of a good file
        if any(w.samples.numel() == 24000 for w in wins):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return run_windows(model, wins, ids, opts, timings)

    first = run_batch(model, [data], out, opts=OPTS, batch_size=4, batch_fn=no_memory_for_clip2)
    assert first.failed == 3 and "out of GPU memory" in by_file(read_records(out), data)["clip2.wav"]["error"]
    plain = run_batch(model, [data], out, opts=OPTS)
    assert (plain.done, plain.failed, plain.skipped, plain.failed_before) == (0, 0, 8, 3)  # errors count as done...
    retry = run_batch(model, [data], out, opts=OPTS, retry_errors=True)
    assert (retry.done, retry.failed, retry.skipped) == (1, 2, 5)  # ...unless retried: then replaced
    rows = by_file(read_records(out), data)
    assert "error" not in rows["clip2.wav"] and rows["clip2.wav"]["duration"] == 1.5
    assert "error" in rows["corrupt.wav"]


def test_file_names_that_are_not_utf8(model, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    sf.write(data / "ok.wav", tone(0.5), 16000)
    sf.write(data / "tmp.wav", tone(0.5), 16000)
    os.rename(data / "tmp.wav", os.path.join(os.fsencode(data), b"caf\xe9.wav"))  # Latin-1 bytes
    out = tmp_path / "results.jsonl"
    first = run_batch(model, [data], out, opts=OPTS)
    assert first.done + first.failed == 2
    again = run_batch(model, [data], out, opts=OPTS)
    assert again.skipped == 2 and len(read_records(out)) == 2


def test_refuses_an_output_it_did_not_write(model, tmp_path):
    data = make_data(tmp_path)
    out = tmp_path / "results.jsonl"
    out.write_text('{"file": "x.wav", "labels": [{"label": "dog", "score": 0.5}]}\n')
    with pytest.raises(SamError, match="did not write"):
        run_batch(model, [data], out, opts=OPTS)
    assert out.read_text().startswith('{"file": "x.wav"')  # untouched
    out.unlink()
    run_batch(model, [data], out, opts=OPTS, prompt="Is there a dog?", task="ask")
    assert {r.get("prompt") for r in read_records(out)} - {None} == {"Is there a dog?"}
    with pytest.raises(UsageError, match="another prompt"):
        run_batch(model, [data], out, opts=OPTS)


CHILD = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the test runner ignores SIGINT
from sam_cli.batch.runner import run_batch
from sam_cli.store.checkpoint import load_checkpoint
from sam_cli.decoding.options import DecodeOptions
model = load_checkpoint(sys.argv[1])
run_batch(model, [sys.argv[2]], sys.argv[3], opts=DecodeOptions(max_new_tokens=4), batch_size=2, workers=2,
          processes=sys.argv[4] == "processes", progress=lambda *a: time.sleep(0.1))  # slow enough to kill midway
print("finished")
"""


@pytest.mark.parametrize("sig,decoders", [(signal.SIGINT, "threads"), (signal.SIGKILL, "threads"),
                                          (signal.SIGINT, "processes"), (signal.SIGKILL, "processes")])
def test_kill_midway_and_resume(model, tiny_model_dir, tmp_path, sig, decoders):
    data = tmp_path / "many"
    data.mkdir()
    for i in range(40):
        sf.write(data / f"c{i:02d}.wav", tone(0.2, freq=200 + 20 * i, seed=i), 16000)
    out = tmp_path / "results.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tiny_model_dir), str(data), str(out), decoders], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (out.exists() and out.read_text().count("\n") >= 6):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no rows appeared"
            time.sleep(0.05)
        children = _children(proc.pid)
        assert len(children) == (3 if decoders == "processes" else 0)  # 2 decoders + multiprocessing's tracker
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
        assert _all_gone(children), "decoding processes outlived the run"
    finally:
        proc.kill()
    assert "finished" not in stdout and proc.returncode != 0
    if sig == signal.SIGINT:
        assert "KeyboardInterrupt" in stderr
    written = out.read_text()
    written = written[: written.rfind("\n") + 1]  # whole rows only
    done_before = read_records(out)
    assert 6 <= len(done_before) < 40
    if sig == signal.SIGKILL:
        with open(out, "a") as fh:  # what a kill in the middle of a write leaves
            fh.write('{"file":"' + str(data / "c39.wav") + '","duration":0.2,"te')

    summary = run_batch(model, [data], out, opts=DecodeOptions(max_new_tokens=4), batch_size=2)
    assert (summary.skipped, summary.done, summary.failed) == (len(done_before), 40 - len(done_before), 0)
    final = read_records(out)
    assert sorted(r["file"] for r in final) == [str(data / f"c{i:02d}.wav") for i in range(40)]  # each once
    assert out.read_text().startswith(written)  # the rows done before the kill were kept, not redone


# ---------------------------------------------------------------------------------------------------------
# Shards


def test_parse_shard_and_env():
    assert parse_shard("0/1") == (0, 1) and parse_shard(" 2 / 4 ") == (2, 4)
    for bad in ["3/2", "2/2", "x/2", "0/0", "1", "-1/2", ""]:
        with pytest.raises(UsageError):
            parse_shard(bad)
    assert shard_from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (1, 4)
    assert shard_from_env({"RANK": "0", "WORLD_SIZE": "1"}) is None
    assert shard_from_env({}) is None
    assert shard_output(Path("out/results.jsonl"), (2, 4)) == Path("out/results.shard-2-of-4.jsonl")
    assert shard_output(Path("results.csv"), (0, 1)) == Path("results.csv")


def test_shards_are_disjoint_and_complete(model, tmp_path, monkeypatch):
    data = make_data(tmp_path)
    out = tmp_path / "results.jsonl"
    ordered = [str(p) for p in find_audio_files([data])]
    files = []
    for i in range(3):
        summary = run_batch(model, [data], out, opts=OPTS, shard=(i, 3))
        assert summary.output == tmp_path / f"results.shard-{i}-of-3.jsonl"
        got = sorted(r["file"] for r in read_records(summary.output))
        assert got == sorted(ordered[i::3])  # file k goes to shard k mod N of the sorted list
        files += got
    assert sorted(files) == sorted(ordered) and len(set(files)) == len(files)
    assert not out.exists()
    # Under torchrun, the shard comes from the environment.
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    summary = run_batch(model, [data], out, opts=OPTS)
    assert summary.output == tmp_path / "results.shard-1-of-2.jsonl"
    assert sorted(r["file"] for r in read_records(summary.output)) == sorted(ordered[1::2])


# ---------------------------------------------------------------------------------------------------------
# CUDA out of memory


def test_out_of_memory_halves_the_batch(model, tmp_path):
    data = make_data(tmp_path)
    sizes = []

    def fits_two(model, wins, ids, opts, timings):
        sizes.append(len(wins))
        if len(wins) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return run_windows(model, wins, ids, opts, timings)

    summary = run_batch(model, [data], tmp_path / "r.jsonl", opts=OPTS, batch_size=8, workers=0, batch_fn=fits_two)
    assert sizes[:3] == [8, 4, 2] and max(sizes[3:]) <= 2  # halved until it fits, then kept small
    assert summary.batch_size == 2 and (summary.done, summary.failed) == (6, 2)
    rows = by_file(read_records(summary.output), data)
    reference = by_file(read_records(run_batch(model, [data], tmp_path / "ref.jsonl", opts=OPTS).output), data)
    assert rows == reference


def test_out_of_memory_at_batch_size_one_fails_only_that_file(model, tmp_path):
    data = make_data(tmp_path)

    def long_never_fits(model, wins, ids, opts, timings):
        if len(wins) > 1 or wins[0].end - wins[0].start > 5:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return run_windows(model, wins, ids, opts, timings)

    summary = run_batch(model, [data], tmp_path / "r.jsonl", opts=OPTS, batch_size=4, batch_fn=long_never_fits)
    rows = by_file(read_records(summary.output), data)
    assert rows["long.wav"]["error"] == "out of GPU memory even at batch size 1"
    assert (summary.done, summary.failed, summary.batch_size) == (5, 3, 1)

    def broken(model, wins, ids, opts, timings):
        raise RuntimeError("a bug, not a memory problem")

    with pytest.raises(RuntimeError, match="a bug"):  # anything else is not swallowed
        run_batch(model, [data], tmp_path / "r2.jsonl", batch_fn=broken)


def test_model_runs_beside_the_reader_and_a_failing_batch_keeps_earlier_rows(model, tmp_path):
    # The model runs on its own thread (one batch in flight) while this one reads the next batch's windows;
    # an error there still reaches the caller, and the rows of batches finished before it are kept once.
    data = make_data(tmp_path)
    threads, calls = set(), []

    def third_batch_fails(model, wins, ids, opts, timings):
        threads.add(threading.current_thread().name)
        calls.append(len(wins))
        if len(calls) == 3:
            raise RuntimeError("a bug in batch 3")
        return run_windows(model, wins, ids, opts, timings)

    out = tmp_path / "r.jsonl"
    with pytest.raises(RuntimeError, match="batch 3"):
        run_batch(model, [data], out, opts=OPTS, batch_size=2, workers=1, batch_fn=third_batch_fails)
    assert threads == {"sam-model"}
    before = read_records(out)
    assert before and len({r["file"] for r in before}) == len(before)
    summary = run_batch(model, [data], out, opts=OPTS, batch_size=2)
    rows = read_records(summary.output)
    assert len(rows) == len({r["file"] for r in rows}) == summary.skipped + summary.done + summary.failed


def test_processes_are_the_default_only_for_long_runs_on_a_gpu(model):
    from types import SimpleNamespace

    from sam_cli.batch.runner import PROCESSES_FROM_FILES, auto_processes

    assert not auto_processes(model, 10**6)  # this model is on the CPU: threads
    gpu = SimpleNamespace(device=torch.device("cuda", 0))  # only the device is read
    assert not auto_processes(gpu, PROCESSES_FROM_FILES - 1)
    assert auto_processes(gpu, PROCESSES_FROM_FILES)
