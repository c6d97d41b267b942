"""Joining tensors: ``cat`` along an existing dimension, ``stack`` along a new one.

Both allocate the result once and copy each input into its slice of it with the copy
kernel (the slice is a strided view of the output, so nothing is copied twice).

>>> import tinytorch as tt
>>> tt.cat([tt.zeros(1, 2), tt.ones(2, 2)]).shape
(3, 2)
>>> tt.stack([tt.zeros(2), tt.ones(2)], dim=1).tolist()
[[0.0, 1.0], [0.0, 1.0]]
"""

from __future__ import annotations

import numpy as np

from tinytorch import dtypes as dt
from tinytorch.autograd import Function
from tinytorch.layout import normalize_dim
from tinytorch.ops._common import as_array, new, run
from tinytorch.tensor import Tensor


def _check_sequence(tensors, op: str) -> list:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}() takes a list or tuple of tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}() needs at least one tensor")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): element {i} is a {type(t).__name__}, not a Tensor")
    return list(tensors)


def cat(tensors, dim: int = 0) -> Tensor:
    """Concatenate along ``dim``; all other sizes must match. Dtypes promote. The gradient
    of each input is its slice of the output's gradient.

    >>> import tinytorch as tt
    >>> tt.cat([tt.tensor([1, 2]), tt.tensor([3])]).tolist()
    [1, 2, 3]
    >>> a = tt.ones(2, requires_grad=True)
    >>> (tt.cat([a, tt.zeros(1)]) * tt.tensor([2.0, 3.0, 4.0])).sum().backward()
    >>> a.grad.tolist()
    [2.0, 3.0]
    """
    tensors = _check_sequence(tensors, "cat")
    return _Cat.apply(dim, *tensors)  # unpacked: apply looks for tensors among its arguments


def _cat_forward(tensors: list, dim) -> tuple[Tensor, int]:
    """The concatenation and the normalised dim."""
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ValueError("cat(): zero-dimensional tensors cannot be concatenated\n"
                         "hint: use tt.stack, or unsqueeze them first")
    d = normalize_dim(dim, ndim)
    first = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.ndim != ndim:
            raise ValueError(f"cat(): tensors must have the same number of dimensions: "
                             f"tensor 0 has shape {first}, tensor {i} has shape {t.shape}")
        for k in range(ndim):
            if k != d and t.shape[k] != first[k]:
                raise ValueError(f"cat(): sizes must match except in dimension {d}: tensor "
                                 f"0 has shape {first}, tensor {i} has shape {t.shape} "
                                 f"(dimension {k})")
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = dt.promote_types(dtype, t.dtype)
    shape = list(first)
    shape[d] = sum(t.shape[d] for t in tensors)
    out = np.empty(tuple(shape), dtype.np)
    start = 0
    for t in tensors:
        window = [slice(None)] * ndim
        window[d] = slice(start, start + t.shape[d])
        run("copy_forward", out[tuple(window)], as_array(t, dtype))
        start += t.shape[d]
    return new(out), d


class _Cat(Function):
    """The gradient of input ``i`` is the slice of the output's gradient that it filled: a
    view, nothing copied (the engine casts it back to the input's dtype when the output's
    was promoted). Inputs that need no gradient get ``None``."""

    @staticmethod
    def forward(ctx, dim, *tensors):
        out, ctx.dim = _cat_forward(list(tensors), dim)
        ctx.sizes = [t.shape[ctx.dim] for t in tensors]
        return out

    @staticmethod
    def backward(ctx, grad):
        data, d = grad._data, ctx.dim
        grads, start = [None], 0
        for size, need in zip(ctx.sizes, ctx.needs_input_grad[1:], strict=True):
            if need:
                window = (slice(None),) * d + (slice(start, start + size),)
                grads.append(grad._view(data[window]))
            else:
                grads.append(None)
            start += size
        return tuple(grads)


def stack(tensors, dim: int = 0) -> Tensor:
    """Join equal-shaped tensors along a new dimension ``dim``.

    >>> import tinytorch as tt
    >>> tt.stack([tt.zeros(2, 3), tt.ones(2, 3)], dim=-1).shape
    (2, 3, 2)
    """
    tensors = _check_sequence(tensors, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack(): tensors must all have the same shape: tensor 0 has "
                             f"shape {tensors[0].shape}, tensor {i} has shape {t.shape}")
    d = normalize_dim(dim, tensors[0].ndim, allow_end=True)
    return cat([t.unsqueeze(d) for t in tensors], dim=d)
