# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab09_compression.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: rounds half away from zero (school rounding, C's round()), so every tie moves away
# from 0: 0.5 -> 1, 2.5 -> 3, -2.5 -> -3. Biased: the mean error of many ties is not 0.


def quantize(x, scale: float, zero_point: int) -> np.ndarray:
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"quantize: scale must be positive and finite, got {scale}")
    if not QMIN <= zero_point <= QMAX:
        raise ValueError(f"quantize: zero_point must be in [{QMIN}, {QMAX}], got {zero_point}")
    v = np.asarray(x, np.float64) / scale
    v = np.sign(v) * np.floor(np.abs(v) + 0.5) + zero_point
    return np.clip(v, QMIN, QMAX).astype(np.int8)
