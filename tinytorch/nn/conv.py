"""``Conv2d``: the layer of a CNN (module 03), with PyTorch's arguments, init and repr.

The module holds the weight ``(out_channels, in_channels / groups, KH, KW)`` and the bias,
checks its arguments when built, and calls ``F.conv2d`` (one ``conv2d_forward`` kernel call
through the dispatcher; ``kernels/conv.py``).

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> _ = tt.manual_seed(0)
>>> conv = nn.Conv2d(3, 16, 3, padding=1)
>>> conv
Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
>>> conv(tt.randn(2, 3, 32, 32)).shape
(2, 16, 32, 32)
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch import dtypes as _dt
from tinytorch.nn import functional as F
from tinytorch.nn import init
from tinytorch.nn.linear import _check_positive_int
from tinytorch.nn.module import Module
from tinytorch.nn.parameter import Parameter
from tinytorch.ops.conv import pair
from tinytorch.tensor import Tensor

__all__ = ["Conv2d"]


class Conv2d(Module):
    """Apply a 2-D convolution over ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``)
    input: ``out[n, co] = bias[co] + sum_cg weight[co, cg] (*) x[n, group's cg]``.

    ``kernel_size``, ``stride``, ``dilation``: an int or a pair ``(h, w)``. ``padding``: an
    int, a pair, ``"valid"`` or ``"same"`` (stride 1 only; PyTorch's asymmetric rule for an
    odd total). ``groups`` must divide both channel counts. Parameters are initialised as
    PyTorch does: ``kaiming_uniform_(weight, a=sqrt(5))``, i.e. ``U(-1/sqrt(fan_in),
    1/sqrt(fan_in))`` with ``fan_in = in_channels / groups * KH * KW``, and the bias from
    the same range, drawn from the global generator (``tt.manual_seed``). ``dtype``
    defaults to float32 and must be a floating point type.

    Output ``(N, out_channels, OH, OW)`` with ``OH = (H + pad_top + pad_bottom -
    dilation_h * (KH - 1) - 1) // stride_h + 1`` (and OW).

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> nn.Conv2d(4, 8, (3, 5), stride=2, groups=2, bias=False)
    Conv2d(4, 8, kernel_size=(3, 5), stride=(2, 2), groups=2, bias=False)
    >>> nn.Conv2d(1, 2, 3, padding="same", dtype=tt.float64)(tt.ones(1, 5, 5,
    ...                                                        dtype=tt.float64)).shape
    (2, 5, 5)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, dilation=1, groups: int = 1, bias: bool = True,
                 dtype=None) -> None:
        super().__init__()
        cls = "Conv2d"
        self.in_channels = _check_positive_int(in_channels, cls, "in_channels")
        self.out_channels = _check_positive_int(out_channels, cls, "out_channels")
        self.kernel_size = pair(kernel_size, cls, "kernel_size", 1)
        self.stride = pair(stride, cls, "stride", 1)
        self.dilation = pair(dilation, cls, "dilation", 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{cls}(): padding={padding!r} is not supported; use an "
                                 "int, a pair, 'valid' or 'same'")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{cls}(): padding='same' is not supported for strided "
                                 f"convolutions (stride={self.stride})")
            self.padding = padding
        else:
            self.padding = pair(padding, cls, "padding", 0)
        self.groups = _check_positive_int(groups, cls, "groups")
        for name, channels in (("in_channels", self.in_channels),
                               ("out_channels", self.out_channels)):
            if channels % self.groups:
                raise ValueError(f"{cls}(): {name}={channels} must be divisible by "
                                 f"groups={self.groups}")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"{cls}(): bias must be a bool, got {type(bias).__name__} "
                            f"{bias!r}")
        dtype = _dt.as_dtype(dtype if dtype is not None else _dt.default_float)
        if not dtype.is_floating_point:
            raise TypeError(f"{cls}(): dtype must be a floating point type (parameters "
                            f"learn by gradients), got {dtype}")
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(Tensor(np.empty(shape, dtype.np)))
        if bias:
            self.bias = Parameter(Tensor(np.empty(self.out_channels, dtype.np)))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights (and bias) with PyTorch's default scheme; in place.

        >>> from tinytorch import nn
        >>> conv = nn.Conv2d(2, 3, 3); w = conv.weight
        >>> conv.reset_parameters(); conv.weight is w
        True
        """
        # a=sqrt(5): gain sqrt(1/3), so bound = sqrt(3) * gain / sqrt(fan_in) =
        # 1 / sqrt(fan_in), where fan_in = in_channels / groups * KH * KW (one output's
        # receptive field); the bias uses the same bound.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        # F.conv2d checks the input (its messages name both shapes) before any kernel runs.
        params = self._parameters
        return F.conv2d(input, params["weight"], params["bias"], self.stride, self.padding,
                        self.dilation, self.groups)

    def extra_repr(self) -> str:
        # PyTorch's format: defaults are left out.
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
