"""Output writers (text, json, jsonl, csv, tsv, srt, vtt) and reading outputs back for resume."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sam_cli.errors import SamError, UsageError
from sam_cli.writers import (
    format_from_path,
    format_time,
    get_writer,
    open_writer,
    read_records,
)

ROOT = Path(__file__).resolve().parents[1]
NASTY = 'a "quoted", comma\tand tab\nnew line \\ backslash, café \u2028\x85\r'


def caption(file: str, *texts: str, window: float = 10.24, **extra) -> dict:
    segs = [{"start": round(i * window, 3), "end": round((i + 1) * window, 3), "text": t} for i, t in enumerate(texts)]
    return {"file": file, "duration": segs[-1]["end"], "task": "describe", "prompt": "p", "text": " ".join(texts),
            "segments": segs, "model": "tiny", **extra}


TAGS = {"file": "t.wav", "task": "classify",
        "labels": [{"label": "dog", "score": 0.873}, {"label": "bark, loud", "score": 0.25}]}
CHOICE = {"file": "c.wav", "task": "choose", "prompt": "q?", "answer": "yes",
          "choices": [{"choice": "yes", "prob": 0.75}, {"choice": "no", "prob": 0.25}]}
ERROR = {"file": "bad.wav", "error": "not a readable audio file"}


def render(fmt: str, records: list[dict], **options) -> str:
    buf = io.StringIO()
    writer = get_writer(fmt, buf, **options)
    for r in records:
        writer.write(r)
    writer.close()
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------------
# text


def test_text_single_window_and_file_prefix():
    assert render("text", [caption("a.wav", "a dog barks")]) == "a dog barks\n"
    out = render("text", [caption("a.wav", "a dog barks"), caption("b.wav", "rain")], multi=True)
    assert out == "a.wav: a dog barks\nb.wav: rain\n"


def test_text_windows_with_timestamps_and_hours():
    out = render("text", [caption("a.wav", "one", "two", "three")])
    assert out == "[00:00.00 → 00:10.24] one\n[00:10.24 → 00:20.48] two\n[00:20.48 → 00:30.72] three\n"
    assert format_time(3599.994) == "59:59.99"
    assert format_time(3725.5) == "01:02:05.50"
    late = {"file": "x", "segments": [{"start": 3594.24, "end": 3604.48, "text": "a"},
                                      {"start": 3604.48, "end": 3605.0, "text": "b"}]}
    assert render("text", [late]).splitlines() == ["[00:59:54.24 → 01:00:04.48] a", "[01:00:04.48 → 01:00:05.00] b"]


def test_text_labels_choices_and_errors():
    assert render("text", [TAGS]) == "dog         0.873\nbark, loud  0.250\n"
    assert render("text", [CHOICE]) == "yes  0.750\nno   0.250\n"
    # Errors always name their file, even for a single input.
    assert render("text", [ERROR]) == "bad.wav: error: not a readable audio file\n"
    assert render("text", [TAGS], multi=True).splitlines()[0] == "t.wav: dog         0.873"


# ---------------------------------------------------------------------------------------------------------
# json / jsonl


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_one_compact_object_per_line(fmt):
    records = [caption("a.wav", NASTY, "two", size=12, mtime_ns=1795316207883215047), TAGS, CHOICE, ERROR,
               {"file": "n.wav", "task": "classify", "labels": [{"label": "x", "score": float("nan")}]}]
    lines = render(fmt, records).splitlines()
    assert len(lines) == len(records)
    parsed = [json.loads(line) for line in lines]
    assert parsed[:4] == records[:4]  # extra keys (the batch fingerprint) pass through, ints stay exact
    assert parsed[4]["labels"][0]["score"] is None  # NaN is not JSON
    assert "café" in lines[0]  # a UTF-8 stream gets the characters, not \u escapes


def test_json_escapes_non_ascii_for_ascii_streams():
    buf = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    writer = get_writer("jsonl", buf)
    writer.write(caption("é.wav", "café"))
    buf.seek(0)
    line = buf.read()
    assert "\\u00e9" in line and json.loads(line)["text"] == "café"


# ---------------------------------------------------------------------------------------------------------
# csv / tsv


def test_csv_rows_quoting_and_header_once():
    out = render("csv", [caption("a,b.wav", NASTY, "two"), ERROR, caption("c.wav", "three")])
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["file", "start", "end", "text", "error"]
    assert rows[1:] == [
        ["a,b.wav", "0.0", "10.24", NASTY, ""],
        ["a,b.wav", "10.24", "20.48", "two", ""],
        ["bad.wav", "", "", "", "not a readable audio file"],
        ["c.wav", "0.0", "10.24", "three", ""],
    ]


def test_csv_tags_and_choices_columns():
    assert list(csv.reader(io.StringIO(render("csv", [TAGS, ERROR])))) == [
        ["file", "label", "score", "error"], ["t.wav", "dog", "0.873", ""], ["t.wav", "bark, loud", "0.25", ""],
        ["bad.wav", "", "", "not a readable audio file"]]
    assert list(csv.reader(io.StringIO(render("csv", [CHOICE])))) == [
        ["file", "choice", "prob", "error"], ["c.wav", "yes", "0.75", ""], ["c.wav", "no", "0.25", ""]]


def test_tsv_escapes_so_every_row_is_one_line():
    out = render("tsv", [caption("a.wav", NASTY), ERROR])
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) == 4  # header, 2 rows, final newline
    assert lines[0].split("\t") == ["file", "start", "end", "text", "error"]
    fields = lines[1].split("\t")
    assert len(fields) == 5
    assert fields[3] == 'a "quoted", comma\\tand tab\\nnew line \\\\ backslash, café \u2028\x85\\r'


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
def test_round_trip_through_files(tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    records = [caption("a.wav", NASTY, "two", size=5, mtime_ns=1795316207883215047),
               {**ERROR, "size": 7, "mtime_ns": 3}, caption("c.wav", "", size=1, mtime_ns=2)]
    options = {} if fmt == "jsonl" else {"extra_columns": ("duration", "size", "mtime_ns")}
    with open_writer(path, **options) as w:
        for r in records:
            w.write(r)
    back = read_records(path)
    assert [r["file"] for r in back] == ["a.wav", "bad.wav", "c.wav"]
    assert back[0]["segments"] == records[0]["segments"]
    assert back[0]["text"] == records[0]["text"]
    assert (back[0]["size"], back[0]["mtime_ns"], back[0]["duration"]) == (5, 1795316207883215047, 20.48)
    assert back[1] == {**ERROR, "size": 7, "mtime_ns": 3}
    assert back[2]["segments"] == [{"start": 0.0, "end": 10.24, "text": ""}]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
def test_truncated_last_line_is_dropped(tmp_path, fmt):
    full = tmp_path / f"full.{fmt}"
    options = {} if fmt == "jsonl" else {"extra_columns": ("size",)}
    b = caption("b.wav", "x\ny, \"z\"", "two", size=2)  # two rows in csv/tsv; a newline inside csv quotes
    with open_writer(full, **options) as w:
        w.write(caption("a.wav", "first", size=1))
        before = full.stat().st_size
        w.write(b)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{fmt}"
    # A crash can stop the write anywhere: only whole lines (rows) come back, never a partial one. (A
    # csv/tsv record of several rows may come back with its first rows only: `sam batch` checks that the
    # segments cover the clip.)
    for n in range(before, len(data)):
        cut.write_bytes(data[:n])
        got = read_records(cut)
        assert got[0]["segments"] == [{"start": 0.0, "end": 10.24, "text": "first"}]
        if fmt == "jsonl" or len(got) == 1:
            assert len(got) == 1, (n, data[before:n])
        else:
            assert len(got) == 2 and got[1]["segments"] == b["segments"][:1], (n, data[before:n])
    cut.write_bytes(data)
    assert read_records(cut)[1]["segments"] == b["segments"]


def test_read_records_refuses_foreign_files(tmp_path):
    assert read_records(tmp_path / "missing.jsonl") == []
    bad = tmp_path / "notes.jsonl"
    bad.write_text('{"file": "a"}\nhello world\n{"file": "b"}\n')
    with pytest.raises(SamError, match="notes.jsonl:2"):
        read_records(bad)
    other = tmp_path / "table.csv"
    other.write_text("name,age\nbob,3\n")
    with pytest.raises(SamError, match="header"):
        read_records(other)
    for name in ("out.txt", "out.srt", "out.vtt"):
        with pytest.raises(UsageError, match="cannot be read back"):
            read_records(tmp_path / name)


def test_formats_from_paths_and_names():
    assert [format_from_path(p) for p in ["r.jsonl", "R.JSON", "a/b.csv", "x.tsv", "y.txt", "s.srt", "v.VTT"]] == [
        "jsonl", "json", "csv", "tsv", "text", "srt", "vtt"]
    with pytest.raises(UsageError, match="extension"):
        format_from_path("results.parquet")
    with pytest.raises(UsageError, match="unknown output format"):
        get_writer("xml", io.StringIO())


def test_each_record_reaches_a_pipe_before_the_writer_is_done():
    # A consumer (e.g. `sam describe *.wav --json | jq`) must see each record as soon as it is written.
    code = ("import sys, time; from sam_cli.writers import get_writer\n"
            "w = get_writer('jsonl', sys.stdout)\n"
            "w.write({'file': 'a.wav', 'text': 'one'})\n"
            "sys.stdin.readline()\n"  # wait until the parent has read the first record
            "w.write({'file': 'b.wav', 'text': 'two'}); w.close()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert json.loads(proc.stdout.readline()) == {"file": "a.wav", "text": "one"}
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["file"] == "b.wav"
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0


# ---------------------------------------------------------------------------------------------------------
# srt, vtt


def test_srt_cues_numbered_across_records_with_comma_millis():
    long = caption("a.wav", "A dog barks.", "", "Rain\n\nfalls.", window=3600.5)
    text = render("srt", [long, ERROR, caption("b.wav", "A bell.")])
    assert text == ("1\n00:00:00,000 --> 01:00:00,500\nA dog barks.\n\n"
                    "2\n02:00:01,000 --> 03:00:01,500\nRain falls.\n\n"  # empty window skipped, one line
                    "3\n00:00:00,000 --> 00:00:10,240\nA bell.\n\n")


def test_vtt_header_once_dot_millis_and_escapes():
    text = render("vtt", [caption("a.wav", "x < y & z -> w", "two"), {"file": "n.wav", "text": "untimed",
                                                                        "duration": 2.5}])
    assert text == ("WEBVTT\n\n"
                    "1\n00:00:00.000 --> 00:00:10.240\nx &lt; y &amp; z -&gt; w\n\n"
                    "2\n00:00:10.240 --> 00:00:20.480\ntwo\n\n"
                    "3\n00:00:00.000 --> 00:00:02.500\nuntimed\n\n")


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_refuse_tags_and_choices(fmt):
    for record in (TAGS, CHOICE):
        with pytest.raises(UsageError, match="timed captions"):
            render(fmt, [record])
    assert render(fmt, [ERROR]) == ""
