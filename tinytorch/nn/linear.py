"""``Linear``: ``y = x @ W^T + b``, the layer of an MLP (module 02).

The module holds the parameters and checks the input's last dimension; the computation is
``F.linear``, which goes through the dispatcher to the fused ``linear_forward`` kernel
(product and bias in one call; naive loops, jit, or numpy, whichever backend is active) and
``linear_backward`` (all three gradients in one call).

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> _ = tt.manual_seed(0)
>>> layer = nn.Linear(64, 128)
>>> layer
Linear(in_features=64, out_features=128, bias=True)
>>> layer.weight.shape, layer.bias.shape
((128, 64), (128,))
>>> layer(tt.randn(32, 64)).shape
(32, 128)
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch import dtypes as _dt
from tinytorch.nn import functional as F
from tinytorch.nn import init
from tinytorch.nn.module import Module
from tinytorch.nn.parameter import Parameter
from tinytorch.tensor import Tensor

__all__ = ["Linear"]


def _check_positive_int(value, cls: str, name: str) -> int:
    """``value`` as an int > 0, else TypeError (not an int) / ValueError (not positive)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{cls}(): {name} must be an int, got {type(value).__name__} "
                        f"{value!r}")
    if value <= 0:
        raise ValueError(f"{cls}(): {name} must be positive, got {value}")
    return int(value)


class Linear(Module):
    """Apply ``y = x @ weight^T + bias`` to the last dimension of ``x``.

    ``weight`` has shape ``(out_features, in_features)`` and ``bias`` ``(out_features,)``,
    both initialised as PyTorch does: ``kaiming_uniform_(weight, a=sqrt(5))``, which is
    ``U(-1/sqrt(in_features), 1/sqrt(in_features))``, and the bias from the same range,
    drawn from the global generator (``tt.manual_seed`` makes a model reproducible).
    ``dtype`` defaults to float32 and must be a floating point type.

    Input ``(*, in_features)``, output ``(*, out_features)``.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> _ = tt.manual_seed(1); a = nn.Linear(3, 2)
    >>> _ = tt.manual_seed(1); b = nn.Linear(3, 2)
    >>> a.weight.tolist() == b.weight.tolist()
    True
    >>> nn.Linear(3, 2, bias=False, dtype=tt.float64)(tt.ones(3, dtype=tt.float64)).shape
    (2,)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=None) -> None:
        super().__init__()
        self.in_features = _check_positive_int(in_features, "Linear", "in_features")
        self.out_features = _check_positive_int(out_features, "Linear", "out_features")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"Linear(): bias must be a bool, got {type(bias).__name__} "
                            f"{bias!r}")
        dtype = _dt.as_dtype(dtype if dtype is not None else _dt.default_float)
        if not dtype.is_floating_point:
            raise TypeError(f"Linear(): dtype must be a floating point type (parameters "
                            f"learn by gradients), got {dtype}")
        self.weight = Parameter(Tensor(np.empty((self.out_features, self.in_features),
                                                dtype.np)))
        if bias:
            self.bias = Parameter(Tensor(np.empty(self.out_features, dtype.np)))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights (and bias) with PyTorch's default scheme; in place.

        >>> import tinytorch as tt
        >>> from tinytorch import nn
        >>> layer = nn.Linear(4, 2); w = layer.weight
        >>> layer.reset_parameters(); layer.weight is w
        True
        """
        # a=sqrt(5): gain sqrt(2 / (1 + 5)) = sqrt(1/3), so bound = sqrt(3) * gain /
        # sqrt(fan_in) = 1 / sqrt(fan_in); the bias uses the same bound.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        # Check here, not only in F.linear, so the message names this layer's in_features;
        # it runs before any kernel. Parameters are read from the table directly: one dict
        # lookup instead of two failed attribute lookups plus __getattr__ per step.
        if not isinstance(input, Tensor):
            raise TypeError(f"Linear.forward(): input must be a Tensor, got "
                            f"{type(input).__name__}\nhint: wrap data with tt.tensor(...)")
        shape = input.shape
        if not shape or shape[-1] != self.in_features:
            raise ValueError(f"Linear(in_features={self.in_features}, out_features="
                             f"{self.out_features}): expected an input whose last dimension "
                             f"is {self.in_features}, got shape {shape}\nhint: the input's "
                             f"last dimension must equal in_features (check the layer "
                             f"before, or a missing flatten)")
        params = self._parameters
        return F.linear(input, params["weight"], params["bias"])

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
