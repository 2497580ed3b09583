"""Scoring answers the user gave instead of generating one: each candidate's log-probability from ONE
prefilled state (cloned per candidate), in the spellings the model writes, and labels as items of a tag list.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from sam_cli.accel.runner import Runner
from sam_cli.accel.select import lm_runner
from sam_cli.decoding.generate import generate, prefill_batch
from sam_cli.decoding.options import DecodeOptions, Timings
from sam_cli.models.mamba2 import InferenceState
from sam_cli.models.sam import SAM


@torch.inference_mode()
def score_candidates(model: SAM, audio_embeds: torch.Tensor, prompt: list[int], candidates: list[list[int]],
                     chunk: int = 64, complete: bool = True) -> torch.Tensor:
    """Score of each candidate answer for ONE clip.

    complete=True: the candidate as the whole answer, the mean log-probability per token with EOS included
    (answers of different lengths compare per token). complete=False: log P(the answer begins with the
    candidate), the sum over its tokens without EOS; a probability of one event per candidate, so labels of
    different lengths compare as they are (e.g. the next item of a tag list, which goes on after it).

    The clip and prompt are prefilled once; the state is cloned per candidate and every candidate is run
    in one batched forward from it. Right padding among candidates is harmless: the LM is causal and only
    each candidate's own positions are read.
    """
    if audio_embeds.shape[0] != 1:
        raise ValueError("score_candidates takes one clip")
    runner = lm_runner(model.lm)
    return scores_after(model, runner, *prefill_batch(model, audio_embeds, [prompt], runner), candidates, chunk,
                        complete)


def scores_after(model: SAM, runner: Runner, last: torch.Tensor, state: InferenceState, candidates: list[list[int]],
                 chunk: int = 64, complete: bool = True) -> torch.Tensor:
    """score_candidates from one prefilled row: `last` its next-token logits [1, V], `state` its state."""
    return scores_after_rows(model, runner, last, state, [(0, candidates, complete)], chunk)[0]


def scores_after_rows(model: SAM, runner: Runner, last: torch.Tensor, state: InferenceState,
                      asks: list[tuple[int, list[list[int]], bool]], chunk: int = 64) -> list[torch.Tensor]:
    """scores_after for several prefilled rows at once (the server's batch): `last` [R, V] and `state` (R rows);
    asks[i] = (row, candidates, complete) -> the candidates' scores of each ask. Every candidate of every ask
    continues from its row's state (index_select copies it), up to `chunk` candidates a forward."""
    eos = model.tokenizer.eos_id
    device = last.device
    first_logp = F.log_softmax(last.float(), dim=-1)
    pairs = [(a, row, list(c) + [eos] if complete else list(c), complete)
             for a, (row, cands, complete) in enumerate(asks) for c in cands]
    scores: list[list[float]] = [[] for _ in asks]
    for start in range(0, len(pairs), chunk):
        group = pairs[start : start + chunk]
        width = max(len(c) for _, _, c, _ in group)
        ids = torch.full((len(group), width), eos, dtype=torch.long, device=device)
        for i, (_, _, c, _) in enumerate(group):
            ids[i, : len(c)] = torch.tensor(c)
        logits = None
        if width > 1:
            states = state.index_select([row for _, row, _, _ in group])
            logits = runner.forward(input_ids=ids[:, :-1], state=states)
        for i, (a, row, c, complete) in enumerate(group):
            total = first_logp[row, c[0]].item()
            if len(c) > 1:
                lp = F.log_softmax(logits[i, : len(c) - 1].float(), dim=-1)
                total += lp.gather(-1, ids[i, 1 : len(c)].unsqueeze(-1)).sum().item()
            scores[a].append(total / len(c) if complete else total)
    return [torch.tensor(s) for s in scores]


def answer_spelling(text: str, complete: bool) -> str:
    """`text` written as the models write answers: a capital first letter and, for a whole answer, a final
    full stop ("twice" -> "Twice."; a label "dog barking" -> "Dog barking")."""
    text = text[:1].upper() + text[1:]
    return text + "." if complete and text[-1:].isalnum() else text


def spelling_scores(model: SAM, audio_embeds: torch.Tensor, prompt: list[int], texts: list[str],
                    complete: bool, lead: str = "") -> torch.Tensor:
    """score_candidates for texts as the user typed them, each scored in its best spelling: as typed, as
    `answer_spelling` writes it, or with a lower-case first letter (a list's later items), each after
    `lead`. A model trained on answers like "Twice." gives "twice" (no capital, no full stop) next to no
    probability whatever the audio, so the typed spelling alone ranked by noise
    (scripts/evaluate_scoring.py)."""
    runner = lm_runner(model.lm)
    return _spelling_scores_after(model, runner, *prefill_batch(model, audio_embeds, [prompt], runner), texts,
                                  complete, lead)


def _spelling_scores_after(model: SAM, runner: Runner, last: torch.Tensor, state: InferenceState, texts: list[str],
                           complete: bool, lead: str = "") -> torch.Tensor:
    """spelling_scores from one prefilled row (`scores_after`)."""
    forms = spelling_forms(model, texts, complete, lead)
    return best_spelling(scores_after(model, runner, last, state, [f for fs in forms for f in fs], complete=complete),
                         forms)


def spelling_forms(model: SAM, texts: list[str], complete: bool, lead: str = "") -> list[list[list[int]]]:
    """The token ids of each text's spellings (see spelling_scores), in order, without repeats."""
    forms = [list(dict.fromkeys(lead + f for f in (t, answer_spelling(t, complete), t[:1].lower() + t[1:])))
             for t in texts]
    return [[model.tokenizer.encode(f) for f in fs] for fs in forms]


def best_spelling(scores: torch.Tensor, forms: list[list[list[int]]]) -> torch.Tensor:
    """Each text's best score over its spellings: `scores` of the flattened `forms`."""
    best, i = [], 0
    for fs in forms:
        best.append(scores[i : i + len(fs)].max())
        i += len(fs)
    return torch.stack(best)


def tag_list_options(opts: DecodeOptions | None) -> DecodeOptions:
    """How label_scores writes the model's own tag list: greedy, 48 tokens (of `opts` only its state dtype and
    loop rule are kept)."""
    return replace(opts or DecodeOptions(), max_new_tokens=48, temperature=0.0, seed=None)


def comma_slots(model: SAM, written: list[int]) -> list[list[int]]:
    """The prefixes of a written tag list that end at a comma: the slots where a label may come next."""
    return [written[: j + 1] for j, tok in enumerate(written) if model.tokenizer.decode([tok]).endswith(",")]


def label_scores(model: SAM, audio_embeds: torch.Tensor, prompt: list[int], labels: list[str],
                 timings: Timings | None = None, opts: DecodeOptions | None = None) -> torch.Tensor:
    """How strongly the model's tag list for ONE clip names each label: log P(the label comes next) at the
    start of the list and after each comma of the list the model writes itself (greedy), the best slot. The
    start alone reads only the first sound of a scene (mean average precision 0.69 against 0.78 with every
    slot, held-out scenes, scripts/evaluate_scoring.py). The clip is prefilled once; each slot continues
    from that state with the model's own tokens up to its comma."""
    runner = lm_runner(model.lm)
    last, state = prefill_batch(model, audio_embeds, [prompt], runner)
    best = _spelling_scores_after(model, runner, last, state, labels, complete=False)
    # The tag list the model writes itself.
    written = generate(model, audio_embeds, [prompt], tag_list_options(opts), timings=timings)[0]
    for prefix in comma_slots(model, written):
        ids = torch.tensor([prefix], dtype=torch.long, device=last.device)
        logits, slot = runner.forward(input_ids=ids, state=state, return_state=True, num_last_tokens=1)
        best = torch.maximum(best, _spelling_scores_after(model, runner, logits[:, -1], slot, labels,
                                                          complete=False, lead=" "))
    return best
