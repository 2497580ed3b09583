"""`sam batch` on the CPU gives torch's CPU threads to its model thread alone (accel/threads.py: a second OpenMP
team, here the main thread's from loading the model, made the CPU model run at about 0.8 of its speed): the CLI's
main thread takes one thread before the model loads, the model thread gets the process's count, the main and
decoding threads one each while the run lasts. In a fresh process, since the counts are the process's."""

from __future__ import annotations

import json
import subprocess
import sys

import soundfile as sf
from conftest import tone
from helpers import REPO

CODE = """
import json, sys, threading, torch
from sam_cli.cli.batch import _model_thread_gets_torch_threads
from sam_cli.batch.runner import run_batch, run_windows
from sam_cli.store.checkpoint import load_checkpoint
import sam_cli.batch.workers as W

torch.set_num_threads(2)
threads = _model_thread_gets_torch_threads("cpu")  # as `sam batch` does before it loads the model
seen = {"before_load": torch.get_num_threads()}
model = load_checkpoint(sys.argv[1], device="cpu")
decode_file = W._decode_file
def decode(*args):  # on a decoding thread
    seen.setdefault("decoding", set()).add(torch.get_num_threads())
    yield from decode_file(*args)
W._decode_file = decode
def batch_fn(*args):  # on the model thread
    seen.setdefault("model", set()).add((threading.current_thread().name, torch.get_num_threads()))
    return run_windows(*args)
def progress(*args):  # on the main thread
    seen.setdefault("main", set()).add(torch.get_num_threads())
summary = run_batch(model, [sys.argv[2]], sys.argv[3], batch_size=2, workers=2, batch_fn=batch_fn,
                    progress=progress, threads=threads)
seen["after"] = torch.get_num_threads()
print(json.dumps({"threads": threads, "done": summary.done, **{k: sorted(v) if isinstance(v, set) else v
                                                              for k, v in seen.items()}}))
"""


def test_the_model_thread_has_the_threads_and_the_others_one(tmp_path, tiny_model_dir):
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(4):
        sf.write(clips / f"c{i}.wav", tone(3.0, freq=300.0 + 100 * i), 16000)
    p = subprocess.run([sys.executable, "-c", CODE, str(tiny_model_dir), str(clips), str(tmp_path / "out.jsonl")],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert p.returncode == 0, p.stderr
    seen = json.loads(p.stdout.splitlines()[-1])
    assert seen["threads"] == 2 and seen["done"] == 4
    assert seen["before_load"] == 1  # the main thread never starts a team of 2
    assert seen["model"] == [["sam-model", 2]]
    assert seen["main"] == [1] and seen["decoding"] == [1] and seen["after"] == 1
