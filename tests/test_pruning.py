"""TopK token pruning of the EAT encoder (sam_cli/models/pruning.py, docs/design.md §4a): the gathered path against
the masked reference, the kept tokens against an independent top-k, the MAC count against a hand count, the
three connectors, checkpoints, and the option through `sam` and `sam train`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import REPO, assert_clean_error, err, out, sam
from sam_cli.models.connector import Connector, ConnectorConfig
from sam_cli.models.encoder import EATConfig, EATEncoder
from sam_cli.models.pruning import (CRITERIA, PruneConfig, encoder_macs, reference_pruned, to_grid,
                                    token_counts)
from sam_cli.models.sam import SAM, SAMConfig
from sam_cli.models.mamba2 import Mamba2Config
from train_helpers import make_dataset, one_thread, read_metrics, tiny_settings, train_in_process  # noqa: F401

SMALL = dict(embed_dim=32, depth=4, num_heads=2, mel_bins=32, max_length=16, num_classes=3, target_length=128)


def small_encoder(dtype=torch.float64) -> EATEncoder:
    torch.manual_seed(0)
    return EATEncoder(EATConfig(**SMALL)).eval().to(dtype)


def feats(b: int = 2, frames: int = 128, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(b, 1, frames, 32, generator=torch.Generator().manual_seed(1), dtype=dtype)


@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("fill", ["last", "zero"])
def test_gathered_path_equals_masked_reference(criterion, fill):
    enc, x = small_encoder(), feats()
    prune = PruneConfig(rate=0.4, criterion=criterion, fill=fill)
    with torch.no_grad():
        tokens, index, last = enc.forward_pruned(x, prune)
        grid, kept = to_grid(tokens, index, last, fill)
        ref, ref_kept = reference_pruned(enc, x, prune)
    # 16 patches: blocks 1, 2, 3 of 4 keep ceil(0.6 n): 16 -> 10 -> 6 -> 4
    assert tokens.shape == (2, 1 + 4, 32) and [m for _, m in token_counts(16, 4, prune)] == [16, 10, 6, 4]
    assert torch.equal(kept, ref_kept) and (index.diff(dim=1) > 0).all()
    torch.testing.assert_close(grid, ref, atol=1e-12, rtol=0)
    if fill == "zero":
        assert (grid[:, 1:][~kept] == 0).all()
    else:
        assert (grid[:, 1:][~kept].abs().sum(dim=-1) > 0).all()


def test_rate_zero_is_the_encoder_bit_for_bit():
    enc, x = small_encoder(torch.float32), feats(dtype=torch.float32)
    cfg = SAMConfig(encoder=EATConfig(**SMALL), lm=Mamba2Config(d_model=32, n_layer=1, vocab_size=64, d_state=16,
                                                                headdim=16, chunk_size=16))
    torch.manual_seed(0)
    model = SAM(cfg).eval()
    with torch.no_grad():
        full = model.encoder(x)
        embeds, tokens = model.encode_audio(x)
        assert torch.equal(tokens, full) and torch.equal(embeds, model.connector(full))
        same, idx, _ = enc.forward_pruned(x, PruneConfig(rate=0.0, layers=[0, 2]))  # nothing dropped
        assert torch.equal(same, enc(x)) and torch.equal(idx, torch.arange(16).expand(2, -1))


def test_kept_tokens_are_the_topk_by_each_criterion():
    """The first pruning block's choice, recomputed here from the input (intensity, variation) or from the
    block's attention written out (attention, mean-attention)."""
    enc, x = small_encoder(), feats()
    patches = x.reshape(2, 1, 8, 16, 2, 16).permute(0, 2, 4, 1, 3, 5).reshape(2, 16, 256)  # time-major
    with torch.no_grad():
        h = enc._embed(x)
        b0 = enc.blocks[0]
        q, k, _ = b0.attn.qkv(h).view(2, 17, 3, 2, 16).permute(2, 0, 3, 1, 4)
        w = (q @ k.transpose(-2, -1) / 4.0).softmax(dim=-1)  # head_dim 16
    expected = {"intensity": patches.mean(dim=-1), "variation": patches.std(dim=-1),
                "attention": w[:, :, 0, 1:].mean(dim=1), "mean-attention": w[:, :, 1:, 1:].mean(dim=(1, 2))}
    for criterion, score in expected.items():
        with torch.no_grad():
            _, index, _ = enc.forward_pruned(x, PruneConfig(rate=0.5, criterion=criterion, layers=[0]))
        want = score.argsort(dim=1, descending=True)[:, :8].sort(dim=1).values
        assert torch.equal(index, want), criterion


def test_mac_count_by_hand_and_by_torch():
    cfg = EATConfig(**SMALL)  # 128 frames -> 8 x 2 = 16 patches, L = 17, D = 32, MLP 128
    per_block = 17 * 32 * 96 + 2 * 17 * 17 * 32 + 17 * 32 * 32 + 2 * 17 * 32 * 128
    assert encoder_macs(cfg) == 16 * 32 * 256 + 4 * per_block == 1_040_640
    prune = PruneConfig(rate=0.5, layers=[1])  # block 1: attention over 17 tokens, the MLP over 1 + 8
    pruned = (16 * 32 * 256 + per_block  # block 0
              + (17 * 32 * 96 + 2 * 17 * 17 * 32 + 17 * 32 * 32 + 2 * 9 * 32 * 128)  # block 1
              + 17 * 32  # the CLS row of q k^T again, for the scores
              + 2 * (9 * 32 * 96 + 2 * 9 * 9 * 32 + 9 * 32 * 32 + 2 * 9 * 32 * 128))  # blocks 2, 3
    assert encoder_macs(cfg, prune=prune) == pruned
    # torch's own count of the Linear and convolution products actually run (its CPU SDPA is not counted)
    from torch.utils.flop_counter import FlopCounterMode

    enc, x = small_encoder(torch.float32), feats(1, dtype=torch.float32)
    for p in (None, prune):
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            enc(x) if p is None else enc.forward_pruned(x, p)
        counts = fc.get_flop_counts()["Global"]
        linear = sum(v for op, v in counts.items() if "addmm" in str(op) or "convolution" in str(op)) // 2
        attention = sum(2 * (n + 1) ** 2 * 32 for n, _ in token_counts(16, 4, p))
        scores = 0 if p is None else 17 * 32
        assert linear + attention + scores == encoder_macs(cfg, prune=p)
    base = EATConfig()
    assert round(encoder_macs(base) / 1e9, 1) == 48.5  # docs/design.md §4
    assert 0.63 < encoder_macs(base, prune=PruneConfig(rate=0.3)) / encoder_macs(base) < 0.66  # the paper: ~36% off


@pytest.mark.parametrize("kind,length", [("concat", 8), ("time_major", 8 + 4), ("frequency_major", 4 + 2)])
def test_connectors_with_pruned_positions(kind, length):
    """concat keeps its 8 time steps (filled grid); the sequence connectors drop pruned tokens, keep separators."""
    conn = Connector(ConnectorConfig(kind=kind, encoder_dim=32, lm_dim=24, num_bands=2)).double()
    enc, x = small_encoder(), feats()
    with torch.no_grad():
        tokens, index, last = enc.forward_pruned(x, PruneConfig(rate=0.4))
        grid, kept = to_grid(tokens, index, last, "last")
        e = conn(grid, kept)
        full = conn(grid)
    assert e.shape == (2, length, 24)
    if kind == "concat":
        assert torch.equal(e, full)
        return
    # Each kept token's embedding, in order, with a separator after each time step (band): recomputed here.
    sep = conn.separator.double()
    for b in range(2):
        rows = []
        order = range(8) if kind == "time_major" else range(2)
        for outer in order:
            for inner in (range(2) if kind == "time_major" else range(8)):
                n = outer * 2 + inner if kind == "time_major" else inner * 2 + outer
                if kept[b, n]:
                    rows.append(conn.mlp(grid[b, 1 + n]))
            rows.append(sep)
        torch.testing.assert_close(e[b], torch.stack(rows))


def tiny_checkpoint(tmp_path, kind="concat", prune=None):
    from sam_cli.models.tokenizer import Tokenizer
    from sam_cli.store.checkpoint import save_checkpoint

    tok = Tokenizer.from_file(REPO / "sam_cli/assets/models/sam-tiny/tokenizer.json")
    cfg = SAMConfig(encoder=EATConfig(embed_dim=32, depth=4, num_heads=2, num_classes=0, model_variant="pretrain",
                                      max_length=64),
                    lm=Mamba2Config(d_model=32, n_layer=1, vocab_size=tok.vocab_size, d_state=16, headdim=16,
                                    chunk_size=16),
                    connector=ConnectorConfig(kind=kind), prune=prune or PruneConfig())
    torch.manual_seed(0)
    model = SAM(cfg).eval()
    model.tokenizer = tok
    save_checkpoint(model, tok, tmp_path / f"tiny-{kind}")
    return tmp_path / f"tiny-{kind}"


def test_checkpoint_keeps_its_pruning_and_older_ones_load_without(tmp_path):
    from sam_cli.store.checkpoint import load_checkpoint

    folder = tiny_checkpoint(tmp_path, prune=PruneConfig(rate=0.3, criterion="intensity"))
    assert load_checkpoint(folder).cfg.prune == PruneConfig(rate=0.3, criterion="intensity")
    raw = json.loads((folder / "config.json").read_text())
    del raw["prune"]  # as written before pruning existed
    (folder / "config.json").write_text(json.dumps(raw))
    assert not load_checkpoint(folder).cfg.prune.on
    raw["prune"] = {"rate": 1.5}
    (folder / "config.json").write_text(json.dumps(raw))
    from sam_cli.errors import CheckpointError

    with pytest.raises(CheckpointError, match="pruning rate"):
        load_checkpoint(folder)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    t = np.arange(16000 * 3) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t) * (t % 1 < 0.5)).astype(np.float32), 16000)
    return path


def test_describe_stats_prints_macs_with_the_bundled_model(clip):
    p = sam("describe", str(clip), "--prune-tokens", "0.4", "--stats", "--max-tokens", "8")
    assert p.returncode == 0, err(p)
    assert out(p).strip()
    # sam-tiny: 6 blocks of 256, pruning at blocks 1, 3, 4
    m = [l for l in err(p).splitlines() if "GMACs" in l][0]
    cfg = EATConfig(embed_dim=256, depth=6, num_heads=4, num_classes=0)
    pruned, full = encoder_macs(cfg, 1024, PruneConfig(rate=0.4)), encoder_macs(cfg, 1024)
    assert f"encoder {pruned / 1e9:.3g} GMACs a window ({pruned / full:.0%} of {full / 1e9:.3g}, pruned)" in m, m


def test_every_command_takes_the_option_with_a_tiny_checkpoint(tmp_path, clip):
    model = tiny_checkpoint(tmp_path)
    for args in (["--prune-tokens", "0.6", "describe", str(clip), "--max-tokens", "3", "--stats"],  # on `sam`
                 ["ask", str(clip), "Is there a tone?", "--choices", "yes,no", "--prune-tokens", "0.4"],
                 ["classify", str(clip), "--labels", "tone,dog", "--prune-tokens", "0.4", "--prune-by", "intensity"]):
        p = sam(*args, model=model)
        assert p.returncode == 0, (args, err(p))
    assert "pruned)" in err(sam("describe", str(clip), "--max-tokens", "3", "--stats", "--prune-tokens", "0.2",
                                model=tiny_checkpoint(tmp_path, "time_major")))
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.wav").write_bytes(clip.read_bytes())
    p = sam("batch", str(folder), "-o", str(tmp_path / "r.jsonl"), "--max-tokens", "3", "--prune-tokens", "0.2",
            "--prune-by", "mean-attention", model=model)
    assert p.returncode == 0, err(p)
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize("value,message", [("-0.1", "at least 0 and below 1"), ("1", "at least 0 and below 1"),
                                           ("abc", "give a number"), ("nan", "at least 0 and below 1")])
def test_bad_rates_are_one_line_errors(clip, value, message):
    assert_clean_error(sam("describe", str(clip), "--prune-tokens", value), message, 2)


def test_server_mode_refuses_pruning(clip):
    assert_clean_error(sam("describe", str(clip), "--server", "http://127.0.0.1:9", "--prune-tokens", "0.4"),
                       "server's settings", 2)


def test_bad_criterion_is_a_one_line_error(clip):
    assert_clean_error(sam("classify", str(clip), "--prune-tokens", "0.2", "--prune-by", "loudness"), "--prune-by", 2)


def test_train_with_pruning_on(tmp_path, one_thread):  # noqa: F811
    from sam_cli.store.checkpoint import load_checkpoint
    from sam_cli.train.config import PRUNE_CRITERIA, ConfigError, build_config

    assert PRUNE_CRITERIA == CRITERIA
    data = make_dataset(tmp_path / "data")
    run = tmp_path / "run"
    export = train_in_process(tiny_settings(train_json=str(data), output=str(run), prune_tokens=0.5,
                                            prune_by="attention"))
    losses = [r["loss"] for r in read_metrics(run)]
    assert len(losses) == 4 and all(math.isfinite(l) for l in losses)
    model = load_checkpoint(export)
    assert model.cfg.prune == PruneConfig(rate=0.5, criterion="attention")  # runs pruned, as trained
    for bad in ({"prune_tokens": 1.0}, {"prune_tokens": -0.5}, {"prune_by": "loud"}):
        with pytest.raises(ConfigError, match="prune"):
            build_config(tiny_settings(train_json=str(data), **bad))


def test_cosine_ramp_of_the_rate(tmp_path, one_thread, monkeypatch):  # noqa: F811
    from sam_cli.store.checkpoint import load_checkpoint
    from sam_cli.train import prune_schedule
    from sam_cli.train.config import ConfigError, build_config
    from sam_cli.train.prune_schedule import ramped_rate

    seen = []  # the rate each training step ran at (the real schedule, observed after it has set it)
    real = prune_schedule.apply
    monkeypatch.setattr(prune_schedule, "apply", lambda m, c, s, t: (real(m, c, s, t), seen.append(m.cfg.prune.rate)))

    # span = min(ramp, total - 1): 0 at the start, half way at the middle, the target at the stage's last step
    assert [round(ramped_rate(0.4, s, 4, 100), 6) for s in range(6)] == [0.0, 0.058579, 0.2, 0.341421, 0.4, 0.4]
    assert [ramped_rate(0.4, s, 50, 4) for s in (0, 3)] == [0.0, 0.4]
    assert ramped_rate(0.4, 0, 0, 4) == 0.4
    data = make_dataset(tmp_path / "data")
    export = train_in_process(tiny_settings(train_json=str(data), output=str(tmp_path / "run"), prune_tokens=0.5,
                                            prune_ramp_steps=10))
    assert [round(r, 4) for r in seen] == [0.0, 0.125, 0.375, 0.5]  # 4 steps: span 3
    assert load_checkpoint(export).cfg.prune.rate == 0.5
    with pytest.raises(ConfigError, match="needs prune_tokens"):
        build_config(tiny_settings(train_json=str(data), prune_ramp_steps=3))
