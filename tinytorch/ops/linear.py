"""The fused linear op: ``x @ weight.T + bias`` as one kernel call, its backward as one more.

``nn.Linear`` and ``F.linear`` land here. ``x`` may have any number of leading dimensions
(``(..., in_features)``); they are flattened into rows for the kernel (a view when ``x`` is
contiguous, else one copy through the copy kernel) and restored on the result.

>>> import tinytorch as tt
>>> x = tt.tensor([[1.0, 2.0]])
>>> w = tt.tensor([[1.0, 0.0], [1.0, 1.0]])
>>> tt.ops.linear(x, w, tt.tensor([0.5, -1.0])).tolist()
[[1.5, 2.0]]
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch import dispatch
from tinytorch.autograd import Function
from tinytorch.ops._common import new, require_tensor, reshape_view
from tinytorch.tensor import Tensor


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` with ``weight`` of shape ``(out_features, in_features)``."""
    check_linear(x, weight, bias)
    return _Linear.apply(x, weight, bias)


def check_linear(x, weight, bias, op: str = "linear") -> None:
    """Every check of a linear layer's operands, before any kernel runs (``linear`` and
    the fused ``linear_act`` share it; ``op`` names the caller in the messages)."""
    require_tensor(x, op, "input")
    require_tensor(weight, op, "weight")
    if weight.ndim != 2:
        raise ValueError(f"{op}(): weight must be 2-D (out_features, in_features), got "
                         f"shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"{op}(): input of shape {x.shape} has "
                         f"{x.shape[-1] if x.ndim else 'no'} features but weight of shape "
                         f"{weight.shape} expects in_features={weight.shape[1]} (its dim 1)")
    if not weight.dtype.is_floating_point or x.dtype != weight.dtype:
        raise TypeError(f"{op}(): input and weight must have the same floating dtype, got "
                        f"{x.dtype.name} and {weight.dtype.name}\nhint: x.to(weight.dtype)")
    if bias is not None:
        require_tensor(bias, op, "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"{op}(): bias must have shape ({weight.shape[0]},) to match "
                             f"out_features, got {bias.shape}")
        if bias.dtype != weight.dtype:
            raise TypeError(f"{op}(): bias dtype {bias.dtype.name} differs from weight "
                            f"dtype {weight.dtype.name}")


def _rows(arr: np.ndarray) -> np.ndarray:
    """``arr`` as 2-D ``(rows, features)``: a view when possible, else a kernel copy."""
    if arr.ndim == 2:
        return arr
    return reshape_view(arr, (math.prod(arr.shape[:-1]), arr.shape[-1]))


class _Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        x2 = _rows(x._data)
        n = weight.shape[0]
        b = bias._data if bias is not None else np.zeros(n, weight.dtype.np)
        out = np.empty((x2.shape[0], n), weight.dtype.np)
        if out.size:
            dispatch.call("linear_forward", out, x2, weight._data, b)
        ctx.save_for_backward(x, weight)
        return new(out.reshape(x.shape[:-1] + (n,)))

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        x2 = _rows(x._data)
        g2 = _rows(grad._data)
        dtype = weight.dtype.np
        grad_w = np.empty(weight.shape, dtype)
        grad_b = np.empty(weight.shape[0], dtype)
        grad_x = np.empty(x2.shape, dtype) if need_x else np.empty((0, 0), dtype)
        # need_x by keyword: positional kernel arguments are arrays only, which keeps the
        # profiler's per-call record cheap (it reads .shape and .dtype of each)
        dispatch.call("linear_backward", grad_x, grad_w, grad_b, g2, x2, weight._data,
                      need_x=need_x)
        return (new(grad_x.reshape(x.shape)) if need_x else None,
                new(grad_w) if need_w else None,
                new(grad_b) if need_b else None)
