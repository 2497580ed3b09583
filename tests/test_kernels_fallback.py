"""Kernel dispatch without the kernels (runs in CI, on the CPU): everything falls back to the reference."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from conftest import build_tiny_model

from sam_cli.accel import kernels

from sam_cli.models import ssd
from sam_cli.accel.select import fused_view, lm_runner, why_not_fused


@pytest.fixture
def no_mamba_ssm(monkeypatch):
    """As if mamba_ssm and causal_conv1d were not installed, on a machine that claims a CUDA device."""
    for name in ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.triton", "mamba_ssm.ops.triton.layer_norm",
                 "mamba_ssm.ops.triton.layernorm_gated", "mamba_ssm.ops.triton.selective_state_update",
                 "mamba_ssm.ops.triton.ssd_combined", "causal_conv1d"):
        monkeypatch.setitem(sys.modules, name, None)  # `import` of a None entry raises ImportError
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    kernels._reset_for_tests()
    yield
    kernels._reset_for_tests()


def test_missing_package_is_reported_not_raised(no_mamba_ssm):
    assert not kernels.available() and not kernels.conv_available()
    assert "cannot be imported" in kernels.why_unavailable()


def test_disabled_by_environment(monkeypatch):
    model = build_tiny_model()
    monkeypatch.setenv("SAM_KERNELS", "0")
    assert "SAM_KERNELS" in why_not_fused(model.lm)
    assert lm_runner(model.lm, greedy=True).name == "reference"


def test_wrappers_run_the_reference_on_the_cpu(no_mamba_ssm):
    torch.manual_seed(0)
    b, l, d, w, h, p, n = 2, 9, 12, 4, 3, 4, 8
    x, wt, bi, init = torch.randn(b, l, d), torch.randn(d, w), torch.randn(d), torch.randn(b, d, w)
    for a, r in zip(kernels.causal_conv1d(x, wt, bi, init), ssd.causal_conv1d(x, wt, bi, init)):
        assert torch.equal(a, r)
    c1, c2 = init.clone(), init.clone()
    assert torch.equal(kernels.causal_conv1d_step(c1, x[:, 0], wt, bi), ssd.causal_conv1d_step(c2, x[:, 0], wt, bi))
    assert torch.equal(c1, c2)
    y, z, gw = torch.randn(b, l, d), torch.randn(b, l, d), torch.randn(d)
    assert torch.equal(kernels.gated_rmsnorm(y, z, gw, 1e-5, 6), ssd.gated_rmsnorm(y, z, gw, 1e-5, 6))
    assert torch.equal(kernels.rms_norm(y, gw, 1e-5), ssd.rms_norm(y, gw, 1e-5))
    out, res = kernels.add_rms_norm(y, z, gw, 1e-5)
    assert torch.equal(res, z + y) and torch.equal(out, ssd.rms_norm(z + y, gw, 1e-5))
    xs, dt = torch.randn(b, l, h, p), torch.rand(b, l, h)
    A, B, C, D, s0 = -torch.rand(h), torch.randn(b, l, 1, n), torch.randn(b, l, 1, n), torch.randn(h), torch.randn(b, h, p, n)
    for a, r in zip(kernels.ssd_chunked(xs, dt, A, B, C, 4, D, s0), ssd.ssd_chunked(xs, dt, A, B, C, 4, D, s0)):
        assert torch.equal(a, r)
    s1, s2 = s0.clone(), s0.clone()
    assert torch.equal(kernels.ssd_step(s1, xs[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D),
                       ssd.ssd_step(s2, xs[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D))
    assert torch.equal(s1, s2)


def test_model_keeps_the_reference_path_on_the_cpu():
    model = build_tiny_model()
    assert why_not_fused(model.lm) is not None
    assert fused_view(model.lm) is None
    for greedy in (False, True):
        runner = lm_runner(model.lm, greedy=greedy)
        assert runner.name == "reference" and runner.impl is model.lm


def test_importing_the_package_imports_no_kernels():
    code = ("import sam_cli, sam_cli.accel.kernels, sam_cli.accel.fast_mamba2, sam_cli.accel.cuda_graphs, sam_cli.decoding.generate, sys; "
            "bad = [m for m in ('mamba_ssm', 'causal_conv1d', 'triton', 'sam_cli.accel.triton_decode') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_batched_fbank_equals_per_clip_fbank():
    from sam_cli import audio as A
    from sam_cli.audio.fbank_batched import fbank_batch

    torch.manual_seed(0)
    wavs = [torch.randn(164000) * 0.1, torch.randn(164000) * 0.2, torch.randn(37000) * 0.3, torch.randn(100),
            torch.randn(0), torch.randn(1, 5000)]
    want, got = A.fbank_batch(wavs), fbank_batch(wavs)
    assert got.shape == want.shape == (6, 1, 1024, 128)
    assert ((got - want).norm() / want.norm()).item() < 1e-5


def test_kernel_modules_import_without_their_package_init(tmp_path):
    """kernels.without_package_init: a package's submodules import without running its __init__ (mamba_ssm's
    costs ~8 s a GPU process); a name only the __init__ defines runs it then, once, into the same module; a
    failing __init__ reads as a missing attribute, not an exception out of hasattr()."""
    for pkg, init in (("heavy", "RAN = 1\nVALUE = 42\n"), ("broken", "raise OSError('no')\n")):
        (tmp_path / pkg / "ops").mkdir(parents=True)
        (tmp_path / pkg / "__init__.py").write_text(init)
        (tmp_path / pkg / "ops" / "__init__.py").write_text("")
        (tmp_path / pkg / "ops" / "k.py").write_text("def f():\n    return 7\n")
    code = """
import os, sys
from sam_cli.accel import kernels
kernels.without_package_init("heavy")
from heavy.ops.k import f
import heavy
assert f() == 7 and "RAN" not in vars(heavy), "the package's __init__ ran"
assert heavy.ops.k.f is f
from heavy import VALUE
assert VALUE == 42 and heavy.RAN and heavy.ops.k is sys.modules["heavy.ops.k"]
assert not hasattr(heavy, "missing")
kernels.without_package_init("broken")
import broken.ops.k
assert broken.ops.k.f() == 7 and not hasattr(broken, "VALUE")
kernels.without_package_init("not_installed_anywhere")
assert "not_installed_anywhere" not in sys.modules
print("ok")
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
