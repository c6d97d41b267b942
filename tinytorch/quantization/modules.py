"""int8 layers that run on integer kernels end to end: ``QuantLinear`` and ``QuantConv2d``.

A forward pass, for input ``x`` (float) with the calibrated input scale ``s_x`` and zero
point ``z_x``, and weights quantised per output channel (``s_w[j]``, ``z_w[j]``)::

    x_q  = quantize(x, s_x, z_x)                          int8    quantize_forward
    acc  = bias_q + (x_q - z_x) @ (W_q - z_w)^T           int32   qgemm_forward
    y    = acc * (s_x * s_w[j])                           float   dequantize_forward

``bias_q = rint(bias / (s_x * s_w[j]))`` is the bias in the accumulator's own units, added
in int32 as PyTorch's quantised layers do. The convolution lowers to the same GEMM with an
int8 im2row (``qim2row_forward``: taps outside the image read ``z_x``, the code of 0.0).
Nothing is dequantised before the product: the arithmetic is int8 x int8 -> int32.

The layers are inference-only: they hold no Parameters, and a backward pass through one is
a RuntimeError (the rounding in ``quantize`` has a zero derivative almost everywhere).

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> _ = tt.manual_seed(0)
>>> float_layer = nn.Linear(4, 3)
>>> q = QuantLinear.from_float(float_layer, input_scale=1 / 127, input_zero_point=0)
>>> x = tt.rand(2, 4)
>>> bool(((q(x) - float_layer(x)).abs() < 0.02).numpy().all())
True

The buffers, the constants derived from them and the backward that refuses are shared by
both layers: they live in ``_layer`` (``_QuantLayer``, ``_Int8Forward``), re-exported here.
"""

from __future__ import annotations

import numpy as np

from tinytorch import dispatch
from tinytorch.nn import Conv2d, Linear
from tinytorch.ops._common import reshape_view
from tinytorch.ops.conv import _padding, pair

# _QuantLayer and _Int8Forward live in _layer (shared by both layers); re-exported here,
# where serialize and earlier code import them from.
from tinytorch.quantization._layer import _Int8Forward, _QuantLayer  # noqa: F401
from tinytorch.quantization.functional import (
    INT8_MAX,
    INT8_MIN,
    QuantizationError,
    _float32_scales,
    _range,
    _scales,
    _zero_points,
)
from tinytorch.quantization.observers import ObserverBase, PerChannelMinMaxObserver
from tinytorch.tensor import Tensor

__all__ = ["QuantLinear", "QuantConv2d"]


class QuantLinear(_QuantLayer):
    """An int8 ``Linear``: ``y = dequant(bias_q + (q(x) - z_x) @ (W_q - z_w)^T)``.

    Build one with ``QuantLinear.from_float(linear, input_scale, input_zero_point)`` (or
    let ``convert`` do it). Input ``(*, in_features)`` float, output float32.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> q = QuantLinear.from_float(nn.Linear(3, 2), input_scale=0.01, input_zero_point=0)
    >>> q.extra_repr().split(", ")[:3]
    ['in_features=3', 'out_features=2', 'qscheme=per_channel_symmetric']
    >>> q(tt.ones(5, 3)).shape, q.weight_int8.dtype
    ((5, 2), tinytorch.int8)
    """

    def __init__(self, in_features: int, out_features: int, weight_q, weight_scale,
                 weight_zero_point, bias, input_scale, input_zero_point,
                 input_range=(INT8_MIN, INT8_MAX), qscheme: str = "per_channel_symmetric"):
        super().__init__()
        weight_q = np.asarray(weight_q.numpy() if isinstance(weight_q, Tensor) else weight_q)
        if weight_q.shape != (out_features, in_features):
            raise ValueError(f"QuantLinear(): weight codes must have shape ({out_features}, "
                             f"{in_features}), got {weight_q.shape}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.qscheme = qscheme
        self._setup(weight_q, weight_scale, weight_zero_point, bias, input_scale,
                    input_zero_point, input_range)

    @classmethod
    def from_float(cls, linear: Linear, input_scale, input_zero_point, *,
                   weight_observer: ObserverBase | None = None,
                   input_range=(INT8_MIN, INT8_MAX)) -> QuantLinear:
        """Quantise a float ``nn.Linear``'s weights (``weight_observer``: by default
        per-channel symmetric, one scale per output row, codes in [-127, 127])."""
        _exact(linear, Linear, "QuantLinear.from_float")
        _input_qparams(cls.__name__, input_scale, input_zero_point, input_range)
        w_q, s_w, z_w, scheme = _quantize_weight(linear.weight, weight_observer)
        return cls(linear.in_features, linear.out_features, w_q, s_w, z_w,
                   linear.bias, input_scale, input_zero_point, input_range, scheme)

    def _check_shape(self, x: Tensor) -> None:
        if not x.shape or x.shape[-1] != self.in_features:
            raise ValueError(f"QuantLinear(in_features={self.in_features}, out_features="
                             f"{self.out_features}): expected an input whose last dimension "
                             f"is {self.in_features}, got shape {x.shape}")

    def _run(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        M = int(np.prod(lead, dtype=np.int64))
        xa = reshape_view(x._data, (M, self.in_features))
        codes = self._quantize_input(xa)
        N = self.out_features
        acc = np.empty((M, N), np.int32)
        dispatch.call("qgemm_forward", acc, codes, self._w_packed, self._bias_q, self._z_w,
                      a_zero_point=self._z_x)
        out = np.empty((M, N), np.float32)
        if out.size:  # (M, N, 1): the channel (column) in the middle, one scale each
            dispatch.call("dequantize_forward", out.reshape(M, N, 1), acc.reshape(M, N, 1),
                          self._out_scale, self._zeros)
        return Tensor(out.reshape(*lead, N))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"qscheme={self.qscheme}, input_scale={self._s_x[0]:.6g}, "
                f"input_zero_point={self._z_x}")


class QuantConv2d(_QuantLayer):
    """An int8 ``Conv2d`` (groups=1): int8 im2row with zero-point padding, the int8 GEMM
    against ``W_q`` as ``(C_out, C_in*KH*KW)``, then per-channel dequantisation straight
    into NCHW. Input ``(N, C_in, H, W)`` or ``(C_in, H, W)`` float; output float32.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> conv = nn.Conv2d(2, 4, 3, padding=1)
    >>> q = QuantConv2d.from_float(conv, input_scale=1 / 255, input_zero_point=-128)
    >>> x = tt.rand(1, 2, 5, 5)
    >>> q(x).shape, bool(((q(x) - conv(x)).abs() < 0.05).numpy().all())
    ((1, 4, 5, 5), True)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, weight_q,
                 weight_scale, weight_zero_point, bias, input_scale, input_zero_point,
                 stride=1, padding=0, dilation=1, input_range=(INT8_MIN, INT8_MAX),
                 qscheme: str = "per_channel_symmetric"):
        super().__init__()
        cls = "QuantConv2d"
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, cls, "kernel_size", 1)
        self.stride = pair(stride, cls, "stride", 1)
        self.dilation = pair(dilation, cls, "dilation", 1)
        self.padding = padding if isinstance(padding, str) else pair(padding, cls, "padding",
                                                                     0)
        self._pads = _padding(self.padding, self.kernel_size, self.dilation, self.stride, cls)
        self.qscheme = qscheme
        weight_q = np.asarray(weight_q.numpy() if isinstance(weight_q, Tensor) else weight_q)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        if weight_q.shape != shape:
            raise ValueError(f"{cls}(): weight codes must have shape {shape}, got "
                             f"{weight_q.shape}")
        self._setup(weight_q, weight_scale, weight_zero_point, bias, input_scale,
                    input_zero_point, input_range)

    def _pack(self, w2: np.ndarray, z_w: np.ndarray) -> np.ndarray:
        # (C_out, K + 1): the im2row's last column is all ones, and here it meets each
        # channel's own zero point, so its term (1 - z_x) * (z_w - z_w) is exactly 0.
        packed = np.empty((w2.shape[0], w2.shape[1] + 1), np.int8)
        packed[:, :-1] = w2
        packed[:, -1] = z_w
        return packed

    @classmethod
    def from_float(cls, conv: Conv2d, input_scale, input_zero_point, *,
                   weight_observer: ObserverBase | None = None,
                   input_range=(INT8_MIN, INT8_MAX)) -> QuantConv2d:
        """Quantise a float ``nn.Conv2d`` (``groups`` must be 1)."""
        _exact(conv, Conv2d, "QuantConv2d.from_float")
        if conv.groups != 1:
            raise QuantizationError(f"QuantConv2d.from_float(): groups={conv.groups} is not "
                                    "supported (int8 convolutions here are groups=1)\nhint: "
                                    "leave this layer in float (skip it in prepare)")
        _input_qparams(cls.__name__, input_scale, input_zero_point, input_range)
        w_q, s_w, z_w, scheme = _quantize_weight(conv.weight, weight_observer)
        return cls(conv.in_channels, conv.out_channels, conv.kernel_size, w_q, s_w, z_w,
                   conv.bias, input_scale, input_zero_point, stride=conv.stride,
                   padding=conv.padding, dilation=conv.dilation, input_range=input_range,
                   qscheme=scheme)

    def _check_shape(self, x: Tensor) -> None:
        if x.ndim not in (3, 4) or x.shape[-3] != self.in_channels:
            raise ValueError(f"QuantConv2d({self.in_channels}, {self.out_channels}): expected "
                             f"an input (N, {self.in_channels}, H, W) or ({self.in_channels}"
                             f", H, W), got shape {x.shape}")
        (pt, pb), (pl, pr) = self._pads
        H, W = x.shape[-2:]
        span = [d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel_size, strict=True)]
        if span[0] > H + pt + pb or span[1] > W + pl + pr:
            raise ValueError(f"QuantConv2d: the kernel spans {span[0]} x {span[1]}, more than "
                             f"the padded input ({H + pt + pb} x {W + pl + pr})")

    def _run(self, x: Tensor) -> Tensor:
        if x.ndim == 3:
            return self._run(Tensor(x._data[None])).squeeze(0)
        N, C, H, W = x.shape
        (pt, pb), (pl, pr) = self._pads
        KH, KW = self.kernel_size
        (sh, sw), (dh, dw) = self.stride, self.dilation
        OH = (H + pt + pb - dh * (KH - 1) - 1) // sh + 1
        OW = (W + pl + pr - dw * (KW - 1) - 1) // sw + 1
        P, C_out = OH * OW, self.out_channels
        codes = self._quantize_input(x._data)
        col = np.empty((N, P, self._K + 1), np.int8)
        out = np.empty((N, C_out, P), np.float32)
        if out.size == 0:
            return Tensor(out.reshape(N, C_out, OH, OW))
        dispatch.call("qim2row_forward", col, codes, zero_point=self._z_x, kernel_h=KH,
                      kernel_w=KW, out_w=OW, stride_h=sh, stride_w=sw, pad_h=pt, pad_w=pl,
                      dil_h=dh, dil_w=dw)
        acc = np.empty((N * P, C_out), np.int32)
        dispatch.call("qgemm_forward", acc, col.reshape(N * P, self._K + 1), self._w_packed,
                      self._bias_q, self._z_w, a_zero_point=self._z_x)
        # acc is (N, P, C_out); read it as (N, C_out, P) and write NCHW in the same pass
        dispatch.call("dequantize_forward", out, acc.reshape(N, P, C_out).transpose(0, 2, 1),
                      self._out_scale, self._zeros)
        return Tensor(out.reshape(N, C_out, OH, OW))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, qscheme={self.qscheme}, "
                f"input_scale={self._s_x[0]:.6g}, input_zero_point={self._z_x}")


def _input_qparams(cls: str, input_scale, input_zero_point, input_range) -> None:
    """The input's quantisation parameters, checked before any weight is observed."""
    qmin, qmax = _range(*input_range, cls)
    _float32_scales(_scales(input_scale, 1, cls), cls, "input scale")
    _zero_points(input_zero_point, 1, qmin, qmax, cls)


def _exact(module, kind: type, where: str) -> None:
    """``module`` must be exactly ``kind``: a subclass (``nn.LinearReLU``...) computes
    more than its weights say, and an int8 twin of the weights alone would drop that."""
    if type(module) is kind:
        return
    if isinstance(module, kind):
        raise TypeError(f"{where}(): expected a plain nn.{kind.__name__}, got "
                        f"{type(module).__name__}, a subclass whose forward does more (a "
                        f"fused activation) than the int8 layer would\nhint: unfuse it: "
                        f"nn.Sequential(nn.{kind.__name__}(...), the activation), with "
                        "the same state dict")
    raise TypeError(f"{where}(): expected an nn.{kind.__name__}, got "
                    f"{type(module).__name__}")


def _quantize_weight(weight: Tensor, observer: ObserverBase | None):
    """int8 codes, scales, zero points and the scheme name of a float weight."""
    from tinytorch.autograd import no_grad  # noqa: PLC0415
    from tinytorch.quantization.functional import (  # noqa: PLC0415
        quantize_per_channel,
        quantize_per_tensor,
    )

    obs = observer if observer is not None else PerChannelMinMaxObserver(ch_axis=0)
    w = weight.detach()
    with no_grad():
        obs(w)
    scale, zp = obs.calculate_qparams()
    if obs.per_channel:
        if obs.ch_axis % w.ndim != 0:
            raise QuantizationError("weight observers must observe per output channel "
                                    f"(ch_axis=0), got ch_axis={obs.ch_axis}")
        q = quantize_per_channel(w, scale, zp, 0, quant_min=obs.quant_min,
                                 quant_max=obs.quant_max)
    else:
        q = quantize_per_tensor(w, scale[0], int(zp[0]), quant_min=obs.quant_min,
                                quant_max=obs.quant_max)
        scale = np.full(w.shape[0], scale[0])
        zp = np.full(w.shape[0], zp[0], np.int32)
    return q._codes, scale, zp, obs.qscheme
