"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_`` (PyTorch's semantics).

Both work in place on the ``.grad`` of the given parameters, between ``loss.backward()`` and
``optimizer.step()``, and compute through tinytorch's ops (so through the kernels of the
current backend): a norm is a few reductions, the rescale an elementwise multiply.

>>> import tinytorch as tt
>>> w = tt.zeros(2, requires_grad=True); w.grad = tt.tensor([3.0, 4.0])
>>> clip_grad_norm_([w], max_norm=1.0).item()
5.0
>>> [round(v, 4) for v in w.grad.tolist()]
[0.6, 0.8]
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tinytorch import dtypes as dt
from tinytorch import ops
from tinytorch.autograd import no_grad
from tinytorch.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]

# In-place writes bump a tensor's version counter where tensors have one (ops/inplace.py),
# so that autograd can refuse a backward through values that changed under it.
_bump_version = getattr(Tensor, "_bump_version", None)


def _grads(parameters, fn: str) -> list[Tensor]:
    """The existing ``.grad`` tensors of a tensor or an iterable of tensors."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    try:
        parameters = list(parameters)
    except TypeError:
        raise TypeError(f"{fn}(): parameters must be a Tensor or an iterable of tensors, "
                        f"got {type(parameters).__name__}") from None
    grads = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}(): parameter {i} has type {type(p).__name__}, not Tensor")
        g = p.grad
        if g is None:
            continue
        if not isinstance(g, Tensor):
            raise TypeError(f"{fn}(): the .grad of parameter {i} is a {type(g).__name__}, "
                            "not a Tensor")
        if not g.dtype.is_floating_point:
            raise TypeError(f"{fn}(): the .grad of parameter {i} is {g.dtype}; gradients are "
                            "floating point")
        if not g._data.flags.writeable:
            raise ValueError(f"{fn}(): the .grad of parameter {i} is a read-only view "
                             f"(strides {g.strides}), so it cannot be clipped in place\n"
                             "hint: p.grad = p.grad.clone()")
        grads.append(g)
    return grads


def _number(fn: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}(): {name} must be a number, got {type(value).__name__} "
                        f"{value!r}")
    return float(value)


def _scale_(g: Tensor, factor: Tensor) -> None:
    """``g *= factor`` in place (the multiply kernel, then the copy kernel into ``g``)."""
    ops.copy_into(g, g * factor)
    if _bump_version is not None:
        _bump_version(g)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients so that their total norm is at most ``max_norm``; return the
    total norm (a 0-d tensor) from before the scaling.

    The total norm is the ``norm_type``-norm of all gradients together, as if concatenated
    into one vector (``inf``: the largest absolute value). Every gradient is multiplied by
    ``min(1, max_norm / (total + 1e-6))``, PyTorch's rule (the ``1e-6`` keeps a zero norm
    from dividing by zero). A NaN or infinite total raises when ``error_if_nonfinite``.

    >>> import tinytorch as tt
    >>> a, b = tt.zeros(1, requires_grad=True), tt.zeros(2, requires_grad=True)
    >>> a.grad, b.grad = tt.tensor([-4.0]), tt.tensor([1.0, 2.0])
    >>> clip_grad_norm_([a, b], max_norm=2.0, norm_type=float("inf")).item()
    4.0
    >>> [round(v, 4) for v in a.grad.tolist() + b.grad.tolist()]
    [-2.0, 0.5, 1.0]
    """
    fn = "clip_grad_norm_"
    grads = _grads(parameters, fn)
    max_norm = _number(fn, "max_norm", max_norm)
    norm_type = _number(fn, "norm_type", norm_type)
    if not max_norm >= 0:
        raise ValueError(f"{fn}(): max_norm must be >= 0, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"{fn}(): norm_type must be > 0 (or inf), got {norm_type}")
    if not isinstance(error_if_nonfinite, (bool, np.bool_)):
        raise TypeError(f"{fn}(): error_if_nonfinite must be True or False, got "
                        f"{error_if_nonfinite!r}")
    grads = [g for g in grads if g.numel() > 0]  # an empty gradient adds nothing to a norm
    if not grads:
        return Tensor(np.zeros((), np.float32))
    with no_grad():
        # One norm per gradient, then the norm of those norms: the same total as the norm
        # of everything concatenated, without the copy a concatenation would make.
        dtype = functools.reduce(dt.promote_types, [g.dtype for g in grads])
        if math.isinf(norm_type):
            norms = [g.abs().amax() for g in grads]
            total = ops.stack([n.to(dtype) for n in norms]).amax()
        else:
            norms = [_pnorm(g, norm_type) for g in grads]
            total = _pnorm(ops.stack([n.to(dtype) for n in norms]), norm_type)
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise RuntimeError(f"{fn}(): the total norm of order {norm_type} of the "
                               f"gradients is {total.item()}, so they cannot be clipped\n"
                               "hint: error_if_nonfinite=False scales them by it anyway")
        coef = ops.clamp(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            _scale_(g, coef)
    return total


def _pnorm(x: Tensor, p: float) -> Tensor:
    """``(sum |x|**p) ** (1/p)``, with the cheap special cases of 1 and 2."""
    if p == 2.0:
        return (x * x).sum().sqrt()
    if p == 1.0:
        return x.abs().sum()
    return (x.abs() ** p).sum() ** (1.0 / p)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place.

    >>> import tinytorch as tt
    >>> w = tt.zeros(3, requires_grad=True); w.grad = tt.tensor([-5.0, 0.5, 2.0])
    >>> clip_grad_value_(w, 1.0); w.grad.tolist()
    [-1.0, 0.5, 1.0]
    """
    fn = "clip_grad_value_"
    grads = _grads(parameters, fn)
    clip_value = _number(fn, "clip_value", clip_value)
    if not clip_value >= 0:
        raise ValueError(f"{fn}(): clip_value must be >= 0, got {clip_value}")
    with no_grad():
        for g in grads:
            ops.copy_into(g, ops.clamp(g, min=-clip_value, max=clip_value))
            if _bump_version is not None:
                _bump_version(g)
