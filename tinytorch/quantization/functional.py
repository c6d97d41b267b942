"""Quantised tensors and the functions on them: ``quantize_per_tensor``,
``quantize_per_channel``, ``dequantize``, ``choose_qparams``, ``requantize``.

A ``QTensor`` is int8 codes plus the affine map back to real numbers, ``x ~ (q - z) * s``
(``kernels/quant.py`` states the rounding and saturation rules: round half to even, clamp,
NaN to ``qmin``). Everything is checked here before a kernel runs; the kernels run through
the dispatcher, so the naive, jit and numpy backends all quantise the same way.

>>> import tinytorch as tt
>>> q = quantize_per_tensor(tt.tensor([-1.0, 0.0, 0.26, 2.0]), scale=0.5, zero_point=0)
>>> q.int_repr().tolist(), q.dequantize().tolist()
([-2, 0, 1, 4], [-1.0, 0.0, 0.5, 2.0])
"""

from __future__ import annotations

import numpy as np

from tinytorch import dispatch
from tinytorch.ops._common import reshape_view
from tinytorch.tensor import Tensor

__all__ = ["QuantizationError", "QTensor", "QSCHEMES", "quantize_per_tensor",
           "quantize_per_channel", "dequantize", "choose_qparams", "requantize",
           "check_accumulator", "quantize_multiplier", "INT8_MIN", "INT8_MAX", "INT32_MAX"]

INT8_MIN, INT8_MAX = -128, 127
INT32_MAX = 2**31 - 1
QSCHEMES = ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
            "per_channel_symmetric")


class QuantizationError(ValueError):
    """A model or tensor that cannot be quantised, or a quantised file that cannot be
    loaded, as asked: the message says what and gives a hint."""


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


# --- the quantised tensor ---------------------------------------------------------------

class QTensor:
    """int8 codes with their scale(s) and zero point(s): PyTorch's quantised tensor, as
    its own small type (it is no ``Tensor``: arithmetic on codes would be wrong).

    ``axis`` is None for per-tensor quantisation, else the channel axis of per-channel
    scales. Methods follow PyTorch: ``int_repr()``, ``dequantize()``, ``q_scale()``,
    ``q_zero_point()``, ``q_per_channel_scales()``, ``q_per_channel_zero_points()``,
    ``q_per_channel_axis()``, ``qscheme()``.

    >>> import tinytorch as tt
    >>> q = quantize_per_channel(tt.tensor([[1.0, -1.0], [0.5, 0.25]]), [0.01, 0.0025],
    ...                          [0, 0], axis=0)
    >>> q.int_repr().tolist(), q.q_per_channel_scales().tolist(), q.qscheme()
    ([[100, -100], [127, 100]], [0.01, 0.0025], 'per_channel_symmetric')
    """

    __slots__ = ("_codes", "_scale", "_zero_point", "_axis", "_symmetric")

    def __init__(self, codes: np.ndarray, scale: np.ndarray, zero_point: np.ndarray,
                 axis: int | None, symmetric: bool = False):
        # Everything the kernels will index is checked here: a compiled kernel reads
        # scale[c] for every channel c without a bounds check.
        op = "QTensor"
        if not isinstance(codes, np.ndarray) or codes.dtype != np.int8:
            what = f"{codes.dtype} array" if isinstance(codes, np.ndarray) else \
                type(codes).__name__
            raise TypeError(f"{op}(): codes must be an int8 numpy array, got a {what}\nhint: "
                            "quantize_per_tensor / quantize_per_channel make QTensors from "
                            "float tensors")
        if axis is None:
            n = 1
        else:
            if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
                raise TypeError(f"{op}(): axis must be an int or None (per tensor), got "
                                f"{type(axis).__name__}")
            if codes.ndim == 0 or not -codes.ndim <= axis < codes.ndim:
                raise ValueError(f"{op}(): axis {axis} is out of range for codes of shape "
                                 f"{codes.shape}\nhint: axis=None for one scale per tensor")
            axis = int(axis) % codes.ndim
            n = codes.shape[axis]
        if not isinstance(symmetric, (bool, np.bool_)):
            raise TypeError(f"{op}(): symmetric must be a bool, got {type(symmetric).__name__}")
        where = "per tensor" if axis is None else f"shape[{axis}] of codes {codes.shape}"
        if np.size(scale) != n or np.size(zero_point) != n:
            raise ValueError(f"{op}(): expected {n} scale(s) and zero point(s) ({where}), "
                             f"got {np.size(scale)} and {np.size(zero_point)}\nhint: one "
                             "per channel along axis, or one each with axis=None")
        scale = _scales(scale, n, op)
        zero_point = _zero_points(zero_point, n, INT8_MIN, INT8_MAX, op)
        if symmetric and zero_point.any():
            raise ValueError(f"{op}(): a symmetric QTensor has zero points 0, got "
                             f"{zero_point[:3].tolist()}\nhint: symmetric=False")
        self._codes = codes
        self._scale = scale
        self._zero_point = zero_point
        self._axis = axis
        self._symmetric = bool(symmetric)

    shape = property(lambda self: tuple(self._codes.shape), doc="the tensor's shape")
    ndim = property(lambda self: self._codes.ndim, doc="number of dimensions")

    def int_repr(self) -> Tensor:
        """The int8 codes as a tensor (a copy: the QTensor keeps its own)."""
        return Tensor(self._codes.copy())

    def q_scale(self) -> float:
        """The scale of a per-tensor QTensor."""
        self._need(per_channel=False, what="q_scale")
        return float(self._scale[0])

    def q_zero_point(self) -> int:
        """The zero point of a per-tensor QTensor."""
        self._need(per_channel=False, what="q_zero_point")
        return int(self._zero_point[0])

    def q_per_channel_scales(self) -> Tensor:
        """The scales of a per-channel QTensor (float64)."""
        self._need(per_channel=True, what="q_per_channel_scales")
        return Tensor(self._scale.copy())

    def q_per_channel_zero_points(self) -> Tensor:
        """The zero points of a per-channel QTensor (int32)."""
        self._need(per_channel=True, what="q_per_channel_zero_points")
        return Tensor(self._zero_point.copy())

    def q_per_channel_axis(self) -> int:
        """The channel axis of a per-channel QTensor."""
        self._need(per_channel=True, what="q_per_channel_axis")
        return self._axis

    def qscheme(self) -> str:
        """One of ``QSCHEMES``."""
        kind = "per_tensor" if self._axis is None else "per_channel"
        return f"{kind}_{'symmetric' if self._symmetric else 'affine'}"

    def _need(self, per_channel: bool, what: str) -> None:
        if (self._axis is not None) != per_channel:
            other = "q_per_channel_scales()" if self._axis is not None else "q_scale()"
            raise RuntimeError(f"QTensor.{what}() needs a "
                               f"{'per-channel' if per_channel else 'per-tensor'} QTensor; "
                               f"this one is {self.qscheme()}\nhint: use {other}")

    def dequantize(self, dtype=None) -> Tensor:
        """Real values ``(q - z) * s`` as a new float tensor (float32 unless ``dtype``)."""
        return dequantize(self, dtype)

    def __repr__(self) -> str:
        if self._axis is None:
            q = f"scale={self._scale[0]:.6g}, zero_point={int(self._zero_point[0])}"
        else:
            q = f"axis={self._axis}, {len(self._scale)} scales"
        return f"QTensor(shape={self.shape}, int8, {self.qscheme()}, {q})"


def _channel_view(shape: tuple, axis: int | None) -> tuple[int, int, int]:
    """The (A, C, B) shape the kernels see: channel in the middle (kernels/quant.py)."""
    if axis is None:
        return 1, 1, int(np.prod(shape, dtype=np.int64))
    return (int(np.prod(shape[:axis], dtype=np.int64)), shape[axis],
            int(np.prod(shape[axis + 1:], dtype=np.int64)))


def _quantize(x: Tensor, scale: np.ndarray, zp: np.ndarray, axis, qmin, qmax,
              symmetric: bool) -> QTensor:
    codes = np.empty(x.shape, np.int8)
    view = _channel_view(x.shape, axis)
    if codes.size:
        dispatch.call("quantize_forward", codes.reshape(view), reshape_view(x._data, view),
                      scale, zp, qmin=qmin, qmax=qmax)
    return QTensor(codes, scale, zp, axis, symmetric)


def quantize_per_tensor(input: Tensor, scale, zero_point, dtype="qint8", *,  # noqa: A002
                        quant_min: int = INT8_MIN, quant_max: int = INT8_MAX) -> QTensor:
    """``clamp(rint(x / scale) + zero_point, quant_min, quant_max)`` as int8 codes: PyTorch's
    ``torch.quantize_per_tensor`` (``dtype`` must be ``"qint8"``: int8 codes).

    >>> import tinytorch as tt
    >>> quantize_per_tensor(tt.tensor([0.25, 0.75, 100.0]), 0.5, -1).int_repr().tolist()
    [-1, 1, 127]
    """
    op = "quantize_per_tensor"
    _float_tensor(input, op)
    _check_dtype(dtype, op)
    qmin, qmax = _range(quant_min, quant_max, op)
    s = _scales(scale, 1, op)
    z = _zero_points(zero_point, 1, qmin, qmax, op)
    return _quantize(input, s, z, None, qmin, qmax, symmetric=bool(z[0] == 0))


def quantize_per_channel(input: Tensor, scales, zero_points, axis: int,  # noqa: A002
                         dtype="qint8", *, quant_min: int = INT8_MIN,
                         quant_max: int = INT8_MAX) -> QTensor:
    """Per-channel codes: channel ``c`` along ``axis`` uses ``scales[c]`` and
    ``zero_points[c]`` (PyTorch's ``torch.quantize_per_channel``; weights use axis 0, one
    scale per output channel). One kernel call, no copy, whatever the axis.

    >>> import tinytorch as tt
    >>> x = tt.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> quantize_per_channel(x, [1.0, 0.5], [0, 0], axis=1).int_repr().tolist()
    [[1, 4], [3, 8]]
    """
    op = "quantize_per_channel"
    _float_tensor(input, op)
    _check_dtype(dtype, op)
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}(): axis must be an int, got {type(axis).__name__}")
    if not -input.ndim <= axis < input.ndim or input.ndim == 0:
        raise ValueError(f"{op}(): axis {axis} is out of range for a tensor of shape "
                         f"{input.shape}")
    axis = int(axis) % input.ndim
    qmin, qmax = _range(quant_min, quant_max, op)
    n = input.shape[axis]
    s = _scales(scales, n, op)
    z = _zero_points(zero_points, n, qmin, qmax, op)
    return _quantize(input, s, z, axis, qmin, qmax, symmetric=not z.any())


def _check_dtype(dtype, op: str) -> None:
    name = getattr(dtype, "name", dtype)
    if name not in ("qint8", "int8"):
        raise ValueError(f"{op}(): dtype {dtype!r} is not supported; tinytorch quantises "
                         "to 'qint8' (int8 codes)")


def dequantize(q: QTensor, dtype=None) -> Tensor:
    """``(q - zero_point) * scale`` as a float tensor (float32 unless ``dtype`` says
    float64): PyTorch's ``Tensor.dequantize()``.

    >>> import tinytorch as tt
    >>> dequantize(quantize_per_tensor(tt.tensor([0.3, -0.7]), 0.1, 3)).tolist()
    [0.30000001192092896, -0.699999988079071]
    """
    if not isinstance(q, QTensor):
        raise TypeError(f"dequantize(): expected a QTensor, got {type(q).__name__}\nhint: "
                        "quantize_per_tensor(x, scale, zero_point) makes one")
    from tinytorch import dtypes as dt  # noqa: PLC0415 (a small module, already imported)

    out_dtype = dt.as_dtype(dtype if dtype is not None else dt.float32)
    if not out_dtype.is_floating_point:
        raise TypeError(f"dequantize(): dtype must be floating, got {out_dtype}")
    out = np.empty(q.shape, out_dtype.np)
    view = _channel_view(q.shape, q._axis)
    if out.size:
        dispatch.call("dequantize_forward", out.reshape(view), q._codes.reshape(view),
                      q._scale, q._zero_point)
    return Tensor(out)


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

