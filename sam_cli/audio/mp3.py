"""A pure-Python walk over an MP3 stream's frame headers: damage is found before libsndfile's libmpg123 would
resync over it and print notes on stderr (sources.py then decodes the file with ffmpeg, or refuses it)."""

from __future__ import annotations

_MP3_BITRATES = {  # kbit/s by (MPEG-1?, layer) for bitrate indices 1-14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


_MP3_TAILS = (b"TAG", b"APETAGEX", b"LYRICSBEGIN")  # trailers libmpg123 skips quietly


_MP3_SUFFIXES = {".mp3", ".mp2", ".mp1", ".mpga"}



_OTHER_MAGIC = {b"RIFF", b"RIFX", b"RF64", b"riff", b"fLaC", b"OggS", b"FORM", b".snd", b"caff"}


def _mp3_frame(h: int) -> tuple[tuple[int, int, int], int] | None:
    """((version, layer, rate), frame length in bytes) of a 4-byte MPEG audio header, None if it is not one."""
    version, layer, index, rate_index = (h >> 19) & 3, 4 - ((h >> 17) & 3), (h >> 12) & 15, (h >> 10) & 3
    if h >> 21 != 0x7FF or version == 1 or layer == 4 or index in (0, 15) or rate_index == 3:
        return None  # index 0 (free format) too: rare, and it has no length to check
    mpeg1 = version == 3
    rate = (44100, 48000, 32000)[rate_index] // {3: 1, 2: 2, 0: 4}[version]  # MPEG-1, 2, 2.5
    bitrate = _MP3_BITRATES[(mpeg1, layer if mpeg1 else min(layer, 2))][index - 1] * 1000
    pad = (h >> 9) & 1
    if layer == 1:
        size = (12 * bitrate // rate + pad) * 4
    else:
        size = (144 if mpeg1 or layer == 2 else 72) * bitrate // rate + pad
    return (version, layer, rate), size


def _mp3_problem(suffix: str, data, partial: bool) -> str | None:
    """Why `data` (bytes or mmap) is not a clean MPEG audio stream; None if it is one, or not MPEG audio at all.

    Walks every frame header (a few microseconds a frame: about 0.1 s for an hour), after any ID3v2 tags.
    """
    head = int.from_bytes(data[:4].ljust(4, b"\0"), "big")
    if not (data[:3] == b"ID3" or head >> 21 == 0x7FF or suffix in _MP3_SUFFIXES):
        return None  # libsndfile does not take it for MP3
    pos = 0
    while data[pos : pos + 3] == b"ID3" and len(data) >= pos + 10:  # ID3v2 tags: syncsafe size, optional footer
        b = data[pos + 6 : pos + 10]
        pos += 10 + (b[0] << 21 | b[1] << 14 | b[2] << 7 | b[3]) + (10 if data[pos + 5] & 0x10 else 0)
    if data[pos : pos + 4] in _OTHER_MAGIC:
        return None  # another format (perhaps behind an ID3 tag, or misnamed .mp3): libsndfile reads it as before
    start, first, frames, n = pos, None, 0, len(data)
    while pos + 4 <= n:
        if data[pos : pos + 3] in (b"TAG", b"APE", b"LYR"):
            if any(data[pos : pos + len(t)] == t for t in _MP3_TAILS):
                break
        h = int.from_bytes(data[pos : pos + 4], "big")
        if (h >> 21 == 0x7FF) and ((h >> 12) & 15) == 0 and frames == 0:
            return None  # free format: nothing to check against, leave it to libsndfile as before
        frame = _mp3_frame(h)
        if frame is None or (first is not None and frame[0] != first):
            return f"no valid MPEG audio frame at byte {pos}"
        if first is None:
            first, xing = frame[0], _xing_bytes(data, pos, h)
        pos += frame[1]
        frames += 1
    if frames == 0:
        return f"no MPEG audio frame at byte {start}"
    if partial:
        return None
    if pos > n:
        return f"truncated: the last frame ends {pos - n} bytes past the end"
    if xing is not None and abs(xing - (pos - start)) > (pos - start) / 100:
        return f"its Xing header says {xing} bytes, the stream has {pos - start} (truncated?)"
    return None


def _xing_bytes(data, pos: int, h: int) -> int | None:
    """The stream size in bytes that a Xing/Info tag in the frame at `pos` (header `h`) gives, if any."""
    mono, mpeg1 = (h >> 6) & 3 == 3, (h >> 19) & 3 == 3
    at = pos + 4 + ((17 if mono else 32) if mpeg1 else (9 if mono else 17))
    if len(data) < at + 16 or data[at : at + 4] not in (b"Xing", b"Info") or not data[at + 7] & 2:
        return None
    skip = 4 if data[at + 7] & 1 else 0  # the frame count comes first when present
    return int.from_bytes(data[at + 8 + skip : at + 12 + skip], "big")
