"""What every collector shares: the category record, audio helpers (sox decoding, trimming, bursts), Rec.

A collector (one module per Debian package or program in this folder) returns a list of `Rec`: a recording's
manifest entry and its float32 audio at the entry's `sr`. `collect_sources.py` deduplicates, splits and writes.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SR = 16000
MAX_SECONDS = 6.0  # a longer recording is cut (with a fade) so that scenes can hold 2-4 events

Rec = tuple[dict[str, Any], np.ndarray]

# ---------------------------------------------------------------------------------------------------------
# Categories: how a sound is named in captions and questions, and which words name it in a model's caption.
# subject/the/verb/base/gerund build "a dog barks twice", "How many times does the dog bark?", "Is there a
# dog barking?". Synonyms are matched as whole words (evaluate.py); they list nouns and unmistakable verbs
# only ("moo", not "bark": a sea lion barks too).


@dataclass
class Category:
    id: str
    kind: str  # animal | object | music | speech | signal | noise
    label: str  # short class label ("dog barking"), for the classification records
    noun: str
    verb: str  # agrees with the subject: "barks", or "explode" for a plural subject
    base: str  # bare verb for "does the dog ...?"
    gerund: str
    synonyms: list[str]
    article: str = "a"  # "a", "an", "" (uncountable/plural subjects)
    plural: bool = False
    countable: bool = False  # may be repeated and counted when a single recording is one short burst

    def phrases(self, **over: Any) -> dict[str, Any]:
        noun = over.get("noun", self.noun)
        article = over.get("article", "an" if self.article == "a" and noun[0] in "aeiou" else self.article)
        subject = f"{article} {noun}".strip()
        return {"subject": subject, "the": f"the {noun}", "verb": over.get("verb", self.verb),
                "base": over.get("base", self.base), "gerund": over.get("gerund", self.gerund),
                "plural": over.get("plural", self.plural)}


def C(id: str, kind: str, label: str, noun: str, verb: str, base: str, gerund: str, synonyms: str,
      **kw: Any) -> Category:
    return Category(id, kind, label, noun, verb, base, gerund, [s.strip() for s in synonyms.split(",")], **kw)



# ---------------------------------------------------------------------------------------------------------
# Audio helpers


def run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{res.stderr.strip()}")


def decode(path: Path | str, sr: int) -> np.ndarray:
    """Any file sox reads -> mono float32 at `sr` (sox's own high-quality rate converter)."""
    # -D: no dither. sox dithers when it writes 16 bits, with fresh random noise each run, which would make
    # the trimmed lengths (and so the whole dataset) differ from run to run.
    cmd = ["sox", "-D", str(path), "-t", "raw", "-e", "signed", "-b", "16", "-c", "1", "-r", str(sr), "-"]
    res = subprocess.run(cmd, capture_output=True)
    if res.returncode != 0:
        sys.exit(f"sox could not decode {path}: {res.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(res.stdout, dtype="<i2").astype(np.float32) / 32768.0


def native_rate(path: Path) -> int:
    out = subprocess.run(["soxi", "-r", str(path)], capture_output=True, text=True)
    return int(out.stdout.strip())


def storage_rate(path: Path) -> int:
    # Keep 8-kHz originals at 8 kHz (half the bytes, nothing lost); everything else at 16 kHz.
    return 8000 if native_rate(path) <= 8000 else SR


def frame_db(x: np.ndarray, sr: int, win: float = 0.025, hop: float = 0.010) -> np.ndarray:
    n, h = int(sr * win), int(sr * hop)
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::h]
    return 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)


def trim(x: np.ndarray, sr: int, below_peak_db: float = 45.0, pad: float = 0.03) -> np.ndarray:
    """Cut leading/trailing audio more than `below_peak_db` under the loudest frame (keeps `pad` s)."""
    db = frame_db(x, sr)
    active = np.flatnonzero(db > db.max() - below_peak_db)
    if len(active) == 0:
        return x[:0]
    hop = int(sr * 0.010)
    start = max(0, active[0] * hop - int(pad * sr))
    end = min(len(x), (active[-1] + 1) * hop + int(0.025 * sr) + int(pad * sr))
    return fade(x[start:end], sr)


def fade(x: np.ndarray, sr: int, seconds: float = 0.005) -> np.ndarray:
    n = min(len(x) // 2, int(sr * seconds))
    if n > 0:
        x = x.copy()
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def cap(x: np.ndarray, sr: int, seconds: float = MAX_SECONDS) -> np.ndarray:
    """Cut to `seconds` with a 0.3-s fade-out, so a long recording still ends naturally."""
    n = int(seconds * sr)
    if len(x) <= n:
        return x
    y = x[:n].copy()
    f = int(0.3 * sr)
    y[-f:] *= np.linspace(1.0, 0.0, f, dtype=np.float32)
    return y


def bursts(x: np.ndarray, sr: int, below_peak_db: float = 20.0, min_gap: float = 0.08,
           min_len: float = 0.04) -> list[tuple[int, int]]:
    """Sample ranges of separate sound bursts: frames within `below_peak_db` of the peak, gaps < min_gap merged.

    Used to tell a single call (countable when repeated) from a recording that already holds several.
    """
    db = frame_db(x, sr)
    hop = int(sr * 0.010)
    on = db > db.max() - below_peak_db
    runs: list[list[int]] = []
    for i, a in enumerate(on):
        if a:
            if runs and i - runs[-1][1] <= int(min_gap / 0.010):
                runs[-1][1] = i
            else:
                runs.append([i, i])
    out = [(a * hop, (b + 1) * hop + int(0.025 * sr)) for a, b in runs if (b - a + 1) * 0.010 >= min_len]
    return out or [(0, len(x))]


def to_int16(x: np.ndarray, peak: float = 0.89) -> np.ndarray:
    m = float(np.abs(x).max()) if len(x) else 0.0
    if m > 0:
        x = x * (peak / m)
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


