# The solutions of labs/lab11_benchmarking.py: its TODO functions, done. The grader
# self-tests build the reference lab by inserting these before the lab's experiments, so
# the reference cannot drift from the lab students get.


def time_rounds(fn, *, warmup: int, rounds: int, number: int,
                clock=time.perf_counter) -> list:
    """Seconds per call of ``fn()`` for each of ``rounds`` rounds of ``number`` calls,
    after ``warmup`` untimed calls. ``fn`` is called ``warmup + rounds * number`` times.

    >>> times = time_rounds(lambda: sum(range(100)), warmup=1, rounds=3, number=10)
    >>> len(times), all(t > 0 for t in times)
    (3, True)
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        start = clock()
        for _ in range(number):
            fn()
        times.append((clock() - start) / number)
    return times


def median_iqr(times) -> tuple:
    """``(median, q3 - q1)`` of a sequence of times.

    >>> median_iqr([3.0, 1.0, 2.0, 100.0, 2.5])
    (2.5, 50.0)
    >>> median_iqr([0.25])
    (0.25, 0.0)
    """
    times = list(times)
    if not times:
        raise ValueError("median_iqr needs at least one time, got none")
    if len(times) == 1:
        return times[0], 0.0
    q1, _, q3 = statistics.quantiles(times, n=4)
    return statistics.median(times), q3 - q1


def compare(a_fn, b_fn, *, rounds: int, clock=time.perf_counter) -> float:
    """Median over ``rounds`` interleaved rounds of ``time(a_fn()) / time(b_fn())``, after
    one untimed call of each. Each function is called ``rounds + 1`` times.

    >>> compare(lambda: sum(range(2000)), lambda: sum(range(2000)), rounds=5) > 0
    True
    """
    a_fn()
    b_fn()
    ratios = []
    for _ in range(rounds):
        start = clock()
        a_fn()
        middle = clock()
        b_fn()
        end = clock()
        ratios.append((middle - start) / (end - middle))
    return statistics.median(ratios)


def check_then_time(fn, args, expected, *, timer, rtol: float = 1e-5, atol: float = 1e-8):
    """Run ``fn(*args)`` once; if it matches ``expected`` return ``timer(run)``, where
    ``run()`` calls ``fn(*args)``; else raise ``ValueError`` and time nothing.

    >>> check_then_time(np.add, (np.ones(3), np.ones(3)), np.full(3, 2.0),
    ...                 timer=lambda run: "timed")
    'timed'
    """
    got, want = np.asarray(fn(*args)), np.asarray(expected)
    if got.shape != want.shape:
        raise ValueError(f"wrong result, not timed: shape {got.shape}, expected {want.shape}")
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(got - want)))
        raise ValueError(f"wrong result, not timed: largest difference {worst:.3g}")
    return timer(lambda: fn(*args))


def roof_fraction(flops: float, nbytes: float, seconds: float, *, peak_gflops: float,
                  peak_gbs: float) -> tuple:
    """``(gflops, fraction_of_roof, bound)`` for one measured call.

    >>> roof_fraction(2e9, 1e9, 1.0, peak_gflops=100.0, peak_gbs=10.0)
    (2.0, 0.1, 'memory')
    """
    gflops = flops / seconds / 1e9
    slope = flops / nbytes * peak_gbs
    roof = min(peak_gflops, slope)
    return gflops, gflops / roof, "memory" if slope < peak_gflops else "compute"


@profile
def triad(a, b, c, s) -> None:
    """``a[i] = b[i] + s * c[i]`` for every ``i``, in place.

    >>> a = np.zeros(3)
    >>> triad(a, np.array([1.0, 2.0, 3.0]), np.ones(3), 0.5)
    >>> a.tolist()
    [1.5, 2.5, 3.5]
    """
    for i in range(a.shape[0]):
        a[i] = b[i] + s * c[i]
