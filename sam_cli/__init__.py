"""sam: local audio captioning and audio question answering with SAM (EAT + Mamba-2).

The public API (docs/design.md §13) is small, like whisper's:

    import sam_cli
    model = sam_cli.load_model("sam-tiny")                     # bundled, a Hub id[@rev], or a folder
    print(sam_cli.describe(model, "clip.wav")[0].text)
    lm = sam_cli.load_language_model("path/to/mamba2-130m")   # state-spaces layout; lm(ids) -> logits
    enc = sam_cli.load_audio_encoder("path/to/EAT-base")        # encoder(fbank [B,1,T,128]) -> [B,1+N,768]
    wav = sam_cli.audio.load_audio("clip.wav"); feats = sam_cli.audio.fbank(wav)

Heavy imports (torch) happen on first use, so `sam --version` stays instant.
"""

from __future__ import annotations

import re

__version__ = "0.1.0"

__all__ = ["load_model", "load_language_model", "load_audio_encoder", "describe", "ask", "classify", "choose",
           "resolve_device", "resolve_dtype"]


def resolve_device(device=None):
    """None/"auto": the GPU if there is one, else the CPU. Anything else must be cpu, cuda or cuda:N (N an
    existing GPU): other torch device types (mps, meta, xla ...) are not ones sam can run on."""
    import torch

    from sam_cli.errors import UsageError

    if isinstance(device, torch.device):
        device = str(device)
    text = "auto" if device is None else str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    m = re.fullmatch(r"(cpu|cuda)(?::(\d{1,4}))?", text)
    if m is None or (m.group(1) == "cpu" and m.group(2) not in (None, "0")):
        raise UsageError(f"unknown --device {_shown(device)}; use auto, cpu, cuda or cuda:N")
    if m.group(1) == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UsageError(f"--device {text} was asked for, but no CUDA GPU is available")
    index = int(m.group(2)) if m.group(2) is not None else None
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        raise UsageError(f"--device {text}: there is no GPU {index} (this machine has {count}: "
                         f"cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})")
    return torch.device("cuda", index) if index is not None else torch.device("cuda")


def _shown(value) -> str:
    """repr() of a user-given value, shortened, with control characters escaped (one line, no escapes)."""
    text = repr(str(value))
    return text if len(text) <= 60 else text[:50] + "..." + text[-6:]


_DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "half": "float16",
           "bfloat16": "bfloat16", "bf16": "bfloat16"}


def resolve_dtype(dtype=None, device=None):
    """None/"auto": bfloat16 on CUDA (the fused kernels' native type), float32 on the CPU."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device is not None and torch.device(device).type == "cuda" else torch.float32
    name = _DTYPES.get(str(dtype).lower())
    if name is None:
        from sam_cli.errors import UsageError

        raise UsageError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return getattr(torch, name)


def load_model(name_or_path: str | None = None, device=None, dtype=None):
    """The SAM model (with its tokenizer as `.tokenizer`), ready for generation."""
    from sam_cli.store.checkpoint import load_checkpoint
    from sam_cli.store.hub import resolve_model

    device = resolve_device(device)
    return load_checkpoint(resolve_model(name_or_path), device=device, dtype=resolve_dtype(dtype, device))


def load_language_model(path, device=None, dtype=None):
    """A Mamba-2 LM from a `state-spaces/mamba2-*` style folder: `lm(input_ids [B, L])` -> logits [B, L, V]."""
    from sam_cli.store.mamba2_files import load_language_model as _load

    return _load(path, device=device, dtype=dtype)


def load_audio_encoder(path, device=None, dtype=None):
    """EAT from a Hub-style folder or a weights file (either key format): `enc(fbank)` -> [B, 1 + N, D]."""
    from sam_cli.store.eat_files import load_audio_encoder as _load

    return _load(path, device=device, dtype=dtype)


def describe(model, audio, prompt=None, **kw):
    from sam_cli.tasks import describe as _describe

    return _describe(model, audio, prompt, **kw)


def ask(model, audio, question, **kw):
    from sam_cli.tasks import ask as _ask

    return _ask(model, audio, question, **kw)


def choose(model, audio, question, choices, **kw):
    from sam_cli.tasks import choose as _choose

    return _choose(model, audio, question, choices, **kw)


def classify(model, audio, labels=None, top_k=5, **kw):
    from sam_cli.tasks import classify as _classify

    return _classify(model, audio, labels, top_k, **kw)


def __getattr__(name):  # `sam_cli.audio` without importing torch at package import
    if name == "audio":
        import importlib

        return importlib.import_module("sam_cli.audio")
    raise AttributeError(name)
