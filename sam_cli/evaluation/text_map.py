"""LTU's way of scoring classification from generated text: embed "sound of " + the prediction and
"sound of " + each label with a text encoder; the cosine similarity to each label is that label's score
(argmax -> accuracy, the vector -> mAP).

LTU used OpenAI's text-embedding-ada (a BERT option in its code); the SAM paper used the CLAP text encoder.
Here the encoder is pluggable: anything with `encode(list[str]) -> array [n, d]` (the `TextEncoder`
protocol), and the CLI loads a sentence-transformers model by the name or folder the user gives (for
instance a BERT-style model, as LTU's option), offline only: the model must already be in the Hugging Face
cache or a local folder. sentence-transformers is not in any extra of sam (it is large): install it
yourself.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from sam_cli.errors import UsageError

PREFIX = "sound of "  # what LTU puts before the prediction and before each label


class TextEncoder(Protocol):
    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded without the network."""

    def __init__(self, name: str, device: str = "cpu"):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise UsageError("--text-encoder needs sentence-transformers: pip install sentence-transformers") from None
        try:
            self.model = SentenceTransformer(name, device=device, local_files_only=True)
        except Exception as e:  # noqa: BLE001  any failure to find or read the model is the user's to fix
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UsageError(f"--text-encoder {name}: cannot load it offline ({first})") from None
        self.name = name

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(texts, batch_size=64, convert_to_numpy=True), dtype=np.float64)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def label_similarities(encoder: TextEncoder, predictions: list[str], labels: list[str]) -> np.ndarray:
    """Cosine similarity [predictions, labels] of "sound of " + each prediction to "sound of " + each label."""
    p = _normalise(encoder.encode([PREFIX + t for t in predictions]))
    l = _normalise(encoder.encode([PREFIX + t for t in labels]))
    if p.shape[1] != l.shape[1] or p.shape[0] != len(predictions) or l.shape[0] != len(labels):
        raise ValueError(f"the text encoder returned arrays of shapes {p.shape} and {l.shape}")
    return p @ l.T
