"""Grader of lab 00 (setup): versions, numba threads, timing with the first call apart, and
a first loop kernel that numba compiles and the dispatcher runs.

The first two tests give points for a working environment, whatever the lab file holds.
"""

import platform
import time
import warnings

import numba
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.grading import call, expect_close, expect_equal, points


def _require(condition, message: str) -> None:
    """Fail with ``message`` alone (a bare assert would add pytest's internals)."""
    if not condition:
        raise AssertionError(message)


def _plain(fn):
    """The function under a ``@profile`` decorator (kernprof), if there is one."""
    return getattr(fn, "__wrapped__", fn)


# --- the environment (points for a working install) ------------------------------------

@points(1)
def test_numpy_and_numba_are_installed(student):
    """numpy and numba import, at the versions tinytorch supports."""
    def version(module):
        return tuple(int(part) for part in module.__version__.split(".")[:2])

    _require(version(np) >= (1, 24) and version(numba) >= (0, 59), (
        f"numpy {np.__version__}, numba {numba.__version__}: too old for tinytorch\n"
        "hint: reinstall with pip install -e . in a fresh virtual environment"))


@points(1)
def test_a_jit_kernel_compiles_and_runs(student):
    """tinytorch's jit add kernel compiles (or loads from cache) and agrees with numpy."""
    a = np.arange(6.0).reshape(2, 3)
    out = np.empty_like(a)
    tt.dispatch.kernel_for("add_forward", "jit")[1](out, a, a)
    expect_close(out, a + a, what="the jit add kernel",
                 hint="run `tinytorch doctor`: it shows what is wrong with numba")


# --- env_report --------------------------------------------------------------------------

@points(1)
def test_env_report_has_the_four_keys(student):
    """env_report() returns a dict with the keys python, numpy, numba and tinytorch."""
    report = call(student, "env_report")
    expect_equal(type(report).__name__, "dict", what="type of env_report()")
    expect_equal(sorted(report), ["numba", "numpy", "python", "tinytorch"],
                 what="the keys of env_report()",
                 hint="exactly these four keys, spelled in lower case")


@points(2)
def test_env_report_versions_match_this_interpreter(student):
    """Each version is the string of the package actually running, Python as 3.x.y."""
    report = call(student, "env_report")
    expected = {"python": platform.python_version(), "numpy": np.__version__,
                "numba": numba.__version__, "tinytorch": tt.__version__}
    for key, version in expected.items():
        expect_equal(report.get(key), version, what=f'env_report()["{key}"]',
                     hint="use platform.python_version() for Python (major.minor.micro) "
                          "and each module's __version__ string")


# --- numba_threads -----------------------------------------------------------------------

@points(2)
def test_numba_threads_reports_the_current_setting(student):
    """numba_threads() follows numba.set_num_threads, not the pool's maximum."""
    before = numba.get_num_threads()
    try:
        for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(n)
            expect_equal(call(student, "numba_threads"), n,
                         what=f"numba_threads() after numba.set_num_threads({n})",
                         hint="numba.get_num_threads() is the number in force now; "
                              "NUMBA_NUM_THREADS is only the pool's size")
    finally:
        numba.set_num_threads(before)


# --- time_call ---------------------------------------------------------------------------

class _Sleeper:
    """A function that records its calls and sleeps ``schedule[k]`` seconds on call k."""

    def __init__(self, schedule):
        self.schedule = list(schedule)
        self.calls = []

    def __call__(self, *args, **kwargs):
        k = len(self.calls)
        self.calls.append(args)
        time.sleep(self.schedule[k] if k < len(self.schedule) else 0.0)
        return k


@points(1)
def test_time_call_returns_two_non_negative_floats(student):
    """time_call returns a tuple (first_s, median_s) of seconds."""
    result = call(student, "time_call", _Sleeper([]), repeat=3)
    _require(isinstance(result, tuple) and len(result) == 2, (
        f"time_call should return a tuple (first_s, median_s), got {result!r}"))
    for name, value in zip(("first_s", "median_s"), result, strict=True):
        _require(isinstance(value, float) and value >= 0, (
            f"{name} should be a float number of seconds >= 0, got {value!r}\n"
            "hint: time.perf_counter() differences are floats"))


@points(2)
def test_time_call_calls_fn_once_plus_repeat_times(student):
    """fn runs 1 + repeat times, each time with the arguments given."""
    for repeat in (1, 4):
        fn = _Sleeper([])
        call(student, "time_call", fn, "a", 2, repeat=repeat)
        expect_equal(len(fn.calls), 1 + repeat, what=f"calls of fn with repeat={repeat}",
                     hint="one first call, then `repeat` more calls")
        expect_equal(fn.calls[0], ("a", 2), what="the arguments fn received",
                     hint="call fn(*args)")


@points(2)
def test_time_call_times_the_first_call_apart(student):
    """A slow first call (a JIT compile) shows in first_s and not in median_s."""
    first, median = call(student, "time_call", _Sleeper([0.08]), repeat=5)
    _require(first >= 0.07, (
        f"the first call slept 0.08 s but first_s is {first:.4f} s\n"
        "hint: time the first call on its own, before the loop of repeats"))
    _require(median < 0.03, (
        f"only the first call was slow, yet median_s is {median:.4f} s\n"
        "hint: the median is over the `repeat` calls *after* the first"))


@points(2)
def test_time_call_reports_the_median_of_the_repeats(student):
    """median_s is the median, not the mean, the minimum or the maximum."""
    # calls after the first: two slow of five -> median fast (mean and max would be slow)
    _, median = call(student, "time_call", _Sleeper([0.0, 0.06, 0.06, 0, 0, 0]), repeat=5)
    _require(median < 0.015, (
        f"repeats took 0.06, 0.06, 0, 0, 0 s: the median is about 0 s, got {median:.4f} s\n"
        "hint: statistics.median(times), not the mean or the maximum"))
    # three slow of five -> median slow (mean and min would be lower)
    _, median = call(student, "time_call", _Sleeper([0.0, 0.03, 0.03, 0.03, 0, 0]),
                     repeat=5)
    _require(median >= 0.025, (
        f"repeats took 0.03, 0.03, 0.03, 0, 0 s: the median is about 0.03 s, got "
        f"{median:.4f} s\nhint: statistics.median(times), not the mean or the minimum"))


# --- sum_rows ----------------------------------------------------------------------------

SHAPES = [(3, 4), (1, 1), (5, 1), (1, 7), (4, 9)]


def _run_sum_rows(student, x, fn=None):
    out = np.full(x.shape[0], np.nan, dtype=x.dtype)
    if fn is None:
        result = call(student, "sum_rows", out, x)
    else:
        result = fn(out, x)
    expect_equal(result, None, what="the return value of sum_rows",
                 hint="write into `out` and return nothing: the caller owns `out`")
    return out


@points(2)
def test_sum_rows_matches_numpy(student):
    """Row sums of several shapes, including single rows and single columns."""
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        x = rng.standard_normal(shape)
        expect_close(_run_sum_rows(student, x), x.sum(axis=1), what=f"sum_rows on {shape}",
                     hint="out[i] is x[i, 0] + ... + x[i, C-1]: check both loop bounds")


@points(1)
def test_sum_rows_of_empty_arrays(student):
    """Rows with no columns sum to 0; an array with no rows writes nothing."""
    expect_close(_run_sum_rows(student, np.empty((3, 0))), np.zeros(3),
                 what="sum_rows on (3, 0)", hint="start each row's sum at 0.0")
    expect_close(_run_sum_rows(student, np.empty((0, 4))), np.zeros(0),
                 what="sum_rows on (0, 4)")


@points(2)
def test_sum_rows_compiles_with_numba(student):
    """numba.njit compiles your loops, and the compiled version still agrees."""
    fn = getattr(student, "sum_rows", None)
    if fn is None:
        pytest.fail("your lab file has no function `sum_rows`", pytrace=False)
    call(student, "sum_rows", np.empty(1), np.ones((1, 1)))  # reports a TODO left
    try:
        compiled = numba.njit(_plain(fn))
        x = np.random.default_rng(1).standard_normal((6, 5))
        got = _run_sum_rows(student, x, fn=compiled)
    except numba.core.errors.NumbaError as err:
        first = str(err).strip().splitlines()[0]
        pytest.fail(f"numba could not compile sum_rows: {first}\nhint: use only loops, "
                    "numbers and array indexing x[i, j] (no lists, no np.sum)", pytrace=False)
    expect_close(got, x.sum(axis=1), what="numba.njit(sum_rows) on (6, 5)")


@points(1)
def test_sum_rows_runs_as_a_tinytorch_backend(student):
    """Registered as backend "student", your kernel computes x.sum(dim=1) of a tensor."""
    call(student, "sum_rows", np.empty(1), np.ones((1, 1)))
    tt.register_kernel("sum_forward", "student", student.sum_rows)
    x = tt.randn(4, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ops borrowed from jit warn once
        with tt.backend("student", fallback="jit"):
            got = x.sum(dim=1)
    expect_close(got, x.numpy().sum(axis=1), what="x.sum(dim=1) on the student backend",
                 rtol=1e-4, atol=1e-5)

