"""The manifest entry of a recording: building one (`make_record`) and checking one (`problems`).

collect_sources.py checks every record a collector returns against this contract; a record with problems is
dropped with a message naming them (or stops the run with --strict).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sources.common import Category, Rec

ROLES = ("event", "ambience")
REQUIRED = ("id", "category", "role", "sr", "subject", "the", "verb", "base", "gerund", "plural", "origin", "group")
ORIGIN_REQUIRED = ("package", "version", "file", "license")
SPEECH_REQUIRED = ("transcript", "language", "speaker", "voice")
SPEAKERS = ("man", "woman", "child", None)
# The older manifests said "gender" (build_scenes.py reads it); both are written.
GENDER_OF_SPEAKER = {"man": "male", "woman": "female", "child": "child"}
SPEAKER_OF_GENDER = {v: k for k, v in GENDER_OF_SPEAKER.items()}


def make_record(categories: dict[str, Category], id: str, category: str, sr: int, audio: np.ndarray,
                origin: dict[str, Any], group: str, role: str = "event", **over: Any) -> Rec:
    """A Rec with the category's caption phrases (overridden by `over`'s noun/verb/... keys); other keys of
    `over` (transcript, language, speaker, voice, gender, labels, countable, segment, ...) are copied as they are."""
    cat = categories[category]
    phrase_keys = ("noun", "article", "verb", "base", "gerund", "plural")
    phr = {k: over.pop(k) for k in phrase_keys if k in over}
    rec = {"id": id, "category": category, "role": role, "sr": sr, **cat.phrases(**phr), **over, "origin": origin,
           "group": group}
    return rec, audio


def normalise_speech(rec: dict[str, Any]) -> None:
    """Fill "speaker" from "gender" and the reverse, so that old and new readers find what they expect."""
    if "speaker" not in rec and "gender" in rec:
        rec["speaker"] = SPEAKER_OF_GENDER.get(rec["gender"])
    if "gender" not in rec and rec.get("speaker") in GENDER_OF_SPEAKER:
        rec["gender"] = GENDER_OF_SPEAKER[rec["speaker"]]


def problems(rec: dict[str, Any], audio: Any, categories: dict[str, Category], known_packages: set[str]) -> list[str]:
    """What is wrong with one record (empty list: nothing)."""
    out = [f"no {k!r}" for k in REQUIRED if k not in rec]
    if out:
        return out
    cat = categories.get(rec["category"])
    if cat is None:
        return [f"unknown category {rec['category']!r}"]
    for lab in rec.get("labels") or []:
        if lab not in categories:
            out.append(f"unknown label {lab!r}")
    if rec.get("labels") and rec["labels"][0] != rec["category"]:
        out.append("labels must start with the primary category")
    if rec["role"] not in ROLES:
        out.append(f"role {rec['role']!r} is not one of {ROLES}")
    if rec["sr"] not in (8000, 16000):
        out.append(f"sr {rec['sr']} (8000 or 16000)")
    origin = rec["origin"]
    if not isinstance(origin, dict):
        out.append("origin is not a dict")
    else:
        out += [f"origin has no {k!r}" for k in ORIGIN_REQUIRED if not origin.get(k)]
        if origin.get("package") and origin["package"] not in known_packages:
            out.append(f"origin package {origin['package']!r} is not in the module's PACKAGES")
    if cat.kind == "speech":
        normalise_speech(rec)
        out += [f"speech without {k!r}" for k in SPEECH_REQUIRED if k not in rec]
        if rec.get("speaker") not in SPEAKERS:
            out.append(f"speaker {rec.get('speaker')!r} is not one of {SPEAKERS}")
        if not rec.get("voice"):
            out.append("speech without a voice")
        lang = rec.get("language")
        if not (isinstance(lang, str) and 2 <= len(lang) <= 3 and lang.isalpha() and lang.islower()):
            out.append(f"language {lang!r} is not an ISO 639-1 code")
        if rec.get("transcript") is not None and not isinstance(rec["transcript"], str):
            out.append("transcript is neither text nor None")
    if not isinstance(audio, np.ndarray) or audio.ndim != 1:
        out.append("audio is not a 1-D array")
    elif not np.all(np.isfinite(audio)):
        out.append("audio holds NaN or inf")
    return out
