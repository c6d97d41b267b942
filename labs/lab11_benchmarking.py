# %% [markdown]
# # Lab 11: benchmarking: write an honest benchmark
#
# A benchmark is an experiment, and most published speed-ups are measurement errors: the
# first call (JIT compilation, cold caches, page faults) averaged into the steady state, a
# mean dragged by one interrupted round, two programs timed minutes apart on a machine
# whose speed changed in between, or a fast kernel that computes the wrong answer. This
# lab builds the small tools that `tinytorch bench` is made of, and uses them.
#
# **Systems questions**:
#
# 1. A jit kernel's first call takes 300 ms and later calls 30 us. What does a mean over
#    10 calls report? Over 1000? What should a benchmark report instead, and where does the
#    300 ms belong?
# 2. Two kernels are timed for 5 s each, one after the other, on a laptop that throttles
#    after 4 s. What happens to their ratio? How does alternating A, B, A, B... fix it, and
#    why report the *median* of the per-round ratios?
# 3. Why must a benchmark check the result against a trusted reference *before* it times
#    anything? Give a bug that makes a kernel faster and wrong.
# 4. `a = b + s * c` over float64 arrays of 10^7 elements: how many FLOPs and how many
#    bytes per element? Which roof of the roofline limits it, and what does its time tell
#    you about the machine?
# 5. `tinytorch bench all --plot bench.png` puts many kernels *above* the memory roof at
#    small sizes. Why is that not a contradiction?
#
# Fill in each `TODO`, run `python lab11_benchmarking.py` for the experiments and
# `tinytorch grade 11` to check. `docs/benchmarking.md` describes `tinytorch bench`.

# %%
import builtins
import math  # noqa: F401 (handy in roof_fraction)
import statistics  # noqa: F401 (your median_iqr uses it)
import time

import numba
import numpy as np

# `kernprof -l -v lab11_benchmarking.py` puts a `profile` decorator into builtins; without
# kernprof the decorator does nothing.
profile = getattr(builtins, "profile", lambda fn: fn)


# %% [markdown]
# ## 1. Warm-up, rounds, and calls per round
#
# Time a function the way `tinytorch bench` and pytest-benchmark do:
#
# 1. call `fn()` `warmup` times **without timing** (compilation, caches, lazy set-up);
# 2. then `rounds` times: read the clock, call `fn()` `number` times in a row, read the
#    clock again, and record `(end - start) / number`, the seconds per call of that round.
#
# Several calls per round make a round long enough for the clock's resolution (a call of
# 50 ns is invisible to a clock that ticks every microsecond). Read time only through
# `clock()` (it is `time.perf_counter` unless a test passes a fake one).


# %%
def time_rounds(fn, *, warmup: int, rounds: int, number: int,
                clock=time.perf_counter) -> list:
    """Seconds per call of ``fn()`` for each of ``rounds`` rounds of ``number`` calls,
    after ``warmup`` untimed calls. ``fn`` is called ``warmup + rounds * number`` times.

    >>> times = time_rounds(lambda: sum(range(100)), warmup=1, rounds=3, number=10)
    >>> len(times), all(t > 0 for t in times)
    (3, True)
    """
    # TODO: warm-up calls first (untimed), then one timed batch of `number` calls per round
    raise NotImplementedError("TODO: implement time_rounds")


# %% [markdown]
# ## 2. Median and inter-quartile range
#
# Rounds on a shared machine are not alike: one round hits a page fault, another another
# process. The **median** of the rounds ignores a few bad ones, where a mean does not. The
# spread worth reporting beside it is the **inter-quartile range** `q3 - q1`, the width of
# the middle half. Use `statistics.median` and `statistics.quantiles(times, n=4)` (its
# default method) for `q1, _, q3`. A single time has an IQR of 0; no times at all is a
# `ValueError`.


# %%
def median_iqr(times) -> tuple:
    """``(median, q3 - q1)`` of a sequence of times.

    >>> median_iqr([3.0, 1.0, 2.0, 100.0, 2.5])
    (2.5, 50.0)
    >>> median_iqr([0.25])
    (0.25, 0.0)
    """
    # TODO: statistics.median, and the quartiles of statistics.quantiles(times, n=4)
    raise NotImplementedError("TODO: implement median_iqr")


# %% [markdown]
# ## 3. Compare two programs in one process, interleaved
#
# The speed of a machine drifts (turbo, thermal throttling, a neighbour's job). Timing all
# of A and then all of B puts the drift into the ratio. Instead: call each once untimed
# (warm-up), then for each of `rounds` rounds time **one call of A, then one call of B**,
# each between two `clock()` readings, and keep the ratio `t_a / t_b` of that round.
# Return the **median** of those ratios (above 1: A is slower).


# %%
def compare(a_fn, b_fn, *, rounds: int, clock=time.perf_counter) -> float:
    """Median over ``rounds`` interleaved rounds of ``time(a_fn()) / time(b_fn())``, after
    one untimed call of each. Each function is called ``rounds + 1`` times.

    >>> compare(lambda: sum(range(2000)), lambda: sum(range(2000)), rounds=5) > 0
    True
    """
    # TODO: warm both; then per round time A then B; the median of the ratios
    raise NotImplementedError("TODO: implement compare")


# %% [markdown]
# ## 4. Check, then time
#
# A wrong kernel must never be timed: its speed means nothing, and a table that shows it
# invites the reader to use it. Call `fn(*args)` once, and compare the result with
# `expected`: same shape, and `np.allclose(result, expected, rtol=rtol, atol=atol)`. If
# either fails, raise `ValueError` with a message that says the result is wrong and was
# not timed (give the largest absolute difference when the shapes agree). Only then return
# `timer(run)`, where `run()` calls `fn(*args)` (the timer decides how: your
# `time_rounds`, say).
#
# Careful: `np.allclose` broadcasts, so a `(1,)` result "matches" any `expected` whose
# entries all equal that one number.


# %%
def check_then_time(fn, args, expected, *, timer, rtol: float = 1e-5, atol: float = 1e-8):
    """Run ``fn(*args)`` once; if it matches ``expected`` return ``timer(run)``, where
    ``run()`` calls ``fn(*args)``; else raise ``ValueError`` and time nothing.

    >>> check_then_time(np.add, (np.ones(3), np.ones(3)), np.full(3, 2.0),
    ...                 timer=lambda run: "timed")
    'timed'
    """
    # TODO: call once, check shape and values (ValueError), then hand `run` to the timer
    raise NotImplementedError("TODO: implement check_then_time")


# %% [markdown]
# ## 5. How close to the roof?
#
# A kernel that does `flops` FLOPs and moves `nbytes` bytes in `seconds` reached
# `flops / seconds / 1e9` GFLOP/s. Its arithmetic intensity is `I = flops / nbytes`
# FLOP/byte, and the roofline says it can reach at most `min(peak_gflops, I * peak_gbs)`
# GFLOP/s. Return what it reached, the fraction of that roof it reached, and which roof
# binds: `"memory"` when `I * peak_gbs < peak_gflops`, else `"compute"`.


# %%
def roof_fraction(flops: float, nbytes: float, seconds: float, *, peak_gflops: float,
                  peak_gbs: float) -> tuple:
    """``(gflops, fraction_of_roof, bound)`` for one measured call.

    >>> roof_fraction(2e9, 1e9, 1.0, peak_gflops=100.0, peak_gbs=10.0)
    (2.0, 0.1, 'memory')
    """
    # TODO: achieved GFLOP/s, the roof at this intensity, the fraction, and the bound
    raise NotImplementedError("TODO: implement roof_fraction")


# %% [markdown]
# ## 6. The STREAM triad
#
# The memory roof is measured, not read off a datasheet: STREAM's *triad*, `a[i] = b[i] +
# s * c[i]`, over arrays far larger than the last-level cache, moves 3 numbers per element
# (read `b` and `c`, write `a`) for 2 FLOPs. Write it as one loop over `i` (numba compiles
# it; no whole-array operations), writing into `a` in place.


# %%
@profile
def triad(a, b, c, s) -> None:
    """``a[i] = b[i] + s * c[i]`` for every ``i``, in place.

    >>> a = np.zeros(3)
    >>> triad(a, np.array([1.0, 2.0, 3.0]), np.ones(3), 0.5)
    >>> a.tolist()
    [1.5, 2.5, 3.5]
    """
    # TODO: one loop over the elements
    raise NotImplementedError("TODO: implement triad")


# %% [markdown]
# ## Experiments
#
# Run the file. Each experiment uses your functions and says which one is missing.


# %%
def _todo(name: str) -> None:
    print(f"TODO: implement {name} first")


def experiment_first_call() -> None:
    """Why warm-up: the first call of a fresh jit function compiles it."""
    fresh = numba.njit(lambda x: (x * 2.0).sum())
    x = np.ones(10_000)
    try:
        cold = time_rounds(lambda: fresh(x), warmup=0, rounds=1, number=1)[0]
        warm = time_rounds(lambda: fresh(x), warmup=1, rounds=5, number=20)
    except NotImplementedError:
        return _todo("time_rounds")
    try:
        med, iqr = median_iqr(warm)
    except NotImplementedError:
        return _todo("median_iqr")
    print(f"first call {cold * 1e3:.1f} ms (compilation); warm: median {med * 1e6:.2f} us, "
          f"IQR {iqr * 1e6:.2f} us; the first call is {cold / med:.0f}x a warm one")


def experiment_interleaved() -> None:
    """jit versus numpy for a ReLU, interleaved in one process."""
    import tinytorch as tt  # noqa: PLC0415

    x = np.random.default_rng(0).standard_normal((1, 100_000)).astype(np.float32)
    out = np.empty_like(x)
    jit = tt.dispatch.kernel_for("relu_forward", "jit")[1]
    ref = tt.dispatch.kernel_for("relu_forward", "numpy")[1]
    try:
        ratio = compare(lambda: jit(out, x), lambda: ref(out, x), rounds=21)
    except NotImplementedError:
        return _todo("compare")
    print(f"relu on 10^5 float32: jit time / numpy time = {ratio:.2f} (median of 21 "
          "interleaved rounds)")


def experiment_refuse_a_wrong_kernel() -> None:
    """A 'fast' kernel that skips the last element is never timed."""
    x = np.arange(10.0)

    def fast_and_wrong(v):
        out = np.empty_like(v)
        out[:-1] = v[:-1] * 2
        out[-1] = 0.0
        return out

    try:
        check_then_time(fast_and_wrong, (x,), x * 2, timer=lambda run: run())
    except NotImplementedError:
        return _todo("check_then_time")
    except ValueError as err:
        print(f"refused, as it should: {err}")
        return
    print("the wrong kernel was timed: check_then_time must refuse it")


def experiment_triad_roofline() -> None:
    """The memory roof from your triad, and how close the jit matmul gets to BLAS."""
    n = 4_000_000  # 3 arrays of 32 MB: larger than most last-level caches
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    compiled = numba.njit(getattr(triad, "__wrapped__", triad))
    try:
        compiled(a, b, c, 3.0)
    except NotImplementedError:
        return _todo("triad")
    try:
        times = time_rounds(lambda: compiled(a, b, c, 3.0), warmup=1, rounds=5, number=1)
        best = min(times)
    except NotImplementedError:
        return _todo("time_rounds")
    gbs = 3 * 8 * n / best / 1e9
    m = 256
    x = np.random.default_rng(0).standard_normal((m, m)).astype(np.float32)
    blas = min(time_rounds(lambda: x @ x, warmup=1, rounds=5, number=3))
    peak = 2 * m ** 3 / blas / 1e9
    print(f"triad: {gbs:.1f} GB/s (best of 5); numpy matmul {m}x{m}: {peak:.1f} GFLOP/s")
    try:
        reached, fraction, bound = roof_fraction(2 * n, 3 * 8 * n, best, peak_gflops=peak,
                                                 peak_gbs=gbs)
    except NotImplementedError:
        return _todo("roof_fraction")
    print(f"triad against those roofs: {reached:.2f} GFLOP/s, {fraction * 100:.0f}% of "
          f"its roof, {bound}-bound")


# %%
if __name__ == "__main__":
    for experiment in (experiment_first_call, experiment_interleaved,
                       experiment_refuse_a_wrong_kernel, experiment_triad_roofline):
        print(f"\n== {experiment.__name__} ==")
        experiment()
