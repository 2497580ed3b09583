"""The fused decode kernels compile for Hopper (sm_90) here, without a GPU.

Triton's interpreter (which runs the kernels on the CPU in other checks) accepts code the compiler rejects,
e.g. a kernel reading a plain module global; this compiles every kernel variant the GPU path launches with
the Triton that torch brought, down to PTX and a cubin (Triton ships ptxas), and checks that programmatic
dependent launch and the fused argmax made it into the code.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

triton = pytest.importorskip("triton")

from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402
from triton.runtime.jit import JITFunction  # noqa: E402

from sam_cli.accel import triton_decode as T  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)


def compile_kernel(kernel, types: dict[str, str], consts: dict[str, object], warps: int = 4,
                   aligned: tuple[str, ...] = ()):
    """Compile for sm_90; `aligned` names arguments to specialise as multiples of 16, as Triton's launcher
    does for real pointers and strides (it decides the vector width of loads, hence registers)."""
    fn = kernel
    while not isinstance(fn, JITFunction):  # autotuned kernels wrap the JIT function
        fn = fn.fn
    sig = {a: ("constexpr" if a in consts else types.get(a, "i32")) for a in fn.arg_names}
    attrs = {(i,): [["tt.divisibility", 16]] for i, a in enumerate(fn.arg_names) if a in aligned}
    return triton.compile(ASTSource(fn, sig, consts, attrs), target=TARGET,
                          options={"num_warps": warps, "launch_pdl": bool(consts.get("PDL"))})


def ptxas_report(ptx: str, tmp_path) -> str:
    """ptxas -v for sm_90a with the ptxas Triton ships: registers and spills."""
    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    src = tmp_path / "k.ptx"
    src.write_text(ptx)
    r = subprocess.run([str(ptxas), "-arch=sm_90a", "-v", str(src), "-o", str(tmp_path / "k.cubin")],
                       capture_output=True, text=True, check=True)
    return r.stderr


GATED_TYPES = {"Y": "*bf16", "Z": "*bf16", "GW": "*bf16", "W": "*bf16", "R": "*fp32", "eps": "fp32"}
GEMV_TYPES = {"X": "*bf16", "IDS": "*i64", "TOK_OUT": "*i64", "R_OUT": "*fp32", "NW": "*bf16", "W": "*bf16",
              "OUT": "*bf16", "PACKED_OUT": "*i64", "eps": "fp32"}


@pytest.mark.parametrize("gather,packed,argmax", [(True, False, False), (True, True, False), (False, False, False),
                                                  (False, False, True)])
@pytest.mark.parametrize("pdl", [False, True])
def test_rmsnorm_gemv_compiles(gather, packed, argmax, pdl):
    k = compile_kernel(T._rmsnorm_gemv_kernel, GEMV_TYPES,
                       {"GATHER": gather, "PACKED_IDS": packed, "ARGMAX": argmax, "PDL": pdl, "BLOCK_M": 1,
                        "BLOCK_N": 4, "BLOCK_K": 1024, "STAGES": 1})
    ptx = k.asm["ptx"]
    assert ("griddepcontrol.wait" in ptx) == pdl
    assert ("atom.global" in ptx and "max.s64" in ptx) == argmax
    assert k.asm["cubin"]


@pytest.mark.parametrize("pdl", [False, True])
def test_gated_norm_gemv_add_compiles(pdl):
    k = compile_kernel(T._gated_norm_gemv_add_kernel, GATED_TYPES,
                       {"PDL": pdl, "BLOCK_M": 4, "BLOCK_N": 4, "BLOCK_K": 1024, "STAGES": 3}, warps=8)
    assert ("griddepcontrol.launch_dependents" in k.asm["ptx"]) == pdl


CONV_SSM_ALIGNED = ("ZX", "stride_zx", "CONV_IN", "CONV_OUT", "stride_cb", "CONV_W", "CONV_B", "STATE", "stride_sb",
                    "stride_sh", "stride_sp", "A", "DT_BIAS", "D", "Y", "stride_y", "d_inner", "conv_dim", "headdim",
                    "dstate")


@pytest.mark.parametrize("state", ["*fp32", "*bf16", "*fp16"])
@pytest.mark.parametrize("tile", [T.SMALL_BATCH_TILE, T.LARGE_BATCH_TILE])
def test_conv_ssm_step_compiles(state, tile, tmp_path):
    block_p, chunks, warps = tile
    k = compile_kernel(T._conv_ssm_step_kernel,
                       {"ZX": "*bf16", "CONV_IN": "*bf16", "CONV_OUT": "*bf16", "CONV_W": "*bf16", "CONV_B": "*bf16",
                        "STATE": state, "A": "*fp32", "DT_BIAS": "*bf16", "D": "*bf16", "Y": "*bf16"},
                       {"W": 4, "BLOCK_P": block_p, "CHUNKS": chunks, "BLOCK_N": 128, "PDL": True}, warps=warps,
                       aligned=CONV_SSM_ALIGNED)
    assert "griddepcontrol.wait" in k.asm["ptx"]
    report = ptxas_report(k.asm["ptx"], tmp_path)
    assert " 0 bytes spill stores" in report, report
    regs = int(re.search(r"Used (\d+) registers", report).group(1))
    # The large-batch tile is meant to keep several programs resident an SM (memory parallelism).
    assert tile == T.SMALL_BATCH_TILE or regs <= 128, report


GEMV_ALIGNED = ("X", "stride_x", "IDS", "TOK_OUT", "R_OUT", "stride_r", "NW", "W", "stride_w", "OUT", "stride_o",
                "PACKED_OUT", "Y", "stride_y", "Z", "stride_z", "GW", "R", "K")


GEMV_KERNELS = {
    "rmsnorm": (T._rmsnorm_gemv_kernel, dict(GEMV_TYPES, X="*fp32"),
                {"GATHER": False, "PACKED_IDS": False, "ARGMAX": True}),
    "gated": (T._gated_norm_gemv_add_kernel, GATED_TYPES, {}),
}


@pytest.mark.parametrize("kind,tile", sorted({(kind, t) for (kind, _, _), t in T.GEMV_TILES.items()}),
                         ids=lambda v: v if isinstance(v, str) else "x".join(map(str, v)))
def test_measured_gemv_tiles_compile_without_spills(kind, tile, tmp_path):
    """Each kernel with the tiles triton_decode.GEMV_TILES gives it, as launched at batch 1: pipelined tiles
    (stages > 1) stream their weights with cp.async, and none spills registers."""
    bn, bk, warps, stages = tile
    kernel, types, consts = GEMV_KERNELS[kind]
    consts = dict(consts, BLOCK_M=1, BLOCK_N=bn, BLOCK_K=bk, STAGES=stages, PDL=True)
    k = compile_kernel(kernel, types, consts, warps=warps, aligned=GEMV_ALIGNED)
    assert ("cp.async" in k.asm["ptx"]) == (stages > 1)
    report = ptxas_report(k.asm["ptx"], tmp_path)
    assert " 0 bytes spill stores" in report, report
