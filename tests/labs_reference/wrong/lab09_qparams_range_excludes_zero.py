# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab09_compression.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: uses [x_min, x_max] as observed, without extending it to 0: an all-positive tensor
# (ReLU outputs) then has no exact code for 0.0, and all-zero ranges are not widened either.


def choose_qparams(x_min: float, x_max: float, symmetric: bool) -> tuple:
    x_min, x_max = float(x_min), float(x_max)
    if not (np.isfinite(x_min) and np.isfinite(x_max)):
        raise ValueError(f"choose_qparams: the range must be finite, got [{x_min}, {x_max}]")
    if x_min > x_max:
        raise ValueError(f"choose_qparams: x_min {x_min} is larger than x_max {x_max}")
    if symmetric:
        return max(max(-x_min, x_max) / 127, EPS), 0
    scale = max((x_max - x_min) / (QMAX - QMIN), EPS)
    zero_point = QMIN - round(x_min / scale)
    return scale, int(min(max(zero_point, QMIN), QMAX))
