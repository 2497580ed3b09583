"""The host side of `sam batch`: how fast its decode threads turn 10-s WAV files into windows, no model.

    python benchmarks/bench_host_decode.py [--files 256] [--workers 0,1,2,8]     # threads, then processes

On a GPU, `sam batch` computes fbank on the device, so the host's job per clip is reading, converting and
windowing the file (sam_cli.batch.workers.decode_events, threads). This measures that alone, with the CPU time a
clip costs: if the threads' total rate is near the GPU's clips/s, the host is the limit.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from sam_cli import audio as A
from sam_cli.batch.workers import decode_events


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=256)
    ap.add_argument("--workers", default="0,1,2,8")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(args.files):  # 10 s of 16-bit noise at 16 kHz, as the end-to-end benchmark's clips
            path = Path(tmp) / f"c{i:05d}.wav"
            sf.write(path, (0.1 * rng.standard_normal(160000)).astype(np.float32), 16000, subtype="PCM_16")
            files.append(path)
        for processes in (False, True):
            for workers in map(int, args.workers.split(",")):
                if processes and workers == 0:
                    continue
                t0 = time.perf_counter()
                events = decode_events(files, workers, 10.24, 64, processes=processes)
                first = next(events)  # startup (spawning and importing, for processes) is timed apart
                t, c = time.perf_counter(), time.process_time()
                n = sum(1 for e in events if e.window is not None) + (first.window is not None)
                wall, cpu = time.perf_counter() - t, time.process_time() - c
                kind = "processes" if processes else "threads"
                # For processes the CPU time is this (the consuming) process's alone: what the thread that
                # drives the model competes with.
                print(f"decode {kind} {workers}: start-up {t - t0:.2f} s, then {n / wall:.0f} clips/s, "
                      f"{cpu / n * 1e3:.2f} ms of this process's CPU a clip")
        wavs = [A.load_audio(f) for f in files[:64]]
        t = time.perf_counter()
        A.fbank_batch(wavs, target_length=1024)
        print(f"fbank on the CPU, for reference: {(time.perf_counter() - t) / len(wavs) * 1e3:.2f} ms a clip")


if __name__ == "__main__":
    main()
