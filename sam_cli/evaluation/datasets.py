"""Readers for the benchmark layouts `sam eval` takes, each into a Dataset of Items (one per clip).

- esc50: the ESC-50 folder (`meta/esc50.csv` + `audio/`); labels are the categories, "_" read as a space
  ("chirping_birds" -> "chirping birds"), in the order of their target index; `fold` keeps one fold.
- audioset: a segments CSV as AudioSet publishes it (`# ...` comment lines, then `YTID, start_seconds,
  end_seconds, "mid1,mid2"`) and its labels CSV (`index,mid,display_name`); audio found in the audio folder
  by YouTube id (`ID.wav`, `YID.wav`, `ID_30000.wav`, `ID_30.000_40.000.flac`, ...). Multi-label.
- classify: a plain CSV with a `file,label` header (several labels of one clip joined by ";"); the label
  vocabulary is a label file (one a line) when given, else the labels the CSV names.
- audiocaps: `audiocap_id,youtube_id,start_time,caption`, one row per caption, grouped by clip.
- clotho: `file_name,caption_1,...,caption_5`.
- mmau: MMAU's JSON list (`id`, `audio_id`, `question`, `choices`, `answer`, `task`, `difficulty`).

Relative audio paths resolve against `audio_dir` (default: the data file's folder). Bad input is a
UsageError of one line naming the file and line.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sam_cli.batch.files import DEFAULT_EXTENSIONS
from sam_cli.errors import UsageError

TASKS = ("esc50", "audioset", "classify", "audiocaps", "clotho", "mmau")
KIND = {"esc50": "classification", "audioset": "classification", "classify": "classification",
        "audiocaps": "captioning", "clotho": "captioning", "mmau": "mcq"}


@dataclass
class Item:
    id: str
    audio: Path
    labels: tuple[str, ...] = ()  # classification: the true labels
    references: tuple[str, ...] = ()  # captioning: the reference captions
    question: str = ""  # multiple choice
    choices: tuple[str, ...] = ()
    answer: str = ""
    task: str = ""
    difficulty: str = ""


@dataclass
class Dataset:
    task: str
    items: list[Item]
    labels: list[str] = field(default_factory=list)  # classification: the vocabulary, in a fixed order
    multi_label: bool = False
    missing: int = 0  # clips dropped because their audio is missing (skip_missing)

    @property
    def kind(self) -> str:
        return KIND[self.task]


def _rows(path: Path, skip_comments: bool = False) -> list[tuple[int, list[str]]]:
    """(line number, fields) of a CSV file; a missing or unreadable file or malformed CSV is one UsageError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    out = []
    try:
        reader = csv.reader(text.splitlines(), skipinitialspace=True, strict=True)
        for fields in reader:
            if not fields or not any(f.strip() for f in fields):
                continue
            if skip_comments and fields[0].lstrip().startswith("#"):
                continue
            out.append((reader.line_num, [f.strip() for f in fields]))
    except csv.Error as e:
        raise UsageError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from None
    return out


def _table(path: Path, needed: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV with a header naming at least `needed`, as dicts."""
    rows = _rows(path)
    if not rows:
        raise UsageError(f"{path}: the CSV is empty")
    header = [h.lower() for h in rows[0][1]]
    missing = [c for c in needed if c not in header]
    if missing:
        raise UsageError(f"{path}: the header has no {', '.join(missing)} column (it has: {', '.join(header)})")
    out = []
    for line, fields in rows[1:]:
        if len(fields) != len(header):
            raise UsageError(f"{path}: line {line}: {len(fields)} fields where the header has {len(header)}")
        out.append((line, dict(zip(header, fields))))
    return out


def _check_audio(items: list[Item], skip_missing: bool, where: Path) -> tuple[list[Item], int]:
    missing = [it for it in items if not it.audio.is_file()]
    if missing and not skip_missing:
        raise UsageError(f"{len(missing)} of {len(items)} clips have no audio file (e.g. {missing[0].audio}); "
                         f"give --audio-dir, or --skip-missing to leave them out")
    kept = [it for it in items if it.audio.is_file()]
    if not kept:
        raise UsageError(f"{where}: no clip has its audio file")
    return kept, len(missing)


def read_esc50(root: Path, fold: int | None = None) -> tuple[list[Item], list[str]]:
    meta = root / "meta" / "esc50.csv"
    if not meta.is_file():
        raise UsageError(f"{root}: not an ESC-50 folder (no meta/esc50.csv)")
    names: dict[int, str] = {}
    items = []
    for line, r in _table(meta, ("filename", "fold", "target", "category")):
        try:
            target, f = int(r["target"]), int(r["fold"])
        except ValueError:
            raise UsageError(f"{meta}: line {line}: fold and target must be whole numbers") from None
        label = r["category"].replace("_", " ")
        if names.setdefault(target, label) != label:
            raise UsageError(f"{meta}: line {line}: target {target} is both {names[target]!r} and {label!r}")
        if fold is None or f == fold:
            items.append(Item(r["filename"], root / "audio" / r["filename"], labels=(label,)))
    if fold is not None and not items:
        raise UsageError(f"{meta}: no clip is in fold {fold}")
    return items, [names[t] for t in sorted(names)]


class AudioIndex:
    """Audio files of a folder (recursive), found by a clip id as downloads name them."""

    def __init__(self, folder: Path):
        self.by_key: dict[str, Path] = {}
        exts = {"." + e for e in DEFAULT_EXTENSIONS}
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                stem, ext = os.path.splitext(name)
                if ext.lower() not in exts or name.startswith("."):
                    continue
                path = Path(dirpath, name)
                for key in self._keys(stem):
                    self.by_key.setdefault(key, path)

    @staticmethod
    def _keys(stem: str) -> list[str]:
        keys = [stem]
        base = re.sub(r"(_\d+(\.\d+)?){1,2}$", "", stem)  # ID_30000, ID_30.000_40.000
        keys.append(base)
        for k in (stem, base):
            if len(k) == 12 and k.startswith("Y"):  # AudioSet's "Y" + 11-character YouTube id
                keys.append(k[1:])
        return keys

    def find(self, *ids: str) -> Path | None:
        for i in ids:
            if i in self.by_key:
                return self.by_key[i]
        return None


def read_label_csv(path: Path) -> dict[str, str]:
    """AudioSet's labels CSV: mid -> display name, in the file's order."""
    out: dict[str, str] = {}
    for _, r in _table(path, ("mid", "display_name")):
        out[r["mid"]] = r["display_name"]
    if not out:
        raise UsageError(f"{path}: the labels CSV has no labels")
    return out


def read_audioset(segments: Path, labels_csv: Path, audio_dir: Path) -> tuple[list[Item], list[str]]:
    names = read_label_csv(labels_csv)
    index = AudioIndex(audio_dir)
    items = []
    for line, fields in _rows(segments, skip_comments=True):
        if [f.lower() for f in fields[:1]] == ["ytid"]:
            continue  # a header line written without '#'
        if len(fields) < 4:
            raise UsageError(f"{segments}: line {line}: expected YTID, start_seconds, end_seconds, labels")
        ytid, mids = fields[0], [m.strip() for m in ",".join(fields[3:]).split(",") if m.strip()]
        unknown = [m for m in mids if m not in names]
        if unknown:
            raise UsageError(f"{segments}: line {line}: label {unknown[0]} is not in {labels_csv}")
        if not mids:
            raise UsageError(f"{segments}: line {line}: the clip has no labels")
        audio = index.find(ytid, "Y" + ytid) or audio_dir / f"{ytid}.wav"
        items.append(Item(ytid, audio, labels=tuple(names[m] for m in mids)))
    return items, list(names.values())


def read_label_list(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as e:
        raise UsageError(f"{path}: cannot read the label file ({e.strerror or e})") from None
    labels = [l.strip() for l in lines if l.strip() and not l.lstrip().startswith("#")]
    if not labels:
        raise UsageError(f"{path}: the label file is empty")
    return list(dict.fromkeys(labels))


def read_file_labels(path: Path, audio_dir: Path, label_file: Path | None) -> tuple[list[Item], list[str]]:
    vocab = read_label_list(label_file) if label_file is not None else None
    items, seen = [], {}
    for line, r in _table(path, ("file", "label")):
        labels = tuple(dict.fromkeys(l.strip() for l in r["label"].split(";") if l.strip()))
        if not labels:
            raise UsageError(f"{path}: line {line}: no label")
        for l in labels:
            if vocab is not None and l not in vocab:
                raise UsageError(f"{path}: line {line}: label {l!r} is not in {label_file}")
            seen.setdefault(l, None)
        items.append(Item(r["file"], audio_dir / r["file"], labels=labels))
    return items, vocab if vocab is not None else sorted(seen)


def read_audiocaps(path: Path, audio_dir: Path) -> list[Item]:
    index = AudioIndex(audio_dir)
    refs: dict[str, list[str]] = {}
    ids: dict[str, str] = {}
    for line, r in _table(path, ("youtube_id", "caption")):
        if not r["caption"]:
            raise UsageError(f"{path}: line {line}: empty caption")
        refs.setdefault(r["youtube_id"], []).append(r["caption"])
        ids.setdefault(r["youtube_id"], r.get("audiocap_id", ""))
    return [Item(y, index.find(y, "Y" + y, ids[y]) or audio_dir / f"{y}.wav", references=tuple(c))
            for y, c in refs.items()]


def read_clotho(path: Path, audio_dir: Path) -> list[Item]:
    rows = _table(path, ("file_name",))
    items = []
    for line, r in rows:
        caps = tuple(v for k, v in sorted(r.items()) if k.startswith("caption") and v)
        if not caps:
            raise UsageError(f"{path}: line {line}: no caption_N column holds a caption")
        items.append(Item(r["file_name"], audio_dir / r["file_name"], references=caps))
    return items


def read_mmau(path: Path, audio_dir: Path) -> list[Item]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise UsageError(f"{path}: expected a JSON list of questions")
    items = []
    for n, q in enumerate(data):
        if not isinstance(q, dict) or not all(isinstance(q.get(k), str) for k in ("audio_id", "question")):
            raise UsageError(f"{path}: item {n}: needs string fields audio_id and question")
        choices = q.get("choices")
        if not (isinstance(choices, list) and len(choices) >= 2 and all(isinstance(c, str) for c in choices)):
            raise UsageError(f"{path}: item {n}: choices must be a list of at least two strings")
        if not isinstance(q.get("answer"), str):
            raise UsageError(f"{path}: item {n}: no answer (MMAU's test split is scored by its own server)")
        items.append(Item(str(q.get("id", n)), audio_dir / q["audio_id"], question=q["question"],
                          choices=tuple(choices), answer=q["answer"], task=str(q.get("task", "")),
                          difficulty=str(q.get("difficulty", ""))))
    if len({it.id for it in items}) != len(items):
        raise UsageError(f"{path}: two questions have the same id")
    return items


def read_dataset(task: str, data: Path, *, labels: Path | None = None, audio_dir: Path | None = None,
                 fold: int | None = None, skip_missing: bool = False, need_audio: bool = True) -> Dataset:
    """The dataset of `task` at `data` (see the module's docstring for each layout). need_audio=False (scoring
    saved predictions): the audio files need not be there."""
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if not data.exists():
        raise UsageError(f"{data}: no such file or folder")
    if fold is not None and task != "esc50":
        raise UsageError("--fold is for esc50")
    if labels is not None and task not in ("audioset", "classify"):
        raise UsageError("--labels is for audioset (its labels CSV) and classify (a label file)")
    base = audio_dir if audio_dir is not None else (data if data.is_dir() else data.parent)
    if audio_dir is not None and not audio_dir.is_dir():
        raise UsageError(f"{audio_dir}: no such folder")
    if task != "esc50" and data.is_dir():
        raise UsageError(f"{data}: is a folder; {task} takes its {'JSON' if task == 'mmau' else 'CSV'} file")
    vocab: list[str] = []
    readers: dict[str, Callable[[], list[Item]]] = {
        "audiocaps": lambda: read_audiocaps(data, base), "clotho": lambda: read_clotho(data, base),
        "mmau": lambda: read_mmau(data, base)}
    if task == "esc50":
        items, vocab = read_esc50(data, fold)
    elif task == "audioset":
        if labels is None:
            raise UsageError("audioset needs --labels LABELS.csv (AudioSet's class_labels_indices.csv)")
        items, vocab = read_audioset(data, labels, base)
    elif task == "classify":
        items, vocab = read_file_labels(data, base, labels)
    else:
        items = readers[task]()
    if not items:
        raise UsageError(f"{data}: no clips")
    if len({it.id for it in items}) != len(items):
        raise UsageError(f"{data}: a clip is listed twice")
    missing = 0
    if need_audio:
        items, missing = _check_audio(items, skip_missing, data)
    multi = task == "audioset" or any(len(it.labels) > 1 for it in items)
    return Dataset(task, items, vocab, multi, missing)
