# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab09_compression.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: subtracts the zero point in int8. numpy keeps an int8 array int8 when a Python int
# is subtracted, so 127 - (-128) wraps to -1 and -128 - 127 to 1.


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    q = np.asarray(q)
    if q.dtype != np.int8:
        raise TypeError(f"dequantize: q must be an int8 array, got {q.dtype}")
    return ((q - zero_point) * scale).astype(np.float32)
