# Deliberately wrong copy of the reference lab00_setup.py for the grader self-tests:
# see tests/labs_reference/wrong/README.md.
# %% [markdown]
# # Lab 00: setup, the environment as a system
#
# Before any tensor, look at the machine your code runs on. A deep-learning framework is
# Python *plus* a stack of native code (numpy, BLAS, numba's compiler, maybe CUDA), and
# every layer has versions, threads and caches that change what you measure.
#
# **Systems questions** (answer them in your own words as you go):
#
# 1. Which versions of Python, numpy and numba are you running? Why does a bug report or a
#    benchmark that leaves them out mean little?
# 2. How many threads will numba use for a `parallel=True` kernel, and who else (BLAS)
#    wants the same cores?
# 3. The first call of a `numba.njit` function is slow and the next ones are fast. Where
#    does the first call's time go, and what does `cache=True` change for the *next*
#    process? (Look for the `__pycache__` folder next to `tinytorch/kernels`.)
# 4. Is there a CUDA GPU here, or only numba's simulator? What would moving data to a GPU
#    cost before any kernel runs?
#
# **How to work**: fill in each function marked `TODO` (replace `raise
# NotImplementedError`), run `python lab00_setup.py` to see the experiments, and
# `tinytorch grade 00` to check your work. `tinytorch doctor` prints a full report you can
# compare with yours.

# %%
import builtins
import platform  # noqa: F401 (you will need it in env_report)
import statistics  # noqa: F401 (you will need it in time_call)
import time  # noqa: F401 (you will need it in time_call)

import numba
import numpy as np

import tinytorch as tt

# `kernprof -l -v lab00_setup.py` puts a `profile` decorator into builtins; without
# kernprof the decorator does nothing, so the file runs the same either way.
profile = getattr(builtins, "profile", lambda fn: fn)


# %% [markdown]
# ## 1. Versions
#
# `platform.python_version()` gives `"3.11.7"`; each package has a `__version__`.


# %%
def env_report() -> dict:
    """The versions this lab runs on, as strings: a dict with the keys ``"python"``
    (``major.minor.micro``, e.g. ``"3.11.7"``), ``"numpy"``, ``"numba"`` and
    ``"tinytorch"``.

    >>> sorted(env_report())
    ['numba', 'numpy', 'python', 'tinytorch']
    """
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "tinytorch": tt.__version__,
    }


# %% [markdown]
# ## 2. Threads
#
# numba runs `prange` loops on a pool of threads. `numba.config.NUMBA_NUM_THREADS` is the
# pool's size, fixed when numba starts (environment variable `NUMBA_NUM_THREADS`);
# `numba.set_num_threads(n)` lowers how many of them the next parallel kernel uses. Report
# the number in force *now*.


# %%
def numba_threads() -> int:
    """How many threads numba's next parallel kernel will use (an int, at least 1).

    >>> numba_threads() >= 1
    True
    """
    return numba.get_num_threads()


# %% [markdown]
# ## 3. Timing: the first call apart
#
# A jit function compiles on its first call, so "how long does it take" has two answers:
# the first call (compile + run) and the steady state. Time the first call on its own, then
# `repeat` more calls, and report the **median** of those (one slow call, from another
# process waking up, moves a mean but not a median). Use `time.perf_counter()`.


# %%
def time_call(fn, *args, repeat: int = 5) -> tuple:
    """Call ``fn(*args)`` once, then ``repeat`` more times; return ``(first_s, median_s)``:
    the seconds of the first call, and the median seconds of the other ``repeat`` calls.

    >>> first, steady = time_call(sum, [1, 2, 3], repeat=3)
    >>> first >= 0 and steady >= 0
    True
    """
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return times[0], statistics.median(times)


# %% [markdown]
# ## 4. Your first kernel: row sums as loops
#
# tinytorch's reduction kernels share one signature (see `docs/kernels.md`): outputs first,
# `sum_forward(out, x)` with `x` of shape `(R, C)` and `out` of shape `(R,)`, and
# `out[i] = x[i, 0] + ... + x[i, C-1]`. Write it as two plain loops over numbers: no
# `np.sum`, no slicing. Plain loops are what numba compiles, so the experiment below can
# compile *your* function. Rows with `C == 0` sum to 0.


# %%
@profile
def sum_rows(out, x):
    """Write the sum of each row of the 2-D array ``x`` into the 1-D array ``out``.

    >>> out = np.empty(2)
    >>> sum_rows(out, np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> out.tolist()
    [3.0, 7.0]
    """
    for i in range(x.shape[0]):
        acc = 0.0
        for j in range(x.shape[1]):
            acc += x[i, j]
        out[i] = acc


# %% [markdown]
# ## Experiments
#
# Run `python lab00_setup.py`. Each experiment says "TODO" until the function it needs
# works. To see where the Python loop spends its time, line by line:
#
# ```bash
# kernprof -l -v lab00_setup.py
# ```
#
# (`kernprof` comes with `line_profiler`; it profiles the functions decorated `@profile`.)


# %%
def _todo(name: str) -> None:
    print(f"TODO: implement {name} first")


def experiment_versions() -> None:
    try:
        report = env_report()
    except NotImplementedError:
        return _todo("env_report")
    for key, value in report.items():
        print(f"{key:10} {value}")


def experiment_threads() -> None:
    try:
        now = numba_threads()
    except NotImplementedError:
        return _todo("numba_threads")
    print(f"numba threads: {now} in use, pool of {numba.config.NUMBA_NUM_THREADS}")
    print("  try: NUMBA_NUM_THREADS=1 python lab00_setup.py, and compare")


def experiment_jit() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 200))
    out = np.empty(200)
    try:
        sum_rows(out, x)
    except NotImplementedError:
        return _todo("sum_rows")
    if not np.allclose(out, x.sum(axis=1)):
        print("sum_rows does not match numpy yet: fix it before timing it")
        return
    try:
        loops = time_call(sum_rows, out, x, repeat=3)
    except NotImplementedError:
        return _todo("time_call")
    # The same source, compiled: a fresh njit without cache, so the first call compiles.
    compiled = numba.njit(getattr(sum_rows, "__wrapped__", sum_rows))
    jit = time_call(compiled, out, x, repeat=20)
    # tinytorch's own jit kernel has cache=True: a second process loads it from disk.
    tt_jit = time_call(tt.dispatch.kernel_for("sum_forward", "jit")[1], out, x, repeat=20)
    vectorised = time_call(np.sum, x, 1, None, out, repeat=20)
    print(f"row sums of a {x.shape} float64 array (first call / median of the rest):")
    for name, (first, steady) in [("your loops", loops), ("your loops, njit", jit),
                                  ("tinytorch jit (cached)", tt_jit),
                                  ("numpy", vectorised)]:
        print(f"  {name:24} {first * 1e3:9.3f} ms  {steady * 1e3:9.4f} ms"
              f"  ({loops[1] / max(steady, 1e-9):7.0f}x your loops)")
    print("  question: where did the first njit call's time go? run the lab twice: does the")
    print("  tinytorch kernel's first call change? (its cache is in kernels/__pycache__)")


def experiment_dispatch() -> None:
    try:
        sum_rows(np.empty(1), np.ones((1, 1)))
    except NotImplementedError:
        return _todo("sum_rows")
    # Your loops become the "student" backend; ops without a student kernel borrow jit
    # (with one warning each, so nothing falls back silently).
    tt.register_kernel("sum_forward", "student", sum_rows)
    x = tt.randn(4, 5)
    with tt.backend("student", fallback="jit"):
        mine = x.sum(dim=1)
    print("x.sum(dim=1) on your kernel:", [round(v, 4) for v in mine.tolist()])
    print("numpy says:                 ", [round(float(v), 4) for v in x.numpy().sum(1)])


def experiment_cuda() -> None:
    # Importing numba.cuda takes time and decides between a real GPU and the simulator
    # (NUMBA_ENABLE_CUDASIM=1): tinytorch does it only when asked, as here.
    try:
        kind, detail = tt.kernels.cuda_status()
    except Exception as err:  # noqa: BLE001 (a missing CUDA stack is a finding, not a crash)
        kind, detail = "none", f"{type(err).__name__}: {err}"
    print(f"CUDA: {kind} ({detail})")


# %%
if __name__ == "__main__":
    for experiment in (experiment_versions, experiment_threads, experiment_jit,
                       experiment_dispatch, experiment_cuda):
        print(f"\n== {experiment.__name__} ==")
        experiment()
