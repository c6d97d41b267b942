"""Pooling layers (module 03): ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``.

They hold no parameters, only settings, which are checked when the layer is built (and
again if one is reassigned), so each call checks only its input before the one kernel call
of ``tinytorch.ops.pool``.

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> net = nn.Sequential(nn.MaxPool2d(2), nn.AvgPool2d(3, stride=1, padding=1),
...                     nn.AdaptiveAvgPool2d(1))
>>> net(tt.randn(8, 4, 32, 32)).shape
(8, 4, 1, 1)
"""

from __future__ import annotations

from tinytorch.nn.module import Module
from tinytorch.ops import pool as _pool
from tinytorch.tensor import Tensor

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


class _Pool(Module):
    """Keeps ``self._params``, the checked form of the settings named in ``_SETTINGS``, in
    step with them: reassigning a setting checks it again (PyTorch reads them each call)."""

    _SETTINGS: tuple = ()

    def _check(self) -> None:
        raise NotImplementedError

    def __setattr__(self, name: str, value) -> None:
        if name not in self._SETTINGS or "_params" not in self.__dict__:
            super().__setattr__(name, value)
            return
        old = self.__dict__[name]
        super().__setattr__(name, value)
        try:
            self._check()
        except (TypeError, ValueError):
            super().__setattr__(name, old)  # a refused setting leaves the layer as it was
            raise


class MaxPool2d(_Pool):
    """The maximum of each ``kernel_size`` window, moved by ``stride`` (default: the
    kernel size), over an input ``(N, C, H, W)`` or ``(C, H, W)``. ``padding`` (at most half
    the kernel) is never the maximum; ``dilation`` spaces the window's taps; ``ceil_mode``
    keeps a last, partial window. ``return_indices=True`` also returns where each maximum
    was (``h * W + w``). Backward sends each gradient to its window's maximum (the index
    saved by forward: 8 bytes per output element).

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> pool = nn.MaxPool2d(2)
    >>> pool
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> pool(tt.arange(16.0).reshape(1, 1, 4, 4)).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    >>> nn.MaxPool2d(3, stride=2, ceil_mode=True)(tt.ones(1, 5, 5)).shape
    (1, 2, 2)
    """

    _SETTINGS = ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode")

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        self._check()

    def _check(self) -> None:
        params = _pool.pool_params("MaxPool2d", self.kernel_size, self.stride, self.padding,
                                   self.dilation, self.ceil_mode)
        _pool._check_bool(self.return_indices, "MaxPool2d", "return_indices")
        self.__dict__["_params"] = params

    def forward(self, input: Tensor):  # noqa: A002 (PyTorch's name)
        return _pool.max_pool2d_checked(input, self._params, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f", dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool):
    """The mean of each ``kernel_size`` window, moved by ``stride`` (default: the kernel
    size). With ``padding``, ``count_include_pad=True`` (PyTorch's default) divides by the
    whole window, zeros of the padding included; ``False`` by the real inputs only;
    ``divisor_override`` by a fixed number. Backward spreads each gradient evenly over its
    window (nothing is saved but the settings).

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> nn.AvgPool2d(2)
    AvgPool2d(kernel_size=2, stride=2, padding=0)
    >>> nn.AvgPool2d(2)(tt.arange(16.0).reshape(1, 1, 4, 4)).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """

    _SETTINGS = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                 "divisor_override")

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        self._check()

    def _check(self) -> None:
        self.__dict__["_params"] = _pool.avg_params(
            self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, self.divisor_override)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return _pool.avg_pool2d_checked(input, self._params)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(_Pool):
    """Average pooling to a fixed ``output_size`` (an int, or a pair whose entries may be
    ``None`` to keep that input size), whatever the input's size: output row ``i`` averages
    input rows ``floor(i*H/OH)`` to ``ceil((i+1)*H/OH)``. ``AdaptiveAvgPool2d(1)`` is the
    global average pooling before a classifier.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> gap = nn.AdaptiveAvgPool2d(1)
    >>> gap
    AdaptiveAvgPool2d(output_size=1)
    >>> gap(tt.ones(2, 3, 7, 5)).shape
    (2, 3, 1, 1)
    """

    _SETTINGS = ("output_size",)

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size
        self._check()

    def _check(self) -> None:
        self.__dict__["_params"] = _pool.adaptive_size(self.output_size)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return _pool.adaptive_avg_pool2d_checked(input, self._params)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
