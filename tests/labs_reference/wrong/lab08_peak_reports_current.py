# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab08_profiling.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: reports the memory still allocated after fn() returns, not the peak.


def peak_alloc_bytes(fn) -> int:
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        fn()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - start
