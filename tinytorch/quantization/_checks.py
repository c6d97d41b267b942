"""The shared ground of the quantisation package: ``QuantizationError``, the int8 code
range, and the argument checks every entry point runs before a kernel sees an array.

It is separate because several modules check the same things (``functional``,
``qparams``, ``modules``, ``observers``): one copy of each check keeps their messages identical,
and this module imports nothing from the package, so none of them import in a circle.
The checks are private; the public names are re-exported by ``functional``.

>>> _range(-127, 127, "demo"), _scales([0.5, 0.25], 2, "demo").tolist()
((-127, 127), [0.5, 0.25])
>>> _zero_points(200, 1, INT8_MIN, INT8_MAX, "demo")
Traceback (most recent call last):
...
ValueError: demo(): zero_point must lie in the code range [-128, 127], got 200 (the code of the real number 0.0 must be a code)
"""  # noqa: E501

from __future__ import annotations

import numpy as np

from tinytorch.tensor import Tensor

__all__ = ["QuantizationError", "INT8_MIN", "INT8_MAX", "INT32_MAX"]

INT8_MIN, INT8_MAX = -128, 127
INT32_MAX = 2**31 - 1


class QuantizationError(ValueError):
    """A model or tensor that cannot be quantised, or a quantised file that cannot be
    loaded, as asked: the message says what and gives a hint."""

    # Its public home: tracebacks (and the doctests that show them) name
    # tinytorch.quantization.functional.QuantizationError, as before the split.
    __module__ = "tinytorch.quantization.functional"


# --- checks -----------------------------------------------------------------------------

def _float_tensor(x, op: str, name: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): {name} must be a Tensor, got {type(x).__name__}\n"
                        "hint: wrap data with tt.tensor(...)")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}(): {name} must be float32 or float64 (real values to "
                        f"quantise), got {x.dtype.name}\nhint: x.to(tt.float32)")
    return x


def _range(quant_min, quant_max, op: str) -> tuple[int, int]:
    for name, v in (("quant_min", quant_min), ("quant_max", quant_max)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{op}(): {name} must be an int, got {type(v).__name__} {v!r}")
    if not INT8_MIN <= quant_min < quant_max <= INT8_MAX:
        raise ValueError(f"{op}(): need {INT8_MIN} <= quant_min < quant_max <= {INT8_MAX} "
                         f"(int8 codes), got [{quant_min}, {quant_max}]")
    return int(quant_min), int(quant_max)


def _scales(scale, n: int, op: str) -> np.ndarray:
    """``scale`` (a number, or ``n`` numbers) as float64 ``(n,)``, each finite and > 0."""
    if isinstance(scale, Tensor):
        scale = scale.numpy()
    if isinstance(scale, (bool, np.bool_)) or not isinstance(
            scale, (int, float, np.integer, np.floating, np.ndarray, list, tuple)):
        raise TypeError(f"{op}(): scale must be a positive number (or one per channel), got "
                        f"{type(scale).__name__}")
    try:
        raw = np.asarray(scale)
    except ValueError as err:  # ragged nested lists
        raise TypeError(f"{op}(): scale must be a positive number or a flat sequence of "
                        f"them, got {scale!r:.60} ({err})") from None
    # only real numbers: complex would lose its imaginary part with a mere warning, and
    # strings, bools and objects are no scales at all
    if raw.dtype.kind not in "iuf":
        raise TypeError(f"{op}(): scale must hold real numbers (int or float), got "
                        f"{raw.dtype} values {raw.reshape(-1)[:3].tolist()}\nhint: pass "
                        "floats such as 0.01, or a float array with one per channel")
    arr = raw.astype(np.float64).reshape(-1)
    if arr.size != n:
        raise ValueError(f"{op}(): expected {n} scale(s), got {arr.size}")
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        raise ValueError(f"{op}(): scale must be finite and > 0, got "
                         f"{float(arr[bad][0])!r} (at channel {int(np.argmax(bad))})\nhint: a "
                         "scale of 0 comes from a range of width 0: choose_qparams keeps "
                         "it positive")
    return arr


def _float32_scales(scale: np.ndarray, op: str, what: str = "scale") -> np.ndarray:
    """``scale`` rounded to float32 (what the int8 layers store and compute with), back
    as float64; each must still be finite and > 0 (1e-46 flushes to 0, 1e39 overflows)."""
    with np.errstate(over="ignore", under="ignore"):
        s32 = scale.astype(np.float32)
    bad = ~(np.isfinite(s32) & (s32 > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{op}(): {what} {float(scale[i])!r} (at channel {i}) becomes "
                         f"{float(s32[i])!r} in float32, the precision int8 layers compute "
                         "in\nhint: keep scales inside float32's range (about 1.4e-45 "
                         "to 3.4e+38); a calibration range that wide or narrow is a bug")
    return s32.astype(np.float64)


def _zero_points(zero_point, n: int, qmin: int, qmax: int, op: str) -> np.ndarray:
    if isinstance(zero_point, Tensor):
        zero_point = zero_point.numpy()
    arr = np.asarray(zero_point).reshape(-1)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}(): zero_point must be an int (or one per channel), got "
                        f"{arr.dtype} values {arr[:3].tolist()}")
    if arr.size != n:
        raise ValueError(f"{op}(): expected {n} zero point(s), got {arr.size}")
    bad = (arr < qmin) | (arr > qmax)
    if bad.any():
        raise ValueError(f"{op}(): zero_point must lie in the code range [{qmin}, {qmax}], "
                         f"got {int(arr[bad][0])} (the code of the real number 0.0 must "
                         "be a code)")
    return arr.astype(np.int32)
