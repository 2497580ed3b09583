"""Decoding: batched = one by one, scoring from one prefilled state, sampling filters, the loop guard."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import build_tiny_model

from sam_cli.decoding.options import DecodeOptions, loop_length, pick_next

from sam_cli.decoding.generate import generate, prefill_batch

from sam_cli.decoding.scoring import score_candidates
from sam_cli.accel.select import lm_runner


@pytest.fixture(scope="module")
def model():
    return build_tiny_model(seed=3).double()


@pytest.fixture(scope="module")
def audio(model):
    torch.manual_seed(1)
    with torch.no_grad():
        return model.encode_audio(torch.randn(3, 1, 1024, 128, dtype=torch.float64))[0]


def test_batched_equals_one_by_one_with_mixed_prompt_lengths(model, audio):
    ids = model.tokenizer.encode("### Instruction:\nIs there a dog?\n\n### Response:\n")
    prompts = [ids, ids[:5], ids[:2]]
    opts = DecodeOptions(max_new_tokens=12, loop_repeats=100)
    batched = generate(model, audio, prompts, opts)
    singles = [generate(model, audio[i : i + 1], [prompts[i]], opts)[0] for i in range(3)]
    assert batched == singles
    assert all(len(o) > 0 for o in batched)


def test_prefill_groups_keep_row_order(model, audio):
    prompts = [[5, 6, 7], [8], [9, 10, 11]]
    logits, state = prefill_batch(model, audio, prompts)
    for i, p in enumerate(prompts):
        one, one_state = lm_runner(model.lm).prefill(
            torch.cat([audio[i : i + 1], model.lm.embed(torch.tensor([p]))], dim=1))
        torch.testing.assert_close(logits[i : i + 1], one)
        torch.testing.assert_close(state.ssm_states[0][i : i + 1], one_state.ssm_states[0])


def test_scores_from_one_state_equal_full_forwards(model, audio):
    prompt = model.tokenizer.encode("### Instruction:\nWhat is it?\n\n### Response:\n")
    cands = [model.tokenizer.encode(t) for t in ["a dog barks", "rain", "a bell rings three times"]]
    scores = score_candidates(model, audio[:1], prompt, cands)
    eos = model.tokenizer.eos_id
    for c, got in zip(cands, scores.tolist()):
        full = torch.tensor([prompt + c + [eos]])
        x = torch.cat([audio[:1], model.embed_text(full)], dim=1)
        logp = F.log_softmax(model.lm(inputs_embeds=x).float(), dim=-1)[0]
        start = audio.shape[1] + len(prompt) - 1  # the position that predicts the first answer token
        targets = c + [eos]
        want = sum(logp[start + j, t].item() for j, t in enumerate(targets)) / len(targets)
        assert got == pytest.approx(want, abs=1e-5)  # logits come back in float32


def test_prefix_scores_are_the_log_probability_of_the_answer_beginning(model, audio):
    prompt = model.tokenizer.encode("### Instruction:\nWhat is it?\n\n### Response:\n")
    cands = [model.tokenizer.encode(t) for t in ["Dog barking", "Rain", "A"]]
    scores = score_candidates(model, audio[:1], prompt, cands, complete=False)
    complete = score_candidates(model, audio[:1], prompt, cands)
    for c, got, whole in zip(cands, scores.tolist(), complete.tolist()):
        x = torch.cat([audio[:1], model.embed_text(torch.tensor([prompt + c]))], dim=1)
        logp = F.log_softmax(model.lm(inputs_embeds=x).float(), dim=-1)[0]
        start = audio.shape[1] + len(prompt) - 1
        want = sum(logp[start + j, t].item() for j, t in enumerate(c))  # a sum: no EOS, no length division
        assert got == pytest.approx(want, abs=1e-5)
        assert got != pytest.approx(whole, abs=1e-3)  # not the complete answer's score


def test_spelling_scores_take_the_better_of_the_typed_and_the_answer_spelling(model, audio):
    from sam_cli.decoding.scoring import answer_spelling, spelling_scores

    assert [answer_spelling(t, True) for t in ["twice", "a dog.", "Yes", "three times!", "'hi'"]] == [
        "Twice.", "A dog.", "Yes.", "Three times!", "'hi'"]
    assert answer_spelling("dog barking", False) == "Dog barking"
    prompt = model.tokenizer.encode("### Instruction:\nHow many?\n\n### Response:\n")
    texts = ["twice", "Once.", "three times"]
    for complete, lead in ((True, ""), (False, ""), (False, " ")):
        got = spelling_scores(model, audio[:1], prompt, texts, complete, lead=lead)
        for t, g in zip(texts, got.tolist()):
            spellings = {t, answer_spelling(t, complete), t[0].lower() + t[1:]}
            forms = [model.tokenizer.encode(lead + f) for f in spellings]
            want = max(score_candidates(model, audio[:1], prompt, forms, complete=complete).tolist())
            assert g == pytest.approx(want, abs=1e-9)


def test_scoring_does_not_touch_the_prefilled_state(model, audio):
    prompt = [5, 6, 7]
    _, state = prefill_batch(model, audio[:1], [prompt])
    before = state.clone()
    model.lm(input_ids=torch.tensor([[1, 2, 3]]), state=state)
    for a, b in zip(before.ssm_states + before.conv_states, state.ssm_states + state.conv_states):
        assert torch.equal(a, b)


def test_sampling_filters():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = torch.Generator().manual_seed(0)
    assert pick_next(logits, DecodeOptions(), None).item() == 0
    draws = {pick_next(logits, DecodeOptions(temperature=1.0, top_k=2), g).item() for _ in range(200)}
    assert draws == {0, 1}
    draws = {pick_next(logits, DecodeOptions(temperature=1.0, top_p=0.6), g).item() for _ in range(200)}
    assert draws == {0, 1}  # 0.5 < 0.6, so the second token is needed, the third is not
    draws = {pick_next(logits, DecodeOptions(temperature=1.0), g).item() for _ in range(400)}
    assert draws == {0, 1, 2, 3}


def test_sampling_with_a_seed_is_reproducible(model, audio):
    prompt = [5, 6, 7]
    opts = DecodeOptions(max_new_tokens=10, temperature=1.0, top_k=50, seed=7, loop_repeats=100)
    assert generate(model, audio[:1], [prompt], opts) == generate(model, audio[:1], [prompt], opts)


def test_loop_guard():
    assert loop_length([1, 2, 3, 4, 3, 4, 3, 4, 3, 4], repeats=4, max_ngram=8) == 2
    assert loop_length([7, 7, 7, 7], repeats=4, max_ngram=8) == 1
    assert loop_length([1, 2, 3, 1, 2, 3, 1, 2], repeats=3, max_ngram=8) == 0


def test_generation_stops_at_eos_and_at_max_tokens(model, audio):
    prompt = [5, 6, 7]
    out = generate(model, audio[:1], [prompt], DecodeOptions(max_new_tokens=3, loop_repeats=100))[0]
    assert len(out) == 3
    # Call the first greedy token "EOS": generation must then stop before emitting anything.
    real_eos = model.tokenizer.eos_id
    model.tokenizer.eos_id = out[0]
    try:
        assert generate(model, audio[:1], [prompt], DecodeOptions(max_new_tokens=5))[0] == []
    finally:
        model.tokenizer.eos_id = real_eos


def test_stream_decoder_reassembles_split_characters(model):
    tok = model.tokenizer
    text = "café ☕ a dog barks"
    stream = tok.stream()
    pieces = [stream.push(i) for i in tok.encode(text)] + [stream.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)
