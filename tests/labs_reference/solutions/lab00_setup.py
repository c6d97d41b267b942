# The solutions of labs/lab00_setup.py: its TODO functions, done. The grader self-tests
# build the reference lab by inserting these before the lab's experiments, so
# the reference cannot drift from the lab students get.


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


def numba_threads() -> int:
    """How many threads numba's next parallel kernel will use (an int, at least 1).

    >>> numba_threads() >= 1
    True
    """
    return numba.get_num_threads()


def time_call(fn, *args, repeat: int = 5) -> tuple:
    """Call ``fn(*args)`` once, then ``repeat`` more times; return ``(first_s, median_s)``:
    the seconds of the first call, and the median seconds of the other ``repeat`` calls.

    >>> first, steady = time_call(sum, [1, 2, 3], repeat=3)
    >>> first >= 0 and steady >= 0
    True
    """
    start = time.perf_counter()
    fn(*args)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


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
