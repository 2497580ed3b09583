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

__version__ = "0.1.0"

__all__ = ["load_model", "load_language_model", "load_audio_encoder", "describe", "ask", "classify", "choose",
           "resolve_device", "resolve_dtype"]


def resolve_device(device=None):
    import torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        from sam_cli.errors import UsageError

        raise UsageError("--device cuda was asked for, but no CUDA GPU is available")
    return device


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
