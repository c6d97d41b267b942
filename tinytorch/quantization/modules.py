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
"""

from __future__ import annotations

import operator

import numpy as np

from tinytorch import dispatch
from tinytorch.autograd import Function
from tinytorch.nn import Conv2d, Linear
from tinytorch.nn.module import Module
from tinytorch.ops._common import reshape_view
from tinytorch.ops.conv import _padding, pair
from tinytorch.quantization.functional import (
    INT8_MAX,
    INT8_MIN,
    QuantizationError,
    _float32_scales,
    _range,
    _scales,
    _zero_points,
    check_accumulator,
)
from tinytorch.quantization.observers import ObserverBase, PerChannelMinMaxObserver
from tinytorch.tensor import Tensor

__all__ = ["QuantLinear", "QuantConv2d"]

class _Int8Forward(Function):
    """The graph node of an int8 layer: forward runs the integer kernels, backward refuses."""

    @staticmethod
    def forward(ctx, x, layer):
        ctx.layer = layer  # for the message only (a repr per call would cost microseconds)
        return layer._run(x)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(
            f"{ctx.layer!r} is inference-only: an int8 layer has no gradient (the "
            "rounding in quantize has a zero derivative almost everywhere)\nhint: train "
            "the float model and quantise it afterwards (quantize_model), or run the "
            "quantised model under tt.no_grad()")


class _QuantLayer(Module):
    """Shared state: int8 weights as (C_out, K), per-channel scales and zero points, the
    input's scale and zero point, and the float bias; the derived int32 bias and the
    output scales are computed once, here, not per call."""

    def _setup(self, weight_q: np.ndarray, weight_scale, weight_zero_point, bias,
               input_scale, input_zero_point, input_range) -> None:
        cls = type(self).__name__
        c_out = weight_q.shape[0]
        if weight_q.dtype != np.int8:
            raise TypeError(f"{cls}(): weight codes must be int8, got {weight_q.dtype}")
        self.input_quant_min, self.input_quant_max = _range(*input_range, cls)
        s_w = _float32_scales(_scales(weight_scale, c_out, cls), cls, "weight scale")
        z_w = _zero_points(weight_zero_point, c_out, INT8_MIN, INT8_MAX, cls)
        s_x = _float32_scales(_scales(input_scale, 1, cls), cls, "input scale")
        z_x = _zero_points(input_zero_point, 1, self.input_quant_min, self.input_quant_max,
                           cls)
        b = None
        if bias is not None:
            b = np.asarray(bias.numpy() if isinstance(bias, Tensor) else bias, np.float32)
            if b.shape != (c_out,):
                raise ValueError(f"{cls}(): bias must have shape ({c_out},), got {b.shape}")
        # Everything derived is computed (and checked) before the layer takes any state,
        # so a refused layer keeps none.
        derived = self._derive(np.ascontiguousarray(weight_q), s_w, z_w, b, s_x, z_x)
        # Buffers: what state_dict and save_quantized keep. Codes stay int8 on disk.
        self.register_buffer("weight_int8", Tensor(np.ascontiguousarray(weight_q)))
        self.register_buffer("weight_scale", Tensor(s_w.astype(np.float32)))
        self.register_buffer("weight_zero_point", Tensor(z_w))
        self.register_buffer("input_scale", Tensor(s_x.astype(np.float32)))
        self.register_buffer("input_zero_point", Tensor(z_x))
        self.register_buffer("bias", None if b is None else Tensor(b))
        self._adopt(derived)

    # The buffers the derived constants come from, in _derive's argument order.
    _SOURCES = ("weight_int8", "weight_scale", "weight_zero_point", "bias", "input_scale",
                "input_zero_point")

    def _derive(self, w: np.ndarray, s_w, z_w, b, s_x, z_x) -> dict:
        """The per-call constants of the buffers' values, checked: float64 copies of the
        float32 scales (so every backend multiplies the same), the int32 bias, the packed
        weights, and the accumulator bound."""
        cls = type(self).__name__
        if b is not None and not np.isfinite(b).all():
            raise QuantizationError(f"{cls}(): the bias holds NaN or inf")
        s_x = _float32_scales(np.asarray(s_x, np.float64).reshape(-1), cls, "input scale")
        s_w = _float32_scales(np.asarray(s_w, np.float64).reshape(-1), cls, "weight scale")
        out_scale = s_x[0] * s_w  # (C_out,): one accumulator unit
        c_out = w.shape[0]
        bias_q = np.zeros(c_out, np.float64) if b is None else np.rint(b / out_scale)
        if np.abs(bias_q).max(initial=0) > 2**31 - 1:
            raise QuantizationError(f"{cls}(): the bias does not fit int32 in units of "
                                    "s_x * s_w (the input scale is tiny next to the bias)")
        bias_q = bias_q.astype(np.int32)
        z_x_arr = np.array(z_x, np.int32).reshape(1)  # private: the one input zero point
        z_x = int(z_x_arr[0])
        w2 = w.reshape(c_out, -1)
        K = w2.shape[1]
        # The weights are known: bound with their actual codes (symmetric ones stop at
        # +-127), the input by its code range.
        w_range = (int(w2.min()), int(w2.max())) if w2.size else (0, 0)
        check_accumulator(K, (self.input_quant_min, self.input_quant_max), z_x, w_range, z_w,
                          int(np.abs(bias_q).max(initial=0)),
                          where=f"{cls}(in={K} terms per output)")
        z_w = np.array(z_w, np.int32)
        return {"_s_x": s_x, "_z_x": z_x, "_z_x_arr": z_x_arr, "_s_w": s_w, "_z_w": z_w,
                "_out_scale": out_scale, "_zeros": np.zeros(c_out, np.int32),
                "_bias_q": bias_q, "_K": K, "_w_packed": self._pack(w2, z_w)}

    def _adopt(self, derived: dict) -> None:
        self.__dict__.update(derived)
        # What the constants came from: the buffer objects and the sum of their version
        # counters (load_state_dict, like any in-place write, bumps a version; versions
        # only grow, so the sum moves with any of them; an assignment swaps an object)
        b = self._buffers
        self._watch = tuple(map(b.get, self._SOURCES))
        self._refs = tuple(t._version_ref for t in self._watch if t is not None)
        self._vsum = sum(r[0] for r in self._refs)

    def _stale(self) -> bool:
        """True when the buffers changed since the constants were computed (the check
        runs on every forward: kept to a few hundred nanoseconds)."""
        if any(map(operator.is_not, self._watch, map(self._buffers.get, self._SOURCES))):
            return True
        v = 0
        for r in self._refs:
            v += r[0]
        return v != self._vsum

    def _refresh(self) -> None:
        """Recompute the constants from the buffers as they are now (after a
        load_state_dict, say), with every check of construction."""
        cls = type(self).__name__
        b = self._buffers
        missing = [k for k in self._SOURCES if k != "bias" and b.get(k) is None]
        if missing:
            raise QuantizationError(f"{cls}: buffer(s) {missing} were removed\nhint: load "
                                    "a state dict of a layer of the same kind instead")
        w = np.ascontiguousarray(b["weight_int8"]._data)
        c_out = w.shape[0]
        if w.dtype != np.int8:
            raise QuantizationError(f"{cls}: weight_int8 is now {w.dtype}, not int8")
        try:
            s_w = _scales(b["weight_scale"]._data, c_out, cls)
            z_w = _zero_points(b["weight_zero_point"]._data, c_out, INT8_MIN, INT8_MAX, cls)
            s_x = _scales(b["input_scale"]._data, 1, cls)
            z_x = _zero_points(b["input_zero_point"]._data, 1, self.input_quant_min,
                               self.input_quant_max, cls)
            bias = None if b.get("bias") is None else b["bias"]._data.astype(np.float32)
            derived = self._derive(w, s_w, z_w, bias, s_x, z_x)
        except (TypeError, ValueError) as err:
            raise QuantizationError(f"{cls}: its buffers changed (load_state_dict?) to "
                                    f"values it cannot run with: {err}") from None
        self._adopt(derived)

    def load_state_dict(self, state_dict, strict: bool = True):
        """``Module.load_state_dict``, then the derived constants (int32 bias, packed
        weights, scales, accumulator bound) recomputed from the new buffers; values it
        cannot run with are a QuantizationError and the old ones stay. A state dict loaded
        into a model that holds this layer is caught at the next forward (the buffers'
        version counters moved), which recomputes or refuses there.

        >>> from tinytorch import nn
        >>> a = QuantLinear.from_float(nn.Linear(2, 2), input_scale=0.1, input_zero_point=0)
        >>> b = QuantLinear.from_float(nn.Linear(2, 2), input_scale=0.2, input_zero_point=5)
        >>> _ = a.load_state_dict(b.state_dict())
        >>> a._z_x, a._bias_q.tolist() == b._bias_q.tolist()
        (5, True)
        """
        before = {k: t._data.copy() for k, t in self._buffers.items() if t is not None}
        result = super().load_state_dict(state_dict, strict)
        try:
            self._refresh()
        except QuantizationError:
            # refused: put the old values back, so the layer runs as it did before
            for k, value in before.items():
                self._buffers[k]._data[...] = value
            self._refresh()
            raise
        return result

    def _pack(self, w2: np.ndarray, z_w: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(w2)

    def _check_input(self, x) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__}.forward(): input must be a float Tensor, "
                            f"got {type(x).__name__}\nhint: the layer quantises its input "
                            "itself; pass the float activations")
        if not x.dtype.is_floating_point:
            raise TypeError(f"{type(self).__name__}.forward(): input must be float32 or "
                            f"float64, got {x.dtype.name}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        self._check_shape(x)
        if self._stale():  # new buffer values (load_state_dict): recompute, re-check
            self._refresh()
        return _Int8Forward.apply(x, self)

    def _quantize_input(self, xa: np.ndarray) -> np.ndarray:
        codes = np.empty(xa.shape, np.int8)
        if codes.size:
            n = codes.size
            dispatch.call("quantize_forward", codes.reshape(1, 1, n),
                          reshape_view(xa, (1, 1, n)), self._s_x,
                          self._z_x_arr, qmin=self.input_quant_min, qmax=self.input_quant_max)
        return codes

    def weight_nbytes(self) -> int:
        """Bytes of the int8 weights and their per-channel scales and zero points."""
        return sum(self._buffers[k]._data.nbytes for k in
                   ("weight_int8", "weight_scale", "weight_zero_point"))


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
