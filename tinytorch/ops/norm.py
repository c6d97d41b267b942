"""Batch normalisation with autograd (PyTorch's ``F.batch_norm``): one fused kernel forward
(batch statistics, normalisation, affine, running averages), one backward (all three
gradients); ``kernels/norm.py`` has the math.

The input is ``(N, C, ...)``: channels in dimension 1, statistics over every other
dimension. The kernels see it as ``(N, C, L)``, a free view of a contiguous input.

What backward keeps: the input (referenced, not copied, when it is contiguous), the
per-channel ``mean`` and ``1/std`` the forward used (``2*C*itemsize`` bytes) and the
weight.

>>> import tinytorch as tt
>>> x = tt.tensor([[1.0, 2.0], [3.0, 6.0]])  # N=2, C=2
>>> rm, rv = tt.zeros(2), tt.ones(2)
>>> [round(v, 3) for v in batch_norm(x, rm, rv, training=True, eps=0.0).flatten().tolist()]
[-1.0, -1.0, 1.0, 1.0]
>>> [round(v, 4) for v in rm.tolist() + rv.tolist()]  # 0.9*old + 0.1*batch (unbiased var)
[0.2, 0.4, 1.1, 1.7]
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch import dispatch
from tinytorch.autograd import Function
from tinytorch.ops._common import new, reshape_view
from tinytorch.tensor import Tensor

__all__ = ["batch_norm"]

_BOOLS = (bool, np.bool_)
_REAL = (int, float, np.integer, np.floating)


def _real(value, name: str) -> float:
    if isinstance(value, _BOOLS) or not isinstance(value, _REAL):
        raise TypeError(f"batch_norm(): {name} must be a number, got {type(value).__name__} "
                        f"{value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"batch_norm(): {name} must be finite, got {value}")
    return value


def _check_vector(t, name: str, x: Tensor) -> None:
    """``None``, or a ``(C,)`` tensor of the input's dtype (``C = x.shape[1]``)."""
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"batch_norm(): {name} must be a Tensor or None, got "
                        f"{type(t).__name__}")
    if t.shape != (x.shape[1],):
        raise ValueError(f"batch_norm(): {name} has shape {t.shape} but the input has "
                         f"{x.shape[1]} channels (dim 1 of shape {x.shape}); it must have "
                         f"shape ({x.shape[1]},)\nhint: num_features of the layer must equal "
                         "the channels of its input")
    if t.dtype != x.dtype:
        raise TypeError(f"batch_norm(): {name} is {t.dtype.name} but the input is "
                        f"{x.dtype.name}\nhint: {name}.to(input.dtype)")


def batch_norm(input: Tensor, running_mean: Tensor | None,  # noqa: A002 (PyTorch's name)
               running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dimension 1) of ``input`` to zero mean and unit variance,
    then scale by ``weight`` and shift by ``bias`` (per channel; ``None`` means 1 and 0).

    ``training=True``: the batch's mean and biased variance normalise; ``running_mean`` and
    ``running_var``, when given, are updated in place, ``new = (1 - momentum) * old +
    momentum * batch`` (the unbiased variance for ``running_var``). ``training=False``: the
    running statistics normalise and nothing is updated.

    >>> import tinytorch as tt
    >>> x = tt.tensor([[[[2.0]], [[4.0]]]])  # (1, 2, 1, 1)
    >>> batch_norm(x, tt.tensor([1.0, 0.0]), tt.tensor([4.0, 1.0]), eps=0.0).flatten().tolist()
    [0.5, 4.0]
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"batch_norm(): input must be a Tensor, got {type(input).__name__}\n"
                        "hint: wrap data with tt.tensor(...)")
    if not input.dtype.is_floating_point:
        raise TypeError(f"batch_norm(): input must be a floating point tensor, got "
                        f"{input.dtype.name}\nhint: convert it with .float()")
    if input.ndim < 2:
        raise ValueError(f"batch_norm(): input must have at least 2 dimensions (N, C, ...), "
                         f"got shape {input.shape}")
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_vector(t, name, input)
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm(): pass both running_mean and running_var, or neither")
    if not isinstance(training, _BOOLS):
        raise TypeError(f"batch_norm(): training must be a bool, got "
                        f"{type(training).__name__} {training!r}")
    training = bool(training)
    momentum = _real(momentum, "momentum")
    eps = _real(eps, "eps")
    if eps < 0:
        raise ValueError(f"batch_norm(): eps must be non-negative, got {eps}")
    shape = input.shape
    per_channel = shape[0] * math.prod(shape[2:])
    if training and per_channel == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {shape}\nhint: a batch of one image with a 1x1 map has no "
                         "batch statistics; use a larger batch, or eval mode")
    if not training and running_mean is None:
        raise ValueError("batch_norm(): running_mean and running_var must be given in "
                         "evaluation mode (training=False)\nhint: pass training=True to "
                         "normalise with the batch's own statistics")
    if training and running_mean is not None:
        for name, t in (("running_mean", running_mean), ("running_var", running_var)):
            if not t._data.flags.writeable:
                raise ValueError(f"batch_norm(): {name} is a read-only view (an expand); "
                                 "training updates it in place\nhint: pass a .clone()")
    # The settings and running statistics travel in one tuple: they take no gradient, and
    # each argument of apply() costs an edge and a metadata entry on the graph's node.
    return _BatchNorm.apply(input, weight, bias,
                            (running_mean, running_var, training, momentum, eps))


def _as_3d(arr: np.ndarray) -> np.ndarray:
    """``(N, C, ...)`` as ``(N, C, L)``: a view when the strides allow, else one copy
    through the copy kernel."""
    return reshape_view(arr, (arr.shape[0], arr.shape[1], math.prod(arr.shape[2:])))


_NO_STATS: dict = {}  # dtype -> the empty (0,) array that tells the kernel "nothing to track"


class _BatchNorm(Function):
    """Saves (``save_for_backward``, so graph-memory accounting sees them) the input, the
    weight, and the per-channel ``mean`` and ``invstd`` the forward used; the versions of the
    input and weight are checked at backward."""

    @staticmethod
    def forward(ctx, x, weight, bias, settings):
        running_mean, running_var, training, momentum, eps = settings
        x3 = _as_3d(x._data)
        N, C, L = x3.shape
        dtype = x3.dtype
        w = weight._data if weight is not None else np.ones(C, dtype)
        b = bias._data if bias is not None else np.zeros(C, dtype)
        out = np.empty(x3.shape, dtype)
        mean, invstd = np.empty(C, dtype), np.empty(C, dtype)
        ctx.x3, ctx.w, ctx.training = x3, w, training  # x3: x's data as the kernel sees it
        if x3.size == 0:  # an empty batch: nothing to normalise, nothing to learn from
            ctx.save_for_backward(x, weight, None, None)
            return new(out.reshape(x.shape))
        if running_mean is not None:
            rm, rv = running_mean._data, running_var._data
        else:
            rm = rv = _NO_STATS.get(dtype)
            if rm is None:
                rm = rv = _NO_STATS[dtype] = np.empty(0, dtype)
        dispatch.call("batch_norm_forward", out, mean, invstd, x3, w, b, rm, rv,
                      training=training, momentum=momentum, eps=eps)
        if training and running_mean is not None:
            running_mean._bump_version()  # written in place, as an in-place op would
            running_var._bump_version()
        ctx.save_for_backward(x, weight, new(mean), new(invstd))
        return new(out.reshape(x.shape))

    @staticmethod
    def backward(ctx, grad):
        x, _, mean, invstd = ctx.saved_tensors
        need_x, need_w, need_b, _ = ctx.needs_input_grad
        x3 = ctx.x3
        C = x3.shape[1]
        dtype = x3.dtype
        grad_x = np.empty(x3.shape, dtype)
        if mean is None:  # empty batch: sums over nothing are 0
            grad_w, grad_b = np.zeros(C, dtype), np.zeros(C, dtype)
        else:
            grad_w, grad_b = np.empty(C, dtype), np.empty(C, dtype)
            dispatch.call("batch_norm_backward", grad_x, grad_w, grad_b, _as_3d(grad._data),
                          x3, ctx.w, mean._data, invstd._data, training=ctx.training)
        return (new(grad_x.reshape(x.shape)) if need_x else None,
                new(grad_w) if need_w else None, new(grad_b) if need_b else None, None)
