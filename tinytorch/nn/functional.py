"""``tinytorch.nn.functional`` (imported as ``F``): the stateless side of ``nn``, with
PyTorch's names and signatures. Layers in ``tinytorch.nn`` call these.

Activations and losses are the autograd ops of ``tinytorch.ops`` (one fused kernel each
way; see ``kernels/activation.py`` and ``kernels/loss.py``); ``linear`` and ``flatten`` are
built from existing ops (matmul, add, reshape).

>>> import tinytorch as tt
>>> import tinytorch.nn.functional as F
>>> x = tt.tensor([[1.0, -1.0]])
>>> w, b = tt.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), tt.tensor([0.0, 0.0, 0.5])
>>> F.linear(x, w, b).tolist()
[[1.0, -1.0, 0.5]]
>>> round(F.cross_entropy(F.linear(x, w, b), tt.tensor([0])).item(), 4)
0.555
"""

from __future__ import annotations

from tinytorch import ops
from tinytorch.layout import normalize_dim
from tinytorch.ops._common import require_tensor
from tinytorch.ops.activation import dropout, gelu, leaky_relu, log_softmax, softmax
from tinytorch.ops.loss import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
    nll_loss,
)
from tinytorch.tensor import Tensor

__all__ = [
    "linear", "relu", "leaky_relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax",
    "dropout", "flatten", "mse_loss", "cross_entropy", "nll_loss",
    "binary_cross_entropy_with_logits",
]


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input @ weight.T + bias``; ``weight`` is ``(out_features, in_features)`` as in
    PyTorch, ``input`` is ``(..., in_features)``. One fused kernel call forward
    (``linear_forward``: product and bias together) and one backward (all three gradients);
    see ``kernels/linear.py``.

    >>> import tinytorch as tt
    >>> linear(tt.ones(2, 3), tt.ones(4, 3), tt.zeros(4)).shape
    (2, 4)
    """
    return ops.linear(input, weight, bias)


def relu(input: Tensor) -> Tensor:  # noqa: A002
    """``max(x, 0)``.

    >>> import tinytorch as tt
    >>> relu(tt.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return ops.relu(input)


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """``1 / (1 + exp(-x))``.

    >>> import tinytorch as tt
    >>> sigmoid(tt.tensor([0.0])).tolist()
    [0.5]
    """
    return ops.sigmoid(input)


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """Hyperbolic tangent.

    >>> import tinytorch as tt
    >>> tanh(tt.tensor([0.0])).tolist()
    [0.0]
    """
    return ops.tanh(input)


def flatten(input: Tensor, start_dim: int = 1, end_dim: int = -1) -> Tensor:  # noqa: A002
    """Merge dimensions ``start_dim`` to ``end_dim`` (inclusive) into one: a view when the
    strides allow it, else a copy (``reshape``). A 0-d input becomes shape ``(1,)``.

    >>> import tinytorch as tt
    >>> flatten(tt.zeros(2, 3, 4)).shape, flatten(tt.zeros(2, 3, 4), 0, 1).shape
    ((2, 12), (6, 4))
    """
    require_tensor(input, "flatten")
    start = normalize_dim(start_dim, input.ndim)
    end = normalize_dim(end_dim, input.ndim)
    if start > end:
        raise ValueError(f"flatten(): start_dim ({start_dim}) comes after end_dim "
                         f"({end_dim}) for a tensor of shape {input.shape}")
    if input.ndim == 0:
        return input.reshape(1)
    shape = input.shape
    merged = 1
    for s in shape[start:end + 1]:
        merged *= s
    return input.reshape(shape[:start] + (merged,) + shape[end + 1:])
