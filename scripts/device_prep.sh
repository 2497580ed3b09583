#!/usr/bin/env bash
# Rebuild, on the CPU machine, what the device commands of scripts/README.md §4 and benchmarks/gpu_checks.sh
# carry. They are git-ignored, and ignored files do not outlive a session's checkout; this takes about a
# minute (plus the sources, when data/sources is missing: scripts/README.md §1, about 10 minutes).
#   bash scripts/device_prep.sh            # then: du -sh .clean .whl .whl-serve .gpul .evalclips data/sources.tgz
# .clean       a frozen copy of the package (other work in the checkout would travel with every command)
# .whl         soundfile, cffi, pycparser for the device's Python 3.12
# .whl-serve   the server's wheels, and pycocoevalcap's Python files (its 100-MB wheel is mostly Java jars)
# .gpul        ../shared/gpu's setup.sh and mamba_ssm sdist, without the causal_conv1d wheel (NO_CAUSAL_CONV1D=1)
# .evalclips   eval.json, scenes_meta.json and the audio of the first EVALCLIPS (50: what bench_eval.py --limit 40 reads) windows of data/clips_eval
# data/sources.tgz   the sources, compressed
set -euo pipefail
cd "$(dirname "$0")/.."
pip=(python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp
     --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64)

rm -rf .clean && mkdir .clean
git archive HEAD sam_cli scripts configs benchmarks tests examples pyproject.toml |
  tar -x -C .clean --exclude='sam_cli/assets/models/*'

rm -rf .whl && "${pip[@]}" --no-deps -d .whl soundfile cffi pycparser

rm -rf .whl-serve && "${pip[@]}" -d .whl-serve fastapi uvicorn python-multipart
tmp=$(mktemp -d)
python3 -m pip download -q --no-deps pycocoevalcap==1.2 -d "$tmp"
python3 -m zipfile -e "$tmp"/pycocoevalcap-*.whl "$tmp/x"
(cd "$tmp/x" && find pycocoevalcap -name '*.py' -print0 | xargs -0 tar -czf -) >.whl-serve/pycocoevalcap-1.2-python-only.tgz
rm -rf "$tmp"

rm -rf .gpul && mkdir .gpul && cp ../shared/gpu/setup.sh ../shared/gpu/mamba_ssm-*.tar.gz .gpul/

if [ -f data/clips_eval/eval.json ]; then
  rm -rf .evalclips
  python3 - "${EVALCLIPS:-50}" <<'PY'
import json, shutil, sys
from pathlib import Path
src, dst, n = Path("data/clips_eval"), Path(".evalclips"), int(sys.argv[1])
records = json.loads((src / "eval.json").read_text())
keep = list(dict.fromkeys(r["audio_id"] for r in records))[:n]
for a in keep:
    (dst / a).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / a, dst / a)
wanted = set(keep)
(dst / "eval.json").write_text(json.dumps([r for r in records if r["audio_id"] in wanted], ensure_ascii=False))
shutil.copy2(src / "scenes_meta.json", dst / "scenes_meta.json")
PY
else
  echo "no data/clips_eval: .evalclips not made (scripts/README.md §3 builds it)" >&2
fi

if [ -f data/sources/sources.json ]; then
  tar -C data -czf data/sources.tgz sources
else
  echo "no data/sources: data/sources.tgz not made (scripts/README.md §1 collects them)" >&2
fi
du -sh .clean .whl .whl-serve .gpul .evalclips data/sources.tgz 2>/dev/null >&2 || true
