"""Calibration observers: modules that watch the tensors flowing past and choose a scale
and zero point for them (PyTorch's ``torch.ao.quantization.observer``).

- ``MinMaxObserver``: the running min and max of everything seen (per tensor).
- ``PerChannelMinMaxObserver``: min and max per channel along ``ch_axis`` (weights: one
  scale per output channel keeps a channel of small weights from losing its precision to
  a channel of large ones).
- ``PercentileObserver``: a histogram of everything seen; the range is the ``percentile``
  (and ``100 - percentile``) point of it, so a few outliers do not stretch the scale for
  all the other values (what PyTorch's ``HistogramObserver`` aims at, with a simpler rule:
  clip the tails rather than minimise the quantisation error).

An observer is called like a layer (``obs(x)`` returns ``x`` unchanged) and
``calculate_qparams()`` returns ``(scale, zero_point)`` arrays, shape ``(1,)`` per tensor
or ``(C,)`` per channel. Calling it before it saw data is a QuantizationError.

>>> import tinytorch as tt
>>> obs = MinMaxObserver()
>>> _ = obs(tt.tensor([-1.0, 3.0])); _ = obs(tt.tensor([0.5, 4.1]))
>>> obs.min_val, obs.max_val
(-1.0, 4.099999904632568)
>>> scale, zp = obs.calculate_qparams()
>>> round(float(scale[0]), 5), int(zp[0])
(0.02, -78)
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch.nn.module import Module
from tinytorch.quantization.functional import (
    INT8_MAX,
    INT8_MIN,
    QSCHEMES,
    QuantizationError,
    _float_tensor,
    _range,
    choose_qparams,
)
from tinytorch.tensor import Tensor

__all__ = ["ObserverBase", "MinMaxObserver", "PerChannelMinMaxObserver", "PercentileObserver"]

_F32_EPS = float(np.finfo(np.float32).eps)


class ObserverBase(Module):
    """What every observer shares: the scheme, the code range, the call protocol.

    ``qscheme`` is one of ``QSCHEMES``; symmetric schemes default to the range
    ``[-127, 127]`` (so ``-x`` always has a code, as TFLite and ONNX weights), affine ones
    to ``[-128, 127]``.
    """

    per_channel = False

    def __init__(self, qscheme: str = "per_tensor_affine", quant_min: int | None = None,
                 quant_max: int | None = None):
        super().__init__()
        cls = type(self).__name__
        if qscheme not in QSCHEMES:
            raise ValueError(f"{cls}(): unknown qscheme {qscheme!r}; one of "
                             f"{', '.join(QSCHEMES)}")
        if qscheme.startswith("per_channel") != self.per_channel:
            want = "per_channel" if self.per_channel else "per_tensor"
            raise ValueError(f"{cls}(): qscheme {qscheme!r} does not fit this observer; "
                             f"use a {want}_* scheme\nhint: PerChannelMinMaxObserver "
                             "observes per channel, the others per tensor")
        self.qscheme = qscheme
        self.symmetric = qscheme.endswith("symmetric")
        default_min = -INT8_MAX if self.symmetric else INT8_MIN
        self.quant_min, self.quant_max = _range(
            default_min if quant_min is None else quant_min,
            INT8_MAX if quant_max is None else quant_max, cls)
        self.batches = 0  # how many tensors it has seen

    @property
    def calibrated(self) -> bool:
        """True once the observer has seen at least one non-empty tensor."""
        return self.batches > 0

    def forward(self, x: Tensor) -> Tensor:
        _float_tensor(x, f"{type(self).__name__}.forward")
        if x.numel():
            self._observe(x)
            self.batches += 1
        return x

    def _observe(self, x: Tensor) -> None:
        raise NotImplementedError

    def _range_seen(self) -> tuple:
        raise NotImplementedError

    def calculate_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scale, zero_point)`` for what was observed (``choose_qparams``)."""
        if not self.calibrated:
            raise QuantizationError(
                f"{type(self).__name__}.calculate_qparams(): the observer has seen no data"
                "\nhint: run calibration batches through it (calibrate(prepared, loader)) "
                "before converting")
        lo, hi = self._range_seen()
        return choose_qparams(lo, hi, symmetric=self.symmetric, quant_min=self.quant_min,
                              quant_max=self.quant_max)

    def extra_repr(self) -> str:
        return f"qscheme={self.qscheme}, quant_min={self.quant_min}, " \
               f"quant_max={self.quant_max}, batches={self.batches}"


def _finite(value: float, cls: str) -> float:
    if not math.isfinite(value):
        raise QuantizationError(f"{cls}: the observed tensor holds NaN or inf (its range "
                                f"reached {value})\nhint: calibrate on clean data; NaN in "
                                "activations usually means the float model diverged")
    return value


class MinMaxObserver(ObserverBase):
    """The running ``min`` and ``max`` of every tensor seen (two reduction kernels per
    call, through the dispatcher).

    >>> import tinytorch as tt
    >>> obs = MinMaxObserver(qscheme="per_tensor_symmetric")
    >>> _ = obs(tt.tensor([[-0.5, 1.27]]))
    >>> [round(float(v), 4) for v in obs.calculate_qparams()[0]]
    [0.01]
    """

    def __init__(self, qscheme: str = "per_tensor_affine", quant_min: int | None = None,
                 quant_max: int | None = None):
        super().__init__(qscheme, quant_min, quant_max)
        self.min_val = math.inf
        self.max_val = -math.inf

    def _observe(self, x: Tensor) -> None:
        cls = type(self).__name__
        self.min_val = min(self.min_val, _finite(float(x.amin().item()), cls))
        self.max_val = max(self.max_val, _finite(float(x.amax().item()), cls))

    def _range_seen(self):
        return [self.min_val], [self.max_val]


class PerChannelMinMaxObserver(ObserverBase):
    """``min`` and ``max`` per channel along ``ch_axis`` (weights: axis 0, the output
    channels).

    >>> import tinytorch as tt
    >>> obs = PerChannelMinMaxObserver(ch_axis=0)
    >>> _ = obs(tt.tensor([[1.0, -2.0], [0.1, 0.2]]))
    >>> obs.min_val.tolist(), obs.max_val.tolist()
    ([-2.0, 0.10000000149011612], [1.0, 0.20000000298023224])
    """

    per_channel = True

    def __init__(self, ch_axis: int = 0, qscheme: str = "per_channel_symmetric",
                 quant_min: int | None = None, quant_max: int | None = None):
        super().__init__(qscheme, quant_min, quant_max)
        if isinstance(ch_axis, (bool, np.bool_)) or not isinstance(ch_axis, (int, np.integer)):
            raise TypeError(f"PerChannelMinMaxObserver(): ch_axis must be an int, got "
                            f"{type(ch_axis).__name__}")
        self.ch_axis = int(ch_axis)
        self.min_val = None
        self.max_val = None

    def _observe(self, x: Tensor) -> None:
        cls = type(self).__name__
        if not -x.ndim <= self.ch_axis < x.ndim:
            raise ValueError(f"{cls}: ch_axis {self.ch_axis} is out of range for a tensor "
                             f"of shape {x.shape}")
        axis = self.ch_axis % x.ndim
        # channels first, everything else flattened: one row per channel, reduced along it
        if axis:
            x = x.transpose(0, axis)
        rows = x.reshape(x.shape[0], -1)
        lo = rows.amin(dim=1).numpy().astype(np.float64)
        hi = rows.amax(dim=1).numpy().astype(np.float64)
        _finite(float(lo.min() if lo.size else 0.0), cls)
        _finite(float(hi.max() if hi.size else 0.0), cls)
        if self.min_val is not None and self.min_val.shape != lo.shape:
            raise ValueError(f"{cls}: saw {lo.size} channels, earlier {self.min_val.size}")
        self.min_val = lo if self.min_val is None else np.minimum(self.min_val, lo)
        self.max_val = hi if self.max_val is None else np.maximum(self.max_val, hi)

    def _range_seen(self):
        return self.min_val, self.max_val


class PercentileObserver(ObserverBase):
    """A ``bins``-bin histogram of everything seen; the range is ``[P(100 - p), P(p)]``
    with ``p = percentile``, read off the cumulative counts (bin edges, so within one bin
    width of the exact percentile). When a batch falls outside the current range, the
    range grows to cover it and the old counts move to the new bins by their bin centres
    (PyTorch's HistogramObserver re-bins the same way).

    >>> import tinytorch as tt
    >>> values = [0.01 * i for i in range(1000)] + [1000.0]   # one outlier
    >>> obs = PercentileObserver(percentile=99.0)
    >>> _ = obs(tt.tensor(values))
    >>> lo, hi = obs._range_seen()
    >>> round(lo[0], 3), hi[0] < 10.5
    (0.0, True)
    """

    def __init__(self, percentile: float = 99.99, bins: int = 2048,
                 qscheme: str = "per_tensor_affine", quant_min: int | None = None,
                 quant_max: int | None = None):
        super().__init__(qscheme, quant_min, quant_max)
        if isinstance(percentile, bool) or not isinstance(percentile, (int, float)):
            raise TypeError(f"PercentileObserver(): percentile must be a number, got "
                            f"{type(percentile).__name__}")
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"PercentileObserver(): percentile must be in (50, 100], got "
                             f"{percentile}\nhint: 99.99 clips the outermost 0.01% on "
                             "each side")
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 16:
            raise ValueError(f"PercentileObserver(): bins must be an int >= 16, got {bins!r}")
        self.percentile = float(percentile)
        self.bins = bins
        self.histogram = None  # float64 counts
        self.lo = self.hi = 0.0

    def _observe(self, x: Tensor) -> None:
        # Calibration-time statistics over a whole batch: numpy's histogram, not a kernel
        # (like the data pipeline's helpers, nothing here runs at inference).
        data = x.numpy().reshape(-1)
        cls = type(self).__name__
        lo = _finite(float(data.min()), cls)
        hi = _finite(float(data.max()), cls)
        if self.histogram is None:
            # np.histogram needs bins distinct edges in the data's precision (float32):
            # a constant batch (width 0) gets a width relative to its value, bins * 8
            # float32 steps (a fixed 1e-12 vanishes next to |lo| >~ 1e-4), at least 1e-12
            span = max(1e-12, abs(lo) * self.bins * 8 * _F32_EPS)
            self.lo, self.hi = lo, max(hi, lo + span)
            self.histogram = np.zeros(self.bins)
        elif lo < self.lo or hi > self.hi:
            new_lo, new_hi = min(lo, self.lo), max(hi, self.hi)
            width = (self.hi - self.lo) / self.bins
            centres = self.lo + (np.arange(self.bins) + 0.5) * width
            self.histogram, _ = np.histogram(centres, self.bins, (new_lo, new_hi),
                                             weights=self.histogram)
            self.lo, self.hi = new_lo, new_hi
        counts, _ = np.histogram(data, self.bins, (self.lo, self.hi))
        self.histogram += counts

    def _range_seen(self):
        cdf = np.cumsum(self.histogram)
        total = cdf[-1]
        edges = np.linspace(self.lo, self.hi, self.bins + 1)
        tail = (100.0 - self.percentile) / 100.0 * total
        first = int(np.searchsorted(cdf, tail, side="right"))  # bins wholly in the low tail
        last = int(np.searchsorted(cdf, total - tail, side="left"))
        return [float(edges[min(first, self.bins - 1)])], [float(edges[min(last + 1,
                                                                           self.bins)])]
