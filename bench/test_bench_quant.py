"""int8 against float32: the int8 GEMM against the float32 matmul at n = 256..1024, and the
quantised digits CNN's forward pass against the float one.

``pytest bench/test_bench_quant.py --benchmark-only --benchmark-group-by=group`` times each
with pytest-benchmark (every GEMM is first checked exactly against an int64 numpy
reference). ``python bench/test_bench_quant.py`` prints the ratios that
docs/quantization.md reports: both sides timed in one process, in interleaved rounds
(A, B, A, B, ...), medians, so that load from other processes hits both alike.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.data.datasets import Digits
from tinytorch.kernels import matmul, qgemm
from tinytorch.train import models

SIZES = (256, 512, 1024)


def gemm_operands(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (n, n), dtype=np.int8)
    b = rng.integers(-128, 128, (n, n), dtype=np.int8)
    bias = rng.integers(-1000, 1000, n).astype(np.int32)
    zb = np.zeros(n, np.int32)
    return a, b, bias, zb


def int64_reference(a, b, bias, zb, za):
    return (a.astype(np.int64) - za) @ (b.astype(np.int64) - zb[:, None]).T + bias


@pytest.mark.parametrize("n", SIZES)
def test_qgemm_int8(benchmark, n):
    a, b, bias, zb = gemm_operands(n)
    out = np.empty((n, n), np.int32)
    qgemm.qgemm_forward_jit(out, a, b, bias, zb, a_zero_point=-5)  # compile, then check
    np.testing.assert_array_equal(out, int64_reference(a, b, bias, zb, -5))
    benchmark.group = f"gemm n={n}"
    benchmark.extra_info["gop"] = 2 * n**3 / 1e9
    benchmark(qgemm.qgemm_forward_jit, out, a, b, bias, zb, a_zero_point=-5)


@pytest.mark.parametrize("n", SIZES)
def test_matmul_float32(benchmark, n):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, n, n)).astype(np.float32)
    b = rng.standard_normal((1, n, n)).astype(np.float32)
    out = np.empty((1, n, n), np.float32)
    matmul.matmul_forward_jit(out, a, b)
    np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-3, atol=1e-3 * n**0.5)
    benchmark.group = f"gemm n={n}"
    benchmark.extra_info["gflop"] = 2 * n**3 / 1e9
    benchmark(matmul.matmul_forward_jit, out, a, b)


def digits_models():
    """The configs/digits_cnn.toml model (untrained weights time the same) and its int8
    twin, calibrated on four training batches."""
    from tinytorch.quantization import quantize_model

    tt.manual_seed(0)
    model = models.digits_cnn((24, 48)).eval()
    x, _ = Digits("train").tensors()
    qmodel = quantize_model(model, [x[i * 64:(i + 1) * 64] for i in range(4)])
    return model, qmodel


@pytest.mark.parametrize("kind", ["float32", "int8"])
@pytest.mark.parametrize("batch", [32, 359])
def test_digits_cnn_forward(benchmark, kind, batch):
    model, qmodel = digits_models()
    x = Digits("test").tensors()[0][:batch]
    net = model if kind == "float32" else qmodel
    with tt.no_grad():
        net(x)
        benchmark.group = f"digits CNN forward, batch {batch}"
        benchmark(net, x)


# --- interleaved ratios for the docs --------------------------------------------------------

def interleaved(fns: dict, rounds: int = 15) -> dict:
    """Median seconds of each callable, timed in interleaved rounds after one warm-up."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return {k: float(np.median(v)) for k, v in times.items()}


def gemm_row(n: int) -> str:
    """One row of the GEMM table: launchers, then the single-core rungs."""
    from tinytorch.kernels.qgemm_vnni import has_vnni, qgemm_forward_vnni

    a, b, bias, zb = gemm_operands(n)
    oi = np.empty((n, n), np.int32)
    qgemm.qgemm_forward_jit(oi, a, b, bias, zb, a_zero_point=3)
    assert np.array_equal(oi, int64_reference(a, b, bias, zb, 3))
    rng = np.random.default_rng(0)
    af = rng.standard_normal((1, n, n)).astype(np.float32)
    bf = rng.standard_normal((1, n, n)).astype(np.float32)
    of = np.empty((1, n, n), np.float32)
    fns = {
        "f32": lambda: matmul.matmul_forward_jit(of, af, bf),
        "i8": lambda: qgemm.qgemm_forward_jit(oi, a, b, bias, zb, a_zero_point=3),
        "f32_1": lambda: matmul.matmul_forward_jit_packed(of, af, bf),
        "i8_1": lambda: qgemm.qgemm_forward_jit_packed(oi, a, b, bias, zb, a_zero_point=3),
    }
    if has_vnni():
        fns["vnni_1"] = lambda: qgemm_forward_vnni(oi, a, b, bias, zb, a_zero_point=3)
    t = interleaved(fns, rounds=7 if n == 1024 else 15)
    vnni = (f"{t['vnni_1'] * 1e3:.2f} | {t['f32_1'] / t['vnni_1']:.2f}"
            if "vnni_1" in t else "- | -")
    return (f"| {n} | {t['f32'] * 1e3:.2f} | {t['i8'] * 1e3:.2f} | {t['f32'] / t['i8']:.2f} "
            f"| {t['f32_1'] * 1e3:.2f} | {t['i8_1'] * 1e3:.2f} | {t['f32_1'] / t['i8_1']:.2f} "
            f"| {vnni} |")


def main() -> None:
    import platform

    from tinytorch.kernels.qgemm_vnni import has_vnni

    print(f"machine: {platform.processor() or platform.machine()}, AVX-512 VNNI used: "
          f"{has_vnni()}, numba threads: {__import__('numba').get_num_threads()}")
    print("\n| n | f32 jit (ms) | int8 jit (ms) | f32/int8 | f32 packed 1 core (ms) | "
          "int8 packed 1 core (ms) | f32/int8 | int8 VNNI 1 core (ms) | f32/VNNI |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in SIZES:
        print(gemm_row(n))
    model, qmodel = digits_models()
    x_all = Digits("test").tensors()[0]
    print("\n| digits CNN forward | float32 (ms) | int8 (ms) | float32/int8 |")
    print("|---|---|---|---|")
    with tt.no_grad():
        for batch in (32, 359):
            x = x_all[:batch]
            t = interleaved({"f": lambda x=x: model(x), "q": lambda x=x: qmodel(x)}, 31)
            print(f"| batch {batch} | {t['f'] * 1e3:.3f} | {t['q'] * 1e3:.3f} | "
                  f"{t['f'] / t['q']:.2f} |")


if __name__ == "__main__":
    main()
