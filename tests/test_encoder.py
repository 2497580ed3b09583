"""EAT encoder: exactness against a naive reference, token order, positions, checkpoint formats and errors."""

from __future__ import annotations

import collections
import enum
import math
import shutil
import sys
import types
import typing

import pytest
import torch
from safetensors.torch import load_file, save_file

from sam_cli.models.encoder import EATConfig, EATEncoder, sincos_positions
from sam_cli.errors import CheckpointError
from sam_cli.store.eat_files import (
    eat_state_dict_to_ours,
    encoder_config_from_state_dict,
    load_audio_encoder,
    save_audio_encoder,
)

SMALL = dict(embed_dim=64, depth=2, num_heads=4, num_classes=5)


def small_encoder(seed: int = 0, dtype=torch.float32, **overrides) -> EATEncoder:
    torch.manual_seed(seed)
    enc = EATEncoder(EATConfig(**{**SMALL, "max_length": 64, **overrides}))
    with torch.no_grad():  # perturb everything (LN weights, biases, CLS) so no parameter is trivially 0 or 1
        for name, p in enc.named_parameters():
            p.add_(0.1 * torch.randn_like(p))
    return enc.to(dtype).eval()


def fbank(batch: int = 2, frames: int = 64, seed: int = 1, dtype=torch.float32) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randn(batch, 1, frames, 128, dtype=dtype)


# -- naive reference, written from docs/design.md §4 without the module's code -----------------------------------


def ref_layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def ref_forward(sd: dict, cfg: EATConfig, x: torch.Tensor) -> torch.Tensor:
    B, _, T, _ = x.shape
    D, H, p = cfg.embed_dim, cfg.num_heads, cfg.patch_size
    hd = D // H
    w = sd["local_encoder.proj.weight"].reshape(D, -1)
    out = []
    for b in range(B):
        tokens = []
        for t in range(T // p):  # time-major: all bands of time step 0, then time step 1, ...
            for f in range(cfg.mel_bins // p):
                patch = x[b, 0, t * p : (t + 1) * p, f * p : (f + 1) * p].reshape(-1)
                tokens.append(w @ patch + sd["local_encoder.proj.bias"])
        h = torch.stack(tokens)
        h = h + sd["fixed_positional_encoder.positions"][0, : h.shape[0]]
        h = torch.cat([sd["extra_tokens"][0], h])
        h = ref_layer_norm(h, sd["pre_norm.weight"], sd["pre_norm.bias"], cfg.norm_eps)
        for i in range(cfg.depth):
            g = lambda n: sd[f"blocks.{i}.{n}"]  # noqa: E731
            qkv = h @ g("attn.qkv.weight").T + g("attn.qkv.bias")
            q, k, v = qkv[:, :D], qkv[:, D : 2 * D], qkv[:, 2 * D :]
            heads = []
            for j in range(H):
                sl = slice(j * hd, (j + 1) * hd)
                s = (q[:, sl] @ k[:, sl].T) / math.sqrt(hd)
                e = torch.exp(s - s.max(-1, keepdim=True).values)
                heads.append((e / e.sum(-1, keepdim=True)) @ v[:, sl])
            a = torch.cat(heads, -1) @ g("attn.proj.weight").T + g("attn.proj.bias")
            h = ref_layer_norm(h + a, g("norm1.weight"), g("norm1.bias"), cfg.norm_eps)
            m = h @ g("mlp.fc1.weight").T + g("mlp.fc1.bias")
            m = 0.5 * m * (1 + torch.erf(m / math.sqrt(2)))
            m = m @ g("mlp.fc2.weight").T + g("mlp.fc2.bias")
            h = ref_layer_norm(h + m, g("norm2.weight"), g("norm2.bias"), cfg.norm_eps)
        out.append(h)
    return torch.stack(out)


def test_forward_matches_naive_reference_float64():
    enc = small_encoder(dtype=torch.float64)
    x = fbank(frames=48, dtype=torch.float64)
    with torch.inference_mode():
        y = enc(x)
        logits = enc.classify(y)
    sd = enc.state_dict()
    ref = ref_forward(sd, enc.config, x)
    assert y.shape == (2, 1 + 3 * 8, 64)
    torch.testing.assert_close(y, ref, atol=1e-10, rtol=0)
    ref_logits = ref_layer_norm(ref[:, 0], sd["fc_norm.weight"], sd["fc_norm.bias"], 1e-5) @ sd["head.weight"].T
    torch.testing.assert_close(logits, ref_logits + sd["head.bias"], atol=1e-10, rtol=0)


def test_patch_tokens_are_time_major():
    enc = small_encoder()
    bias = enc.local_encoder.proj.bias.detach()
    for t, f in [(0, 0), (0, 7), (2, 3), (3, 1)]:
        x = torch.zeros(1, 1, 64, 128)
        x[0, 0, 16 * t : 16 * t + 16, 16 * f : 16 * f + 16] = torch.randn(16, 16)
        with torch.no_grad():
            tok = enc.embed_patches(x)[0]
        changed = [n for n in range(tok.shape[0]) if not torch.allclose(tok[n], bias)]
        assert changed == [t * 8 + f]


def test_sincos_table_formula_and_halves():
    L, bands, D = 5, 8, 16
    table = sincos_positions(L, bands, D)
    assert table.shape == (L * bands, D) and table.dtype == torch.float32
    q = D // 4
    for r in range(L * bands):
        t, f = divmod(r, bands)  # row = time * bands + band
        for k in range(q):
            w = 1 / 10000 ** (k / q)
            expect = [math.sin(f * w), math.cos(f * w), math.sin(t * w), math.cos(t * w)]
            got = [table[r, k], table[r, q + k], table[r, 2 * q + k], table[r, 3 * q + k]]
            assert all(abs(float(g) - e) < 1e-6 for g, e in zip(got, expect))
    # same band, different times: first half equal, second half differs (and vice versa)
    assert torch.equal(table[0 * bands + 3, : D // 2], table[4 * bands + 3, : D // 2])
    assert not torch.allclose(table[0 * bands + 3, D // 2 :], table[4 * bands + 3, D // 2 :])
    assert torch.equal(table[2 * bands + 1, D // 2 :], table[2 * bands + 6, D // 2 :])
    assert not torch.allclose(table[2 * bands + 1, : D // 2], table[2 * bands + 6, : D // 2])
    # a fresh encoder carries exactly this table
    enc = EATEncoder(EATConfig(**SMALL, max_length=L))
    assert torch.equal(enc.fixed_positional_encoder.positions[0], sincos_positions(L, 8, 64))


def test_config_hub_dict_and_round_trip():
    hub = {
        "model_type": "eat", "embed_dim": 768, "depth": 12, "num_heads": 12, "patch_size": 16, "stride": 16,
        "in_chans": 1, "mlp_ratio": 4.0, "qkv_bias": True, "layer_norm_first": False, "norm_eps": 1e-6,
        "norm_affine": True, "fixed_positions": True, "model_variant": "pretrain", "mel_bins": 128,
        "max_length": 768, "num_classes": 527, "img_size": [1024, 128], "drop_rate": 0.0, "architectures": ["X"],
    }
    cfg = EATConfig.from_hub_dict(hub)
    assert (cfg.model_variant, cfg.max_length, cfg.pos_rows, cfg.num_bands) == ("pretrain", 768, 6144, 8)
    assert not cfg.has_head and cfg.num_patches(1024) == 512 and cfg.num_patches() == 512
    assert EATConfig.from_hub_dict({}) == EATConfig()
    assert EATConfig.from_hub_dict({"depth": 2, "img_size": [512, 128]}).target_length == 512
    assert EATConfig.from_dict(cfg.to_dict()) == cfg
    assert EATConfig.from_hub_dict(cfg.to_hub_dict()) == cfg
    with pytest.raises(ValueError, match="layer_norm_first"):
        EATConfig.from_hub_dict({"layer_norm_first": True})
    with pytest.raises(ValueError, match="stride"):
        EATConfig.from_hub_dict({"stride": 10})


# -- checkpoint formats ------------------------------------------------------------------------------------------


class _FakeOmegaConf:
    """Pickles like omegaconf objects do: NEWOBJ + BUILD with their __dict__."""

    def __init__(self, **state):
        self.__dict__.update(state)


def _fake_module(monkeypatch, module: str, name: str, cls: type) -> type:
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        sub = ".".join(parts[:i])
        monkeypatch.setitem(sys.modules, sub, sys.modules.get(sub) or types.ModuleType(sub))
    cls.__module__, cls.__qualname__, cls.__name__ = module, name, name
    setattr(sys.modules[module], name, cls)
    return cls


def fairseq_cfg(monkeypatch, num_heads: int):
    """A cfg tree shaped like a fairseq checkpoint's (DictConfig / AnyNode / metadata / enum / typing.Any)."""
    Dict = _fake_module(monkeypatch, "omegaconf.dictconfig", "DictConfig", type("D", (_FakeOmegaConf,), {}))
    Node = _fake_module(monkeypatch, "omegaconf.nodes", "AnyNode", type("N", (_FakeOmegaConf,), {}))
    Meta = _fake_module(monkeypatch, "omegaconf.base", "ContainerMetadata", type("M", (_FakeOmegaConf,), {}))
    Modality = enum.Enum("Modality", "AUDIO IMAGE TEXT")
    _fake_module(monkeypatch, "models.base", "Modality", Modality)
    meta = Meta(ref_type=typing.Any, object_type=dict, key_type=typing.Any, optional=True)

    def d(**kv):
        return Dict(_metadata=meta, _parent=None, _content={k: Node(_val=v, _metadata=meta) for k, v in kv.items()})

    model = d(_name="data2vec_multi", depth=2, num_heads=num_heads, supported_modality=Modality.IMAGE)
    model._flags_cache = collections.defaultdict(list, {"readonly": [True]})
    return Dict(_metadata=meta, _parent=None, _content={"model": model, "task": d(_name="mae_image_pretraining")})


def pretrain_copy(enc: EATEncoder) -> EATEncoder:
    """The same encoder without its head, as a "pretrain" variant."""
    pre = EATEncoder(EATConfig(**{**enc.config.to_dict(), "model_variant": "pretrain"}))
    pre.load_state_dict({k: v for k, v in enc.state_dict().items() if not k.startswith(("fc_norm", "head"))})
    return pre.eval()


def to_fairseq(enc: EATEncoder, finetune: bool) -> dict:
    sd = {}
    for k, v in enc.state_dict().items():
        for ours, theirs in [("local_encoder.", "local_encoder."), ("extra_tokens", "extra_tokens"),
                             ("fixed_positional_encoder.", "fixed_positional_encoder."),
                             ("pre_norm.", "context_encoder.norm.")]:
            if k.startswith(ours):
                k = "modality_encoders.IMAGE." + theirs + k[len(ours):]
        if finetune and not k.startswith(("fc_norm.", "head.")):
            k = "model." + k
        sd[k] = v.clone()
    if not finetune:  # pre-training leftovers the loader must drop
        sd["modality_encoders.IMAGE.decoder.blocks.0.0.weight"] = torch.randn(8, 4, 3, 3)
        sd["modality_encoders.IMAGE.decoder.proj.weight"] = torch.randn(64, 8)
        sd["_ema"] = {"blocks.0.attn.qkv.weight": torch.randn(3, 3)}
    return sd


def test_hub_and_fairseq_formats_give_identical_outputs(tmp_path, monkeypatch):
    enc = small_encoder()
    save_audio_encoder(enc, tmp_path / "hub")
    assert set(load_file(tmp_path / "hub" / "model.safetensors")) == {f"model.{k}" for k in enc.state_dict()}

    with monkeypatch.context() as m:
        torch.save({"model": to_fairseq(enc, finetune=True), "cfg": fairseq_cfg(m, num_heads=4),
                    "optimizer_history": [{"num_updates": 3}]}, tmp_path / "ft.pt")
        torch.save({"model": to_fairseq(pretrain_copy(enc), finetune=False), "cfg": fairseq_cfg(m, num_heads=4)},
                   tmp_path / "pt.pt")
    assert "omegaconf.dictconfig" not in sys.modules  # loading must not need (or import) the real classes
    with pytest.raises(Exception):  # plain weights-only torch.load refuses these files
        torch.load(tmp_path / "ft.pt", weights_only=True)

    shutil.copy(tmp_path / "hub" / "model.safetensors", tmp_path / "lone.safetensors")  # config in its metadata
    hub, ft, pt, lone = (load_audio_encoder(tmp_path / n) for n in ("hub", "ft.pt", "pt.pt", "lone.safetensors"))
    assert lone.config == hub.config == enc.config
    assert ft.config.num_heads == pt.config.num_heads == 4  # read from the fairseq cfg
    assert (hub.config.head_norm_eps, ft.config.head_norm_eps) == (1e-5, 1e-6)
    assert not pt.config.has_head and not hasattr(pt, "head")
    x = fbank()
    with torch.inference_mode():
        ref = enc(x)
        outs = [hub(x), ft(x), pt(x), lone(x)]
        for y in outs:
            assert torch.equal(y, ref)
        torch.testing.assert_close(hub.classify(outs[0]), enc.classify(ref), atol=0, rtol=0)
        torch.testing.assert_close(ft.classify(outs[1]), enc.classify(ref), atol=1e-4, rtol=0)  # eps 1e-6 vs 1e-5


def test_fairseq_pickle_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return shutil.copyfile, (__file__, str(marker))

    enc = small_encoder()
    torch.save({"model": to_fairseq(enc, finetune=True), "cfg": {"x": Payload()}}, tmp_path / "evil.pt")
    loaded = load_audio_encoder(tmp_path / "evil.pt")  # the payload became an inert stand-in
    assert not marker.exists()
    assert torch.equal(loaded.extra_tokens, enc.extra_tokens)

    class OsPayload:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    torch.save({"model": to_fairseq(enc, finetune=True), "cfg": OsPayload()}, tmp_path / "evil2.pt")
    with pytest.raises(CheckpointError, match="evil2.pt"):
        load_audio_encoder(tmp_path / "evil2.pt")
    assert not marker.exists()


def test_state_dict_mapping_and_inference():
    enc = small_encoder()
    sd = to_fairseq(pretrain_copy(enc), finetune=False)
    ours = eat_state_dict_to_ours({"model": sd, "cfg": None})
    assert set(ours) == {k for k in enc.state_dict() if not k.startswith(("fc_norm", "head"))}
    assert torch.equal(ours["pre_norm.weight"], enc.pre_norm.weight)
    cfg = encoder_config_from_state_dict(sd)
    assert (cfg.embed_dim, cfg.depth, cfg.max_length, cfg.num_classes, cfg.model_variant) == (64, 2, 64, 0, "pretrain")
    assert cfg.qkv_bias and cfg.mlp_ratio == 4.0 and cfg.num_heads == 1  # 64 // 64 without a cfg
    hub = {f"model.{k}": v for k, v in enc.state_dict().items()}
    cfg = encoder_config_from_state_dict(hub, num_heads=4)
    assert (cfg.num_classes, cfg.model_variant, cfg.num_heads, cfg.head_norm_eps) == (5, "finetune", 4, 1e-5)


def test_512_and_6144_row_tables(tmp_path):
    enc = small_encoder()
    sd = {f"model.{k}": v for k, v in enc.state_dict().items()}
    big = dict(sd)
    key = "model.fixed_positional_encoder.positions"
    big[key] = sincos_positions(768, 8, 64)[None]
    assert big[key].shape == (1, 6144, 64) and torch.equal(big[key][:, :512], sd[key])
    save_file(sd, tmp_path / "small.safetensors")  # bare files: no config, so dims come from the shapes
    save_file(big, tmp_path / "big.safetensors")
    save_audio_encoder(enc, tmp_path / "folder")  # config.json says max_length 64 ...
    save_file(big, tmp_path / "folder" / "model.safetensors")  # ... but the weights have 6144 rows
    names = ("small.safetensors", "big.safetensors", "folder")
    small, large, folder = (load_audio_encoder(tmp_path / n) for n in names)
    assert (small.config.max_length, large.config.max_length, folder.config.max_length) == (64, 768, 768)
    x = fbank(frames=64)
    with torch.inference_mode():
        assert torch.equal(folder(x), enc(x))
        ref = small(x)
        assert torch.equal(large(x), ref)
        large.fixed_positional_encoder.positions[:, 32:] = 1e3  # rows past the 32 used tokens do not matter
        assert torch.equal(large(x), ref)
        large.fixed_positional_encoder.positions[:, 31] += 1.0  # the last used row does
        assert not torch.allclose(large(x), ref)
        with pytest.raises(ValueError, match="position table"):
            small(fbank(frames=64 * 16 + 16))


def test_eat_base_full_size_forward():
    torch.manual_seed(0)
    enc = EATEncoder(EATConfig()).eval()
    assert 85e6 < sum(p.numel() for p in enc.parameters()) < 87e6  # ViT-B/16-sized (the paper rounds to 88M)
    with torch.inference_mode():
        y = enc(torch.randn(1, 1, 1024, 128))
    assert y.shape == (1, 513, 768) and torch.isfinite(y).all()


def test_topk_pruning():
    from sam_cli.models.pruning import PruneConfig

    enc = small_encoder(depth=4)
    x = fbank(frames=64)
    with torch.inference_mode():
        full = enc(x)
        same, idx, _ = enc.forward_pruned(x, PruneConfig(rate=0.0, layers=[1, 3]))
        torch.testing.assert_close(same, full, atol=1e-5, rtol=0)
        assert torch.equal(idx, torch.arange(32).expand(2, -1))
        pruned, idx, last = enc.forward_pruned(x, PruneConfig(rate=0.5, layers=[1, 3]))
        assert enc.classify(pruned).shape == (2, 5)
    assert pruned.shape == (2, 1 + 8, 64) and idx.shape == (2, 8) and last.shape == (2, 32, 64)  # 32 -> 16 -> 8
    assert (idx.diff(dim=1) > 0).all() and idx.max() < 32


# -- errors ------------------------------------------------------------------------------------------------------


@pytest.fixture()
def hub_folder(tmp_path):
    save_audio_encoder(small_encoder(), tmp_path / "enc")
    return tmp_path / "enc"


def _edit(folder, fn):
    path = folder / "model.safetensors"
    sd = load_file(path)
    fn(sd)
    save_file(sd, path)


def test_error_missing_path(tmp_path):
    with pytest.raises(CheckpointError, match="nope"):
        load_audio_encoder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_audio_encoder(tmp_path / "empty")


def test_error_wrong_shape(hub_folder):
    _edit(hub_folder, lambda sd: sd.update({"model.blocks.1.mlp.fc1.weight": torch.zeros(200, 64)}))
    msg = r"blocks\.1\.mlp\.fc1\.weight has shape \[200, 64\], expected \[256, 64\]"
    with pytest.raises(CheckpointError, match=msg):
        load_audio_encoder(hub_folder)


def test_error_unknown_and_missing_keys(hub_folder):
    _edit(hub_folder, lambda sd: sd.update({"model.norm.weight": torch.ones(64)}))
    with pytest.raises(CheckpointError, match=r"unexpected.*norm\.weight"):
        load_audio_encoder(hub_folder)
    _edit(hub_folder, lambda sd: (sd.pop("model.norm.weight"), sd.pop("model.pre_norm.bias")))
    with pytest.raises(CheckpointError, match=r"missing.*pre_norm\.bias"):
        load_audio_encoder(hub_folder)


def test_error_corrupt_safetensors_and_bad_config(hub_folder):
    path = hub_folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_audio_encoder(hub_folder)
    (hub_folder / "config.json").write_text('{"layer_norm_first": true}')
    with pytest.raises(CheckpointError, match="config.json.*layer_norm_first"):
        load_audio_encoder(hub_folder)


def test_bad_fbank_shape():
    enc = small_encoder()
    with pytest.raises(ValueError, match="128"):
        enc(torch.zeros(1, 1, 64, 80))
    with pytest.raises(ValueError, match="multiple"):
        enc(torch.zeros(1, 1, 60, 128))
