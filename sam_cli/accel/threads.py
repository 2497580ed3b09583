"""torch's CPU threads, thread by thread, where the model runs on one thread beside others that touch torch.

torch's CPU ops run on OpenMP (libgomp): each thread that runs a parallel op is the master of a team of its
own, and once the process has more OpenMP threads than cores, libgomp stops spinning between parallel regions;
every region then waits for its threads to wake up. The model's many small ops pay that each time: on 2 cores
sam-tiny ran about half as fast in `sam serve` as in `sam describe` (a 10-s clip 0.11 s against 0.06 s). So
the thread that runs the model keeps the process's threads and the others (a main thread that only hands work
over, audio-decoding threads) take one each: `sam serve` (serve/engine.py), `sam batch` (batch/runner.py,
batch/workers.py), `sam eval`'s audio loaders (evaluation/predict.py).
"""

from __future__ import annotations

import torch


def set_torch_threads(n: int) -> None:
    """This thread's torch CPU threads. torch copies the process-wide count into a thread at its first parallel
    op: done here first, so that a later set_num_threads on another thread leaves this one's alone."""
    torch.get_num_threads()
    torch.set_num_threads(n)
