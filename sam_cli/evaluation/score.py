"""Metrics from prediction rows (no model): what `sam eval` reports, and all that `--predictions` needs.

Classification: method "sam" ranks the labels by the language model's scores; method "ltu" maps the
generated text to the labels by cosine similarity in a text encoder (text_map.py). Both give accuracy
(single-label data) and mAP / mAUC / d-prime. Captions: the COCO caption metrics of the greedy captions,
or with sampled captions (LTU's averaging) the mean and standard deviation over the sample sets. Multiple
choice: method "match" is MMAU's string match of the generated answer, method "choices" the best-scored
choice; accuracy over all questions, per task and per difficulty.
Clips whose row is an error (unreadable audio) are left out of every metric and counted as "failed".
"""

from __future__ import annotations

import numpy as np

from sam_cli.errors import UsageError
from sam_cli.evaluation.captions import caption_metrics
from sam_cli.evaluation.datasets import Dataset
from sam_cli.evaluation.metrics import classification_metrics, grouped_accuracy, mmau_match
from sam_cli.evaluation.predict import fields_needed
from sam_cli.evaluation.text_map import TextEncoder, label_similarities


def _need(rows: dict[str, dict], ds: Dataset, fields: tuple[str, ...], where: str) -> list:
    """The dataset's items whose row is not an error; every item must have a row with `fields`."""
    missing = [it.id for it in ds.items if it.id not in rows]
    if missing:
        raise UsageError(f"{where}: {len(missing)} of {len(ds.items)} clips have no prediction (e.g. {missing[0]}); "
                         f"run `sam eval` without --predictions to make them")
    ok = [it for it in ds.items if "error" not in rows[it.id]]
    for it in ok:
        lacking = [f for f in fields if f not in rows[it.id]]
        if lacking:
            raise UsageError(f"{where}: the prediction of {it.id} has no {lacking[0]!r} (made for another --method)")
    return ok


def score(ds: Dataset, rows: dict[str, dict], methods: tuple[str, ...], *, encoder: TextEncoder | None = None,
          samples: int = 1, java: bool | None = None, where: str = "predictions") -> dict:
    """The metrics of `methods` over the dataset's clips, from `rows` (clip id -> prediction row)."""
    ok = _need(rows, ds, fields_needed(ds.kind, methods, samples), where)
    out: dict = {"clips": len(ds.items), "scored": len(ok), "failed": len(ds.items) - len(ok), "methods": {}}
    if not ok:
        raise UsageError(f"{where}: every clip failed; nothing to score")
    if ds.kind == "classification":
        truth = [it.labels for it in ok]
        for m in methods:
            if m == "sam":
                short = next((it.id for it in ok if not set(ds.labels) <= set(rows[it.id]["scores"])), None)
                if short is not None:
                    raise UsageError(f"{where}: {short} was scored against another label list; rerun `sam eval` "
                                     f"without --predictions to score the missing labels")
                scores = np.array([[rows[it.id]["scores"][l] for l in ds.labels] for it in ok])
                out["methods"]["sam"] = {"how": "every label scored by the language model (classify --labels)",
                                         **classification_metrics(scores, truth, ds.labels, ds.multi_label)}
            else:
                if encoder is None:
                    raise UsageError("--method ltu needs --text-encoder NAME (a sentence-transformers model)")
                sims = label_similarities(encoder, [rows[it.id]["text"] for it in ok], ds.labels)
                out["methods"]["ltu"] = {"how": "generated text mapped to labels by cosine similarity",
                                         "text_encoder": encoder.name,
                                         **classification_metrics(sims, truth, ds.labels, ds.multi_label)}
    elif ds.kind == "captioning":
        refs = {it.id: list(it.references) for it in ok}
        sets = [[rows[it.id]["texts"][k] for it in ok] for k in range(samples)] if samples > 1 else \
            [[rows[it.id]["text"] for it in ok]]
        runs, notes = [], []
        for preds in sets:
            metrics, notes = caption_metrics(refs, {it.id: p for it, p in zip(ok, preds)}, java=java)
            runs.append(metrics)
        mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        result = {"how": "greedy captions" if samples == 1 else f"mean over {samples} sampled captions a clip "
                  "(LTU's averaging)", **mean}
        if samples > 1:
            result["std"] = {k: float(np.std([r[k] for r in runs])) for k in runs[0]}
        out["methods"]["generate"] = result
        if notes:
            out["notes"] = notes
    else:
        tasks, levels = [it.task for it in ok], [it.difficulty for it in ok]
        for m in methods:
            if m == "match":
                correct = [mmau_match(it.answer, rows[it.id]["text"], it.choices) for it in ok]
                out["methods"]["match"] = {"how": "generated answer, MMAU's string-match rule",
                                           **grouped_accuracy(correct, tasks, levels)}
            else:
                best = [max(rows[it.id]["choice_scores"], key=rows[it.id]["choice_scores"].get) for it in ok]
                correct = [b.strip() == it.answer.strip() for b, it in zip(best, ok)]
                out["methods"]["choices"] = {"how": "every choice scored by the language model (ask --choices)",
                                             **grouped_accuracy(correct, tasks, levels)}
    return out
