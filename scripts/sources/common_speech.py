"""Helpers for collectors of real read speech: Ogg/Vorbis comments, a pitch (F0) estimator, the speaker rule.

Packages of read speech rarely say per file who reads. Where the file's own metadata or the package's credits
do not say, the speaker's sex is estimated from the clip's median fundamental frequency (F0):

- `f0_track` / `median_f0`: frame-wise autocorrelation pitch (YIN's difference function, which is computed
  from the frame's autocorrelation and energies, with its cumulative-mean normalisation and absolute
  threshold: de Cheveigné & Kawahara 2002), 40-ms frames every 10 ms, F0 searched in 60-500 Hz, on frames
  within 35 dB of the clip's loudest frame. A frame is voiced when its normalised difference dips under 0.25.
  The median over voiced frames is the clip's F0; with fewer than 5 voiced frames (0.05 s) there is none.
- `speaker_from_f0`: "man" under 155 Hz, "woman" from 175 to 300 Hz, None between 155 and 175 Hz (ambiguous)
  and above 300 Hz (adult women rarely read that high; children do). Adult male speaking F0 is typically
  85-155 Hz, adult female 165-255 Hz; children (250-400 Hz) cannot be told from women by F0 alone, so
  "child" is given only when metadata says so (see the collectors), never by this rule. High-pitched men
  exist: Asterisk's Italian voice (Carlo) reads at 165-195 Hz and is called a woman by this rule.
- `speaker_with_name`: for a reader whose name tells the sex, F0 only checks that the reader is an adult.

Checked on installed voices of known sex (`python scripts/sources/common_speech.py`, 60 clips per Asterisk
voice, 12 phrases per synthetic voice), clip by clip:
- Asterisk women (Allison Smith en_US and es_MX, fr_CA June, ru_RU IvrvoiceRU; 8-kHz studio prompts, median
  F0 202-227 Hz): 217 of 240 clips right, 3 wrong (June), 20 undecided.
- Asterisk's Italian man (Carlo, median F0 ~190 Hz by this estimator; the harmonics of his loudest frames are
  spaced 165-188 Hz): 6 of 60 right, 41 wrong, 13 undecided. A high-pitched man is the rule's blind spot.
- espeak-ng (6 male, 5 female voices) and flite (3 male, 1 female): men 108 of 108 right; women 54 of 72
  right, 0 wrong, 18 undecided (en+f4 and flite slt sit at 173-175 Hz, on the boundary).
- All 480 clips: 80.2% right, 9.2% wrong (41 of the 44 wrong are Carlo's), 10.6% undecided; without Carlo
  90.2% right, 0.7% wrong. On the voices' median F0 instead: 17 of 20 voices right, Carlo wrong, en+f4 and
  slt undecided.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sources.common import C, Category  # noqa: E402

# speech_male and speech_female exist (collect_sources.py, asterisk.py); these two are asterisk.py's, the same.
SPEECH_CATEGORIES: list[Category] = [
    C("speech_child", "speech", "child speaking", "child", "speaks", "speak", "speaking", "child, children, kid, kids"),
    C("speech", "speech", "person speaking", "person", "speaks", "speak", "speaking",
      "person, people, someone, speaker, voice, voices"),
]

F0_MIN, F0_MAX = 60.0, 500.0
MAN_BELOW, WOMAN_ABOVE, WOMAN_MAX = 155.0, 175.0, 300.0
SILENT_PEAK = 10 ** (-50 / 20)  # a clip whose peak is under -50 dBFS is treated as silent


# ---------------------------------------------------------------------------------------------------------
# Ogg comments (Vorbis "\x03vorbis" or Opus "OpusTags" header), without any library.


def _ogg_packets(data: bytes, want: int) -> list[bytes]:
    """The first `want` logical packets of the first stream in an Ogg file's bytes."""
    packets: list[bytes] = []
    cur = b""
    pos = 0
    serial = None
    while pos + 27 <= len(data) and len(packets) < want:
        if data[pos:pos + 4] != b"OggS":
            break
        nseg = data[pos + 26]
        ser = struct.unpack_from("<I", data, pos + 14)[0]
        lacing = data[pos + 27: pos + 27 + nseg]
        body = pos + 27 + nseg
        if serial is None:
            serial = ser
        if ser == serial:
            off = body
            for lv in lacing:
                cur += data[off: off + lv]
                off += lv
                if lv < 255:
                    packets.append(cur)
                    cur = b""
                    if len(packets) >= want:
                        break
        pos = body + sum(lacing)
    return packets


def parse_comment_packet(pkt: bytes) -> dict[str, list[str]]:
    """A Vorbis/Opus comment packet -> {lower-case key: [values]} (the vendor string under "_vendor")."""
    if pkt.startswith(b"\x03vorbis"):
        p = 7
    elif pkt.startswith(b"OpusTags"):
        p = 8
    else:
        return {}
    out: dict[str, list[str]] = {}
    try:
        (n,) = struct.unpack_from("<I", pkt, p)
        out["_vendor"] = [pkt[p + 4: p + 4 + n].decode("utf-8", "replace")]
        p += 4 + n
        (count,) = struct.unpack_from("<I", pkt, p)
        p += 4
        for _ in range(count):
            (n,) = struct.unpack_from("<I", pkt, p)
            s = pkt[p + 4: p + 4 + n].decode("utf-8", "replace")
            p += 4 + n
            key, _, val = s.partition("=")
            out.setdefault(key.lower(), []).append(val)
    except struct.error:
        pass
    return out


def ogg_comments(path: Path | str, head_bytes: int = 1 << 16) -> dict[str, list[str]]:
    """User comments of an Ogg Vorbis/Opus file ({} for other files or when unreadable)."""
    with open(path, "rb") as f:
        data = f.read(head_bytes)
    if not data.startswith(b"OggS"):
        return {}
    pk = _ogg_packets(data, 2)
    return parse_comment_packet(pk[1]) if len(pk) == 2 else {}


# ---------------------------------------------------------------------------------------------------------
# Pitch


def f0_track(x: np.ndarray, sr: int, win: float = 0.040, hop: float = 0.010, threshold: float = 0.25,
             floor_db: float = 35.0) -> np.ndarray:
    """F0 in Hz of each voiced frame (unvoiced and quiet frames are left out)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean() if len(x) else x
    w, h = int(sr * win), int(sr * hop)
    tmin, tmax = max(2, int(sr / F0_MAX)), int(sr / F0_MIN)
    tmax = min(tmax, w - 1)
    if len(x) < w + tmax:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, w + tmax)[::h]
    head = frames[:, :w]
    energy = np.sum(head ** 2, axis=1)
    # frames within floor_db of the loudest, and above -80 dBFS (digital silence has no pitch)
    keep = (10 * np.log10(energy + 1e-12) > 10 * np.log10(energy.max() + 1e-12) - floor_db) & (energy > w * 1e-8)
    frames, head, energy = frames[keep], head[keep], energy[keep]
    if len(frames) == 0:
        return np.zeros(0)
    # r(tau) = sum_{j<w} x_j x_{j+tau} via FFT; d(tau) = E_head + E_shifted(tau) - 2 r(tau).
    n = 1 << int(np.ceil(np.log2(2 * (w + tmax))))
    fa = np.fft.rfft(frames, n)
    fb = np.fft.rfft(head, n)
    r = np.fft.irfft(fa * np.conj(fb), n)[:, : tmax + 1]
    sq = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames ** 2, axis=1)], axis=1)
    taus = np.arange(tmax + 1)
    e_shift = sq[:, taus + w] - sq[:, taus]
    d = np.maximum(energy[:, None] + e_shift - 2 * r, 0.0)
    # cumulative mean normalised difference
    cm = np.cumsum(d[:, 1:], axis=1) / np.arange(1, tmax + 1)
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] / np.maximum(cm, 1e-12)
    out = []
    for row in dn:
        seg = row[tmin: tmax + 1]
        below = np.flatnonzero(seg < threshold)
        if len(below) == 0:
            continue
        i = below[0]
        while i + 1 < len(seg) and seg[i + 1] < seg[i]:  # walk down to the dip's bottom
            i += 1
        t = tmin + i
        if 1 <= t < tmax:  # parabolic interpolation
            a, b, c = row[t - 1], row[t], row[t + 1]
            den = a - 2 * b + c
            t = t + (0.5 * (a - c) / den if den > 1e-12 else 0.0)
        out.append(sr / t)
    return np.array(out)


def median_f0(x: np.ndarray, sr: int, min_frames: int = 5) -> float | None:
    """The clip's median F0 in Hz over voiced frames, or None when under `min_frames` frames are voiced."""
    f = f0_track(x, sr)
    return float(np.median(f)) if len(f) >= min_frames else None


def speaker_from_f0(f0: float | None) -> str | None:
    """'man' under 155 Hz, 'woman' from 175 to 300 Hz, None otherwise (never 'child')."""
    if f0 is None:
        return None
    if f0 < MAN_BELOW:
        return "man"
    if WOMAN_ABOVE < f0 <= WOMAN_MAX:
        return "woman"
    return None


def speaker_with_name(f0: float | None, name_sex: str | None) -> str | None:
    """The speaker of a named reader whose first name tells the sex ("male"/"female"): the name gives the sex,
    F0 only confirms an adult: a man under 175 Hz, a woman from 155 to 300 Hz; a male reader above 175 Hz
    (a boy, most likely) or any F0 out of range gives None. Without a name's sex: `speaker_from_f0`."""
    if name_sex is None:
        return speaker_from_f0(f0)
    if f0 is None:
        return None
    if name_sex == "male":
        return "man" if f0 <= WOMAN_ABOVE else None
    return "woman" if MAN_BELOW <= f0 <= WOMAN_MAX else None


def consensus(f0s: list[float | None], share: float = 0.85) -> tuple[bool, str | None, float]:
    """Whether one voice's clips agree (at least `share` of the clips the rule decides say the same), the
    label of their median F0, and that share. Used to label a whole voice believed to be one reader."""
    said = [s for s in (speaker_from_f0(f) for f in f0s) if s]
    got = [f for f in f0s if f is not None]
    if not said or not got:
        return False, None, 0.0
    top = max(set(said), key=said.count)
    frac = said.count(top) / len(said)
    return frac >= share, speaker_from_f0(float(np.median(got))), frac


def reject_reason(x: np.ndarray, sr: int, min_s: float, max_s: float) -> str | None:
    """Why a trimmed clip is left out ("silent", "shorter than 0.3 s", ...), or None to keep it."""
    if len(x) == 0 or float(np.abs(x).max()) < SILENT_PEAK:
        return "silent"
    if len(x) < min_s * sr:
        return f"shorter than {min_s:g} s"
    if len(x) > max_s * sr:
        return f"longer than {max_s:g} s"
    return None


def measured_clips(items: list[dict], load, left: dict[str, int], min_s: float,
                   max_s: float) -> list[tuple[dict, np.ndarray, int]]:
    """(item, audio, rate) of each item whose audio (`load(item)` -> (rate, trimmed float audio)) reject_reason
    keeps, with item["f0"] set to the clip's median F0; the others are counted in `left` by reason."""
    clips = []
    for it in items:
        sr, x = load(it)
        why = reject_reason(x, sr, min_s, max_s)
        if why:
            left[why] = left.get(why, 0) + 1
            continue
        it["f0"] = median_f0(x, sr)
        clips.append((it, x, sr))
    return clips


def speech_category(speaker: str | None) -> str:
    return {"man": "speech_male", "woman": "speech_female", "child": "speech_child"}.get(speaker or "", "speech")


# ---------------------------------------------------------------------------------------------------------
# Checking the rule on voices of known sex: `python scripts/sources/common_speech.py [--per-voice N]`.

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds")
REFERENCE_VOICES: list[tuple[str, str, str]] = [  # (name, sex, how): real studio voices, then synthetic ones
    ("asterisk en_US_f_Allison (Allison Smith)", "woman", "asterisk:en_US_f_Allison"),
    ("asterisk fr_CA_f_June", "woman", "asterisk:fr_CA_f_June"),
    ("asterisk ru_RU_f_IvrvoiceRU", "woman", "asterisk:ru_RU_f_IvrvoiceRU"),
    ("asterisk es_MX_f_Allison", "woman", "asterisk:es_MX_f_Allison"),
    ("asterisk it_IT_m_Carlo", "man", "asterisk:it_IT_m_Carlo"),
    *[(f"espeak-ng {v}", "man", f"espeak:{v}") for v in ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+m3",
                                                          "en-gb-x-rp+m7")],
    # not "en-gb+f3": espeak-ng drops the variant there and speaks en-gb's male voice (byte-identical output)
    *[(f"espeak-ng {v}", "woman", f"espeak:{v}") for v in ("en-us+f1", "en-us+f2", "en-gb-x-rp+f3", "en+f4",
                                                            "en-us+f5")],
    *[(f"flite {v}", "man", f"flite:{v}") for v in ("awb", "rms", "kal16")],
    ("flite slt", "woman", "flite:slt"),
]
CHECK_PHRASES = ["good morning", "the train is late", "where are my keys", "dinner is ready", "see you tomorrow",
                 "turn left at the corner", "call me back later", "the meeting starts at noon", "welcome home",
                 "can you help me", "the store is closed", "listen carefully"]


def _reference_clips(how: str, per_voice: int, tmp: Path) -> list[tuple[np.ndarray, int]]:
    import subprocess

    from sources.common import decode, trim
    kind, _, name = how.partition(":")
    clips = []
    if kind == "asterisk":
        files = sorted((ASTERISK_SOUNDS / name).rglob("*.wav"))
        files = [f for f in files if "silence" not in f.parts and "beep" not in f.name and "tone" not in f.name
                 and "monkeys" not in f.name]
        step = max(1, len(files) // per_voice)
        for f in files[::step][:per_voice]:
            clips.append((trim(decode(f, 8000), 8000), 8000))
        return clips
    for k, text in enumerate(CHECK_PHRASES[:per_voice]):
        wav = tmp / f"ref{k}.wav"
        if kind == "espeak":
            subprocess.run(["espeak-ng", "-v", name, "-w", str(wav), text], check=True, capture_output=True)
        else:
            subprocess.run(["flite", "-voice", name, "-t", text, "-o", str(wav)], check=True, capture_output=True)
        clips.append((trim(decode(wav, 16000), 16000), 16000))
    return clips


def check_rule(per_voice: int = 60) -> list[dict]:
    """Per reference voice: clips, median F0, and how the rule labels each clip (right / wrong / None)."""
    import shutil
    import tempfile
    rows = []
    tmp = Path(tempfile.mkdtemp())
    try:
        for name, sex, how in REFERENCE_VOICES:
            if how.startswith("asterisk") and not (ASTERISK_SOUNDS / how.split(":")[1]).exists():
                continue
            if shutil.which(how.split(":")[0] if not how.startswith("espeak") else "espeak-ng") is None \
                    and not how.startswith("asterisk"):
                continue
            f0s = [median_f0(x, sr) for x, sr in _reference_clips(how, per_voice, tmp)]
            said = [speaker_from_f0(f) for f in f0s]
            rows.append({"voice": name, "sex": sex, "clips": len(f0s),
                         "median_f0": float(np.median([f for f in f0s if f])) if any(f0s) else None,
                         "right": sum(s == sex for s in said), "wrong": sum(s not in (sex, None) for s in said),
                         "none": sum(s is None for s in said)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="Check the F0 sex rule on installed voices of known sex.")
    ap.add_argument("--per-voice", type=int, default=60)
    a = ap.parse_args()
    tot = {"right": 0, "wrong": 0, "none": 0}
    for r in check_rule(a.per_voice):
        print(f"{r['voice']:42s} {r['sex']:6s} n={r['clips']:3d} F0={r['median_f0'] or 0:6.1f}  right {r['right']:3d}"
              f"  wrong {r['wrong']:3d}  none {r['none']:3d}")
        for k in tot:
            tot[k] += r[k]
    n = sum(tot.values())
    print(f"all: {n} clips, right {tot['right'] / n:.1%}, wrong {tot['wrong'] / n:.1%}, "
          f"undecided {tot['none'] / n:.1%}")
