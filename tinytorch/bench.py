"""``tinytorch bench``: time every op family's kernels on every backend, in one process, honestly.

For each backend and size: build the inputs once (``tinytorch.bench_ops`` has one spec per
op), run the numpy oracle on a copy, run the kernel on another copy whose outputs are
filled with NaN, and compare *every* array argument (outputs, and inputs updated in place
such as optimiser state) *before* timing: a wrong kernel is never timed. Then time the first
call apart (for jit that is compilation, or a load from numba's on-disk cache), run warm
rounds and report the median time per call, the inter-quartile range, GFLOP/s and GB/s
(compulsory traffic), the speed-up over naive and the ratio to numpy, and PyTorch's
counterpart as a row of its own when it is installed (checked against the same oracle where
its result is comparable). Kernels are called straight from the dispatcher's table with
preallocated outputs, so the figures are the kernels' own, not allocation or Python glue.

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

import numpy as np

from tinytorch import dispatch, threads
from tinytorch.bench_ops import BENCH_OPS, FAMILIES, BenchOp, Case
from tinytorch.testing import assert_close, tolerances

__all__ = ["BENCH_OPS", "FAMILIES", "run_bench", "prepare", "resolve_ops", "format_table",
           "to_json", "add_roofs"]


def resolve_ops(names=(), families=()) -> tuple[list[str], bool]:
    """Op names from the command line: ``all``, op names and ``--family`` names, in order,
    without repeats; the flag says whether a whole family or ``all`` was asked (quick sizes).

    >>> resolve_ops(["matmul"], ["optim"])
    (['matmul', 'sgd_step', 'adam_step'], True)
    >>> resolve_ops(["conv9d"])
    Traceback (most recent call last):
    ...
    ValueError: no benchmark for conv9d; choose from all, ...
    """
    unknown = [n for n in names if n != "all" and n not in BENCH_OPS]
    unknown += [f"family {f}" for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"no benchmark for {', '.join(unknown)}; choose from all, "
                         f"{', '.join(BENCH_OPS)}\n"
                         f"hint: families (--family): {', '.join(FAMILIES)}")
    ops: list[str] = []
    wide = bool(families) or "all" in names
    for name in names:
        ops += list(BENCH_OPS) if name == "all" else [name]
    for fam in families:
        ops += FAMILIES[fam]
    return list(dict.fromkeys(ops)), wide


def _copy(case: Case, nan_outputs: bool) -> Case:
    args = []
    for i, a in enumerate(case.args):
        if isinstance(a, np.ndarray):
            a = a.copy()
            # NaN in the outputs: a kernel that leaves an element unwritten cannot pass by
            # inheriting the oracle's value through the shared starting array
            if nan_outputs and i < case.n_out and a.dtype.kind == "f":
                a.fill(np.nan)
            elif nan_outputs and i < case.n_out and a.dtype.kind in "iu":
                a.fill(-1 if a.dtype.kind == "i" else np.iinfo(a.dtype).max)  # no valid index
        args.append(a)
    return Case(tuple(args), dict(case.kwargs), case.n_out)


def _arrays(case: Case) -> list[tuple[int, np.ndarray]]:
    return [(i, a) for i, a in enumerate(case.args) if isinstance(a, np.ndarray)]


def _rtol(spec: BenchOp, n: int, dtype: np.dtype) -> float:
    # Reordered sums (SIMD lanes, BLAS blocking, fastmath) differ from the naive order by
    # about eps * sqrt(terms) relative to the result's scale: the tolerance grows with it.
    k = max(1, spec.sum_len(n))
    return max(tolerances(dtype)[0], 64 * float(np.finfo(dtype).eps) * math.sqrt(k))


def _check(got, expected, rtol: float, what: str) -> None:
    scale = float(np.abs(expected).max()) if expected.size and expected.dtype.kind == "f" else 0
    exact = expected.dtype.kind != "f"
    assert_close(got, expected, rtol=0.0 if exact else rtol,
                 atol=0.0 if exact else rtol * max(scale, 1e-30), msg=what)


def _time_rounds(fn: Callable, rounds: int, min_time: float) -> list[float]:
    """Seconds per call for each round; a round repeats ``fn`` until it lasts ``min_time``.

    Warm-up first: ``fn`` runs for ``min_time`` before anything is timed. Besides caches and
    branch predictors, this lets another runtime's spinning threads go idle: right after a
    numba ``prange`` kernel or a BLAS call, their OpenMP workers still spin on the 2 cores,
    and a PyTorch op's own workers measured up to 1000x slower for the first ~100 calls.
    """
    start = time.perf_counter()
    calls = 0
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            break
    once = max(elapsed / calls, 1e-9)
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


def _row(op, spec, n, backend, dtype, times, first, flops, nbytes, checked):
    med = statistics.median(times)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [med, med, med]
    return dict(op=op, family=spec.family, kernel=spec.kernel, size=n,
                size_meaning=spec.size_meaning, backend=backend, dtype=str(dtype),
                median_s=med, iqr_s=q[2] - q[0], rounds=len(times), first_call_s=first,
                compile_s=max(first - med, 0.0), gflops=flops / med / 1e9,
                gbs=nbytes / med / 1e9, flops=flops, bytes=nbytes,
                intensity=flops / nbytes, oracle_checked=checked)


def run_bench(op: str, *, backends=None, sizes=None, dtype="float32", rounds: int = 5,
              min_time: float = 0.05, naive_max: int | None = None, seed: int = 0,
              quick: bool = False, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Benchmark ``op`` (a key of ``BENCH_OPS``) and return one dict per (size, backend).

    Sizes: ``sizes``, else the op's one ``quick`` size when ``quick``, else its default
    list. Raises ``AssertionError`` when a backend's result differs from the numpy oracle: a
    wrong kernel is never timed. The naive backend is skipped above ``naive_max``.
    ``"torch"`` in ``backends`` adds PyTorch's row (the default list includes it when torch
    is installed).

    >>> [r["backend"] for r in run_bench("relu", backends=["naive", "numpy"], sizes=[8],
    ...                                  rounds=1, min_time=0)]
    ['naive', 'numpy']
    """
    if op not in BENCH_OPS:
        raise ValueError(f"no benchmark for {op!r}; choose from {', '.join(BENCH_OPS)}")
    spec = BENCH_OPS[op]
    if (isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1
            or not 0 <= min_time <= 60):
        raise ValueError(f"rounds must be an integer >= 1 and min_time between 0 and 60 "
                         f"seconds, got "
                         f"rounds={rounds!r}, min_time={min_time!r}")
    # PyTorch is a row of its own: by default when importable, else only when named.
    want_torch = backends is None or "torch" in backends
    # Named backends must have the op's kernel (the dispatcher's error says which do); the
    # default list keeps only those that have it (cuda has a few ops only).
    backends = [b for b in backends if b != "torch"] if backends is not None else [
        b for b in ("naive", "jit", "numpy", "cuda")
        if b in dispatch.available_backends() and b in dispatch._TABLE[spec.kernel]]
    for b in backends:
        dispatch._check_name(b)
    if sizes:
        sizes = list(sizes)
    else:
        sizes = [spec.quick] if quick else list(spec.sizes)
    bad = [n for n in sizes if not isinstance(n, int) or n < 1]
    if bad:
        raise ValueError(f"sizes must be positive integers, got {bad} for {op} "
                         f"(size = {spec.size_meaning})")
    naive_max = spec.naive_max if naive_max is None else naive_max
    npdtype = np.dtype(dtype)
    oracle = dispatch.kernel_for(spec.kernel, "numpy")[1]
    torch = _torch_or_none() if want_torch and spec.torch is not None else None
    rows = []
    for n in sizes:
        pristine = spec.make(n, npdtype, np.random.default_rng(seed))
        ref = _copy(pristine, nan_outputs=False)
        oracle(*ref.args, **ref.kwargs)
        expected = _arrays(ref)
        flops, nbytes = spec.flops(n), spec.bytes(n, npdtype.itemsize)
        rtol = _rtol(spec, n, npdtype)
        for b in backends:
            if b == "naive" and n > naive_max:
                continue
            if b == "cuda" and n > 64 and dispatch._kernels.cuda_status()[0] == "simulator":
                continue
            if progress:
                progress(f"{op} n={n} {b}")
            # each backend timed with the thread pools it gets when it is the backend in use
            # (tinytorch.threads: under jit, BLAS on one thread; numpy: BLAS's own width)
            threads.apply_backend_policy(b)
            try:
                fn, first = _checked_call(op, spec, b, n, pristine, expected, rtol)
                times = _time_rounds(fn, 1 if b == "naive" else rounds,
                                     0 if b == "naive" else min_time)
            finally:
                threads.apply_backend_policy(dispatch.get_backend())
            rows.append(_row(op, spec, n, b, npdtype, times, first, flops, nbytes, True))
        if torch is not None:
            rows.append(_torch_row(torch, op, spec, n, npdtype, pristine, expected, rtol,
                                   rounds, min_time, flops, nbytes, progress))
    _add_ratios(rows)
    return rows


def _checked_call(op, spec, backend, n, pristine, expected, rtol):
    """Run ``backend``'s kernel once on a fresh copy (outputs NaN), compare every array
    with the oracle's, and return ``(zero-argument call, seconds of that first call)``."""
    kernel = dispatch.kernel_for(spec.kernel, backend)[1]
    case = _copy(pristine, nan_outputs=True)
    args, kwargs = case.args, case.kwargs
    start = time.perf_counter()
    kernel(*args, **kwargs)  # first call: compile (or cache load) + run
    first = time.perf_counter() - start
    for i, want in expected:
        _check(args[i], want, rtol, f"{op} on {backend} at n={n} disagrees with the numpy "
               f"oracle (argument {i} of {spec.kernel}): ")
    return (lambda: kernel(*args, **kwargs)), first


def prepare(op: str, backend: str, n: int, *, dtype="float32", seed: int = 0):
    """One checked kernel call, ready to time: ``(fn, first_call_s, spec)``.

    Builds ``op``'s inputs at size ``n``, runs the numpy oracle and then ``backend``'s
    kernel (its first call timed: compilation or a cache load), and raises
    ``AssertionError`` if they disagree. ``fn()`` repeats the checked call on the same
    arrays: what ``bench/`` hands to pytest-benchmark.

    >>> fn, first, spec = prepare("softmax", "numpy", 4)
    >>> fn(); spec.kernel, first > 0
    ('softmax_forward', True)
    """
    if op not in BENCH_OPS:
        raise ValueError(f"no benchmark for {op!r}; choose from {', '.join(BENCH_OPS)}")
    spec, npdtype = BENCH_OPS[op], np.dtype(dtype)
    pristine = spec.make(n, npdtype, np.random.default_rng(seed))
    ref = _copy(pristine, nan_outputs=False)
    dispatch.kernel_for(spec.kernel, "numpy")[1](*ref.args, **ref.kwargs)
    fn, first = _checked_call(op, spec, backend, n, pristine, _arrays(ref),
                              _rtol(spec, n, npdtype))
    return fn, first, spec


def _torch_row(torch, op, spec, n, npdtype, pristine, expected, rtol, rounds, min_time,
               flops, nbytes, progress):
    if progress:
        progress(f"{op} n={n} torch")
    fn = spec.torch(torch, _copy(pristine, nan_outputs=False))
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    checked = result is not None
    if checked:  # the counterpart's main result against the kernel's first output
        _check(result.detach().numpy(), expected[0][1], rtol,
               f"{op}: PyTorch's counterpart disagrees with the numpy oracle at n={n}: ")
    times = _time_rounds(fn, rounds, min_time)
    return _row(op, spec, n, "torch", npdtype, times, first, flops, nbytes, checked)


def _add_ratios(rows: list[dict]) -> None:
    """speedup_vs_naive and ratio_to_numpy (time of numpy / time of this: 1.0 = as fast)."""
    by_size: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        by_size.setdefault((r["op"], r["size"]), {})[r["backend"]] = r
    for group in by_size.values():
        naive, numpy_ = group.get("naive"), group.get("numpy")
        for r in group.values():
            r["speedup_vs_naive"] = naive["median_s"] / r["median_s"] if naive else None
            r["ratio_to_numpy"] = numpy_["median_s"] / r["median_s"] if numpy_ else None


def add_roofs(rows: list[dict], machine: dict) -> None:
    """Add the probes and each row's roofline bound: ``roof_gflops`` (``min(peak,
    intensity * bandwidth)``) and ``of_roof`` (the fraction of it the row reached).

    >>> rows = [dict(intensity=0.25, gflops=1.0)]
    >>> add_roofs(rows, dict(peak_gflops=100.0, stream_gbs=10.0))
    >>> rows[0]["roof_gflops"], rows[0]["of_roof"]
    (2.5, 0.4)
    """
    peak, bw = machine["peak_gflops"], machine["stream_gbs"]
    for r in rows:
        r["peak_gflops"], r["stream_gbs"] = peak, bw
        r["roof_gflops"] = min(peak, r["intensity"] * bw)
        r["of_roof"] = r["gflops"] / r["roof_gflops"]


def _fmt_time(s: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def format_table(rows: list[dict]) -> str:
    """A plain-text table, one line per (size, backend); an ``op`` column first when the
    rows hold several ops. The footer says what ``size`` means for each op.

    >>> print(format_table([]))
    (no results)
    """
    if not rows:
        return "(no results)"
    ops = list(dict.fromkeys(r["op"] for r in rows))
    many = len(ops) > 1
    header = ["size", "backend", "median", "IQR", "GFLOP/s", "GB/s", "vs naive", "vs numpy",
              "first call"]
    header = (["op"] if many else []) + header + (["of roof"] if "of_roof" in rows[0] else [])
    lines = []
    for r in rows:
        sp, rn = r["speedup_vs_naive"], r["ratio_to_numpy"]
        line = [str(r["size"]), r["backend"], _fmt_time(r["median_s"]),
                _fmt_time(r["iqr_s"]) if r["iqr_s"] else "-", f"{r['gflops']:.3g}",
                f"{r['gbs']:.3g}", f"{sp:.4g}x" if sp else "-", f"{rn:.3g}x" if rn else "-",
                _fmt_time(r["first_call_s"])]
        if many:
            line.insert(0, r["op"])
        if "of_roof" in r:
            pct = 100 * r["of_roof"]
            line.append(f"{pct:.0f}%" if pct >= 10 else f"{pct:.2g}%")
        lines.append(line)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:>{w}}}" if i or not many else f"{{:<{w}}}"
                    for i, w in enumerate(widths))
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    out.append("")
    for op in ops:
        out.append(f"{op} ({BENCH_OPS[op].kernel}), {rows[0]['dtype']}: size = "
                   f"{BENCH_OPS[op].size_meaning}")
    out.append("median of warm rounds (naive: one call); 'vs numpy' = numpy time / this time "
               "(1.0 = as fast as numpy); 'first call' includes jit compilation or a load "
               "from numba's disk cache; GB/s counts compulsory traffic (each operand once); "
               "torch rows allocate their result where torch has no out= form.")
    return "\n".join(out)


def to_json(rows: list[dict]) -> str:
    """The rows as a JSON list (one object per op, size and backend).

    >>> to_json([{"op": "add"}])
    '[\\n  {\\n    "op": "add"\\n  }\\n]'
    """
    return json.dumps(rows, indent=2)
