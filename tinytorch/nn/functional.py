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


__all__ += ["conv2d"]
__all__ += ["linear_act", "linear_gelu", "linear_relu"]  # fused (module 10): re-exported ops
linear_act, linear_gelu, linear_relu = ops.linear_act, ops.linear_gelu, ops.linear_relu


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,  # noqa: A002
           padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution, NCHW: ``input`` ``(N, C_in, H, W)`` or ``(C_in, H, W)``, ``weight``
    ``(C_out, C_in / groups, KH, KW)``, ``bias`` ``(C_out,)``; ``padding`` an int, a pair,
    ``"valid"`` or ``"same"``. One ``conv2d_forward`` kernel call, one ``conv2d_backward``
    for all three gradients (``kernels/conv.py``, ``docs/conv.md``).

    >>> import tinytorch as tt
    >>> conv2d(tt.ones(1, 3, 8, 8), tt.ones(16, 3, 3, 3), padding=1).shape
    (1, 16, 8, 8)
    """
    return ops.conv2d(input, weight, bias, stride, padding, dilation, groups)


__all__ += ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm"]


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False):
    """Maximum over each window, NCHW (PyTorch's signature); with ``return_indices`` also
    the position of each maximum in its plane. ``kernels/pool.py``, ``docs/pool_norm.md``.

    >>> import tinytorch as tt
    >>> max_pool2d(tt.ones(1, 3, 8, 8), 2).shape
    (1, 3, 4, 4)
    """
    return ops.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode,
                          return_indices)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over each window, NCHW, with PyTorch's divisor rules (``count_include_pad``,
    ``ceil_mode``, ``divisor_override``).

    >>> import tinytorch as tt
    >>> avg_pool2d(tt.ones(1, 1, 4, 4), 2, padding=1).flatten().tolist()
    [0.25, 0.5, 0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 0.25]
    """
    return ops.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                          divisor_override)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:  # noqa: A002
    """Average pooling to a fixed ``output_size`` (an int or a pair, ``None`` keeps a size).

    >>> import tinytorch as tt
    >>> adaptive_avg_pool2d(tt.ones(2, 3, 7, 7), 1).shape
    (2, 3, 1, 1)
    """
    return ops.adaptive_avg_pool2d(input, output_size)


def batch_norm(input: Tensor, running_mean: Tensor | None,  # noqa: A002
               running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Per-channel (dim 1) normalisation: batch statistics when ``training`` (updating the
    running ones in place), running statistics otherwise; then ``* weight + bias``.

    >>> import tinytorch as tt
    >>> x = tt.tensor([[1.0], [3.0]])
    >>> batch_norm(x, None, None, training=True, eps=0.0).flatten().tolist()
    [-1.0, 1.0]
    """
    return ops.batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
                          eps)
