# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab00_setup.py, where it replaces the correct definition.
# See README.md beside this file.


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
    return first, statistics.mean(times)
