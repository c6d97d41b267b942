"""Activation modules: thin wrappers that hold a setting (a slope, a dim) and call the
matching ``tinytorch.nn.functional`` op in ``forward``. They have no parameters.

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> nn.ReLU()(tt.tensor([-1.0, 2.0])).tolist()
[0.0, 2.0]
>>> nn.Sequential(nn.Linear(4, 3), nn.LeakyReLU(0.1), nn.Softmax(dim=1))
Sequential(
  (0): Linear(in_features=4, out_features=3, bias=True)
  (1): LeakyReLU(negative_slope=0.1)
  (2): Softmax(dim=1)
)
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch.nn import functional as F
from tinytorch.nn.module import Module
from tinytorch.tensor import Tensor

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"]


def _check_no_inplace(inplace, cls: str) -> None:
    """Accept PyTorch's ``inplace`` flag for compatibility, but only ``False``: in-place
    activations would overwrite tensors the autograd graph saved."""
    if not isinstance(inplace, (bool, np.bool_)):
        raise TypeError(f"{cls}(): inplace must be a bool, got {type(inplace).__name__}")
    if inplace:
        raise ValueError(f"{cls}(inplace=True) is not supported: tinytorch has no version "
                         f"counters to catch an in-place write to a tensor saved for "
                         f"backward\nhint: use {cls}() (out of place)")


def _check_dim(dim, cls: str) -> int:
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{cls}(dim): dim must be an int, got {type(dim).__name__} {dim!r}"
                        f"\nhint: {cls}(dim=-1) normalises over the last dimension")
    return int(dim)


class ReLU(Module):
    """``max(x, 0)`` elementwise.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> nn.ReLU()
    ReLU()
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        _check_no_inplace(inplace, "ReLU")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.relu(input)


class LeakyReLU(Module):
    """``x`` for ``x >= 0``, ``negative_slope * x`` below.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> nn.LeakyReLU(0.5)(tt.tensor([-2.0, 2.0])).tolist()
    [-1.0, 2.0]
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(negative_slope, (bool, np.bool_)) or not isinstance(
                negative_slope, (int, float, np.integer, np.floating)):
            raise TypeError(f"LeakyReLU(): negative_slope must be a number, got "
                            f"{type(negative_slope).__name__} {negative_slope!r}")
        if not math.isfinite(negative_slope):
            raise ValueError(f"LeakyReLU(): negative_slope must be finite, got "
                             f"{negative_slope}")
        _check_no_inplace(inplace, "LeakyReLU")
        self.negative_slope = float(negative_slope)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> nn.Sigmoid()(tt.tensor([0.0])).tolist()
    [0.5]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.sigmoid(input)


class Tanh(Module):
    """``tanh(x)`` elementwise.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> nn.Tanh()(tt.tensor([0.0])).tolist()
    [0.0]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.tanh(input)


class GELU(Module):
    """Gaussian error linear unit, ``x * Phi(x)``; ``approximate="tanh"`` uses the tanh
    formula ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> nn.GELU(approximate="tanh")
    GELU(approximate='tanh')
    >>> nn.GELU()(tt.tensor([0.0])).tolist()
    [0.0]
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU(): approximate must be 'none' or 'tanh', got "
                             f"{approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim`` (each slice sums to 1).

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> nn.Softmax(dim=1)(tt.zeros(1, 4)).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = _check_dim(dim, "Softmax")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``x - log(sum(exp(x)))`` along ``dim``: the log of softmax, computed stably.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> round(nn.LogSoftmax(dim=0)(tt.zeros(2)).tolist()[0], 4)
    -0.6931
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = _check_dim(dim, "LogSoftmax")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
