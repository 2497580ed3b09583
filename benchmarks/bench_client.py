"""A warm `sam describe --server URL clip.wav` (issue 20: <= 0.3 s on the CPU for a 10-s clip with the bundled
model), the whole command as a user runs it, and where its time goes.

    python benchmarks/bench_client.py [--clip examples/dog_bark.wav] [--rounds 10] [--reference-tree DIR]

Starts `sam serve --port 0` (this tree, the bundled model), then for each round runs, one after the other:
the whole command; `python -c pass` (the interpreter's start); `sam --version` (the full command line's
start-up); a process that only imports what the command imports; the request alone (urllib, in this
process). With --reference-tree, a folder holding another copy of the package (e.g. the commit before a
change: `git archive OLD sam_cli | tar -x -C DIR`), a second server runs from it and each round adds the same
command and request from that copy against that server (first on PYTHONPATH). Interleaving the kinds makes a
busy machine slow them alike. Last, the model time of the same clip in this process, on its main thread
(sam_cli.describe: the work the server does for the request). Prints medians and quartiles (their spread is
the machine's noise), and the JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_serve import launch_server  # benchmarks/ is on sys.path when this file runs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# What the command imports on its way to the server (cli/quick_remote.py), timed alone as a process.
CLIENT_IMPORTS = "import sam_cli.cli.quick_remote, sam_cli.serve.client, sam_cli.writers, urllib.request"


def env(pythonpath: str | None = None) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("SAM_")}
    if pythonpath:
        e["PYTHONPATH"] = pythonpath
    return e


def timed(cmd: list[str], environ: dict) -> float:
    t0 = time.perf_counter()
    # From /, not ROOT: `python -m` puts the working folder first on sys.path, before PYTHONPATH's tree.
    subprocess.run(cmd, cwd="/", env=environ, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def start_server(environ: dict) -> tuple[subprocess.Popen, str]:
    return launch_server([], "/", environ)


def summary(xs: list[float]) -> dict:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return {"median_s": statistics.median(xs), "p25_s": q[0], "p75_s": q[2], "runs": len(xs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=ROOT / "examples" / "dog_bark.wav")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--reference-tree", type=Path, default=None, help="a folder holding another sam_cli")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from sam_cli.serve.client import remote_record

    trees = {"": None}
    if args.reference_tree:
        trees["reference_"] = str(args.reference_tree.resolve())
    servers, kinds, requests, answers = [], {}, {}, {}
    audio = args.clip.read_bytes()
    try:
        for prefix, tree in trees.items():
            proc, url = start_server(env(tree))
            servers.append(proc)
            kinds[prefix + "command"] = ([sys.executable, "-m", "sam_cli", "describe", "--server", url,
                                          str(args.clip.resolve())], env(tree))
            requests[prefix + "request"] = url
        kinds["python_start"] = ([sys.executable, "-c", "pass"], env())
        kinds["sam_version"] = ([sys.executable, "-m", "sam_cli", "--version"], env())
        kinds["client_imports"] = ([sys.executable, "-c", CLIENT_IMPORTS], env())
        times: dict[str, list[float]] = {k: [] for k in [*kinds, *requests]}
        for cmd, environ in kinds.values():  # warm the page cache and the servers once
            timed(cmd, environ)
        for _ in range(args.rounds):
            for kind, (cmd, environ) in kinds.items():
                times[kind].append(timed(cmd, environ))
            for kind, url in requests.items():
                t0 = time.perf_counter()
                answers[kind] = remote_record(url, "describe", audio, args.clip.name, {})["text"]
                times[kind].append(time.perf_counter() - t0)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(60)

    import sam_cli

    model = sam_cli.load_model(None, device="cpu")
    sam_cli.describe(model, args.clip)
    model_s = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        sam_cli.describe(model, args.clip)
        model_s.append(time.perf_counter() - t0)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "load_average": os.getloadavg(), "invocation": " ".join(sys.argv), "clip": str(args.clip),
              **{k: summary(v) for k, v in times.items()}, "model_in_process": summary(model_s),
              "answers": answers}
    for k, v in result.items():
        if isinstance(v, dict) and "median_s" in v:
            print(f"{k:>20}: median {v['median_s']:.3f} s (quartiles {v['p25_s']:.3f}-{v['p75_s']:.3f})",
                  file=sys.stderr)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
