"""Load test of `sam serve` on 127.0.0.1 (issue 20): N concurrent clients against one `sam batch` over the same
clips, in the same run.

    python benchmarks/bench_serve.py [--model sam-tiny] [--clients 1,8,64,256] [--clips 64] [--max-batch 64]
                                     [--processes 1,8] [--soak 10000] [--no-reference] [--json out.json]
                                     [--scoring 0.5]

The clips are the example clips (examples/*.wav) copied to --clips files. For each N, N clients (asyncio,
httpx, one connection each) send the clips through POST /v1/describe (greedy, the CLI's defaults) until every
clip was sent max(1, N / clips) times over: requests/s, p50 and p99 latency, and the server's resident memory
after the level (it should not grow with the number of finished requests). The reference, measured in the
same run on the same clips: one `sam batch` (its whole command, start-up included; and its clips/s past
start-up: the clips after the first over the time they added to a `sam batch` of one clip), and N
concurrent `sam describe` processes for each N of --processes. Last: a warm `sam describe --server` of one 10-s clip, the median of 5 whole commands, and with
--soak N, N more requests from 64 clients with the server's resident memory after each tenth of them (it
should level off: nothing is kept per finished request).

With --scoring F, that share of the requests asks with choices instead (POST /v1/ask, "Is there a dog?",
choices yes,no,maybe: scored, not generated), spread evenly among the describe requests; each kind's
requests/s and p50 are given apart, and the reference adds one process that loads the model once and runs
`tasks.choose` (what `sam ask --choices` runs) over the same clips: its clips/s past loading.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def sam_env(model: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAM_")}
    if model:
        env["SAM_MODEL"] = model
    return env


def start_server(model: str | None, max_batch: int) -> tuple[subprocess.Popen, str]:
    return launch_server(["--max-batch", str(max_batch), "--max-queue", "4096"], ROOT, sam_env(model))


def launch_server(options: list[str], cwd: Path | str, environ: dict) -> tuple[subprocess.Popen, str]:
    """`sam serve --port 0 OPTIONS` started; (the process, its URL from the first line it logs)."""
    proc = subprocess.Popen([sys.executable, "-m", "sam_cli", "serve", "--port", "0", *options], cwd=cwd, env=environ,
                            stderr=subprocess.PIPE)
    line = proc.stderr.readline().decode()
    found = re.search(r"on (http://\S+:\d+)", line)
    if not found:
        proc.kill()
        sys.exit(f"sam serve did not start: {line}{proc.stderr.read().decode()}")
    return proc, found.group(1)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


QUESTION, CHOICES = "Is there a dog?", "yes,no,maybe"


def scored(i: int, share: float) -> bool:
    """Whether request i asks with choices: `share` of the requests, evenly spread."""
    return int((i + 1) * share) > int(i * share)


async def load_level(url: str, files: list[Path], clients: int, scoring: float = 0.0) -> dict:
    rounds = max(1, -(-clients // len(files)))
    todo = [(f, scored(i, scoring)) for i, f in enumerate(f for _ in range(rounds) for f in files)]
    latencies: list[float] = []
    by_kind: dict[bool, list[float]] = {False: [], True: []}
    data = {f: f.read_bytes() for f in files}
    queue: asyncio.Queue = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)

    async def client() -> None:
        async with httpx.AsyncClient(timeout=600) as http:
            while not queue.empty():
                f, choices = queue.get_nowait()
                t0 = time.perf_counter()
                if choices:
                    r = await http.post(url + "/v1/ask", files={"file": (f.name, data[f])},
                                        data={"question": QUESTION, "choices": CHOICES})
                else:
                    r = await http.post(url + "/v1/describe", files={"file": (f.name, data[f])})
                r.raise_for_status()
                latencies.append(time.perf_counter() - t0)
                by_kind[choices].append(latencies[-1])

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - t0
    latencies.sort()
    level = {"clients": clients, "requests": len(todo), "wall_s": wall, "requests_per_s": len(todo) / wall,
             "p50_s": latencies[len(latencies) // 2], "p99_s": latencies[min(len(latencies) - 1,
                                                                             int(0.99 * len(latencies)))]}
    if scoring:
        for kind, name in ((False, "describe"), (True, "choices")):
            if by_kind[kind]:
                level[f"{name}_requests_per_s"] = len(by_kind[kind]) / wall
                level[f"{name}_p50_s"] = statistics.median(by_kind[kind])
    return level


CHOOSE = """
import sys, time
import sam_cli
from sam_cli.tasks import choose
model = sam_cli.load_model(sys.argv[1] or None)
files = sys.argv[2:]
choose(model, files[0], {q!r}, {c!r}.split(","))  # first-call set-up
t0 = time.perf_counter()
for f in files:
    choose(model, f, {q!r}, {c!r}.split(","))
print(len(files) / (time.perf_counter() - t0))
""".format(q=QUESTION, c=CHOICES)


def run_choose(model: str | None, files: list[Path]) -> dict:
    """`tasks.choose` (sam ask --choices) over the clips in one process, the model loaded once."""
    out = subprocess.run([sys.executable, "-c", CHOOSE, model or "", *map(str, files)], cwd=ROOT, env=sam_env(model),
                         stdout=subprocess.PIPE, check=True)
    return {"clips": len(files), "clips_per_s": float(out.stdout.decode().split()[-1])}


def run_batch(model: str | None, folder: Path, out: Path) -> dict:
    """One `sam batch` over `folder`: the whole command's wall time and clips/s."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sam_cli", "batch", str(folder), "--output", str(out)], cwd=ROOT,
                   env=sam_env(model), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    rows = sum(1 for _ in out.open())
    return {"clips": rows, "wall_s": wall, "clips_per_s": rows / wall}


def run_processes(model: str | None, files: list[Path], n: int) -> dict:
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "sam_cli", "describe", str(files[i % len(files)])], cwd=ROOT,
                              env=sam_env(model), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(n)]
    for p in procs:
        p.wait()
    wall = time.perf_counter() - t0
    return {"processes": n, "wall_s": wall, "clips_per_s": n / wall}


def warm_cli(url: str, clip: Path, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sam_cli", "describe", "--server", url, str(clip)], cwd=ROOT,
                       env=sam_env(None), stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="as sam --model (default: the bundled model)")
    ap.add_argument("--clients", default="1,8,64,256")
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--processes", default="1,8", help="N concurrent `sam describe` processes ('' for none)")
    ap.add_argument("--soak", type=int, default=0, help="then this many requests, memory after each tenth")
    ap.add_argument("--no-reference", action="store_true", help="skip `sam batch` and the `sam describe` processes")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--scoring", type=float, default=0.0, help="share of requests asking with choices (0 to 1)")
    args = ap.parse_args()

    examples = sorted((ROOT / "examples").glob("*.wav"))
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    folder = work / "clips"
    folder.mkdir()
    files = []
    for i in range(args.clips):
        src = examples[i % len(examples)]
        files.append(folder / f"{i:04d}-{src.name}")
        shutil.copyfile(src, files[-1])
    result: dict = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                    "command": " ".join(sys.argv), "clips": args.clips}
    try:
        if not args.no_reference:
            reference(args, result, work, files)
        proc, url = start_server(args.model, args.max_batch)
        try:
            result["server_rss_mb_start"] = rss_mb(proc.pid)
            result["levels"] = []
            for n in (int(c) for c in args.clients.split(",") if c):
                level = asyncio.run(load_level(url, files, n, args.scoring))
                level["server_rss_mb"] = rss_mb(proc.pid)
                if "choices_requests_per_s" in level and "choose_one_process" in result:
                    level["choices_vs_one_process"] = (level["choices_requests_per_s"]
                                                       / result["choose_one_process"]["clips_per_s"])
                    # The mix against the references doing the same work one after the other (past start-up).
                    alone = (level.get("describe_requests_per_s", 0.0) / result["sam_batch"]["clips_per_s_after_start"]
                             + level["choices_requests_per_s"] / result["choose_one_process"]["clips_per_s"])
                    level["mix_vs_references"] = alone
                if "sam_batch" in result:
                    level["vs_sam_batch"] = level["requests_per_s"] / result["sam_batch"]["clips_per_s"]
                    level["vs_sam_batch_after_start"] = (level["requests_per_s"]
                                                         / result["sam_batch"]["clips_per_s_after_start"])
                result["levels"].append(level)
                print(f"{n} clients: {level}", file=sys.stderr)
            result["warm_describe_server_s"] = warm_cli(url, examples[0])
            print(f"warm sam describe --server: {result['warm_describe_server_s']:.3f} s", file=sys.stderr)
            result["soak"] = []
            for i in range(10 if args.soak else 0):
                asyncio.run(load_level(url, files * max(1, args.soak // 10 // len(files)), 64))
                done = (i + 1) * len(files) * max(1, args.soak // 10 // len(files))
                result["soak"].append({"requests": done, "server_rss_mb": rss_mb(proc.pid)})
                print(f"soak: {result['soak'][-1]}", file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait(60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


def reference(args: argparse.Namespace, result: dict, work: Path, files: list[Path]) -> None:
    """`sam batch` and N `sam describe` processes over the same clips."""
    one = work / "one"
    one.mkdir()
    shutil.copyfile(files[0], one / files[0].name)
    result["sam_batch_one_clip"] = run_batch(args.model, one, work / "one.jsonl")  # its start-up, roughly
    result["sam_batch"] = batch = run_batch(args.model, files[0].parent, work / "out.jsonl")
    # Clips/s past start-up: the clips after the first over the time they added.
    batch["clips_per_s_after_start"] = (batch["clips"] - 1) / max(
        1e-9, batch["wall_s"] - result["sam_batch_one_clip"]["wall_s"])
    print(f"sam batch: {result['sam_batch']}", file=sys.stderr)
    if args.scoring:
        result["choose_one_process"] = run_choose(args.model, files)
        print(f"tasks.choose in one process: {result['choose_one_process']}", file=sys.stderr)
    result["processes"] = [run_processes(args.model, files, int(n)) for n in args.processes.split(",") if n]
    for p in result["processes"]:
        print(f"sam describe x{p['processes']}: {p}", file=sys.stderr)


if __name__ == "__main__":
    main()
