"""Generate man/sam.1 from the Typer app itself, so the page cannot drift from the code.

Typer vendors its own click, so parameters are told apart by `param_type_name`, not by class.

    python -m sam_cli.manpage > man/sam.1        (a test fails when the committed page is out of date)
"""

from __future__ import annotations

import typer

from sam_cli import __version__
from sam_cli.cli import app

DATE = "2026"


def _esc(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("-", "\\-")
    # A line starting with . or ' would be read as a roff request.
    return "\n".join(("\\&" + l if l[:1] in ".'" else l) for l in text.splitlines())


def _options(cmd) -> list[str]:
    out = []
    for p in cmd.params:
        if getattr(p, "param_type_name", "") != "option" or p.hidden:
            continue
        names = ", ".join(f"\\fB{_esc(n)}\\fR" for n in p.opts + p.secondary_opts)
        if not p.is_flag and not p.count:
            names += f" \\fI{_esc(p.name.upper())}\\fR"
        help_ = p.help or ""
        default = p.default
        if p.show_default is not False and default not in (None, False, "", ()) and not callable(default):
            help_ += f" (default: {default})"
        out += [".TP", names, _esc(help_)]
    return out


def _arguments(cmd) -> str:
    parts = []
    for p in cmd.params:
        if getattr(p, "param_type_name", "") == "argument":
            name = p.name.upper() + ("..." if p.nargs == -1 else "")
            parts.append(name if p.required else f"[{name}]")
    return " ".join(parts)


def render() -> str:
    root = typer.main.get_command(app)
    lines = [
        f'.TH SAM 1 "{DATE}" "sam {__version__}" "User Commands"',
        ".SH NAME",
        "sam \\- caption, tag and ask questions about audio, locally, with SAM",
        ".SH SYNOPSIS",
        "\\fBsam\\fR [\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
        _esc("sam runs SAM, an audio-language model made of an EAT audio encoder, an MLP connector and a "
             "Mamba-2 language model, on your own machine. Audio of any length, rate, channel count and common "
             "format is accepted; audio longer than 10.24 s is processed window by window, with timestamps. "
             "Results go to standard output; progress, logs and errors to standard error."),
        ".SH GLOBAL OPTIONS",
        *_options(root),
        ".SH COMMANDS",
    ]
    for name in sorted(root.commands):
        cmd = root.commands[name]
        if cmd.hidden:
            continue
        lines += [".SS " + f"\\fBsam {name}\\fR " + _esc(_arguments(cmd)), _esc((cmd.help or "").strip())]
        lines += _options(cmd)
    lines += [
        ".SH ENVIRONMENT",
        ".TP", "\\fBSAM_MODEL\\fR", _esc("Default model (Hub id[@revision], folder, or bundled name)."),
        ".TP", "\\fBHF_HOME\\fR, \\fBHF_HUB_CACHE\\fR", _esc("Where pulled models are cached (Hugging Face's cache)."),
        ".TP", "\\fBHF_HUB_OFFLINE\\fR=1", _esc("Never touch the network; a missing model fails at once with the "
                                                "sam pull command to run."),
        ".TP", "\\fBHF_ENDPOINT\\fR", _esc("Hub address (a mirror)."),
        ".TP", "\\fBNO_COLOR\\fR", _esc("Disable colours on standard error."),
        ".TP", "\\fBSAM_KERNELS\\fR=0", _esc("On a GPU, run the pure-PyTorch model instead of the fused kernels."),
        ".TP", "\\fBSAM_PREFILL_GRAPHS\\fR=0, \\fBSAM_ENCODE_GRAPHS\\fR=0",
        _esc("On a GPU, run every prompt's prefill (every audio-encoder batch) eagerly. Otherwise a prompt length "
             "(a batch size) that comes again in one process is captured in a CUDA graph and replayed, which is "
             "faster for short prompts and small batches and keeps some GPU memory."),
        ".TP", "\\fBSAM_GRAPH_VARIANT\\fR=fused|hybrid|library|timed",
        _esc("On a GPU, which kernels a decode step runs: one variant, or timed to build every one that can run and "
             "keep the fastest (slower to start). By default a rule picks one from measurements."),
        ".TP", "\\fBSAM_CONV_EXTENSION\\fR=0",
        _esc("On a GPU, run causal_conv1d through its public functions (torch custom ops) rather than calling its "
             "compiled extension directly; their first call in a process costs seconds (it imports torch's "
             "compiler)."),
        ".TP", "\\fBTRITON_CACHE_AUTOTUNING\\fR=0",
        _esc("On a GPU, tune the kernels' tile sizes again in every process. By default the first run on a "
             "machine tunes them and keeps the result beside Triton's compiled kernels (TRITON_CACHE_DIR, "
             "~/.triton/cache), which later runs load."),
        ".TP", "\\fBSAM_MAX_AUDIO_SECONDS\\fR, \\fBSAM_MAX_STREAM_BYTES\\fR",
        _esc("The most audio one input may hold (default 86400 s), and the most bytes read from stdin, a FIFO or a "
             "device (default 4 GiB)."),
        ".TP", "\\fBSAM_MAX_PROMPT_TOKENS\\fR, \\fBSAM_MAX_CHOICES\\fR, \\fBSAM_MAX_CHOICES_CHARS\\fR",
        _esc("The longest question or prompt in tokens (default 2048), and how many --labels or --choices "
             "(default 1000) of how many characters in all (default 32000)."),
        ".SH LIMITS AND FAILURE BEHAVIOUR",
        _esc("Bad input or a bad option gives one line on standard error and nothing on standard output, never a "
             "traceback. Each input is bounded: its duration and stream size, its sample rate (1 to 768 kHz) and "
             "float samples (within 65536), the question's tokens (more than 16 characters a token is refused "
             "before tokenizing) and the label or choice list (one item at most 1000 characters), by the "
             "variables above. A model's config.json (at most 64 MiB) is checked field by field (at most 512 "
             "layers, widths up to 65536, a vocabulary up to one million) and against the weights' header before "
             "anything is allocated; pickles are never loaded. File names over 255 bytes are refused, names that "
             "are not UTF-8 accepted, control characters escaped. sam batch appends and syncs each row as it is "
             "done, lets one run at a time write an output (locked by its real path), loses no finished row on a "
             "crash, Ctrl-C or full disk, and resumes when rerun. Ctrl-C ends sam with \"sam: error: "
             "interrupted\" and status 130: at once before a command has started, otherwise once it has stopped "
             "cleanly (a second Ctrl-C: at once); sam listen then exits 0."),
        ".SH EXIT STATUS",
        _esc("0 on success; 1 when an input or model could not be processed (in batch: when any file failed); "
             "2 for a usage error; 130 when interrupted."),
        ".SH EXAMPLES",
        ".nf",
        _esc("sam describe clip.wav\n"
             "sam ask clip.wav \"Is there a dog?\"\n"
             "sam ask clip.wav \"How many times does the dog bark?\" --choices \"once,twice,three times\"\n"
             "sam classify clip.wav --top 5\n"
             "sam batch recordings/ --output captions.jsonl\n"
             "sam pull OWNER/NAME@main"),
        ".fi",
        ".SH SEE ALSO",
        _esc("The README in the sam-cli source distribution."),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
