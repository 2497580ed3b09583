"""Whisper decoding for the teacher's pseudo-labels: greedy transcription, language detection, prompts."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import Tensor

from sam_cli.train.whisper_ct2 import Whisper, _batch, _waveforms, log_mel


@torch.no_grad()
def detect_language(model: Whisper, enc: Tensor, kvs: list | None = None) -> list[tuple[str, float | None]]:
    """Most likely language per row and its probability (softmax over the language tokens after
    <|startoftranscript|>). An English-only model has never learnt them: ("en", None)."""
    if not model.multilingual or model.vocab is None or not model.vocab.languages:
        return [("en", None)] * enc.shape[0]
    v = model.vocab
    kvs = kvs if kvs is not None else model.decoder.cross_kv(enc)
    ids = torch.full((enc.shape[0], 1), v.sot, dtype=torch.long, device=enc.device)
    logits = model.decoder(ids, kvs)[:, -1].float()
    codes = list(v.languages)
    probs = logits[:, [v.languages[c] for c in codes]].softmax(-1)
    best = probs.argmax(-1)
    return [(codes[int(b)], float(p[b])) for b, p in zip(best, probs)]


@torch.no_grad()
def greedy_decode(model: Whisper, enc: Tensor, prompt: list[list[int]], max_new_tokens: int = 200
                  ) -> tuple[list[list[int]], list[float], list[float | None]]:
    """Batched greedy decoding with a KV cache. Rows share one prompt length. Suppresses config.json's
    suppress_ids at every step and suppress_ids_begin at the first, as ctranslate2 does by default.
    -> (tokens per row without prompt and EOT, mean log-prob per row, no-speech probability per row)."""
    v = model.vocab
    assert v is not None, "no vocabulary: load the model from its CTranslate2 folder"
    dev = enc.device
    kvs = model.decoder.cross_kv(enc)
    caches: list[dict] = [{} for _ in model.decoder.layers]
    ids = torch.tensor(prompt, dtype=torch.long, device=dev)
    b = ids.shape[0]
    logits = model.decoder(ids, kvs, caches)
    no_speech: list[float | None] = [None] * b
    if v.no_speech is not None:
        sot_pos = prompt[0].index(v.sot)
        no_speech = logits[:, sot_pos].float().softmax(-1)[:, v.no_speech].tolist()
    logits = logits[:, -1].float()
    suppress = torch.tensor(model.suppress, dtype=torch.long, device=dev)
    begin = torch.tensor(model.suppress_begin, dtype=torch.long, device=dev)
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    out, logp_sum = [], torch.zeros(b, device=dev)
    offset = ids.shape[1]
    limit = min(max_new_tokens, model.dims.n_text_ctx - offset)
    for step in range(limit):
        if len(suppress):
            logits[:, suppress] = -math.inf
        if step == 0 and len(begin):
            logits[:, begin] = -math.inf
        logp = logits.log_softmax(-1)
        nxt = logits.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, v.eot), nxt)
        logp_sum += torch.where(done, 0.0, logp.gather(1, nxt[:, None])[:, 0])
        out.append(nxt)
        done |= nxt == v.eot
        if bool(done.all()):
            break
        logits = model.decoder(nxt[:, None], kvs, caches, offset=offset)[:, -1].float()
        offset += 1
    toks = torch.stack(out, 1).tolist() if out else [[] for _ in range(b)]
    rows, scores = [], []
    for r, row in enumerate(toks):
        cut = row.index(v.eot) if v.eot in row else len(row)
        rows.append(row[:cut])
        scores.append(float(logp_sum[r]) / max(1, cut + (1 if cut < len(row) else 0)))
    return rows, scores, no_speech


def prompt_for(model: Whisper, language: str | None) -> list[int]:
    v = model.vocab
    assert v is not None
    if not model.multilingual:
        return [v.sot, v.no_timestamps]
    return [v.sot, v.languages[language or "en"], v.transcribe, v.no_timestamps]


@torch.no_grad()
def transcribe(model: Whisper, clips: Sequence[Any], batch_size: int = 8, language: str | None = None,
               max_new_tokens: int = 200) -> list[dict[str, Any]]:
    """Pseudo-labels for speech clips without text. Each clip: its first 30 s, zero-padded to 30 s.
    -> one dict per clip: text, language, language_probability (None for an English-only model, or when
    `language` is forced), no_speech_probability, avg_logprob (filter pseudo-labels on the last two)."""
    wavs = _waveforms(clips)
    results = []
    for i in range(0, len(wavs), batch_size):
        part = wavs[i: i + batch_size]
        enc = model.encoder(log_mel(_batch(part, model.device), model.dims.n_mels))
        langs = [(language, None)] * len(part) if language else detect_language(model, enc)
        # rows are grouped by language so that each group shares one prompt
        for lang in sorted({l for l, _ in langs}):
            rows = [j for j, (l, _) in enumerate(langs) if l == lang]
            toks, scores, nsp = greedy_decode(model, enc[rows], [prompt_for(model, lang)] * len(rows),
                                              max_new_tokens)
            for j, t, s, ns in zip(rows, toks, scores, nsp):
                results.append((i + j, {"text": model.vocab.decode(t).strip(), "language": lang,
                                        "language_probability": langs[j][1], "no_speech_probability": ns,
                                        "avg_logprob": s, "tokens": t}))
    return [r for _, r in sorted(results, key=lambda x: x[0])]
