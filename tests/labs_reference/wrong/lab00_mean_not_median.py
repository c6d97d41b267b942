# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab00_setup.py, where it replaces the correct definition.
# See README.md beside this file.


def time_call(fn, *args, repeat: int = 5) -> tuple:
    start = time.perf_counter()
    fn(*args)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return first, statistics.mean(times)
