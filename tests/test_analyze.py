"""`sam analyze` and its measures (the SAM paper's §4.1-4.2): τ-effective rank, token cosine similarity, state
updates between audio tokens; against independent computations, then end to end on real audio files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F
from conftest import build_tiny_model, tone
from helpers import REPO, assert_clean_error, err, out, sam
from train_helpers import one_thread  # noqa: F401  (a fixture)

from sam_cli.analysis.measures import cosine_similarity, effective_rank, retention, state_change, update_steps
from sam_cli.analysis.probe import probe

EXAMPLES = REPO / "examples"
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # tiny tensors on a shared 2-core machine: one thread is much faster


# --- the measures on fixed tensors -----------------------------------------------------------------------
def _with_spectrum(s: np.ndarray, rows: int, cols: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((rows, rows)))
    v, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
    k = len(s)
    return torch.from_numpy(u[:, :k] @ np.diag(s) @ v[:, :k].T)


def _rank_numpy(h: np.ndarray, tau: float) -> int:
    s = np.linalg.svd(h, compute_uv=False)
    e = s**2 / np.sum(s**2)
    total = 0.0
    for k, x in enumerate(e, start=1):
        total += x
        if total >= tau - 1e-12:
            return k
    return len(e)


def test_effective_rank_of_known_spectra():
    assert effective_rank(torch.outer(torch.arange(1.0, 9.0), torch.randn(5))) == 1  # rank one
    assert effective_rank(torch.zeros(6, 4)) == 0
    # 20 equal singular values: 19 of them hold exactly 95% of the energy.
    assert effective_rank(_with_spectrum(np.ones(20), 30, 40)) == 19
    assert effective_rank(_with_spectrum(np.ones(20), 30, 40), tau=0.951) == 20
    # Energies 0.6, 0.3, 0.06, 0.04: 2 reach 90%, 3 reach 95% (0.96), 4 reach 0.97.
    h = _with_spectrum(np.sqrt([0.6, 0.3, 0.06, 0.04]), 10, 12)
    assert [effective_rank(h, t) for t in (0.9, 0.95, 0.97)] == [2, 3, 4]
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((64, 48)) @ np.diag(rng.exponential(1.0, 48))
        assert effective_rank(torch.from_numpy(x).float()) == _rank_numpy(x, 0.95)


def test_cosine_similarity_against_pairwise_loop():
    v = torch.randn(7)
    assert cosine_similarity(v.repeat(5, 1)) == pytest.approx(1.0, abs=1e-12)
    assert cosine_similarity(torch.eye(6)) == pytest.approx(0.0, abs=1e-12)
    assert cosine_similarity(torch.stack([v, -v])) == pytest.approx(-1.0, abs=1e-12)
    x = np.random.default_rng(1).standard_normal((9, 5)) + 0.5
    pairs = [x[i] @ x[j] / np.linalg.norm(x[i]) / np.linalg.norm(x[j]) for i in range(9) for j in range(9) if i != j]
    assert cosine_similarity(torch.from_numpy(x)) == pytest.approx(np.mean(pairs), rel=1e-12)


def test_update_steps_follow_each_connector_layout():
    # Figure 3's point: adjacent cells are 1 update apart along time with concat, bands+1 with time_major.
    assert update_steps("concat", 64, 8) == {"time": 1, "frequency": 0}
    assert update_steps("time_major", 64, 8) == {"time": 9, "frequency": 1}
    assert update_steps("frequency_major", 64, 8) == {"time": 1, "frequency": 65}


# --- what the model computes: against the parallel scan and explicit loops ---------------------------------
def test_probe_states_and_decays_match_the_parallel_scan_and_explicit_products(one_thread):
    model = build_tiny_model(connector="time_major").double()
    torch.manual_seed(0)
    fbank = torch.randn(2, 1, 1024, 128, dtype=torch.float64)
    p = probe(model, fbank)
    embeds, enc = model.encode_audio(fbank)
    m = embeds.shape[1]
    assert m == 64 * 9 and p.state_change.shape == (2, 2, m - 1)
    torch.testing.assert_close(p.tokens["connector"], embeds.float())
    torch.testing.assert_close(p.tokens["encoder.1"], enc[:, 1:].float())

    # Each layer's input and output over the whole sequence, from the parallel (chunked SSD) forward.
    seen: dict[str, torch.Tensor] = {}
    hooks = [layer.register_forward_hook(lambda mod, args, outs, i=i: seen.update({f"in{i}": args[0],
                                                                                    f"out{i}": outs[0]}))
             for i, layer in enumerate(model.lm.backbone.layers)]
    with torch.no_grad():
        model.lm(inputs_embeds=embeds)
    for h in hooks:
        h.remove()
    for i, layer in enumerate(model.lm.backbone.layers):
        torch.testing.assert_close(p.tokens[f"lm.{i}"], seen[f"out{i}"].float(), rtol=1e-5, atol=1e-5)
        mixer = layer.mixer
        dt = mixer.in_proj(layer.norm(seen[f"in{i}"]))[..., -model.cfg.lm.nheads:]
        log_decay = F.softplus(dt + mixer.dt_bias) * -torch.exp(mixer.A_log)
        torch.testing.assert_close(p.log_decay[i], log_decay.float(), rtol=1e-5, atol=1e-6)

    # The state after t tokens, from the parallel scan of the first t tokens: the relative change per step.
    with torch.no_grad():
        for t in (1, 2, 8, 9, 10, 300, m - 1):
            _, before = model.lm(inputs_embeds=embeds[:, :t], return_state=True)
            _, after = model.lm(inputs_embeds=embeds[:, : t + 1], return_state=True)
            for i in range(2):
                a, b = before.ssm_states[i].numpy(), after.ssm_states[i].numpy()
                for r in range(2):
                    want = np.linalg.norm(b[r] - a[r]) / np.linalg.norm(a[r])
                    assert p.state_change[i, r, t - 1].item() == pytest.approx(want, rel=1e-6)
    assert bool(state_change(torch.zeros(1, 3), torch.ones(1, 3)).isnan().all())  # from a zero state: undefined

    # The share of a cell's write left at its neighbour: explicit products over the updates between them.
    ld = p.log_decay[0, 1].double().numpy()  # (tokens, heads)
    pos = lambda t, f: t * 9 + f  # noqa: E731  time_major: 8 bands, then a separator
    time_pairs = [(pos(t, f), pos(t + 1, f)) for t in range(63) for f in range(8)]
    band_pairs = [(pos(t, f), pos(t, f + 1)) for t in range(64) for f in range(7)]
    kept = lambda pairs: np.mean([np.exp(ld[a + 1:b + 1].sum(0)) for a, b in pairs])  # noqa: E731
    got = retention(p.log_decay[0, 1], "time_major", 64, 8)
    assert got["time"] == pytest.approx(kept(time_pairs), rel=1e-9)
    assert got["frequency"] == pytest.approx(kept(band_pairs), rel=1e-9)
    assert got["time"] < got["frequency"] < 1.0


# --- end to end ------------------------------------------------------------------------------------------
def _is_png(path: Path) -> bool:
    import matplotlib.image as mpimg

    image = mpimg.imread(path)
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.ndim == 3 and min(image.shape[:2]) > 100


def test_analyze_bundled_model_and_a_trained_run(tmp_path, one_thread):
    from train_helpers import make_dataset, read_metrics, tiny_settings, train_in_process

    data = make_dataset(tmp_path / "toy")
    run = tmp_path / "run"
    train_in_process(tiny_settings(train_json=str(data), output=str(run), save_every=2,
                                   analyze_data=str(data.parent / "audio"), analyze_limit=3))
    logged = read_metrics(run, "analysis")
    assert [r["step"] for r in logged] == [2, 4] and all(r["windows"] == 3 for r in logged)
    assert all(1 <= r["effective_rank"] <= 16 and -1 <= r["cosine_similarity"] <= 1 for r in logged)

    audio = tmp_path / "clips"
    audio.mkdir()
    sf.write(audio / "tone.wav", tone(3.0, freq=660.0), 16000)
    (tmp_path / "list.txt").write_text(f"{EXAMPLES / 'dog_bark.wav'}\nclips/tone.wav\n")
    outdir = tmp_path / "report"
    p = sam("analyze", "--list", str(tmp_path / "list.txt"), str(EXAMPLES / "cow_then_piano.wav"),
            "-m", "sam-tiny", "-m", str(run), "-o", str(outdir), "--json", env=ONE_THREAD, timeout=300)
    assert p.returncode == 0, err(p)
    report = json.loads(out(p))
    assert report == json.loads((outdir / "analysis.json").read_text())
    assert report["tau"] == 0.95 and len(report["inputs"]) == 3
    names = [m["model"] for m in report["models"]]
    assert names == ["sam-tiny", str(run / "checkpoints" / "stage4-step000002"),
                     str(run / "checkpoints" / "stage4-step000004"), str(run / "model")]
    bundled = report["models"][0]
    assert bundled["connector"] == "concat" and bundled["windows"] == 3 and bundled["update_steps"]["time"] == 1
    rows = {r["name"]: r for r in bundled["layers"]}
    assert list(rows) == [f"encoder.{j}" for j in range(6)] + ["connector"] + [f"lm.{i}" for i in range(6)]
    assert rows["connector"]["tokens"] == 64 and rows["connector"]["width"] == 384
    assert bundled["table3"]["effective_rank"] == rows["connector"]["effective_rank"]
    for r in rows.values():
        assert 1 <= r["effective_rank"] <= min(r["tokens"], r["width"]) and -1 <= r["cosine_similarity"] <= 1
    assert len(bundled["state"]) == 6
    assert all(s["state_change"] > 0 and 0 < s["retention_time"] < 1 and s["retention_frequency"] == 1.0
               for s in bundled["state"])
    assert [f["windows"] for f in bundled["per_file"]] == [1, 1, 1]
    # The exported model is the last checkpoint: the same measures.
    assert report["models"][3]["table3"] == pytest.approx(report["models"][2]["table3"])
    for name in ("effective_rank.png", "cosine_similarity.png", "state_update.png"):
        assert _is_png(outdir / name), name

    table = sam("analyze", str(EXAMPLES / "dog_bark.wav"), env=ONE_THREAD, timeout=300)  # the default: a text table
    assert table.returncode == 0, err(table)
    assert "sam-tiny" in out(table) and "lm.5" in out(table) and "connector" in out(table)


def test_analyze_bad_inputs_are_one_line_errors(tmp_path):
    (tmp_path / "notes.wav").write_text("not audio at all\n")
    assert_clean_error(sam("analyze", str(tmp_path / "missing")), "no such file or folder", 2)
    assert_clean_error(sam("analyze", str(tmp_path / "notes.wav"), env=ONE_THREAD), "notes.wav", 1)
    assert_clean_error(sam("analyze", str(EXAMPLES / "dog_bark.wav"), "-m", str(tmp_path)), "not a SAM checkpoint", 1)
    (tmp_path / "empty").mkdir()
    assert_clean_error(sam("analyze", str(tmp_path / "empty")), "no audio files", 2)
    assert_clean_error(sam("analyze", str(EXAMPLES / "dog_bark.wav"), "--tau", "1.5"), "--tau", 2)
    from sam_cli.train.config import ConfigError, build_config

    with pytest.raises(ConfigError, match="analyze_data .*missing: no such file or folder"):
        build_config({"scratch": True, "train_json": "x.json", "output": "run",
                      "analyze_data": str(tmp_path / "missing")})


def test_without_matplotlib_the_json_is_written_and_the_extra_named(tmp_path):
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('matplotlib is not installed here')\n")
    p = sam("-q", "analyze", str(EXAMPLES / "dog_bark.wav"), "-o", str(tmp_path / "r"),
            env={"PYTHONPATH": str(shadow.parent)} | ONE_THREAD)
    assert p.returncode == 1 and "Traceback" not in err(p)
    assert [l for l in err(p).splitlines() if l.strip()] == [
        "sam: error: figures need matplotlib: pip install 'sam-cli[analyze]' (the JSON is written without it; "
        "--no-figures skips them)"]
    assert json.loads((tmp_path / "r" / "analysis.json").read_text())["models"][0]["windows"] == 1
    assert not list((tmp_path / "r").glob("*.png"))
    assert math.isfinite(json.loads((tmp_path / "r" / "analysis.json").read_text())["models"][0]["table3"]
                         ["effective_rank"])
