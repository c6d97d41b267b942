"""Grader of lab 08 (profiling): FLOPs from kernel shapes (against the profiler's own
formulas and a real profile), the roofline, a profile summary by op, the kernel/Python
split of a step with its warm-up kept out, the hot lines of a line profile, and the peak
memory of a call.

Timing is never compared with a number that depends on the machine: the summary and the
hot lines are graded on synthetic profiler records, and the time split on a step whose
kernel and Python parts sleep for known times (lower bounds only, and one wide upper
bound that only a profiled warm-up of 250 ms can cross).
"""

import time

import numpy as np

import tinytorch as tt
from tinytorch.grading import call, expect_close, expect_equal, points
from tinytorch.profiler import kernel_cost


def _require(condition, message: str) -> None:
    """Fail with ``message`` alone (a bare assert would add pytest's internals)."""
    if not condition:
        raise AssertionError(message)


F32 = np.dtype("float32")

# --- op_flops ----------------------------------------------------------------------------


def _check_flops(student, op, shapes, hint):
    expected = kernel_cost(op, shapes, [F32] * len(shapes))[0]
    got = call(student, "op_flops", op, [tuple(s) for s in shapes])
    expect_equal(got, expected, what=f"op_flops({op!r}, {shapes})", hint=hint)


MATMUL_HINT = "2*B*M*N*K: a multiply-add is two FLOPs; out is (B, M, N), a is (B, M, K)"


@points(2)
def test_op_flops_matmul(student):
    for b, m, n, k in ((1, 2, 3, 4), (3, 5, 7, 11), (2, 32, 10, 192)):
        _check_flops(student, "matmul_forward", [(b, m, n), (b, m, k), (b, k, n)],
                     MATMUL_HINT)


@points(1)
def test_op_flops_linear(student):
    for m, n, k in ((2, 3, 4), (32, 128, 64)):
        _check_flops(student, "linear_forward", [(m, n), (m, k), (n, k), (n,)],
                     "2*M*N*K for the products plus M*N for the bias")


@points(2)
def test_op_flops_conv2d(student):
    """With stride, padding and groups: only the output and weight shapes matter."""
    cases = [[(2, 4, 6, 6), (2, 3, 6, 6), (4, 3, 3, 3), (4,)],
             [(1, 8, 3, 2), (1, 4, 7, 5), (8, 2, 3, 3), (8,)]]  # groups=2: C_g = 2
    for shapes in cases:
        _check_flops(student, "conv2d_forward", shapes,
                     "N*C_out*OH*OW outputs, each 2*C_g*KH*KW FLOPs plus 1 for the bias; "
                     "C_g is w.shape[1]")


@points(1)
def test_op_flops_unknown_op_raises_value_error(student):
    try:
        call(student, "op_flops", "relu_forward", [(1, 4), (1, 4)])
    except ValueError:
        return
    raise AssertionError("op_flops('relu_forward', ...) should raise ValueError\nhint: "
                         "only matmul_forward, linear_forward and conv2d_forward have "
                         "formulas here")


@points(1)
def test_op_flops_agrees_with_a_real_profile(student):
    """The rows of tt.profile() for a small CNN: their FLOPs from your formulas."""
    tt.manual_seed(0)
    model = tt.nn.Sequential(tt.nn.Conv2d(1, 4, 3, padding=1), tt.nn.ReLU(),
                             tt.nn.Flatten(), tt.nn.Linear(4 * 5 * 5, 3))
    x = tt.randn(2, 1, 5, 5)
    with tt.backend("numpy"), tt.profile() as prof:
        model(x)
        tt.randn(2, 3) @ tt.randn(3, 4)
    rows = [r for r in prof.rows()
            if r["op"] in ("matmul_forward", "linear_forward", "conv2d_forward")]
    _require(len(rows) == 3, f"expected three profiled rows, got {rows}")
    for r in rows:
        got = call(student, "op_flops", r["op"], r["shapes"])
        expect_equal(got, r["flops"], what=f"op_flops of the profiled {r['op']} "
                     f"{r['shapes']}")


# --- roofline ----------------------------------------------------------------------------

ROOF_HINT = ("intensity = flops / nbytes; attainable = min(peak_gflops, intensity * "
             "peak_gbs); memory-bound when intensity * peak_gbs < peak_gflops")


def _check_roofline(student, args, expected):
    got = call(student, "roofline", *args)
    _require(isinstance(got, tuple) and len(got) == 3,
             f"roofline{args} should return (intensity, attainable_gflops, bound), got "
             f"{got!r}")
    expect_close(got[0], expected[0], what=f"roofline{args}: intensity", hint=ROOF_HINT)
    expect_close(got[1], expected[1], what=f"roofline{args}: attainable GFLOP/s",
                 hint=ROOF_HINT)
    expect_equal(got[2], expected[2], what=f"roofline{args}: bound", hint=ROOF_HINT)


@points(1)
def test_roofline_memory_bound(student):
    """A ReLU-like kernel: 1 FLOP per 8 bytes on a 100 GFLOP/s, 10 GB/s machine."""
    _check_roofline(student, (1e6, 8e6, 100.0, 10.0), (0.125, 1.25, "memory"))


@points(1)
def test_roofline_compute_bound_and_the_ridge(student):
    _check_roofline(student, (2 * 512 ** 3, 3 * 512 * 512 * 4, 100.0, 10.0),
                    (512 * 2 / 12, 100.0, "compute"))
    _check_roofline(student, (100.0, 10.0, 100.0, 10.0), (10.0, 100.0, "compute"))


@points(1)
def test_roofline_without_bytes_is_compute_bound(student):
    got = call(student, "roofline", 10.0, 0, 50.0, 5.0)
    expect_equal(got, (float("inf"), 50.0, "compute"), what="roofline(10, 0, 50, 5)",
                 hint="no bytes: the intensity is math.inf and only the compute roof "
                      "limits")


# --- summarize_profile -------------------------------------------------------------------

ROWS = [
    {"op": "conv2d_forward", "backend": "jit", "total_s": 0.004, "calls": 4},
    {"op": "add_forward", "backend": "jit", "total_s": 0.001, "calls": 10},
    {"op": "conv2d_forward", "backend": "jit", "total_s": 0.002, "calls": 4},
    {"op": "relu_forward", "backend": "jit", "total_s": 0.001, "calls": 8},
    {"op": "add_forward", "backend": "numpy", "total_s": 0.001, "calls": 2},
    {"op": "sum_forward", "backend": "jit", "total_s": 0.001, "calls": 1},
]


def _check_summary(student, k, expected):
    got = call(student, "summarize_profile", [dict(r) for r in ROWS], k)
    _require(isinstance(got, list) and len(got) == len(expected),
             f"summarize_profile(rows, k={k}) should return {len(expected)} tuples, got "
             f"{got!r}")
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        _require(len(g) == 4, f"entry {i} should be (op, total_s, calls, share), got {g!r}")
        expect_equal(g[0], e[0], what=f"summarize_profile(k={k}) entry {i}: op",
                     hint="sort by total time, largest first; equal times by op name")
        expect_close(g[1], e[1], what=f"entry {i} ({e[0]}): total_s",
                     hint="add up total_s of every row of the op")
        expect_equal(g[2], e[2], what=f"entry {i} ({e[0]}): calls",
                     hint="add up calls of every row of the op")
        expect_close(g[3], e[3], what=f"entry {i} ({e[0]}): share",
                     hint="the op's time over the time of ALL rows (0.010 s here), also "
                          "the ops you do not return")


@points(2)
def test_summarize_profile_groups_rows_by_op(student):
    _check_summary(student, 2, [("conv2d_forward", 0.006, 8, 0.6),
                                ("add_forward", 0.002, 12, 0.2)])


@points(1)
def test_summarize_profile_breaks_ties_by_name_and_keeps_every_op(student):
    _check_summary(student, 10, [("conv2d_forward", 0.006, 8, 0.6),
                                 ("add_forward", 0.002, 12, 0.2),
                                 ("relu_forward", 0.001, 8, 0.1),
                                 ("sum_forward", 0.001, 1, 0.1)])


# --- time_split --------------------------------------------------------------------------

TICK = 0.01  # seconds a sleepy kernel and the Python around it each take per step


class _SleepyKernel:
    """An ``add_forward`` kernel for the backend ``lab08_sleepy``: numpy's add after a
    sleep; the first call sleeps ``first`` seconds (a jit compilation, say)."""

    def __init__(self, first: float):
        self.first, self.calls = first, 0

    def __call__(self, out, a, b):
        time.sleep(self.first if self.calls == 0 else TICK)
        self.calls += 1
        np.add(a, b, out=out)


def _sleepy_step(first: float):
    kernel = _SleepyKernel(first)
    tt.register_kernel("add_forward", "lab08_sleepy", kernel)
    a, b = tt.ones(2, 2), tt.ones(2, 2)
    steps = []

    def step():
        steps.append(1)
        with tt.backend("lab08_sleepy"):
            a + b
        time.sleep(TICK)  # the "Python" part of the step
    return step, steps


def _check_split(split, n):
    _require(isinstance(split, dict) and {"wall_s", "kernel_s", "python_s",
                                          "kernel_share"} <= set(split),
             f"time_split should return a dict with wall_s, kernel_s, python_s and "
             f"kernel_share, got {split!r}")
    expect_close(split["python_s"], split["wall_s"] - split["kernel_s"], what="python_s",
                 hint="python_s = wall_s - kernel_s")
    expect_close(split["kernel_share"], split["kernel_s"] / split["wall_s"],
                 what="kernel_share", hint="kernel_share = kernel_s / wall_s")
    least = 0.95 * n * TICK
    _require(split["kernel_s"] >= least,
             f"kernel_s = {split['kernel_s']:.4f} s, but {n} kernel calls of at least "
             f"{TICK} s each ran\nhint: add up total_s of the profile's rows")
    _require(split["python_s"] >= least,
             f"python_s = {split['python_s']:.4f} s, but each of the {n} steps spent "
             f"{TICK} s outside its kernel\nhint: time the n calls with "
             "time.perf_counter()")


@points(2)
def test_time_split_adds_up(student):
    step, _ = _sleepy_step(first=TICK)
    _check_split(call(student, "time_split", step, 3), 3)


@points(2)
def test_time_split_keeps_the_warm_up_out_of_the_profile(student):
    """The first call of this step's kernel takes 250 ms, as a jit compile would."""
    step, steps = _sleepy_step(first=0.25)
    split = call(student, "time_split", step, 3)
    expect_equal(len(steps), 4, what="calls of step() for n=3",
                 hint="one warm-up call before the profile, then n inside it")
    _require(split["kernel_s"] < 0.2,
             f"kernel_s = {split['kernel_s']:.3f} s includes the 250 ms first call\nhint: "
             "call step() once before `with tt.profile()`")
    _check_split(split, 3)


# --- hot_lines ---------------------------------------------------------------------------

TIMINGS = {
    ("/lab/k.py", 10, "kernel"): [(11, 1, 500), (12, 40, 8000), (13, 1600, 60000),
                                  (14, 1600, 20000)],
    ("/lab/k.py", 20, "helper"): [(21, 40, 8000), (22, 40, 3500)],
}


@points(2)
def test_hot_lines_top_k_in_seconds(student):
    got = call(student, "hot_lines", TIMINGS, 1e-6, 3)
    expected = [("kernel", 13, 1600, 0.06, 60.0), ("kernel", 14, 1600, 0.02, 20.0),
                ("helper", 21, 40, 0.008, 8.0)]
    _require(isinstance(got, list) and len(got) == 3,
             f"hot_lines(timings, 1e-6, 3) should return 3 tuples, got {got!r}")
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        expect_equal(tuple(g[:3]), e[:3], what=f"hot line {i}: (function, lineno, hits)",
                     hint="slowest first; equal times in (function, lineno) order")
        expect_close(g[3], e[3], what=f"hot line {i}: seconds",
                     hint="time is in units of `unit` seconds: multiply")
        expect_close(g[4], e[4], what=f"hot line {i}: percent",
                     hint="100 * the line's time / the time of all lines of all functions")


@points(1)
def test_hot_lines_of_a_real_line_profile(student):
    """The stats of line_profiler on a small loop: the same lines in the same order as
    the stats themselves say."""
    from line_profiler import LineProfiler  # noqa: PLC0415

    def loop(n):
        total = 0.0
        for i in range(n):
            total += i * 0.5
        return total

    profiler = LineProfiler(loop)
    profiler.runcall(loop, 300)
    stats = profiler.get_stats()
    lines = [(fn, lineno, hits, t * stats.unit) for (_, _, fn), entries in
             stats.timings.items() for lineno, hits, t in entries]
    lines.sort(key=lambda x: (-x[3], x[0], x[1]))
    got = call(student, "hot_lines", stats.timings, stats.unit, 2)
    expect_equal([tuple(g[:3]) for g in got], [x[:3] for x in lines[:2]],
                 what="the two hottest (function, lineno, hits) of a real line profile")


# --- peak_alloc_bytes --------------------------------------------------------------------

PEAK_HINT = ("tracemalloc.start(); the level before; tracemalloc.reset_peak(); fn(); "
             "the peak of get_traced_memory() minus the level before")


@points(2)
def test_peak_alloc_bytes_sees_memory_freed_before_return(student):
    """fn allocates 8 MB, sums it and frees it: the peak is 8 MB, the end level 0."""
    got = call(student, "peak_alloc_bytes", lambda: float(np.ones(1_000_000).sum()))
    _require(isinstance(got, int) and 8_000_000 <= got < 8_200_000,
             f"peak_alloc_bytes of a call that holds one 8,000,000-byte array at once: got "
             f"{got!r}\nhint: {PEAK_HINT}")


@points(1)
def test_peak_alloc_bytes_is_the_largest_moment_not_the_sum(student):
    def three_in_turn():
        for _ in range(3):
            np.ones(500_000).sum()  # 4 MB each, freed before the next

    got = call(student, "peak_alloc_bytes", three_in_turn)
    _require(isinstance(got, int) and 4_000_000 <= got < 4_200_000,
             f"three 4 MB arrays, one at a time: the peak is 4 MB, got {got!r}\nhint: "
             f"{PEAK_HINT}")
    import tracemalloc  # noqa: PLC0415

    _require(not tracemalloc.is_tracing(), "tracemalloc is still tracing after "
             "peak_alloc_bytes returned\nhint: tracemalloc.stop() (in a finally block)")
