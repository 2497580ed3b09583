"""OpenAI's shapes: a chat completion request read and checked, the response, stream chunks and error bodies.

Only what SAM can do is accepted: one user message holding one `input_audio` part (base64 audio, as the
OpenAI API defines it) and at most one text part (the question; none: describe the audio). Everything else
that would change the answer (n > 1, tools, logprobs, more messages) is refused with a 400 that says so,
rather than ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg")
DEFAULT_MAX_TOKENS = 96  # as `sam describe --max-tokens`; per window, as on the command line
MAX_STOP = 4  # stop strings, as OpenAI allows

# Accepted and without effect on a local server (who is asking, how to bill, what to store).
_IGNORED = {"model", "user", "store", "metadata", "service_tier", "stream_options", "parallel_tool_calls",
            "modalities", "frequency_penalty", "presence_penalty"}


class ApiError(Exception):
    """An error for the client, in OpenAI's error shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error", headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.message, self.kind, self.param, self.code)

    def naming(self, path: object, name: str) -> ApiError:
        """The message with a temporary file's path replaced by the name the client gave the audio."""
        self.message = self.message.replace(str(path), name)
        return self


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass
class ChatRequest:
    audio: bytes
    audio_format: str
    question: str | None  # None: describe
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, param)


def _number(body: dict, key: str, default: float, lo: float, hi: float, integer: bool = False) -> Any:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise _bad(f"'{key}' must be {'a whole number' if integer else 'a number'}", key)
    if not (math.isfinite(value) and lo <= value <= hi):
        raise _bad(f"'{key}' must be between {lo:g} and {hi:g}", key)
    return int(value) if integer else float(value)


def parse_json(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise _bad(f"the request body is not valid JSON ({e})") from None
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    return body


def parse_chat(body: dict) -> ChatRequest:
    """A chat completion request -> ChatRequest; an ApiError(400) naming what is wrong or not supported."""
    for key in ("tools", "functions", "tool_choice", "function_call", "audio", "prediction"):
        if body.get(key):
            raise _bad(f"'{key}' is not supported by this server", key)
    if body.get("logprobs") or body.get("top_logprobs"):
        raise _bad("'logprobs' is not supported by this server", "logprobs")
    if body.get("logit_bias"):
        raise _bad("'logit_bias' is not supported by this server", "logit_bias")
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "text"):
        raise _bad("'response_format' must be {\"type\": \"text\"}", "response_format")
    n = body.get("n", 1)
    if n != 1 or isinstance(n, bool):
        raise _bad("'n' must be 1: this server returns one answer a request", "n")
    for key in ("frequency_penalty", "presence_penalty"):
        if body.get(key) not in (None, 0, 0.0):
            raise _bad(f"'{key}' is not supported by this server (give 0 or leave it out)", key)
    unknown = sorted(set(body) - _IGNORED - {"messages", "max_tokens", "max_completion_tokens", "temperature",
                                             "top_p", "top_k", "seed", "stop", "stream", "n", "logprobs",
                                             "top_logprobs", "logit_bias", "response_format", "tools",
                                             "functions", "tool_choice", "function_call", "audio", "prediction"})
    if unknown:
        raise _bad(f"unknown parameter '{unknown[0]}'", unknown[0])
    audio, audio_format, question = _read_messages(body.get("messages"))
    if body.get("max_tokens") is not None and body.get("max_completion_tokens") is not None:
        raise _bad("give 'max_tokens' or 'max_completion_tokens', not both", "max_tokens")
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise _bad("'stream' must be true or false", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise _bad("'stream_options' must be an object", "stream_options")
    return ChatRequest(
        audio=audio, audio_format=audio_format, question=question,
        max_tokens=_number(body, key, DEFAULT_MAX_TOKENS, 1, 4096, integer=True),
        temperature=_number(body, "temperature", 0.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0),
        top_k=_number(body, "top_k", 0, 0, 1_000_000, integer=True),
        seed=_number(body, "seed", None, -(2**63), 2**63 - 1, integer=True),
        stop=_read_stop(body.get("stop")),
        stream=bool(stream),
        include_usage=bool(options.get("include_usage")),
    )


def _read_stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise _bad("'stop' must be a string or a list of strings", "stop")
    if len(stops) > MAX_STOP:
        raise _bad(f"'stop' takes at most {MAX_STOP} strings", "stop")
    return [s for s in stops if s]


def _read_messages(messages: Any) -> tuple[bytes, str, str | None]:
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty list", "messages")
    if len(messages) != 1 or not isinstance(messages[0], dict) or messages[0].get("role") != "user":
        raise _bad("give exactly one message, from the user: this server answers one question about one audio "
                   "clip (no system messages, no conversation history)", "messages")
    content = messages[0].get("content")
    if isinstance(content, str) or not isinstance(content, list):
        raise _bad("the message's content must be a list of parts with one 'input_audio' part",
                   "messages[0].content")
    audio = fmt = None
    texts: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            if audio is not None:
                raise _bad("give one 'input_audio' part: one clip a request", "messages[0].content")
            audio, fmt = _read_audio(part["input_audio"])
        else:
            raise _bad(f"content parts must be 'text' or 'input_audio' parts, not {kind or type(part).__name__!r}",
                       "messages[0].content")
    if audio is None:
        raise _bad("the message has no 'input_audio' part: send the audio as base64 in one", "messages[0].content")
    if len(texts) > 1:
        raise _bad("give at most one 'text' part (the question)", "messages[0].content")
    question = texts[0].strip() if texts else ""
    return audio, fmt, question or None


def _read_audio(part: dict) -> tuple[bytes, str]:
    fmt = part.get("format")
    if fmt not in AUDIO_FORMATS:
        raise _bad(f"'input_audio.format' must be one of {', '.join(AUDIO_FORMATS)}", "input_audio.format")
    data = part.get("data")
    if not isinstance(data, str) or not data:
        raise _bad("'input_audio.data' must be the audio as a base64 string", "input_audio.data")
    try:
        audio = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("'input_audio.data' is not valid base64", "input_audio.data") from None
    return audio, fmt


# --- responses --------------------------------------------------------------------------------------------
def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion(cid: str, model: str, text: str, finish: str, use: dict) -> dict:
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                         "logprobs": None}],
            "usage": use}


def chunk(cid: str, model: str, delta: dict, finish: str | None = None, use: dict | None = None,
          choices: bool = True) -> str:
    """One server-sent event of a streamed completion."""
    body = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}] if choices else []}
    if use is not None:
        body["usage"] = use
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


DONE = "data: [DONE]\n\n"
