# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab08_profiling.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: the time is left in the profiler's units instead of seconds.


def hot_lines(timings: dict, unit: float, k: int = 3) -> list:
    lines = [(function, lineno, hits, t)
             for (_, _, function), entries in timings.items()
             for lineno, hits, t in entries]
    total = sum(seconds for *_, seconds in lines)
    lines.sort(key=lambda line: (-line[3], line[0], line[1]))
    return [(function, lineno, hits, seconds, 100.0 * seconds / total if total else 0.0)
            for function, lineno, hits, seconds in lines[:k]]
