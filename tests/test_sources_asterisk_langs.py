"""asterisk_langs: transcript parsing and cleaning (no Debian package needed)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from sources.asterisk_langs import fix_italian, parse_transcripts, transcript_for  # noqa: E402


def test_parse_transcripts_skips_comments_and_bom():
    t = parse_transcripts(["\ufeff; Core Asterisk Sounds in Italian", "", "activated: Attivato.",
                           "digits/1: uno", "beep: [tono simple]"])
    assert t == {"activated": "Attivato.", "digits/1": "uno", "beep": "[tono simple]"}


def test_italian_accents_restored():
    assert fix_italian("La chiamata non pu? essere completata cos? come composta.") == \
        "La chiamata non può essere completata così come composta."
    assert fix_italian("La conferenza ? piena.") == "La conferenza è piena."
    assert fix_italian("Casella di posta?") == "Casella di posta?"
    assert fix_italian("Citt? bella") is None  # an unknown broken word is not guessed


def test_transcript_for():
    assert transcript_for("es", "[tono simple]") is None
    assert transcript_for("fr", "(ahooga)") is None
    assert transcript_for("es", "En que carpeta desea guardar el mensaje ?") == \
        "En que carpeta desea guardar el mensaje?"
    assert transcript_for("it", "Al segnale acustico, il tempo sar? esattamente..") == \
        "Al segnale acustico, il tempo sarà esattamente."
    assert transcript_for("ru", "Спасибо.") == "Спасибо."
