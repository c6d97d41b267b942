"""pytest-benchmark suites: `pytest bench --benchmark-only`.

Each benchmark checks its kernel against the numpy oracle before timing it, times the
first call (compilation, or a load from numba's cache) apart and stores it in
``extra_info``, warms up, then lets pytest-benchmark take the rounds. Compare runs with
``--benchmark-autosave`` and ``--benchmark-compare`` (docs/benchmarking.md)."""

import contextlib
import time

import numpy as np
import pytest

from tinytorch import dispatch, threads
from tinytorch.testing import assert_close


@contextlib.contextmanager
def backend_threads(backend):
    """Time a backend's kernel with the thread pools it gets as the backend in use
    (``tinytorch.threads``: under jit, BLAS on one thread; numpy: BLAS's own width), as
    ``tinytorch bench`` does."""
    threads.apply_backend_policy(backend)
    try:
        yield
    finally:
        threads.apply_backend_policy(dispatch.get_backend())


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
        with backend_threads(backend):
            if rounds is not None:  # slow backends: a fixed, small number of rounds
                benchmark.pedantic(kernel, args=(out, *inputs), rounds=rounds, iterations=1,
                                   warmup_rounds=0)
            else:
                benchmark(kernel, out, *inputs)

    return run


@pytest.fixture
def bench_op(benchmark):
    """``bench_op(op, backend, n)``: one ``tinytorch bench`` spec (``tinytorch.bench_ops``)
    at size ``n``: the same inputs, oracle check (every array argument, outputs starting as
    NaN) and cost model as the CLI; the first call's time, the FLOPs and the bytes go to
    ``extra_info``. Naive runs a few fixed rounds: its loops take milliseconds a call."""
    from tinytorch.bench import prepare

    def run(op, backend, n):
        fn, first, spec = prepare(op, backend, n)
        benchmark.group = f"{op} n={n} ({spec.size_meaning})"
        benchmark.extra_info.update(first_call_s=first, flops=spec.flops(n),
                                    bytes=spec.bytes(n, 4))
        with backend_threads(backend):
            if backend == "naive":
                benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=0)
            else:
                benchmark(fn)

    return run


def family_cases(family, backends=("jit", "numpy")):
    """``(op, backend, n)`` for every op of a family: each default size on the compiled
    backends, and naive at the op's quick size."""
    from tinytorch.bench_ops import BENCH_OPS, FAMILIES

    cases = []
    for op in FAMILIES[family]:
        spec = BENCH_OPS[op]
        cases.append((op, "naive", spec.quick))
        cases += [(op, b, n) for n in spec.sizes for b in backends]
    return cases
