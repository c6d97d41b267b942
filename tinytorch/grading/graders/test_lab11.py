"""Grader of lab 11 (benchmarking): timing rounds with the warm-up kept out, the median and
IQR, an interleaved comparison, a check that comes before any timing, the fraction of the
roofline reached, and the STREAM triad loop.

Nothing here depends on how fast the machine is: every timing function is graded against a
*fake clock* that only moves when a fake workload runs (each call advances it by a known
cost), so the expected answers are exact, and a drifting machine is simulated by making
later calls cost more.
"""

import statistics

import numba
import numpy as np
import pytest

from tinytorch.grading import call, expect_close, expect_equal, points


def _require(condition, message: str) -> None:
    """Fail with ``message`` alone (a bare assert would add pytest's internals)."""
    if not condition:
        raise AssertionError(message)


class FakeMachine:
    """A clock that reads ``now`` and workloads that advance it: ``work(name, costs)``
    returns a function whose k-th call costs ``costs(k, machine)`` seconds."""

    def __init__(self):
        self.now = 0.0
        self.log = []  # names of the workloads, in call order

    def clock(self) -> float:
        return self.now

    def work(self, name, cost):
        count = [0]

        def run():
            count[0] += 1
            self.log.append(name)
            self.now += cost(count[0], self)

        run.calls = count
        return run


# --- time_rounds -------------------------------------------------------------------------

TIME_HINT = ("call fn() `warmup` times untimed; then per round: start = clock(), `number` "
             "calls, (clock() - start) / number")


@points(2)
def test_time_rounds_keeps_the_warm_up_out(student):
    """Two expensive warm-up calls (compilation), then rounds whose calls get slower: each
    round's time per call must be exactly its own calls' cost."""
    m = FakeMachine()
    # calls 1-2 cost 5 s and 0.5 s; round r (calls of 4) costs r / 100 s per call
    fn = m.work("fn", lambda k, _: {1: 5.0, 2: 0.5}.get(k, ((k - 3) // 4 + 1) / 100))
    got = call(student, "time_rounds", fn, warmup=2, rounds=3, number=4, clock=m.clock)
    expect_close(np.asarray(got, dtype=float), [0.01, 0.02, 0.03],
                 what="time_rounds(warmup=2, rounds=3, number=4) with known costs",
                 rtol=1e-9, atol=1e-12, hint=TIME_HINT + "; the warm-up calls are not timed")
    expect_equal(fn.calls[0], 14, what="calls of fn (2 warm-up + 3 rounds x 4)",
                 hint=TIME_HINT)


@points(1)
def test_time_rounds_without_warm_up_times_every_call(student):
    m = FakeMachine()
    costs = [0.3, 0.1, 0.2]
    fn = m.work("fn", lambda k, _: costs[k - 1])
    got = call(student, "time_rounds", fn, warmup=0, rounds=3, number=1, clock=m.clock)
    expect_close(np.asarray(got, dtype=float), costs, what="time_rounds(warmup=0, rounds=3, "
                 "number=1)", rtol=1e-9, atol=1e-12, hint=TIME_HINT)
    _require(isinstance(got, list), f"time_rounds should return a list, got "
             f"{type(got).__name__}")


# --- median_iqr --------------------------------------------------------------------------

IQR_HINT = ("statistics.median(times); q1, _, q3 = statistics.quantiles(times, n=4); "
            "IQR = q3 - q1")


@points(2)
def test_median_iqr_matches_statistics(student):
    rng = np.random.default_rng(11)
    for n in (2, 5, 8, 21):
        times = [float(t) for t in rng.exponential(1e-3, n)]
        q1, _, q3 = statistics.quantiles(times, n=4)
        got = call(student, "median_iqr", list(times))
        expect_close(np.asarray(got, dtype=float), [statistics.median(times), q3 - q1],
                     what=f"median_iqr of {n} times", rtol=1e-12, atol=0, hint=IQR_HINT)


@points(1)
def test_median_iqr_ignores_one_interrupted_round(student):
    """Nine rounds of 1 ms and one of 500 ms (a page fault storm): the median stays 1 ms."""
    times = [1e-3] * 9 + [0.5]
    got = call(student, "median_iqr", times)
    expect_close(got[0], 1e-3, what="median of nine 1 ms rounds and one 500 ms round",
                 rtol=1e-12, atol=0, hint="the median, not the mean: one bad round must not "
                 "move it")
    expect_close(got[1], 0.0, what="IQR of the same", rtol=0, atol=1e-15, hint=IQR_HINT)


@points(1)
def test_median_iqr_edge_cases(student):
    expect_close(np.asarray(call(student, "median_iqr", [0.25]), dtype=float), [0.25, 0.0],
                 what="median_iqr([0.25])", hint="one time: its IQR is 0")
    with pytest.raises(ValueError):
        call(student, "median_iqr", [])


# --- compare -----------------------------------------------------------------------------

COMPARE_HINT = ("warm each once; then per round: time one call of A, then one of B, and keep "
                "t_a / t_b; return the median of the ratios")


@points(2)
def test_compare_interleaves_on_a_drifting_machine(student):
    """A costs 2 units and B 1, but the machine slows down 3x halfway through: only
    alternating A and B within each round keeps the drift out of the ratio."""
    m = FakeMachine()

    def cost(base):
        def f(k, machine):
            return base * (3.0 if len(machine.log) > 11 else 1.0) * (50 if k == 1 else 1)
        return f

    a, b = m.work("A", cost(2.0)), m.work("B", cost(1.0))
    ratio = call(student, "compare", a, b, rounds=9, clock=m.clock)
    expect_equal((a.calls[0], b.calls[0]), (10, 10), what="calls of (A, B) for rounds=9",
                 hint="one warm-up call each, then one call of each per round")
    expect_close(ratio, 2.0, what="compare(A, B) with A twice as slow as B while the machine "
                 "drifts", rtol=1e-9, atol=0, hint=COMPARE_HINT + "; timing all of A before "
                 "all of B puts the drift into the ratio")


@points(1)
def test_compare_returns_the_median_ratio(student):
    """A steady machine, but B is interrupted once (100x): one bad round, same answer."""
    m = FakeMachine()
    a = m.work("A", lambda k, _: 3.0)
    b = m.work("B", lambda k, _: 200.0 if k == 4 else 2.0)
    ratio = call(student, "compare", a, b, rounds=7, clock=m.clock)
    expect_close(ratio, 1.5, what="compare(A=3 s, B=2 s) with one interrupted round of B",
                 rtol=1e-9, atol=0, hint=COMPARE_HINT + " (the median of the ratios, not the "
                 "ratio of the totals: one bad round must not move it)")


# --- check_then_time ---------------------------------------------------------------------


class SpyTimer:
    def __init__(self):
        self.runs = []

    def __call__(self, run):
        self.runs.append(run)
        return "timing"


def _counting(fn):
    def wrapped(*args):
        wrapped.calls += 1
        return fn(*args)
    wrapped.calls = 0
    return wrapped


@points(2)
def test_check_then_time_refuses_a_wrong_result(student):
    x = np.arange(6.0)
    cases = [("one wrong element", lambda v: np.where(v == 5, 0.0, 2 * v), x * 2),
             ("a (1,) result against six equal numbers", lambda v: np.array([3.0]),
              np.full(6, 3.0))]
    for what, fn, expected in cases:
        timer, fn = SpyTimer(), _counting(fn)
        with pytest.raises(ValueError):
            call(student, "check_then_time", fn, (x,), expected, timer=timer)
        _require(not timer.runs, f"check_then_time timed a wrong result ({what}): the timer "
                 "was called\nhint: check the shape and values first, raise ValueError, "
                 "and only then time")
        expect_equal(fn.calls, 1, what=f"calls of fn ({what})", hint="call fn once to check")


@points(1)
def test_check_then_time_times_a_correct_result(student):
    x = np.arange(6.0)
    fn, timer = _counting(lambda v: 2 * v), SpyTimer()
    got = call(student, "check_then_time", fn, (x,), x * 2 + 1e-9, timer=timer)
    expect_equal(got, "timing", what="check_then_time's return value", hint="return "
                 "timer(run)")
    expect_equal(len(timer.runs), 1, what="calls of the timer")
    timer.runs[0]()
    expect_equal(fn.calls, 2, what="calls of fn after the check and one run() of the timer",
                 hint="run() must call fn(*args)")


# --- roof_fraction -----------------------------------------------------------------------

ROOF_HINT = ("gflops = flops / seconds / 1e9; intensity = flops / nbytes; roof = "
             "min(peak_gflops, intensity * peak_gbs)")


def _check_roof(student, args, expected, what):
    got = call(student, "roof_fraction", *args[:3], peak_gflops=args[3], peak_gbs=args[4])
    _require(len(got) == 3, f"roof_fraction should return 3 values, got {got!r}")
    expect_close(np.asarray(got[:2], dtype=float), expected[:2], what=what, rtol=1e-9,
                 hint=ROOF_HINT)
    expect_equal(got[2], expected[2], what=f"{what}: bound", hint="'memory' when intensity "
                 "* peak_gbs < peak_gflops")


@points(1)
def test_roof_fraction_memory_bound(student):
    # a ReLU-like kernel: 1e8 FLOPs, 8e8 bytes, 0.1 s, on a 200 GFLOP/s, 20 GB/s machine
    _check_roof(student, (1e8, 8e8, 0.1, 200.0, 20.0), (1.0, 0.4, "memory"),
                "roof_fraction of a memory-bound kernel")


@points(1)
def test_roof_fraction_compute_bound(student):
    _check_roof(student, (2e10, 1e8, 0.5, 100.0, 10.0), (40.0, 0.4, "compute"),
                "roof_fraction of a compute-bound kernel")


# --- triad -------------------------------------------------------------------------------


@points(1)
def test_triad_writes_a_in_place(student):
    rng = np.random.default_rng(3)
    b, c = rng.standard_normal(1001), rng.standard_normal(1001)
    a = np.full(1001, np.nan)
    result = call(student, "triad", a, b, c, 0.75)
    _require(result is None, "triad should write into `a` and return nothing")
    expect_close(a, b + 0.75 * c, what="a after triad(a, b, c, 0.75)", rtol=1e-12,
                 atol=1e-12, hint="a[i] = b[i] + s * c[i] for every i")


@points(1)
def test_triad_compiles_with_numba(student):
    fn = getattr(student, "triad", None)
    _require(callable(fn), "your lab file has no function `triad`")
    compiled = numba.njit(getattr(fn, "__wrapped__", fn))
    a, b, c = np.zeros(64), np.arange(64.0), np.ones(64)
    try:
        compiled(a, b, c, 2.0)
    except NotImplementedError:
        pytest.fail("`triad` is not implemented yet: replace its `raise NotImplementedError` "
                    "with your code", pytrace=False)
    except numba.core.errors.NumbaError as err:
        pytest.fail(f"numba could not compile triad: {str(err).splitlines()[0]}\nhint: one "
                    "loop with indexing a[i], no whole-array operations", pytrace=False)
    expect_close(a, np.arange(64.0) + 2.0, what="numba.njit(triad)(a, b, c, 2.0)",
                 rtol=1e-12, atol=1e-12)
