"""The function layer: every computation on tensors, each a call through the dispatcher.

``tinytorch.tensor`` never touches a kernel; its methods and operators call these functions,
which validate their arguments, allocate the output and run ``dispatch.call(op, ...)``.
"""

from tinytorch.ops import inplace
from tinytorch.ops.elementwise import (
    abs,
    add,
    binary,
    cast,
    clamp,
    contiguous_copy,
    copy_into,
    div,
    eq,
    exp,
    ge,
    gt,
    le,
    log,
    lt,
    mul,
    ne,
    neg,
    pow,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
    unary,
    where,
)
from tinytorch.ops.join import cat, stack
from tinytorch.ops.linear import linear
from tinytorch.ops.matmul import matmul
from tinytorch.ops.reduce import amax, amin, argmax, argmin, max, mean, min, sum

__all__ = [
    "abs", "add", "amax", "amin", "argmax", "argmin", "binary", "cast", "cat", "clamp",
    "contiguous_copy", "copy_into", "div", "eq", "exp", "ge", "gt", "le", "linear", "log", "lt",
    "matmul", "max", "mean", "min", "mul", "ne", "neg", "pow", "relu", "sigmoid", "sqrt",
    "stack", "sub", "sum", "tanh", "unary", "where",
]

# Activations and losses with their fused kernels (tinytorch.nn.functional re-exports them).
from tinytorch.ops.activation import dropout, gelu, leaky_relu, log_softmax, softmax
from tinytorch.ops.conv import conv2d
from tinytorch.ops.loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss
from tinytorch.ops.norm import batch_norm
from tinytorch.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ += ["binary_cross_entropy_with_logits", "cross_entropy", "dropout", "gelu",
            "leaky_relu", "log_softmax", "mse_loss", "nll_loss", "softmax"]

__all__ += ["conv2d"]  # convolution (module 03; kernels/conv.py)
__all__ += ["adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "max_pool2d"]  # pool, norm

# Linear + activation in one kernel (module 10, fusion; kernels/linear_act.py)
from tinytorch.ops.linear_act import linear_act, linear_gelu, linear_relu  # noqa: E402

__all__ += ["linear_act", "linear_gelu", "linear_relu"]
