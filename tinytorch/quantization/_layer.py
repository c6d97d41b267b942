"""The machinery the int8 layers share: ``_QuantLayer`` (validated buffers, the per-call
constants derived from them once, and their recomputation when a state dict replaces the
buffers) and ``_Int8Forward`` (the graph node whose backward refuses).

It is separate from ``modules`` so that file shows the two layers themselves (what
``QuantLinear`` and ``QuantConv2d`` compute); everything here is the same for both. Both
names are re-exported by ``modules`` (``serialize`` imports ``_QuantLayer`` from there).

>>> from tinytorch import nn
>>> from tinytorch.quantization import QuantLinear
>>> q = QuantLinear.from_float(nn.Linear(2, 3), input_scale=0.1, input_zero_point=0)
>>> isinstance(q, _QuantLayer), q._bias_q.dtype, q.weight_nbytes()
(True, dtype('int32'), 30)
"""

from __future__ import annotations

import operator

import numpy as np

from tinytorch import dispatch
from tinytorch.autograd import Function
from tinytorch.nn.module import Module
from tinytorch.ops._common import reshape_view
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
from tinytorch.tensor import Tensor

__all__: list[str] = []  # private machinery: QuantLinear and QuantConv2d are the API


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
        >>> from tinytorch.quantization import QuantLinear
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
