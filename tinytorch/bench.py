"""``tinytorch bench``: time one op's kernels on every backend, in one process, honestly.

For each backend and size: build the inputs once, check the kernel's result against the
numpy oracle *before* timing, time the first call apart (for jit that is compilation, or a
load from numba's on-disk cache), then run warm rounds and report the median time per call,
the inter-quartile range, GFLOP/s and GB/s, the speed-up over naive and the ratio to numpy
(and to PyTorch when it is installed). Kernels are timed through the dispatcher's table with
a preallocated output, so the figures are the kernels' own, not allocation or Python glue.

>>> rows = run_bench("add", backends=["jit", "numpy"], sizes=[64], rounds=3, min_time=0.001)
>>> [r["backend"] for r in rows][:2], rows[0]["ratio_to_numpy"] > 0
(['jit', 'numpy'], True)
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tinytorch import dispatch

__all__ = ["BENCH_OPS", "run_bench", "format_table"]


@dataclass(frozen=True)
class BenchOp:
    """How to benchmark one kernel: inputs for size n, its cost, and the oracle."""

    kernel: str
    size_meaning: str  # what "size" means for this op, shown in the table header
    make: Callable  # (n, dtype, rng) -> (out, inputs)
    flops: Callable  # n -> floating point operations per call
    bytes: Callable  # (n, itemsize) -> bytes moved per call (compulsory traffic)
    naive_max: int  # largest size the naive backend is timed at by default
    torch: Callable | None = None  # (torch, inputs) -> callable running the torch op


def _matmul_inputs(n, dtype, rng):
    a = rng.standard_normal((1, n, n)).astype(dtype)
    b = rng.standard_normal((1, n, n)).astype(dtype)
    return np.empty((1, n, n), dtype), (a, b)


def _vector_inputs(arity):
    def make(n, dtype, rng):
        xs = tuple(rng.standard_normal((1, n)).astype(dtype) for _ in range(arity))
        return np.empty((1, n), dtype), xs
    return make


def _sum_inputs(n, dtype, rng):
    return np.empty(1, dtype), (rng.standard_normal((1, n)).astype(dtype),)


def _torch_binary(name):
    def build(torch, inputs):
        a, b = (torch.from_numpy(x) for x in inputs)
        out = torch.empty_like(a)
        fn = getattr(torch, name)
        return lambda: fn(a, b, out=out)
    return build


def _torch_matmul(torch, inputs):
    a, b = (torch.from_numpy(x) for x in inputs)
    out = torch.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=a.dtype)
    return lambda: torch.matmul(a, b, out=out)


def _torch_unary(name):
    def build(torch, inputs):
        x = torch.from_numpy(inputs[0])
        out = torch.empty_like(x)
        fn = getattr(torch, name)
        return lambda: fn(x, out=out)
    return build


BENCH_OPS = {
    "matmul": BenchOp("matmul_forward", "n (n x n @ n x n)", _matmul_inputs,
                      lambda n: 2 * n ** 3, lambda n, s: 3 * n * n * s, 128, _torch_matmul),
    "add": BenchOp("add_forward", "elements", _vector_inputs(2), lambda n: n,
                   lambda n, s: 3 * n * s, 100_000, _torch_binary("add")),
    "mul": BenchOp("mul_forward", "elements", _vector_inputs(2), lambda n: n,
                   lambda n, s: 3 * n * s, 100_000, _torch_binary("mul")),
    "exp": BenchOp("exp_forward", "elements", _vector_inputs(1), lambda n: n,
                   lambda n, s: 2 * n * s, 100_000, _torch_unary("exp")),
    "relu": BenchOp("relu_forward", "elements", _vector_inputs(1), lambda n: n,
                    lambda n, s: 2 * n * s, 100_000, None),
    "sum": BenchOp("sum_forward", "elements", _sum_inputs, lambda n: n,
                   lambda n, s: n * s, 100_000, None),
}

DEFAULT_SIZES = {"matmul": [64, 128, 256, 512, 1024]}
DEFAULT_VECTOR_SIZES = [10_000, 1_000_000]


def _oracle(spec: BenchOp, out, inputs):
    expected = np.empty_like(out)
    dispatch.kernel_for(spec.kernel, "numpy")[1](expected, *inputs)
    return expected


def _time_rounds(fn: Callable, rounds: int, min_time: float) -> list[float]:
    """Seconds per call for each round; a round repeats ``fn`` until it lasts ``min_time``."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-9)
    number = max(1, math.ceil(min_time / once))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return times


def _torch_or_none():
    try:
        import torch  # noqa: PLC0415 (optional)
    except ImportError:
        return None
    return torch


def _measure(fn, rounds, min_time, flops, nbytes):
    times = _time_rounds(fn, rounds, min_time)
    med = statistics.median(times)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [med, med, med]
    return med, q[2] - q[0], flops / med / 1e9, nbytes / med / 1e9


def run_bench(op: str, *, backends=None, sizes=None, dtype="float32", rounds: int = 5,
              min_time: float = 0.05, naive_max: int | None = None, seed: int = 0,
              progress: Callable[[str], None] | None = None) -> list[dict]:
    """Benchmark ``op`` (a key of ``BENCH_OPS``) and return one dict per (size, backend).

    Raises ``AssertionError`` when a backend's result differs from the numpy oracle: a wrong
    kernel is never timed. The naive backend is skipped above ``naive_max``. ``"torch"`` in
    ``backends`` adds PyTorch's row (the default list includes it when torch is installed).
    """
    if op not in BENCH_OPS:
        raise ValueError(f"no benchmark for {op!r}; choose from {', '.join(BENCH_OPS)}")
    spec = BENCH_OPS[op]
    # PyTorch is a row of its own: by default when importable, else only when named.
    want_torch = backends is None or "torch" in backends
    backends = [b for b in backends if b != "torch"] if backends is not None else [
        b for b in ("naive", "jit", "numpy", "cuda") if b in dispatch.available_backends()]
    for b in backends:
        dispatch._check_name(b)
    sizes = list(sizes or DEFAULT_SIZES.get(op, DEFAULT_VECTOR_SIZES))
    naive_max = spec.naive_max if naive_max is None else naive_max
    npdtype = np.dtype(dtype)
    from tinytorch.testing import assert_close  # noqa: PLC0415

    torch = _torch_or_none() if want_torch else None
    rows = []
    for n in sizes:
        rng = np.random.default_rng(seed)
        out, inputs = spec.make(n, npdtype, rng)
        expected = _oracle(spec, out, inputs)
        flops, nbytes = spec.flops(n), spec.bytes(n, npdtype.itemsize)
        # matmul accumulates n products: allow rounding that grows with n
        rtol = 1e-5 * max(1, n) ** 0.5 if op == "matmul" and npdtype == np.float32 else None
        for b in backends:
            if b == "naive" and n > naive_max:
                continue
            if b == "cuda" and n > 64 and dispatch._kernels.cuda_status()[0] == "simulator":
                continue
            if progress:
                progress(f"{op} n={n} {b}")
            kernel = dispatch.kernel_for(spec.kernel, b)[1]
            out.fill(0)
            start = time.perf_counter()
            kernel(out, *inputs)  # first call: compile (or cache load) + run
            first = time.perf_counter() - start
            assert_close(out, expected, rtol=rtol,
                         atol=None if rtol is None else rtol * np.abs(expected).max(),
                         msg=f"{op} on {b} at n={n} disagrees with the numpy oracle: ")
            r = 1 if b == "naive" else rounds
            med, iqr, gflops, gbs = _measure(lambda k=kernel, o=out, i=inputs: k(o, *i), r,
                                             0 if b == "naive" else min_time, flops, nbytes)
            rows.append(dict(op=op, size=n, backend=b, dtype=str(npdtype), median_s=med,
                             iqr_s=iqr, first_call_s=first, compile_s=max(first - med, 0.0),
                             gflops=gflops, gbs=gbs, flops=flops, bytes=nbytes))
        if torch is not None and spec.torch is not None:
            fn = spec.torch(torch, inputs)
            start = time.perf_counter()
            fn()
            first = time.perf_counter() - start
            med, iqr, gflops, gbs = _measure(fn, rounds, min_time, flops, nbytes)
            rows.append(dict(op=op, size=n, backend="torch", dtype=str(npdtype), median_s=med,
                             iqr_s=iqr, first_call_s=first, compile_s=0.0, gflops=gflops,
                             gbs=gbs, flops=flops, bytes=nbytes))
    _add_ratios(rows)
    return rows


def _add_ratios(rows: list[dict]) -> None:
    """speedup_vs_naive and ratio_to_numpy (time of numpy / time of this: 1.0 = as fast)."""
    by_size: dict[int, dict[str, dict]] = {}
    for r in rows:
        by_size.setdefault(r["size"], {})[r["backend"]] = r
    for group in by_size.values():
        naive, numpy_ = group.get("naive"), group.get("numpy")
        for r in group.values():
            r["speedup_vs_naive"] = naive["median_s"] / r["median_s"] if naive else None
            r["ratio_to_numpy"] = numpy_["median_s"] / r["median_s"] if numpy_ else None


def _fmt_time(s: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def format_table(rows: list[dict]) -> str:
    """A plain-text table, one line per (size, backend)."""
    if not rows:
        return "(no results)"
    header = ["size", "backend", "median", "IQR", "GFLOP/s", "GB/s", "vs naive", "vs numpy",
              "first call"]
    lines = []
    for r in rows:
        sp = r["speedup_vs_naive"]
        rn = r["ratio_to_numpy"]
        lines.append([str(r["size"]), r["backend"], _fmt_time(r["median_s"]),
                      _fmt_time(r["iqr_s"]) if r["iqr_s"] else "-", f"{r['gflops']:.3g}",
                      f"{r['gbs']:.3g}", f"{sp:.4g}x" if sp else "-",
                      f"{rn:.3g}x" if rn else "-", _fmt_time(r["first_call_s"])])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    op = rows[0]["op"]
    out.append(f"\n{op}, {rows[0]['dtype']}; size = {BENCH_OPS[op].size_meaning}. median of "
               "warm rounds; 'vs numpy' = numpy time / this time (1.0 = as fast as numpy); "
               "'first call' includes jit compilation or a load from numba's disk cache.")
    return "\n".join(out)


def to_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2)
