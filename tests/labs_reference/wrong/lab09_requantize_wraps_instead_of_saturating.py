# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab09_compression.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: rounds, then casts to int8 without clamping: 250 wraps to -6 instead of saturating
# at 127.


def requantize(acc, scale_a: float, scale_b: float, scale_out: float,
               zp_out: int) -> np.ndarray:
    m = scale_a * scale_b / scale_out
    return (np.rint(np.asarray(acc, np.float64) * m) + zp_out).astype(np.int64).astype(np.int8)
