# %% [markdown]
# # Lab 08: profiling: where does a training step's time (and memory) go?
#
# Guessing where time goes is how weeks get lost. A profiler answers it in three
# resolutions: per *op* (`tt.profile()`: which kernels, how often, how long, how many
# FLOPs and bytes), per *line* (line_profiler: which line of a loop) and per *byte*
# (tracemalloc and memory_profiler: what is allocated, when, and whether it comes back).
# This lab builds the small tools that turn a profiler's raw records into answers.
#
# **Systems questions**:
#
# 1. A training step of the digits CNN takes a few milliseconds on the jit backend. What
#    share of it is inside kernels, and what is Python around them (checks, allocation,
#    the autograd graph, dispatch)? Does that share grow or shrink with the batch size?
# 2. Which op takes the most time in that step, and is it the op with the most FLOPs?
# 3. A matmul of 32x192 by 192x10 does how many FLOPs per byte it must move? Is it
#    limited by the machine's arithmetic or by its memory bandwidth? And a ReLU?
# 4. Why must the first call of a jit kernel be kept out of a profile?
# 5. A line profile of a naive kernel shows the multiply-add line at 70% of the time.
#    What does the same profile of the *jit* kernel (run with `NUMBA_DISABLE_JIT=1`) tell
#    you, and what can it not tell you?
# 6. The resident memory of the process is 160 MiB; a step allocates 1.6 MiB at its
#    peak. Where is the rest, and which number grows with the batch?
#
# Fill in each `TODO`, run `python lab08_profiling.py` for the experiments and
# `tinytorch grade 08` to check. `docs/profiling.md` explains the profilers.

# %%
import builtins
import math
import time
import tracemalloc  # noqa: F401 (your peak_alloc_bytes uses it)

import numpy as np

import tinytorch as tt
from tinytorch.nn import functional as F

# `kernprof -l -v lab08_profiling.py` puts a `profile` decorator into builtins; without
# kernprof the decorator does nothing.
profile = getattr(builtins, "profile", lambda fn: fn)


# %% [markdown]
# ## 1. FLOPs from shapes
#
# `tt.profile()` records each kernel call with the shapes of its arrays, **outputs first**
# (the kernel's signature: `kernel(out, *inputs)`). From shapes alone you can count the
# arithmetic. A multiply-add counts as **two** FLOPs.
#
# | op | shapes | FLOPs |
# |---|---|---|
# | `matmul_forward` | `out (B, M, N), a (B, M, K), b (B, K, N)` | `2*B*M*N*K` |
# | `linear_forward` | `out (M, N), x (M, K), w (N, K), b (N,)` | `2*M*N*K + M*N` |
# | `conv2d_forward` | `out (N, C_out, OH, OW), x, w (C_out, C_g, KH, KW), b` | see below |
#
# `linear_forward` adds the bias (`M*N`); `conv2d_forward` is
# `N*C_out*OH*OW * (2*C_g*KH*KW + 1)`.
#
# (`C_g` is the input channels per group: each output reads `C_g*KH*KW` inputs, and the
# `+ 1` is its bias.) Any other op: raise `ValueError` naming it.


# %%
def op_flops(op: str, shapes) -> int:
    """FLOPs of one call of kernel ``op`` on arrays of ``shapes`` (outputs first).

    >>> op_flops("matmul_forward", [(1, 2, 3), (1, 2, 4), (1, 4, 3)])
    48
    >>> op_flops("linear_forward", [(2, 3), (2, 4), (3, 4), (3,)])
    54
    """
    # TODO: one formula per op (read the sizes off the shapes); ValueError otherwise
    raise NotImplementedError("TODO: implement op_flops")


# %% [markdown]
# ## 2. The roofline
#
# A kernel that does `flops` FLOPs while moving `nbytes` bytes has an *arithmetic
# intensity* `I = flops / nbytes` (FLOPs per byte). On a machine that computes at most
# `peak_gflops` GFLOP/s and moves at most `peak_gbs` GB/s, it can reach at best
# `min(peak_gflops, I * peak_gbs)` GFLOP/s: below the *ridge point*
# `I = peak_gflops / peak_gbs` memory limits it ("memory"), above it arithmetic does
# ("compute"). At the ridge itself call it "compute". With `nbytes == 0` the intensity is
# infinite (`math.inf`).


# %%
def roofline(flops: float, nbytes: float, peak_gflops: float, peak_gbs: float):
    """``(intensity, attainable_gflops, bound)``: FLOPs per byte, the roofline's best
    GFLOP/s for it, and ``"memory"`` or ``"compute"``.

    >>> roofline(100, 50, peak_gflops=10.0, peak_gbs=1.0)
    (2.0, 2.0, 'memory')
    """
    # TODO: intensity, min(peak, intensity * bandwidth), which roof is lower
    raise NotImplementedError("TODO: implement roofline")


# %% [markdown]
# ## 3. Summarising a profile
#
# `prof.rows()` gives one dict per `(op, backend, shapes, dtypes)`: the same op appears in
# several rows (a forward on two layer sizes, two backends, ...). To answer "which op takes
# the time", group the rows by `row["op"]`: add up `total_s` and `calls`, and give each op
# its **share of the whole profile's time** (all rows, also those you do not return).
# Return the `k` largest by time, as `(op, total_s, calls, share)` tuples; equal times in
# op-name order.


# %%
def summarize_profile(rows, k: int = 5) -> list:
    """The ``k`` ops with the most time: ``[(op, total_s, calls, share), ...]``.

    >>> rows = [{"op": "add_forward", "total_s": 1.0, "calls": 2},
    ...         {"op": "matmul_forward", "total_s": 2.0, "calls": 1},
    ...         {"op": "add_forward", "total_s": 1.0, "calls": 3}]
    >>> summarize_profile(rows, k=1)
    [('add_forward', 2.0, 5, 0.5)]
    """
    # TODO: group by op (a dict), sort by (-total, op), shares of the grand total
    raise NotImplementedError("TODO: implement summarize_profile")


# %% [markdown]
# ## 4. Kernels versus Python
#
# The kernels' time is what `tt.profile()` records (`sum(r["total_s"] for r in
# prof.rows())`); the wall time of the same steps (`time.perf_counter()` around them)
# includes everything else. Call `step()` **once before** profiling (the warm-up: on the
# jit backend the first call compiles or loads numba's cache, seconds against
# microseconds), then `n` times inside one `with tt.profile() as prof:` block, timing those
# `n` calls. Return a dict with `wall_s`, `kernel_s`, `python_s` (the difference) and
# `kernel_share` (kernel / wall).


# %%
def time_split(step, n: int) -> dict:
    """Where ``n`` calls of ``step()`` spend their time: inside kernels or around them.

    >>> split = time_split(lambda: tt.ones(4, 4) @ tt.ones(4, 4), 3)
    >>> sorted(split), 0 <= split["kernel_share"] <= 1
    (['kernel_s', 'kernel_share', 'python_s', 'wall_s'], True)
    """
    # TODO: warm-up call; then perf_counter around n calls inside tt.profile()
    raise NotImplementedError("TODO: implement time_split")


# %% [markdown]
# ## 5. Hot lines
#
# line_profiler's `LineProfiler.get_stats()` returns `timings`, a dict
# `{(filename, first_lineno, function_name): [(lineno, hits, time), ...]}` with `time` in
# units of `unit` seconds (`stats.unit`, often `1e-9`). Turn it into the `k` hottest lines
# as `(function_name, lineno, hits, seconds, percent)`, where `percent` is the line's share
# (0-100) of the time of **all** the lines in `timings`; the slowest first, ties in
# `(function_name, lineno)` order.


# %%
def hot_lines(timings: dict, unit: float, k: int = 3) -> list:
    """The ``k`` slowest lines of a line profile.

    >>> timings = {("f.py", 1, "f"): [(2, 1, 100), (3, 10, 300)]}
    >>> hot_lines(timings, 1e-9, k=1)
    [('f', 3, 10, 3e-07, 75.0)]
    """
    # TODO: flatten to (function, lineno, hits, seconds); total; sort; percent
    raise NotImplementedError("TODO: implement hot_lines")


# %% [markdown]
# ## 6. Peak memory of a call
#
# `tracemalloc` follows every allocation of Python objects, and numpy reports its array
# buffers to it. `tracemalloc.get_traced_memory()` returns `(current, peak)` bytes since
# `tracemalloc.start()` (or since `tracemalloc.reset_peak()`). Return how far above its
# starting level the traced memory rose while `fn()` ran: the memory a call needs *at
# once*, even if it freed it all before returning. Stop tracing before you return.


# %%
def peak_alloc_bytes(fn) -> int:
    """Peak bytes allocated by ``fn()`` above the level when it started.

    >>> 8_000_000 <= peak_alloc_bytes(lambda: np.ones(1_000_000).sum()) < 8_100_000
    True
    """
    # TODO: start; read the start level; reset_peak; fn(); peak - start; stop
    raise NotImplementedError("TODO: implement peak_alloc_bytes")


# %% [markdown]
# ## Experiments
#
# Run this file. Each experiment uses your functions on a real profile of the digits CNN
# (`tinytorch train`'s default model) and prints what it found.


# %%
def _todo(name: str) -> None:
    print(f"TODO: implement {name} first")


def _cnn_step(batch: int = 32, backend: str = "jit"):
    """A training step of the digits CNN on random 8x8 images (the data does not change
    where time goes)."""
    from tinytorch.train.models import digits_cnn  # noqa: PLC0415

    tt.manual_seed(0)
    model = digits_cnn((24, 48))
    opt = tt.optim.Adam(list(model.parameters()), lr=1e-3)
    rng = np.random.default_rng(0)
    x = tt.tensor(rng.standard_normal((batch, 1, 8, 8)).astype(np.float32))
    y = tt.tensor(rng.integers(0, 10, batch))

    def step():
        with tt.backend(backend):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return step, model


def _machine_roofs() -> tuple[float, float]:
    """Rough roofs of this machine: a large numpy matmul (GFLOP/s) and a large copy
    (GB/s), best of five after a warm-up call (BLAS starts its threads on the first).
    On a busy machine they come out low: a kernel may then seem to beat its roof."""
    a = np.ones((512, 512), np.float32)
    src = np.ones(16_000_000, np.float32)
    dst = np.empty_like(src)
    a @ a
    np.copyto(dst, src)
    best_mm = best_copy = math.inf
    for _ in range(5):
        t = time.perf_counter()
        a @ a
        best_mm = min(best_mm, time.perf_counter() - t)
        t = time.perf_counter()
        np.copyto(dst, src)
        best_copy = min(best_copy, time.perf_counter() - t)
    return 2 * 512 ** 3 / best_mm / 1e9, 2 * src.nbytes / best_copy / 1e9


def experiment_where_time_goes() -> None:
    step, _ = _cnn_step()
    try:
        split = time_split(step, 20)
    except NotImplementedError:
        return _todo("time_split")
    print(f"digits CNN, batch 32, jit: {split['wall_s'] / 20 * 1e3:.2f} ms per step, "
          f"kernels {split['kernel_share'] * 100:.0f}%, Python around them "
          f"{(1 - split['kernel_share']) * 100:.0f}%")
    step()  # warm
    with tt.profile() as prof:
        for _ in range(20):
            step()
    try:
        top = summarize_profile(prof.rows(), k=5)
    except NotImplementedError:
        return _todo("summarize_profile")
    print(f"{'op':26s} {'ms':>8s} {'calls':>6s} {'share':>6s}")
    for op, total, calls, share in top:
        print(f"{op:26s} {total * 1e3:8.3f} {calls:6d} {share * 100:5.1f}%")


def experiment_roofline() -> None:
    step, _ = _cnn_step()
    step()
    with tt.profile() as prof:
        step()
    peak_gflops, peak_gbs = _machine_roofs()
    print(f"this machine, roughly: {peak_gflops:.0f} GFLOP/s (numpy matmul), "
          f"{peak_gbs:.1f} GB/s (a large copy); ridge at {peak_gflops / peak_gbs:.1f} "
          "FLOP/byte")
    for row in prof.rows():
        if row["op"] not in ("matmul_forward", "linear_forward", "conv2d_forward"):
            continue
        try:
            flops = op_flops(row["op"], row["shapes"])
        except NotImplementedError:
            return _todo("op_flops")
        try:
            intensity, best, bound = roofline(flops, row["bytes"], peak_gflops, peak_gbs)
        except NotImplementedError:
            return _todo("roofline")
        print(f"  {row['op']:16s} {flops / 1e6:7.2f} MFLOP, {intensity:6.1f} FLOP/B: "
              f"{bound}-bound, roof {best:7.1f} GFLOP/s, reached {row['gflops']:7.2f}")


def experiment_hot_lines() -> None:
    from line_profiler import LineProfiler  # noqa: PLC0415

    from tinytorch.kernels.matmul import matmul_forward_naive  # noqa: PLC0415

    out = np.empty((1, 12, 12))
    a, b = np.ones((1, 12, 12)), np.ones((1, 12, 12))
    profiler = LineProfiler(matmul_forward_naive)
    profiler.runcall(matmul_forward_naive, out, a, b)
    stats = profiler.get_stats()
    try:
        lines = hot_lines(stats.timings, stats.unit, k=3)
    except NotImplementedError:
        return _todo("hot_lines")
    print("the naive matmul's hottest lines (12x12x12, under line_profiler):")
    for function, lineno, hits, seconds, percent in lines:
        print(f"  {percent:5.1f}%  {hits:6d} hits  {seconds * 1e3:7.3f} ms  "
              f"{function}:{lineno}")
    print("(`tinytorch profile --lines matmul_forward --backend jit` does the same for the "
          "jit source, run as Python)")


def experiment_memory() -> None:
    from memory_profiler import memory_usage  # noqa: PLC0415

    for batch in (32, 256):
        step, model = _cnn_step(batch)
        step()  # warm: compile, optimiser state
        try:
            peak = peak_alloc_bytes(step)
        except NotImplementedError:
            return _todo("peak_alloc_bytes")
        rss = memory_usage(-1, interval=0.01, max_iterations=1)[0]
        saved = tt.summary(model, (batch, 1, 8, 8)).total("saved_bytes")
        print(f"batch {batch:3d}: a step allocates {peak / 2**20:6.2f} MiB at its peak "
              f"(saved for backward {saved / 2**20:5.2f} MiB); the process holds "
              f"{rss:.0f} MiB")


# %%
if __name__ == "__main__":
    for experiment in (experiment_where_time_goes, experiment_roofline,
                       experiment_hot_lines, experiment_memory):
        print(f"\n== {experiment.__name__} ==")
        experiment()
