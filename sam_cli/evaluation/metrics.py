"""Classification and multiple-choice metrics.

Classification: accuracy (argmax against the one true label), and from a score per label per clip,
scikit-learn's average precision and ROC AUC per class, averaged over classes (mAP, mAUC: classes with no
positive, or for AUC no negative, clip are left out, as AudioSet's evaluations do), and d-prime
= sqrt(2) * Phi^-1(mAUC) (AudioSet's convention). scikit-learn is in the `eval` extra.

Multiple choice, MMAU's rule (its evaluation script's `string_match`): lowercase the answer, the prediction
and every choice and take each one's set of word tokens (regex `\\b\\w+\\b`); the prediction is right when it
has at least one token, holds every token of the answer, and holds none of the "incorrect tokens": the tokens
of the other choices (those whose token set differs from the answer's) that are not in the answer. Accuracy
is reported over all questions, per task (sound / music / speech) and per difficulty.
"""

from __future__ import annotations

import math
import re
from statistics import NormalDist

import numpy as np

from sam_cli.errors import UsageError

EVAL_EXTRA = "pip install 'sam-cli[eval]'"


def _sklearn():
    try:
        from sklearn import metrics
    except ImportError:
        raise UsageError(f"these metrics need scikit-learn: {EVAL_EXTRA}") from None
    return metrics


def accuracy(scores: np.ndarray, truth: list[int]) -> float:
    """Share of clips whose best-scored label is their true label (scores [clips, labels])."""
    return float(np.mean(np.argmax(scores, axis=1) == np.asarray(truth))) if len(truth) else math.nan


def multi_hot(labels: list[tuple[str, ...]], vocab: list[str]) -> np.ndarray:
    index = {l: i for i, l in enumerate(vocab)}
    y = np.zeros((len(labels), len(vocab)), dtype=np.int8)
    for row, ls in enumerate(labels):
        for l in ls:
            y[row, index[l]] = 1
    return y


def ranking_metrics(scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """mAP, mAUC and d-prime of scores [clips, labels] against the multi-hot truth y, averaged over classes."""
    m = _sklearn()
    aps, aucs = [], []
    for c in range(y.shape[1]):
        pos = int(y[:, c].sum())
        if pos == 0:
            continue
        aps.append(m.average_precision_score(y[:, c], scores[:, c]))
        if pos < len(y):
            aucs.append(m.roc_auc_score(y[:, c], scores[:, c]))
    out = {"mAP": float(np.mean(aps)) if aps else math.nan, "classes_scored": len(aps)}
    mauc = float(np.mean(aucs)) if aucs else math.nan
    out["mAUC"] = mauc
    out["d_prime"] = d_prime(mauc)
    return out


def d_prime(auc: float) -> float:
    if not 0.0 < auc < 1.0:
        return math.nan if math.isnan(auc) else (math.inf if auc >= 1.0 else -math.inf)
    return math.sqrt(2.0) * NormalDist().inv_cdf(auc)


def classification_metrics(scores: np.ndarray, labels: list[tuple[str, ...]], vocab: list[str],
                           multi_label: bool) -> dict[str, float]:
    """Single-label: accuracy plus the ranking metrics; multi-label: the ranking metrics."""
    y = multi_hot(labels, vocab)
    out: dict[str, float] = {}
    if not multi_label:
        out["accuracy"] = accuracy(scores, [vocab.index(ls[0]) for ls in labels])
    out.update(ranking_metrics(scores, y))
    return out


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\b\w+\b", text.lower()))


def mmau_match(answer: str, prediction: str, choices: list[str] | tuple[str, ...]) -> bool:
    """MMAU's string-match rule (see the module's docstring)."""
    pred, ans = _tokens(prediction), _tokens(answer)
    if not pred:
        return False
    incorrect: set[str] = set()
    for choice in choices:
        tokens = _tokens(choice)
        if tokens != ans:
            incorrect |= tokens - ans
    return ans <= pred and not (pred & incorrect)


def grouped_accuracy(correct: list[bool], tasks: list[str], difficulties: list[str]) -> dict:
    """Accuracy over all, per task and per difficulty (groups with an empty name are left out)."""
    def by(keys: list[str]) -> dict[str, dict]:
        groups: dict[str, list[bool]] = {}
        for k, c in zip(keys, correct):
            if k:
                groups.setdefault(k, []).append(c)
        return {k: {"accuracy": float(np.mean(v)), "questions": len(v)} for k, v in sorted(groups.items())}

    return {"accuracy": float(np.mean(correct)) if correct else math.nan, "questions": len(correct),
            "by_task": by(tasks), "by_difficulty": by(difficulties)}
