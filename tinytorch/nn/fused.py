"""Fused layers: ``LinearReLU`` and ``LinearGELU``, a ``Linear`` whose activation runs in the
same kernel (``tinytorch.ops.linear_act``; ``docs/fusion.md`` has the measured gain).

Each is a drop-in for ``nn.Sequential(nn.Linear(a, b), nn.ReLU())``: the same parameters
(``weight``, ``bias``), the same initialisation from the same random draws, the same
``state_dict`` keys, so ``load_state_dict`` moves weights between a ``Linear`` and its fused
twin.

>>> import tinytorch as tt
>>> from tinytorch.nn.fused import LinearReLU
>>> _ = tt.manual_seed(0)
>>> layer = LinearReLU(64, 128)
>>> layer
LinearReLU(in_features=64, out_features=128, bias=True)
>>> y = layer(tt.randn(32, 64)); y.shape, bool((y.numpy() >= 0).all())
((32, 128), True)
"""

from __future__ import annotations

from tinytorch.nn.linear import Linear
from tinytorch.ops.linear_act import linear_act
from tinytorch.tensor import Tensor

__all__ = ["LinearReLU", "LinearGELU"]


class LinearReLU(Linear):
    """``relu(x @ weight.T + bias)`` in one kernel each way; parameters as ``nn.Linear``.

    >>> import tinytorch as tt
    >>> _ = tt.manual_seed(1); fused = LinearReLU(3, 2)
    >>> _ = tt.manual_seed(1); plain = tt.nn.Linear(3, 2)
    >>> x = tt.randn(4, 3)
    >>> bool((fused(x).numpy() == plain(x).relu().numpy()).all())
    True
    """

    _activation = "relu"

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        # Linear.forward's checks (its message names this layer's in_features); the op
        # checks the rest before any kernel runs.
        if not isinstance(input, Tensor) or not input.shape or \
                input.shape[-1] != self.in_features:
            return super().forward(input)  # raises the layer's TypeError / ValueError
        params = self._parameters
        return linear_act(input, params["weight"], params["bias"], self._activation)


class LinearGELU(LinearReLU):
    """``gelu(x @ weight.T + bias)`` (exact erf form, or ``approximate="tanh"``) in one
    kernel each way; parameters as ``nn.Linear``.

    >>> import tinytorch as tt
    >>> LinearGELU(4, 2, approximate="tanh")
    LinearGELU(in_features=4, out_features=2, bias=True, approximate='tanh')
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None,
                 approximate: str = "none") -> None:
        if not isinstance(approximate, str):
            raise TypeError(f"LinearGELU(): approximate must be a string, 'none' or 'tanh', "
                            f"got {type(approximate).__name__} {approximate!r}")
        if approximate not in ("none", "tanh"):
            raise ValueError(f"LinearGELU(): approximate={approximate!r} is not supported; "
                             "use 'none' (the exact erf form) or 'tanh'")
        super().__init__(in_features, out_features, bias, dtype)
        self.approximate = approximate
        self._activation = "gelu" if approximate == "none" else "gelu_tanh"

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", approximate={self.approximate!r}"
                                       if self.approximate != "none" else "")
