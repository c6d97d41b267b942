"""From real ranges to integer parameters, and from int32 accumulators back to int8:
``choose_qparams`` (observed range -> scale and zero point), ``check_accumulator`` (an
int8 GEMM's int32 overflow bound), ``quantize_multiplier`` (a real multiplier as int32
fixed point) and ``requantize`` (int32 accumulators -> int8 codes).

It is separate from ``functional`` (the quantised tensor and the float <-> int8 maps)
because this is the arithmetic *around* an int8 layer: what the observers and the layers
compute once per model, not per tensor. Its names are re-exported by ``functional`` and by
the package, where they have always been importable.

>>> s, z = choose_qparams([-0.5], [1.0], symmetric=False)
>>> float(s[0]) == float(np.float32(1.5 / 255)), int(z[0])
(True, -43)
"""

from __future__ import annotations

import numpy as np

from tinytorch import dispatch
from tinytorch.quantization._checks import (
    INT8_MAX,
    INT8_MIN,
    INT32_MAX,
    QuantizationError,
    _range,
    _scales,
    _zero_points,
)
from tinytorch.tensor import Tensor

__all__ = ["choose_qparams", "check_accumulator", "quantize_multiplier", "requantize"]


# --- choosing scales --------------------------------------------------------------------

def choose_qparams(min_val, max_val, *, symmetric: bool, quant_min: int = INT8_MIN,
                   quant_max: int = INT8_MAX) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, zero_point)`` arrays (float32-valued float64, int32) that map the observed
    range onto ``[quant_min, quant_max]``, as PyTorch's observers do: the range is first
    widened to include 0 (so 0.0 has an exact code: zero padding and ReLU stay exact).

    - affine: ``scale = (max - min) / (qmax - qmin)``, ``zero_point = qmin - rint(min /
      scale)`` clamped into the range;
    - symmetric: ``scale = max(|min|, |max|) / ((qmax - qmin) / 2)``, ``zero_point = 0``
      (for ``[-127, 127]``: ``max|x| / 127``).

    A range of width 0 gets scale ``float32 eps`` rather than 0. Scales are rounded to
    float32 (PyTorch keeps them as float32 tensors), so a saved model reproduces them.

    >>> s, z = choose_qparams([0.0], [2.55], symmetric=False)
    >>> round(float(s[0]), 6), int(z[0])
    (0.01, -128)
    >>> s, z = choose_qparams([-1.0], [0.5], symmetric=True, quant_min=-127)
    >>> float(s[0]) == float(np.float32(1 / 127)), int(z[0])
    (True, 0)
    """
    op = "choose_qparams"
    raw_lo = np.asarray(min_val, np.float64).reshape(-1)
    raw_hi = np.asarray(max_val, np.float64).reshape(-1)
    if raw_lo.shape != raw_hi.shape:
        raise ValueError(f"{op}(): min_val and max_val differ in length: "
                         f"{raw_lo.size} and {raw_hi.size}")
    inverted = raw_lo > raw_hi  # NaN compares False: the finiteness check below has it
    if inverted.any():
        i = int(np.argmax(inverted))
        raise ValueError(f"{op}(): min_val {float(raw_lo[i])!r} is above max_val "
                         f"{float(raw_hi[i])!r} "
                         f"(at channel {i})\nhint: pass the observed minimum first")
    lo, hi = np.minimum(raw_lo, 0.0), np.maximum(raw_hi, 0.0)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise QuantizationError("choose_qparams(): the observed range is not finite "
                                f"(min {lo.min()}, max {hi.max()})\nhint: the calibration "
                                "data holds NaN or inf; clean it, or use PercentileObserver")
    qmin, qmax = _range(quant_min, quant_max, op)
    eps = float(np.finfo(np.float32).eps)
    if symmetric:
        scale = np.maximum(-lo, hi) / ((qmax - qmin) / 2)
        scale = _float32_range(np.maximum(scale, eps), lo, hi)
        zp = np.zeros(lo.shape, np.int32)
    else:
        scale = (hi - lo) / (qmax - qmin)
        scale = _float32_range(np.maximum(scale, eps), lo, hi)
        zp = np.clip(qmin - np.rint(lo / scale), qmin, qmax).astype(np.int32)
    return scale, zp


def _float32_range(scale: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``scale`` rounded to float32, or a QuantizationError where that overflows."""
    with np.errstate(over="ignore"):
        s32 = scale.astype(np.float32)
    bad = ~np.isfinite(s32)
    if bad.any():
        i = int(np.argmax(bad))
        raise QuantizationError(f"choose_qparams(): the range [{float(lo[i])!r}, "
                                f"{float(hi[i])!r}] (at "
                                f"channel {i}) needs a scale of {float(scale[i])!r}, past "
                                "float32's largest number (3.4e+38)\nhint: the calibration "
                                "data is out of all proportion; check it, or clip it with "
                                "PercentileObserver")
    return s32.astype(np.float64)


def check_accumulator(K: int, a_range: tuple, a_zero_point: int, b_range: tuple,
                      b_zero_points, bias_max: int = 0, where: str = "qgemm") -> int:
    """The largest ``|accumulator|`` an int8 GEMM over ``K`` terms can reach (codes in
    ``a_range``/``b_range``, zero points subtracted, plus ``bias_max``); a
    QuantizationError when it passes int32 (``2**31 - 1``): the sums would wrap silently.

    >>> check_accumulator(1000, (-128, 127), 0, (-127, 127), [0])
    16256000
    >>> try:
    ...     check_accumulator(140_000, (-128, 127), 0, (-128, 127), [0])
    ... except QuantizationError as err:
    ...     print(str(err).splitlines()[0][:56])
    qgemm: an int32 accumulator can overflow: K=140000 terms
    """
    ma = max(a_range[1] - a_zero_point, a_zero_point - a_range[0])
    zb = np.asarray(b_zero_points, np.int64).reshape(-1)
    mb = int(max(np.max(b_range[1] - zb), np.max(zb - b_range[0]))) if zb.size else 0
    worst = K * ma * mb + int(bias_max)
    if worst > INT32_MAX:
        limit = (INT32_MAX - int(bias_max)) // max(ma * mb, 1)
        raise QuantizationError(
            f"{where}: an int32 accumulator can overflow: K={K} terms of up to |a - za| * "
            f"|b - zb| = {ma} * {mb} = {ma * mb} reach {worst} > 2**31 - 1 = {INT32_MAX}"
            f"\nhint: split the reduction (K) into chunks of at most {limit} terms, or use "
            "narrower codes (symmetric ones: zero point 0, quant_min=-127)")
    return worst


def quantize_multiplier(multiplier) -> tuple[np.ndarray, np.ndarray]:
    """Real multipliers ``0 < m < 1`` as ``(m0, shift)`` int32 arrays with ``m ~ m0 *
    2**-(31 + shift)``, ``m0`` in ``[2**30, 2**31)``: the fixed-point form of TFLite and
    gemmlowp (``frexp``, then the mantissa rounded to 31 bits).

    >>> m0, shift = quantize_multiplier([0.5, 0.0003])
    >>> m0.tolist(), shift.tolist()
    ([1073741824, 1319413953], [0, 11])
    >>> [a.tolist() for a in quantize_multiplier([1 - 2**-33])]  # rounds up to 1.0
    [[2147483647], [0]]
    """
    m = np.asarray(multiplier, np.float64).reshape(-1)
    if not (np.isfinite(m).all() and (m > 0).all() and (m < 1).all()):
        raise ValueError(f"quantize_multiplier(): multipliers must lie in (0, 1), got "
                         f"{m[~((m > 0) & (m < 1))][:3].tolist()}\nhint: s_x * s_w / s_out "
                         "is below 1 unless the output scale is smaller than the product "
                         "of the input scales; use the float multiplier then")
    mantissa, exponent = np.frexp(m)  # m = mantissa * 2**exponent, mantissa in [0.5, 1)
    m0 = np.rint(mantissa * 2.0**31).astype(np.int64)
    carry = m0 == 2**31  # rounding reached 1.0: halve it and move the exponent
    m0[carry] //= 2
    exponent[carry] += 1
    # m in [1 - 2**-32, 1) rounds up to 1.0 = 2**30 * 2**-30: shift -1, a left shift the
    # kernels do not do (a negative shift count is undefined). The nearest multiplier
    # with shift 0 is (2**31 - 1) * 2**-31, within 2**-31 of m.
    top = exponent > 0
    m0[top] = INT32_MAX
    exponent[top] = 0
    shift = -exponent
    if (shift > 31).any():
        raise ValueError(f"quantize_multiplier(): multiplier {m[shift > 31][0]!r} is below "
                         "2**-32; its fixed-point form would shift every accumulator to 0")
    return m0.astype(np.int32), shift.astype(np.int32)


def requantize(acc: Tensor, multiplier, zero_point: int, *, quant_min: int = INT8_MIN,
               quant_max: int = INT8_MAX, fixed_point: bool = False) -> Tensor:
    """int32 accumulators ``(M, N)`` back to int8 codes: ``clamp(rint(acc * m[j]) +
    zero_point)`` with one multiplier per column (``s_x * s_w[j] / s_out``): how an int8
    layer hands int8 codes to the next one without a float round trip. ``fixed_point=True``
    does it in integers only (``quantize_multiplier``; rounds half away from zero, so a
    tie can land one code from the float path).

    >>> import numpy as np, tinytorch as tt
    >>> acc = tt.tensor(np.array([[100, -300], [5, 1000]], np.int32))
    >>> requantize(acc, [0.01, 0.5], 0).tolist()
    [[1, -128], [0, 127]]
    >>> requantize(acc, [0.01, 0.5], 0, fixed_point=True).tolist()
    [[1, -128], [0, 127]]
    """
    op = "requantize"
    if not isinstance(acc, Tensor):
        raise TypeError(f"{op}(): acc must be a Tensor, got {type(acc).__name__}")
    if acc.dtype.np != np.int32 or acc.ndim != 2:
        raise TypeError(f"{op}(): acc must be a 2-D int32 tensor of accumulators, got "
                        f"{acc.ndim}-D {acc.dtype.name}")
    qmin, qmax = _range(quant_min, quant_max, op)
    m = _scales(multiplier, acc.shape[1], op)
    z = int(_zero_points(zero_point, 1, qmin, qmax, op)[0])
    out = np.empty(acc.shape, np.int8)
    if fixed_point:
        m0, shift = quantize_multiplier(m)
        # the kernels shift by shift[j] bits with no check: 0..31 only
        if ((shift < 0) | (shift > 31)).any() or (m0 < 2**30).any():
            raise ValueError(f"{op}(): the fixed-point multipliers (m0 {m0[:3].tolist()}, "
                             f"shift {shift[:3].tolist()}) are outside m0 in [2**30, 2**31),"
                             " shift in [0, 31]\nhint: use fixed_point=False")
        if out.size:
            dispatch.call("requantize_fixed_forward", out, acc._data, m0, shift,
                          zero_point=z, qmin=qmin, qmax=qmax)
    elif out.size:
        dispatch.call("requantize_forward", out, acc._data, m, zero_point=z, qmin=qmin,
                      qmax=qmax)
    return Tensor(out)
