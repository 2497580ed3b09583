"""`sam record`, `sam devices`, `sam listen`: the microphone."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from sam_cli.cli.common import DeviceOpt, DtypeOpt, MaxTokOpt, ModelOpt, _apply, app, decode_options, handle_errors, load, settings


@app.command()
@handle_errors
def record(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="Where to write the recording (.wav or .flac).")],
    seconds: Annotated[float, typer.Option("--seconds", "-s", min=0.1, help="How long to record.")] = 5.0,
    input_device: Annotated[Optional[str], typer.Option("--input-device", help="Input device name or index "
                                                       "(see `sam devices`).", show_default=False)] = None,
) -> None:
    """Record the microphone to a file (16 kHz mono)."""
    from sam_cli.audio import write_audio
    from sam_cli.audio.mic import record as record_

    settings(ctx).log(f"recording {seconds:g} s …")
    wav = record_(seconds, device=_device_arg(input_device))
    write_audio(out, wav)
    print(out)


@app.command()
@handle_errors
def devices() -> None:
    """List microphone (input) devices."""
    from sam_cli.audio.mic import list_input_devices

    for d in list_input_devices():
        print(f"{d['index']}\t{d['name']}\t{d['channels']} ch\t{d['samplerate']:g} Hz")


def _device_arg(value: str | None):
    return int(value) if value is not None and value.isdigit() else value


@app.command()
@handle_errors
def listen(
    ctx: typer.Context,
    every: Annotated[float, typer.Option("--every", help="Caption a new window this often (seconds).", min=1.0)] = 5.0,
    prompt: Annotated[Optional[str], typer.Option("--prompt", "-p", help="Override the instruction.",
                                                  show_default=False)] = None,
    input_device: Annotated[Optional[str], typer.Option("--input-device", help="Input device name or index.",
                                                       show_default=False)] = None,
    max_tokens: MaxTokOpt = 48,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Live captions of the microphone every few seconds, until Ctrl-C."""
    from sam_cli.audio.mic import check_microphone, stream_chunks
    from sam_cli.tasks import describe as describe_

    s = _apply(ctx, model, device, dtype)
    check_microphone(_device_arg(input_device))
    model_, _ = load(s)
    opts = decode_options(s, max_tokens, 0.0, 0, 1.0, None)
    s.log("listening … (Ctrl-C to stop)")
    started = time.monotonic()
    try:
        for chunk in stream_chunks(every, device=_device_arg(input_device)):
            seg = describe_(model_, chunk, prompt, opts=opts)[0]
            stamp = time.monotonic() - started
            print(f"[{int(stamp // 60):02d}:{stamp % 60:05.2f}] {seg.text}", flush=True)
    except KeyboardInterrupt:  # Ctrl-C is how listening ends
        s.log("stopped")
