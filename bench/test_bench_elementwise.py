"""Elementwise kernels across backends and sizes (float32, contiguous)."""

import numpy as np
import pytest

SIZES = (10_000, 1_000_000)
CASES = [(op, "naive", 10_000) for op in ("add", "exp")] + [
    (op, b, n) for op in ("add", "mul", "exp", "relu") for n in SIZES for b in ("jit", "numpy")]


@pytest.mark.parametrize("op,backend,n", CASES)
def test_elementwise(bench_kernel, benchmark, op, backend, n):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, n)).astype(np.float32)
    y = rng.standard_normal((1, n)).astype(np.float32)
    out = np.empty_like(x)
    inputs = (x, y) if op in ("add", "mul") else (x,)
    benchmark.group = f"{op} n={n}"
    bench_kernel(f"{op}_forward", backend, out, *inputs,
                 rounds=3 if backend == "naive" else None)


@pytest.mark.parametrize("backend", ["jit", "numpy"])
def test_broadcast_add_through_the_tensor_api(benchmark, backend):
    """The whole path a user pays for: dispatch, broadcasting, coalescing, allocation."""
    import tinytorch as tt

    x, bias = tt.randn(32, 64, 32, 32), tt.randn(1, 64, 1, 1)
    benchmark.group = "add (32,64,32,32)+(1,64,1,1) via tensor API"
    with tt.backend(backend):
        x + bias  # compile outside the timing
        benchmark(lambda: x + bias)


@pytest.mark.parametrize("case", ["same-shape", "bias-row"])
@pytest.mark.parametrize("backend", ["jit", "numpy"])
def test_small_add_through_the_tensor_api(benchmark, backend, case):
    """A training step's kind of op: (32, 128) + (32, 128) or + (128,). At this size the
    Python around the kernel (checks, promotion, views, dispatch, the result tensor) is
    most of the cost; ``layout.simple_views_2d`` and the short ``dispatch.call`` path are
    what this measures (``pytest bench -k small_add --benchmark-only``)."""
    import tinytorch as tt

    x = tt.randn(32, 128)
    other = tt.randn(32, 128) if case == "same-shape" else tt.randn(128)
    benchmark.group = f"add (32,128)+{other.shape} via tensor API"
    with tt.backend(backend):
        x + other
        benchmark(lambda: x + other)
