"""Layers without parameters that reshape or regularise: ``Dropout``, ``Flatten``,
``Identity``.

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> nn.Flatten()(tt.ones(2, 3, 4)).shape
(2, 12)
>>> x = tt.ones(4)
>>> nn.Identity()(x) is x
True
"""

from __future__ import annotations

import numpy as np

from tinytorch.nn import functional as F
from tinytorch.nn.activation import _check_no_inplace
from tinytorch.nn.module import Module
from tinytorch.tensor import Tensor

__all__ = ["Dropout", "Flatten", "Identity"]


class Dropout(Module):
    """In training mode, zero each element with probability ``p`` and scale the survivors
    by ``1 / (1 - p)`` (so the expected value is unchanged); in eval mode, the identity.
    The mask comes from the global generator (``tt.manual_seed``).

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> drop = nn.Dropout(p=0.5)
    >>> drop
    Dropout(p=0.5, inplace=False)
    >>> x = tt.ones(4)
    >>> drop.eval()(x).tolist()
    [1.0, 1.0, 1.0, 1.0]
    >>> sorted(set(drop.train()(tt.ones(1000)).tolist()))
    [0.0, 2.0]
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer,
                                                                  np.floating)):
            raise TypeError(f"Dropout(): p must be a number, got {type(p).__name__} {p!r}")
        if not 0.0 <= p <= 1.0:  # also refuses NaN
            raise ValueError(f"Dropout(): dropout probability has to be between 0 and 1, "
                             f"but got {p}")
        _check_no_inplace(inplace, "Dropout")
        self.p = float(p)
        self.inplace = False

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one (a view when the strides allow).
    The default keeps the batch dimension: ``(N, C, H, W) -> (N, C*H*W)``.

    >>> from tinytorch import nn
    >>> nn.Flatten(0, -1)
    Flatten(start_dim=0, end_dim=-1)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        for name, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"Flatten(): {name} must be an int, got {type(v).__name__} "
                                f"{v!r}")
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Return the input unchanged (a placeholder, e.g. to remove a layer from a model).
    Any constructor arguments are accepted and ignored, as in PyTorch.

    >>> from tinytorch import nn
    >>> nn.Identity(54, unused="argument")
    Identity()
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input
