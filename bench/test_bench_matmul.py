"""matmul_forward across backends and sizes (float32). Group by size to read ratios:
`pytest bench/test_bench_matmul.py --benchmark-only --benchmark-group-by=param:n`."""

import numpy as np
import pytest

CASES = [("naive", 32), ("naive", 64)] + [
    (b, n) for n in (64, 128, 256, 512, 1024) for b in ("jit", "numpy")]


@pytest.mark.parametrize("backend,n", CASES)
def test_matmul(bench_kernel, benchmark, backend, n):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, n, n)).astype(np.float32)
    b = rng.standard_normal((1, n, n)).astype(np.float32)
    out = np.empty((1, n, n), np.float32)
    benchmark.group = f"matmul n={n}"
    benchmark.extra_info["gflop"] = 2 * n**3 / 1e9
    bench_kernel("matmul_forward", backend, out, a, b, rtol=1e-5 * n**0.5,
                 rounds=3 if backend == "naive" else None)
