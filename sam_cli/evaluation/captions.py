"""Caption metrics through the COCO caption evaluation code (`pycocoevalcap`, in the `eval` extra): BLEU-1..4,
METEOR, ROUGE-L, CIDEr-D, SPICE and SPIDEr = (CIDEr-D + SPICE) / 2.

pycocoevalcap's `Cider` is CIDEr-D (Gaussian length penalty, sigma 6, clipped n-gram counts, x10), with
document frequencies from the references being scored, as the COCO and DCASE evaluations compute it.
The Java parts: the PTB tokenizer, METEOR and SPICE run `java`. pycocoevalcap ships the jars of the first
two; SPICE also needs Stanford CoreNLP 3.6.0, which pycocoevalcap downloads on first use, so here it runs
only when those jars are already in its `spice/lib` folder (never downloaded at run time). Without Java
(or with java=False) METEOR and SPICE are skipped, with a note, and captions are tokenized in Python as the
PTB tokenizer does for plain sentences (lower case, punctuation split off and dropped); scores may then
differ slightly from the Java tokenizer's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from sam_cli.errors import UsageError
from sam_cli.evaluation.metrics import EVAL_EXTRA

# What pycocoevalcap's PTBTokenizer drops after tokenizing.
PUNCTUATIONS = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--",
                "...", ";"}
CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")


def _coco():
    import importlib.util

    spec = importlib.util.find_spec("pycocoevalcap")  # a namespace package: no __init__.py, no __file__
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"caption metrics need pycocoevalcap: {EVAL_EXTRA}")
    return Path(list(spec.submodule_search_locations)[0])


def java_works() -> bool:
    java = shutil.which("java")
    if java is None:
        return False
    try:
        return subprocess.run([java, "-version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def python_tokenize(text: str) -> str:
    """PTB-style tokens of one sentence, lower case, punctuation dropped (the tokenizer without Java)."""
    text = text.lower().replace("\n", " ")
    text = re.sub(r"(\w)('s|'re|'ve|'ll|'d|n't|'m)\b", r"\1 \2", text)
    tokens = re.findall(r"[\w']+|\.\.\.|--|[^\w\s]", text)
    return " ".join(t for t in tokens if t not in PUNCTUATIONS)


def _tokenize(captions: dict[str, list[str]], java: bool) -> dict[str, list[str]]:
    if java:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        return PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})
    return {k: [python_tokenize(c) for c in v] for k, v in captions.items()}


def caption_metrics(references: dict[str, list[str]], predictions: dict[str, str],
                    java: bool | None = None) -> tuple[dict[str, float], list[str]]:
    """Corpus-level metrics of `predictions` (clip id -> caption) against `references` (clip id -> captions),
    and notes on what was skipped. java=None: use Java when it runs here."""
    package = _coco()
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    if set(references) != set(predictions):
        raise ValueError("references and predictions must cover the same clips")
    notes: list[str] = []
    if java is None:
        java = java_works()
        if not java:
            notes.append("Java not found: METEOR and SPICE skipped; captions tokenized in Python, not by the "
                         "PTB tokenizer")
    elif not java:
        notes.append("--no-java: METEOR and SPICE skipped; captions tokenized in Python, not by the PTB tokenizer")
    try:
        gts = _tokenize(references, java)
        res = _tokenize({k: [v] for k, v in predictions.items()}, java)
    except Exception as e:  # noqa: BLE001  e.g. its package folder is read-only (it writes a temp file there)
        if not java:
            raise
        notes.append(f"the Java PTB tokenizer failed ({type(e).__name__}: {e}); captions tokenized in Python")
        gts = _tokenize(references, False)
        res = _tokenize({k: [v] for k, v in predictions.items()}, False)
    out: dict[str, float] = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for n, b in enumerate(bleu, 1):
        out[f"BLEU_{n}"] = float(b)
    if java:
        from pycocoevalcap.meteor.meteor import Meteor

        try:
            meteor = Meteor()
            out["METEOR"] = float(meteor.compute_score(gts, res)[0])
            del meteor  # its __del__ ends the Java process
        except Exception as e:  # noqa: BLE001  a Java that cannot run the jar (memory, version): say, go on
            notes.append(f"METEOR skipped: its Java scorer failed ({type(e).__name__}: {e})")
    out["ROUGE_L"] = float(Rouge().compute_score(gts, res)[0])
    out["CIDEr-D"] = float(Cider().compute_score(gts, res)[0])
    if java:
        lib = package / "spice" / "lib"
        if all((lib / j).is_file() for j in CORENLP_JARS):
            from pycocoevalcap.spice.spice import Spice

            try:
                out["SPICE"] = float(Spice().compute_score(gts, res)[0])
                out["SPIDEr"] = (out["CIDEr-D"] + out["SPICE"]) / 2
            except Exception as e:  # noqa: BLE001
                notes.append(f"SPICE skipped: its Java scorer failed ({type(e).__name__}: {e})")
        else:
            notes.append(f"SPICE and SPIDEr skipped: SPICE needs {CORENLP_JARS[0]} and its models jar in {lib} "
                         f"(pycocoevalcap's get_stanford_models fetches them)")
    return out, notes
