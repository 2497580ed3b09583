"""One generation request's answer as its events arrive: the text in window order, stop strings, usage.

Windows of one request decode side by side in the batch; the text a client sees is theirs in order, joined
as `writers.caption_record` joins them (each window's text stripped, empty ones left out), so the streamed
pieces add up to exactly the non-streamed answer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WindowResult:
    text: str
    new_tokens: int
    prompt_tokens: int
    hit_length: bool


class Answer:
    def __init__(self, windows: int, stop: list[str] | None = None):
        self.windows = windows
        self.raw = [""] * windows  # pieces so far, per window
        self.results: list[WindowResult | None] = [None] * windows
        self.partial = [(0, 0)] * windows  # (tokens kept, prompt tokens) of windows still decoding
        self.stop = stop or []
        self.sent = ""  # what the client was given so far (streaming)
        self.stopped = False  # a stop string ended the answer
        self.done = False

    def on_event(self, event: tuple) -> None:
        kind = event[0]
        if kind == "token":
            self.raw[event[1]] += event[2]
            self.partial[event[1]] = event[3:5]
        elif kind == "window":
            self.results[event[1]] = WindowResult(*event[2:])
        elif kind == "done":
            self.done = True

    def _text(self) -> tuple[str, bool]:
        """(The answer so far in window order, whether that is all of it.)"""
        parts = []
        for raw, res in zip(self.raw, self.results):
            if res is None:
                parts.append(raw.lstrip())
                return " ".join(p for p in parts if p), False
            parts.append(res.text)
        return " ".join(p for p in parts if p), True

    def text(self) -> str:
        """The answer as far as it can be given now: cut at a stop string (then `stopped`); while it goes on,
        trailing blanks and what could still become a stop string are held back."""
        text, complete = self._text()
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            return text[:cut]
        if complete or self.done:
            return text
        text = text.rstrip()
        hold = max((len(s) - 1 for s in self.stop), default=0)
        return text[: len(text) - hold] if hold else text

    def hit_stop(self) -> bool:
        """Whether a stop string has ended the answer."""
        if self.stop and not self.stopped:
            self.text()
        return self.stopped

    def delta(self) -> str:
        """New text for the client since the last call."""
        text = self.text()
        if not text.startswith(self.sent):  # a window's final text differs from its pieces: never resend
            return ""
        new, self.sent = text[len(self.sent):], text
        return new

    @property
    def finish_reason(self) -> str:
        if self.stopped:
            return "stop"
        return "length" if any(r is not None and r.hit_length for r in self.results) else "stop"

    @property
    def prompt_tokens(self) -> int:
        """Of the windows that began (a stop string can end an answer before all have)."""
        return sum(r.prompt_tokens if r is not None else p[1] for r, p in zip(self.results, self.partial))

    @property
    def completion_tokens(self) -> int:
        return sum(r.new_tokens if r is not None else p[0] for r, p in zip(self.results, self.partial))
