"""Encoder time and peak memory per clip against clip length: EAT (sam-tiny's shape) vs an Audio Mamba of about
the same parameter count (issue 22).

    python benchmarks/bench_encoders.py [--seconds 1,10,60,300] [--repeats 3] [--threads 1] [--device cpu]
                                        [--am-dims 32,64,128,256] [--am-depths 2,2,11,2] [--json out.json]
                                        [--am-path auto|fused|reference]

Each (encoder, length) is measured in a fresh process (so its peak resident memory is its own): random
weights, one clip [1, 1, T, 128] of T = the length in 10-ms frames rounded up to a multiple of 32, inference
mode; one untimed warm-up on clips up to 60 s, then the median of --repeats forward passes (one pass from
60 s on; on CUDA always a warm-up and --repeats passes). On CUDA the Audio Mamba runs on the fused kernels
(`accel/fast_audio_mamba.py`, as the commands do) where they import; `--am-path reference` times the
PyTorch reference instead; each row says which ran ("path"). Memory: the process's peak RSS (ru_maxrss)
less its RSS just before the first forward pass, i.e. what the pass itself allocated at its peak (CUDA:
torch.cuda.max_memory_allocated). The two encoders are measured alternately, length by length, so a busy
machine slows both alike; the table gives their ratio.

One thread by default: the Audio Mamba reference runs thousands of small ops a clip, and on a machine shared
with other work two OpenMP threads spend most of their time waiting for each other (5-20x slower than one).

EAT here is one window of the whole clip, its sin-cos position table made long enough: in `sam` EAT only
ever sees 10.24-s windows (its table, and its training), so the long rows show what one EAT pass over a long
clip would cost, which is what an Audio Mamba `sam describe` over long windows does cost.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, torch
sys.path.insert(0, {root!r})
from sam_cli.models.audio_mamba import AudioMambaConfig, AudioMambaEncoder
from sam_cli.models.encoder import EATConfig, EATEncoder
a = json.loads({args!r})
torch.set_num_threads(a["threads"])
torch.manual_seed(0)
frames = a["frames"]
if a["kind"] == "eat":
    enc = EATEncoder(EATConfig(embed_dim=256, depth=6, num_heads=4, num_classes=0, model_variant="pretrain",
                               max_length=max(64, frames // 16)))
else:
    enc = AudioMambaEncoder(AudioMambaConfig(dims=a["dims"], depths=a["depths"]))
dev = torch.device(a["device"])
enc = enc.to(dev).eval()
params = sum(p.numel() for p in enc.parameters())
x = torch.randn(1, 1, frames, 128, device=dev)
run, path = enc, "reference"
if a["kind"] == "audio_mamba" and dev.type == "cuda" and a["am_path"] != "reference":
    from sam_cli.accel import kernels
    if kernels.available():  # what the commands run on CUDA (accel.select.fused_encoder)
        from sam_cli.accel import fast_audio_mamba
        run, path = (lambda feats: fast_audio_mamba.encode(enc, feats)), "fused"
    elif a["am_path"] == "fused":
        sys.exit("fused path asked for, but the GPU kernels are unavailable: " + str(kernels.why_unavailable()))
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()
with torch.inference_mode():
    base = rss()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    if a["warm"]:
        run(x); sync()
    times = []
    for _ in range(a["repeats"]):
        t0 = time.perf_counter(); tokens = run(x); sync(); times.append(time.perf_counter() - t0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
if dev.type == "cuda":
    peak = torch.cuda.max_memory_allocated() - base_cuda
print(json.dumps({{"params": params, "times": times, "peak_bytes": peak, "tokens": list(tokens.shape), "path": path}}))
"""


def measure(kind: str, frames: int, args: argparse.Namespace) -> dict:
    long = frames >= 6000 and args.device == "cpu"  # a GPU pass of a long clip takes well under a second
    spec = {"kind": kind, "frames": frames, "threads": args.threads, "device": args.device, "am_path": args.am_path,
            "dims": args.am_dims, "depths": args.am_depths, "warm": not long, "repeats": 1 if long else args.repeats}
    code = CHILD.format(root=str(ROOT), args=json.dumps(spec))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if p.returncode:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", default="1,10,60,300")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--am-dims", default="32,64,128,256")
    ap.add_argument("--am-depths", default="2,2,11,2")
    ap.add_argument("--am-path", choices=["auto", "fused", "reference"], default="auto",
                    help="Audio Mamba on CUDA: auto = the fused kernels where importable (as the commands)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.am_dims = [int(v) for v in args.am_dims.split(",")]
    args.am_depths = [int(v) for v in args.am_depths.split(",")]
    rows = []
    print(f"{platform.node()} {platform.processor() or platform.machine()} device={args.device} "
          f"threads={args.threads} am-path={args.am_path}; Audio Mamba dims {args.am_dims} depths {args.am_depths}",
          file=sys.stderr)
    print("| clip | frames | EAT ms | Audio Mamba ms | AM / EAT time | EAT peak MB | AM peak MB | AM / EAT memory |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in (float(v) for v in args.seconds.split(",")):
        frames = -(-round(s * 100) // 32) * 32
        eat, am = measure("eat", frames, args), measure("audio_mamba", frames, args)
        rows.append({"seconds": s, "frames": frames, "eat": eat, "audio_mamba": am})
        if args.json:  # after every length, so a run cut short keeps what it measured
            args.json.write_text(json.dumps(rows, indent=1))
        if "error" in eat or "error" in am:
            print(f"| {s:g} s | {frames} | {eat.get('error', '')} | {am.get('error', '')} | | | | |")
            continue
        te, ta = statistics.median(eat["times"]) * 1e3, statistics.median(am["times"]) * 1e3
        me, ma = eat["peak_bytes"] / 2**20, am["peak_bytes"] / 2**20
        print(f"| {s:g} s | {frames} | {te:,.0f} | {ta:,.0f} | {ta / te:.2f} | {me:,.0f} | {ma:,.0f} | "
              f"{ma / max(me, 1e-9):.2f} |", flush=True)
    if rows and "params" in rows[0]["eat"] and "params" in rows[0]["audio_mamba"]:
        print(f"\nparameters: EAT {rows[0]['eat']['params']:,}, Audio Mamba {rows[0]['audio_mamba']['params']:,}")


if __name__ == "__main__":
    main()
