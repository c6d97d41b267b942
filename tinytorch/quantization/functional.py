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

The package is in parts (each under ~400 lines): the shared checks, ``QuantizationError``
and the int8 constants live in ``_checks``; ``choose_qparams``, ``check_accumulator``,
``quantize_multiplier`` and ``requantize`` in ``qparams``. This module re-exports them all,
so every name above imports from here as it always has.
"""

from __future__ import annotations

import numpy as np

from tinytorch import dispatch
from tinytorch.ops._common import reshape_view

# Re-exported: their public home is here (tests, observers, modules and user code import
# them from tinytorch.quantization.functional), the private checks included.
from tinytorch.quantization._checks import (  # noqa: F401
    INT8_MAX,
    INT8_MIN,
    INT32_MAX,
    QuantizationError,
    _float32_scales,
    _float_tensor,
    _range,
    _scales,
    _zero_points,
)
from tinytorch.quantization.qparams import (
    check_accumulator,
    choose_qparams,
    quantize_multiplier,
    requantize,
)
from tinytorch.tensor import Tensor

__all__ = ["QuantizationError", "QTensor", "QSCHEMES", "quantize_per_tensor",
           "quantize_per_channel", "dequantize", "choose_qparams", "requantize",
           "check_accumulator", "quantize_multiplier", "INT8_MIN", "INT8_MAX", "INT32_MAX"]

QSCHEMES = ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
            "per_channel_symmetric")


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
