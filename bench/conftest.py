"""pytest-benchmark suites: `pytest bench --benchmark-only`.

Each benchmark checks its kernel against the numpy oracle before timing it, times the
first call (compilation, or a load from numba's cache) apart and stores it in
``extra_info``, warms up, then lets pytest-benchmark take the rounds. Compare runs with
``--benchmark-autosave`` and ``--benchmark-compare`` (docs/benchmarking.md)."""

import time

import numpy as np
import pytest

from tinytorch import dispatch
from tinytorch.testing import assert_close


@pytest.fixture
def bench_kernel(benchmark):
    """``bench_kernel(op, backend, out, *inputs, rtol=None)``: check, time first call, bench."""

    def run(op, backend, out, *inputs, rtol=None, rounds=None):
        expected = np.empty_like(out)
        dispatch.kernel_for(op, "numpy")[1](expected, *inputs)
        kernel = dispatch.kernel_for(op, backend)[1]
        start = time.perf_counter()
        kernel(out, *inputs)
        benchmark.extra_info["first_call_s"] = time.perf_counter() - start
        assert_close(out, expected, rtol=rtol,
                     atol=None if rtol is None else rtol * float(np.abs(expected).max()))
        if rounds is not None:  # slow backends: a fixed, small number of rounds
            benchmark.pedantic(kernel, args=(out, *inputs), rounds=rounds, iterations=1,
                               warmup_rounds=0)
        else:
            benchmark(kernel, out, *inputs)

    return run
