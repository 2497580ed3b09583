"""Training data: record checks, prompts and labels, batches, and the sharding of steps over processes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from train_helpers import DESCRIBE, make_dataset, record

from sam_cli.models.sam import IGNORE_INDEX
from sam_cli.models.tokenizer import PROMPT_TEMPLATE, format_prompt, train_tokenizer
from sam_cli.train.data import (AudioTextDataset, Collate, DataError, StepSampler, eval_micro_batches, read_records,
                                resolve_audio_root, split_eval, tokenize)


def write(tmp_path, data) -> str:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("data,need_task,message", [
    ({"a": 1}, False, "expected a JSON list of records, found a JSON object"),
    ([], False, "the list of records is empty"),
    ([record("a.wav", "x"), "oops"], False, "record 1: expected an object, found a JSON string"),
    ([record("a.wav", "x") | {"output": 3}], False, "record 0: field 'output' must be a string, found a JSON number"),
    ([record("a.wav", "x") | {"audio_id": " "}], False, "record 0: field 'audio_id' is empty"),
    ([{"instruction": "q", "output": "x", "audio_id": "a.wav"}], True, "record 0: missing field 'task' (the stage"),
    ([record("a.wav", "x"), {}, {}], False, "record 1: missing field 'instruction' (and 1 more bad records)"),
])
def test_bad_records_are_named(tmp_path, data, need_task, message):
    with pytest.raises(DataError) as e:
        read_records(write(tmp_path, data), need_task)
    assert message in str(e.value)


def test_optional_fields(tmp_path):
    recs = read_records(write(tmp_path, [{"instruction": "q", "output": "x", "audio_id": "a.wav", "input": None}]))
    assert recs[0].question == "q" and recs[0].task is None
    with pytest.raises(DataError, match="does not exist"):
        resolve_audio_root(str(tmp_path / "nope"), tmp_path / "d.json")
    assert resolve_audio_root(None, tmp_path / "d.json") == tmp_path.resolve()


def test_prompt_labels_and_cutoff(tmp_path):
    recs = read_records(write(tmp_path, [record("a.wav", "a dog barks", instruction="What is it?") | {"input": "ctx"},
                                         record("b.wav", "word " * 200)]))
    tok = train_tokenizer([format_prompt("What is it?\nctx"), "a dog barks", "word " * 10], vocab_size=300)
    prompt = tok.encode(format_prompt("What is it?\nctx"))  # instruction + "\n" + input, in LTU's template
    full = prompt + tok.encode("a dog barks") + [tok.eos_id]
    cutoff = len(full) + 5
    ex = tokenize(recs, tok, tmp_path, PROMPT_TEMPLATE, max_text_tokens=cutoff)
    assert ex.tokens(0).tolist() == full
    assert ex.prompt_len[0] == len(prompt)
    assert len(ex.tokens(1)) == cutoff and ex.truncated == 1  # cut from the end, no EOS
    items = [{"index": i, "path": str(i), "tokens": ex.tokens(i), "prompt_len": int(ex.prompt_len[i]),
              "fbank": torch.zeros(1, 16, 128), "error": None} for i in range(2)]
    answer = Collate(tok.eos_id, "answer", 16)(items)
    assert answer.input_ids.shape == (2, cutoff)
    row = answer.labels[0]
    assert (row[: len(prompt)] == IGNORE_INDEX).all() and row[len(ex.tokens(0)) :].eq(IGNORE_INDEX).all()
    assert row[len(prompt) : len(ex.tokens(0))].tolist() == ex.tokens(0)[len(prompt) :].tolist()
    everything = Collate(tok.eos_id, "all", 16)(items)
    assert everything.labels[0, : len(ex.tokens(0))].tolist() == ex.tokens(0).tolist()
    # Failed clips leave the batch; a batch with none left becomes one row without targets.
    items[0]["error"] = "gone"
    assert Collate(tok.eos_id, "all", 16)(items).indices == [1]
    items[1]["error"] = "gone too"
    empty = Collate(tok.eos_id, "all", 16)(items)
    assert empty.num_targets == 0 and empty.fbank.shape == (1, 1, 16, 128) and len(empty.failed) == 2


def test_audio_is_decoded_or_reported(tmp_path):
    data = make_dataset(tmp_path, broken=True)
    recs = read_records(data)
    tok = train_tokenizer([DESCRIBE] + [r.output for r in recs], vocab_size=300)
    ds = AudioTextDataset(tokenize(recs, tok, tmp_path, PROMPT_TEMPLATE, 108), target_length=256)
    items = [ds[i] for i in range(len(ds))]
    assert [it["error"] is None for it in items] == [True, False, True, False, True, True, True]
    assert "missing.wav" in items[1]["error"] and items[0]["fbank"].shape == (1, 256, 128)


def _steps(lengths, world, start=0, total=12, **kw):
    samplers = [StepSampler(lengths, 8, 2, rank, world, seed=3, total_steps=total, start_step=start, **kw)
                for rank in range(world)]
    per_step = []
    for step in range(start, total):
        per_step.append(sorted(i for s in samplers for mb in s.step_micro_batches(step) for i in mb))
    return per_step, samplers


@pytest.mark.parametrize("group", [True, False])
def test_steps_do_not_depend_on_the_number_of_processes(group):
    lengths = np.random.default_rng(0).integers(5, 100, size=37)
    one, _ = _steps(lengths, 1, group_by_length=group)
    for world in (2, 4):
        many, samplers = _steps(lengths, world, group_by_length=group)
        assert many == one
        assert all(s.accumulation == 4 // world for s in samplers)
        assert all(len(list(s)) == 12 * s.accumulation for s in samplers)
    # Every epoch (5 steps of 8 for 37 examples) sees every example; the last batch is padded by wrapping.
    epoch = [i for step in one[:5] for i in step]
    assert len(epoch) == 40 and set(epoch) == set(range(37))
    assert one[5:10] != one[:5]  # a new order each epoch
    resumed, _ = _steps(lengths, 2, start=7, group_by_length=group)
    assert resumed == one[7:]


def test_length_grouping_keeps_similar_lengths_together():
    lengths = np.random.default_rng(1).integers(1, 1000, size=800)
    s = StepSampler(lengths, 8, 8, group_by_length=True, total_steps=100)
    spread = np.mean([np.ptp(lengths[b]) for b in s.global_batches(0)])
    plain = StepSampler(lengths, 8, 8, group_by_length=False, total_steps=100)
    assert spread < 0.2 * np.mean([np.ptp(lengths[b]) for b in plain.global_batches(0)])
    with pytest.raises(Exception, match="multiple of micro_batch_size x processes"):
        StepSampler(lengths, 8, 2, rank=0, world=3)


def test_eval_split_and_shards():
    recs = list(range(20))
    train, held = split_eval(recs, 0.1, seed=0)
    assert len(held) == 2 and sorted(train + held) == recs and split_eval(recs, 0.1, seed=0)[1] == held
    shards = [eval_micro_batches(np.arange(11), 2, r, 3) for r in range(3)]
    assert sorted(i for s in shards for mb in s for i in mb) == list(range(11))
