"""The Audio Mamba encoder (encoder.type "audio_mamba"): its token grid, the fused path against the reference,
checkpoints, every command, and `sam train` with windows longer than 10.24 s."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import CAPTIONS, tiny_config
from helpers import out, sam
from train_helpers import make_dataset, one_thread, tiny_settings, train_in_process  # noqa: F401

from sam_cli.accel import fast_audio_mamba
from sam_cli.accel.select import why_not_fused_encoder
from sam_cli.errors import CheckpointError
from sam_cli.models.audio_mamba import AudioMambaConfig, AudioMambaEncoder, linear_scan
from sam_cli.models.encoder import EATConfig, EATEncoder
from sam_cli.models.sam import SAM, SAMConfig
from sam_cli.models.ssd import ssd_chunked
from sam_cli.store.checkpoint import load_checkpoint, read_config, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors on a shared 2-core machine
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def tiny_encoder(directions: int = 4, **kw) -> AudioMambaConfig:
    base = dict(dims=[16, 32], depths=[1, 1], headdim=8, d_state=8, chunk_size=16, mlp_ratio=2.0,
                directions=directions)
    base.update(kw)
    return AudioMambaConfig(**base)


def tiny_am_sam(**kw) -> SAM:
    from sam_cli.models.tokenizer import train_tokenizer

    eat = tiny_config()
    cfg = SAMConfig(encoder=tiny_encoder(num_classes=5, **kw), lm=eat.lm, connector=eat.connector, lora_rank=4,
                    labels=eat.labels)
    torch.manual_seed(0)
    model = SAM(cfg).eval()
    model.tokenizer = train_tokenizer(CAPTIONS * 4 + ["### Instruction:", "### Response:", "Close-ended question: "
                                      "Write an audio caption describing the sound.", "Is there a dog? yes no"],
                                      vocab_size=400)
    return model


@pytest.fixture(scope="module")
def am_dir(tmp_path_factory):
    model = tiny_am_sam()
    return save_checkpoint(model, model.tokenizer, tmp_path_factory.mktemp("am") / "tiny-am")


def test_token_grid_any_length_and_both_ways():
    """[B, 1 + N, D]: token 0 the mean, then (T / 8) x (128 / 8) time-major; any multiple of the stride runs
    (no position table), and the backward scans carry the end of a clip back to earlier tokens."""
    torch.manual_seed(0)
    enc = AudioMambaEncoder(tiny_encoder(directions=2)).eval()
    assert enc.config.time_stride == 8 and enc.config.num_bands == 16
    with torch.no_grad():
        for frames in (1024, 2048):  # 10.24 s and 20.48 s
            x = torch.randn(2, 1, frames, 128)
            tokens = enc(x)
            assert tokens.shape == (2, 1 + frames // 8 * 16, 32)
            assert torch.allclose(tokens[:, 0], tokens[:, 1:].mean(dim=1), atol=1e-6)
        late = x.clone()
        late[:, :, -8:] += 1.0  # the last time step only
        changed = (enc(late) - tokens).abs().amax(dim=(0, 2))[1:].view(-1, 16).amax(dim=1)
    # Earlier steps hear the last one only through the backward scans (the conv and the forward scan are causal).
    assert changed[-1] > 1e-3 and changed[-2] > 1e-4 and changed[-3] > 1e-6
    with pytest.raises(ValueError, match="multiple of 8"):
        enc(torch.randn(1, 1, 1020, 128))


def test_linear_scan_equals_one_scan():
    """Segmenting a long scan (linear time and memory) gives the one-call scan's outputs."""
    torch.manual_seed(0)
    b, l, h, p, n = 2, 700, 3, 4, 5
    x, dt = torch.randn(b, l, h, p, dtype=torch.float64), torch.rand(b, l, h, dtype=torch.float64) * 0.1
    A, D = -torch.rand(h, dtype=torch.float64), torch.randn(h, dtype=torch.float64)
    B, C = torch.randn(b, l, 1, n, dtype=torch.float64), torch.randn(b, l, 1, n, dtype=torch.float64)
    one = ssd_chunked(x, dt, A, B, C, 16, D=D)[0]
    assert torch.allclose(linear_scan(x, dt, A, B, C, 16, D, chunks_per_segment=4), one, atol=1e-10)


@pytest.mark.parametrize("directions", [2, 4])
def test_fused_layout_matches_reference(directions):
    """The fused path (every direction one group of heads of one scan) against the readable per-direction
    reference. Here `kernels` runs the reference ops, so this checks the stacked layout exactly; on CUDA
    the same comparison runs on mamba_ssm's kernels (test_fused_kernels_match_reference_on_cuda)."""
    torch.manual_seed(0)
    enc = AudioMambaEncoder(tiny_encoder(directions=directions)).double().eval()
    x = torch.randn(2, 1, 512, 128, dtype=torch.float64)
    with torch.no_grad():
        ref = enc(x)
    fast = fast_audio_mamba.encode(enc, x)
    assert torch.allclose(fast, ref, atol=1e-8, rtol=0)  # fp64: only the order of sums differs
    assert "CUDA" in why_not_fused_encoder(SAM(SAMConfig(encoder=tiny_encoder(), lm=tiny_config().lm)))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_kernels_match_reference_on_cuda(dtype):
    torch.manual_seed(0)
    enc = AudioMambaEncoder(tiny_encoder(dims=[64, 128], headdim=32, d_state=16, chunk_size=64)).cuda().eval()
    x = torch.randn(2, 1, 3072, 128, device="cuda")  # 30.72 s
    with torch.no_grad():
        ref = enc(x)
        enc = enc.to(dtype)
        fast = fast_audio_mamba.encode(enc, x.to(dtype)).float()
    tol = 2e-3 if dtype == torch.float32 else 5e-2
    assert (fast - ref).abs().max().item() < tol * ref.abs().max().item()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_commands_take_the_fused_encoder_on_cuda():
    from sam_cli.accel import kernels
    from sam_cli.accel.select import encode_fn

    if not kernels.available():
        pytest.skip(f"GPU kernels unavailable: {kernels.why_unavailable()}")
    model = tiny_am_sam(dims=[64, 128], headdim=32).cuda()
    assert why_not_fused_encoder(model) is None
    feats = torch.randn(3, 1, 1024, 128, device="cuda")
    with torch.inference_mode():
        ref_embeds, ref_tokens = model.encode_audio(feats)
        for _ in range(3):  # eager, then captured into a CUDA graph, then replayed
            embeds, tokens, _ = encode_fn(model)(feats)
            assert (tokens - ref_tokens).abs().max().item() < 1e-3 * ref_tokens.abs().max().item()
            assert (embeds - ref_embeds).abs().max().item() < 1e-3 * ref_embeds.abs().max().item()


def test_checkpoint_round_trip_and_limits(am_dir, tmp_path):
    raw = json.loads((am_dir / "config.json").read_text())
    assert raw["encoder"]["type"] == "audio_mamba" and raw["encoder"]["dims"] == [16, 32]
    model = load_checkpoint(am_dir)
    assert isinstance(model.encoder, AudioMambaEncoder)
    x = torch.randn(1, 1, 1024, 128)
    with torch.no_grad():
        e1, t1 = model.encode_audio(x)
        e2, t2 = tiny_am_sam().encode_audio(x)
    assert torch.equal(t1, t2) and torch.equal(e1, e2) and e1.shape[1] == model.cfg.num_audio_tokens == 128
    # An EAT config (no "type") still reads as EAT, its dict unchanged.
    eat = tiny_config()
    assert "type" not in eat.to_dict()["encoder"]
    again = SAMConfig.from_dict(eat.to_dict())
    assert isinstance(again.encoder, EATConfig) and isinstance(SAM(again).encoder, EATEncoder)
    # Hostile values are refused before anything is built.
    bad = tmp_path / "bad"
    bad.mkdir()
    for field, value, words in (("dims", "wide", "list of 1 to 8"), ("depths", [1, 10**6], "out of range"),
                                ("directions", 3, "directions"), ("mlp_ratio", -0.5, "mlp_ratio"),
                                ("type", "conformer", "encoder.type")):
        cfg = json.loads(json.dumps(raw))
        cfg["encoder"][field] = value
        (bad / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(CheckpointError, match=words):
            read_config(bad)


def test_every_command(am_dir, tmp_path):
    rng = np.random.default_rng(0)
    clip = tmp_path / "a.wav"
    sf.write(clip, (0.1 * rng.standard_normal(16000 * 3)).astype(np.float32), 16000)
    sf.write(tmp_path / "b.wav", (0.1 * rng.standard_normal(16000 * 12)).astype(np.float32), 16000)
    outputs = []
    for args in (("describe", str(clip), "--max-tokens", "4", "--json"),
                 ("ask", str(clip), "Is there a dog?", "--choices", "yes,no"),
                 ("classify", str(clip), "--top", "3")):
        p = sam(*args, model=am_dir, env=ONE_THREAD)
        assert p.returncode == 0, p.stderr.decode()
        outputs.append(out(p))
    assert len(json.loads(outputs[0])["segments"]) == 1
    assert "yes" in outputs[1] and "no" in outputs[1]
    assert len(outputs[2].splitlines()) == 3 and outputs[2].startswith("tag ")  # the encoder's own head
    p = sam("batch", str(tmp_path), "--output", str(tmp_path / "out.jsonl"), "--max-tokens", "4", model=am_dir,
            env=ONE_THREAD)
    assert p.returncode == 0, p.stderr.decode()
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and max(len(r["segments"]) for r in rows) == 2  # 12 s: two 10.24-s windows


def test_train_from_scratch_with_long_windows(tmp_path):
    """`sam train` builds an Audio Mamba SAM from scratch and trains every stage on 15.36-s windows; the
    checkpoint keeps them, so commands then cut audio into 15.36-s windows."""
    data = make_dataset(tmp_path / "data")
    model = dict(tiny_settings()["model"], encoder_type="audio_mamba", encoder_dims=[16, 32], encoder_depths=[1, 1])
    run = train_in_process(tiny_settings(train_json=str(data), output=str(tmp_path / "run"), model=model,
                                         target_length=1536, curriculum=True, max_steps=1, micro_batch_size=2,
                                         batch_size=2))
    cfg = read_config(run)
    assert cfg.encoder.type == "audio_mamba" and cfg.target_length == 1536 and cfg.window_seconds == 15.36
    trained = load_checkpoint(run)
    torch.manual_seed(0)
    fresh = SAM(cfg)
    assert not torch.equal(trained.encoder.patch_embed.weight, fresh.encoder.patch_embed.weight)
    clip = tmp_path / "long.wav"
    sf.write(clip, np.zeros(16000 * 20, dtype=np.float32), 16000)
    p = sam("describe", str(clip), "--max-tokens", "2", "--json", model=run, env=ONE_THREAD)
    assert p.returncode == 0, p.stderr.decode()
    segs = json.loads(out(p))["segments"]
    assert [round(s["end"], 2) for s in segs] == [15.36, 20.0]
