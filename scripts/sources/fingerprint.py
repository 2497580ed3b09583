"""Audio fingerprints: find the same recording in two packages (re-encoded, resampled, trimmed, louder).

A recording's fingerprint is its log-mel spectrogram at 100 frames a second over 32 bands between 100 Hz and
3.8 kHz (the band that 8-kHz and 16-kHz copies share), in dB, floored 60 dB under its loudest cell. Two
recordings are compared by sliding the shorter along the longer (which is padded with its floor by a quarter
of the shorter's length on each side, for different trims):

- `shape`: the correlation of the two spectrogram patches with one mean removed from each: the same spectral
  shape moving the same way in time. A gain change is a constant in dB and drops out; resampling and lossy
  coding move a cell by a dB or two.
- `motion`: at the best lag, the correlation with each band's mean over time and each frame's mean over bands
  removed: the same fine pattern of which band is louder when. Two different recordings of one kind of sound
  (two dog barks, two stretches of traffic, two decaying noises) share a spectral shape and a loudness
  envelope, but not this.

A pair is a duplicate when both reach their thresholds (SHAPE_MIN, MOTION_MIN; within one package the
stricter STRICT_*, which only the same recording reaches) over an overlap of at least MIN_OVERLAP of the
shorter one. Comparing all pairs of 20,000 recordings would take hours, so each recording is
compared only with its nearest neighbours by a 96-number summary (band means, spread and frame-to-frame
change, standardised over the collection), found by a blocked matrix product; bit-identical audio is found by
hashing first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

FPS = 100
N_BANDS = 32
FMIN, FMAX = 100.0, 3800.0
FLOOR_DB = 60.0
SHAPE_MIN = 0.925  # across packages
MOTION_MIN = 0.85
NOISY_SHAPE_MIN = 0.975  # noise-like sounds: a lossy codec replaces their fine pattern with its own
NOISY_MOTION_MIN = 0.45
STRICT_SHAPE_MIN = 0.97  # within one package: the same recording, not two alike
STRICT_MOTION_MIN = 0.95
MIN_OVERLAP = 0.75
NEIGHBOURS = 16
MIN_FRAMES = 10

_FB: dict[int, np.ndarray] = {}


def _filterbank(sr: int, n_fft: int) -> np.ndarray:
    if sr not in _FB:
        mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
        imel = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
        pts = imel(np.linspace(mel(FMIN), mel(FMAX), N_BANDS + 2))
        freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
        fb = np.zeros((N_BANDS, len(freqs)))
        for i in range(N_BANDS):
            lo, c, hi = pts[i:i + 3]
            fb[i] = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0.0, None)
        _FB[sr] = fb / np.maximum(fb.sum(axis=1, keepdims=True), 1e-9)
    return _FB[sr]


def logmel(x: np.ndarray, sr: int) -> np.ndarray:
    """(frames, N_BANDS) dB, floored FLOOR_DB under the maximum; 10-ms hop, 40-ms window."""
    hop = sr // FPS
    n = 4 * hop
    n_fft = 1 << (n - 1).bit_length()
    x = np.asarray(x, dtype=np.float32)
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop] * np.hanning(n).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, n_fft, axis=1)) ** 2
    db = 10.0 * np.log10(power @ _filterbank(sr, n_fft).T + 1e-10)
    return np.maximum(db, db.max() - FLOOR_DB).astype(np.float32)


def summary(s: np.ndarray) -> np.ndarray:
    """96 numbers over the active frames (within 40 dB of the loudest): band shape, spread, change."""
    energy = s.max(axis=1)
    act = s[energy > energy.max() - 40.0]
    if len(act) < 2:
        act = np.concatenate([act, act])
    mean = act.mean(axis=0)
    return np.concatenate([mean - mean.mean(), act.std(axis=0), np.abs(np.diff(act, axis=0)).mean(axis=0)])


@dataclass
class Match:
    shape: float
    motion: float
    lag_s: float  # where the shorter starts in the longer (s)
    overlap: float  # share of the shorter inside the longer at that lag

    @property
    def duplicate(self) -> bool:
        return self.overlap >= MIN_OVERLAP and ((self.shape >= SHAPE_MIN and self.motion >= MOTION_MIN) or
                                                (self.shape >= NOISY_SHAPE_MIN and self.motion >= NOISY_MOTION_MIN))

    @property
    def same_recording(self) -> bool:
        return self.shape >= STRICT_SHAPE_MIN and self.motion >= STRICT_MOTION_MIN and self.overlap >= MIN_OVERLAP


def compare(a: np.ndarray, b: np.ndarray) -> Match:
    """Compare two log-mel fingerprints (from `logmel`) over every lag; see the module docstring."""
    if len(a) > len(b):
        a, b = b, a
    n = len(a)
    if n < MIN_FRAMES:
        return Match(0.0, 0.0, 0.0, 0.0)
    margin = max(2, n // 4)
    b = np.pad(b, ((margin, margin), (0, 0)), constant_values=float(b.min()))
    m = len(b)
    lags = m - n + 1
    a0 = a - a.mean()
    na = float(np.sqrt(np.sum(a0.astype(np.float64) ** 2)))
    if na < 1e-6:
        return Match(0.0, 0.0, 0.0, 0.0)
    size = 1 << (m + n - 1).bit_length()
    fa = np.fft.rfft(a0, size, axis=0)
    fb = np.fft.rfft(b, size, axis=0)
    num = np.fft.irfft(np.sum(fb * np.conj(fa), axis=1), size)[:lags]
    # The windows of b: sums and sums of squares over n frames by cumulative sums.
    rs = np.concatenate([[0.0], np.cumsum(b.sum(axis=1, dtype=np.float64))])
    rq = np.concatenate([[0.0], np.cumsum((b.astype(np.float64) ** 2).sum(axis=1))])
    cells = n * a.shape[1]
    ws, wq = rs[n:n + lags] - rs[:lags], rq[n:n + lags] - rq[:lags]
    var = np.maximum(wq - ws * ws / cells, 1e-9)
    shape = num / (na * np.sqrt(var))
    best = int(np.argmax(shape))
    win = b[best:best + n]
    a1 = a - a.mean(axis=0) - a.mean(axis=1, keepdims=True) + a.mean()
    w1 = win - win.mean(axis=0) - win.mean(axis=1, keepdims=True) + win.mean()
    den = float(np.sqrt(np.sum(a1.astype(np.float64) ** 2) * np.sum(w1.astype(np.float64) ** 2)))
    motion = float(np.sum(a1 * w1) / den) if den > 1e-9 else 0.0
    start, end = best - margin, best - margin + n
    inside = max(0, min(end, m - 2 * margin) - max(start, 0)) / n
    return Match(float(shape[best]), motion, start / FPS, inside)


def pcm_hash(x: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()


def neighbours(summaries: np.ndarray, k: int = NEIGHBOURS, block: int = 2048) -> list[tuple[int, int]]:
    """Pairs (i < j) where j is among i's k nearest by cosine of the standardised summaries (or the reverse)."""
    z = (summaries - summaries.mean(axis=0)) / (summaries.std(axis=0) + 1e-6)
    z /= np.linalg.norm(z, axis=1, keepdims=True) + 1e-9
    z = z.astype(np.float32)
    count = len(z)
    k = min(k, count - 1)
    pairs: set[tuple[int, int]] = set()
    if k <= 0:
        return []
    for s in range(0, count, block):
        sims = z[s:s + block] @ z.T
        for r in range(len(sims)):
            sims[r, s + r] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        for r, row in enumerate(top):
            i = s + r
            for j in row.tolist():
                pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def find_duplicates(items: list[tuple[np.ndarray, int]], level: Any = None, k: int = NEIGHBOURS,
                    extra_pairs: Iterable[tuple[int, int]] = ()) -> list[dict[str, Any]]:
    """items: (audio, sr) in priority order (an earlier one is kept). level(i, j) -> "normal" (the default:
    SHAPE_MIN/MOTION_MIN), "strict" (STRICT_*: only the same recording, e.g. within one package) or "identical"
    (bit-identity only: cuts of one file, one voice's takes). Returns the duplicate pairs found:
    {"keep", "drop" (the first of each cluster is kept), "pair" (the two that matched), "how", "shape",
    "motion", "lag_s", "overlap"}; each dropped index once."""
    fps = [logmel(x, sr) for x, sr in items]
    hashes = [pcm_hash(x) for x, _ in items]
    out: list[dict[str, Any]] = []
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int, info: dict[str, Any]) -> None:
        ri, rj = root(i), root(j)
        if ri == rj:
            return
        keep, drop = min(ri, rj), max(ri, rj)
        parent[drop] = keep
        out.append({"keep": keep, "drop": drop, "pair": [i, j], **info})

    first: dict[str, int] = {}
    for i, h in enumerate(hashes):
        if h in first:
            join(first[h], i, {"how": "identical", "shape": 1.0, "motion": 1.0, "lag_s": 0.0, "overlap": 1.0})
        else:
            first[h] = i
    if len(items) > 1:
        pairs = set(neighbours(np.stack([summary(f) for f in fps]), k)) | {(min(a, b), max(a, b))
                                                                          for a, b in extra_pairs}
        for i, j in sorted(pairs):
            how = "normal" if level is None else level(i, j)
            if root(i) == root(j) or how == "identical":
                continue
            mt = compare(fps[i], fps[j])
            if mt.same_recording if how == "strict" else mt.duplicate:
                join(i, j, {"how": "fingerprint", "shape": round(mt.shape, 3), "motion": round(mt.motion, 3),
                            "lag_s": round(mt.lag_s, 2), "overlap": round(mt.overlap, 2)})
    return out
