"""In-place ops: ``x.add_(y)``, ``x.mul_(2)``, ``x += y``, ``x.zero_()``, ``x.copy_(y)``.

They write into ``x``'s own memory with the same kernels as the out-of-place ops (an
elementwise kernel may write the element it has just read, so ``out`` can be ``x`` itself),
and then bump the version counter that ``x`` shares with every view of its storage.
Autograd notes the version of each tensor it saves for backward and refuses a backward that
would read a tensor changed since (PyTorch's rule): that is how an in-place write that
would silently corrupt a gradient becomes an error instead.

tinytorch does not rewrite the graph for in-place ops, so a tensor that requires grad may
not be written in place while gradients are recorded; do it under ``tt.no_grad()`` (as an
optimiser does) or on a ``.detach()``ed tensor.

>>> import tinytorch as tt
>>> x = tt.tensor([1.0, 2.0])
>>> x.add_(tt.tensor([10.0, 20.0]), alpha=2).tolist()
[21.0, 42.0]
>>> x *= 2; x.tolist(), x._version
([42.0, 84.0], 2)
"""

from __future__ import annotations

import numpy as np

from tinytorch import dtypes as dt
from tinytorch.layout import broadcast_shapes
from tinytorch.ops._common import as_array, require_operand, run
from tinytorch.ops.elementwise import clamp, contiguous_copy, copy_into, mul
from tinytorch.tensor import Tensor

__all__ = ["add_", "sub_", "mul_", "div_", "clamp_", "zero_", "fill_", "copy_"]


def _check_target(x: Tensor, op: str, value=None) -> None:
    from tinytorch.autograd import is_grad_enabled  # noqa: PLC0415 (autograd imports ops)

    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): expected a Tensor, got {type(x).__name__}")
    if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
        # PyTorch would record the write and let the gradient flow into `value`; tinytorch
        # records no in-place op, so refusing is the honest answer (not a silent zero).
        raise RuntimeError(f"{op}(): the value written in place requires grad, and "
                           "tinytorch does not record in-place writes in the graph\nhint: "
                           "use the out-of-place op (acc = acc + value), or .detach() the "
                           "value if no gradient should flow")
    if x.requires_grad and is_grad_enabled():
        what = "a leaf tensor that requires grad" if x.grad_fn is None else \
            "a tensor that is part of a recorded graph"
        raise RuntimeError(f"{op}(): cannot write in place into {what} while gradients are "
                           "recorded\nhint: do it inside `with tt.no_grad():` (a parameter "
                           "update), or use the out-of-place op")
    if not x._data.flags.writeable:
        raise ValueError(f"{op}(): cannot write into this tensor: it is a read-only view (an "
                         f"expand with strides {x.strides} makes several indices share one "
                         "element)\nhint: .clone() it first")


def _can_cast(src: dt.DType, dst: dt.DType) -> bool:
    """PyTorch's rule for writing a result back: never to a lower category (float to int,
    int to bool); within a category any width is fine."""
    def category(d):
        return 2 if d.is_floating_point else (0 if d is dt.bool_ else 1)
    return category(src) <= category(dst)


def _binary_(op: str, x: Tensor, other) -> Tensor:
    _check_target(x, f"{op}_", other)
    require_operand(other, f"{op}_", "other")
    compute = dt.result_type(x, other)
    if op == "div" and not compute.is_floating_point:
        compute = dt.default_float
    if op == "sub" and compute is dt.bool_:
        raise TypeError("sub_(): subtraction of bool tensors is not supported; use logical "
                        "ops or cast with .to(tt.int64)")
    if not _can_cast(compute, x.dtype):
        raise TypeError(f"{op}_(): result type {compute.name} can't be cast to the desired "
                        f"output type {x.dtype.name}\nhint: use the out-of-place op, or "
                        "convert x first")
    if isinstance(other, Tensor):
        shape = broadcast_shapes(x.shape, other.shape, names=("self", "other"))
        if shape != x.shape:
            raise ValueError(f"{op}_(): other of shape {other.shape} does not broadcast to "
                             f"self's shape {x.shape} (an in-place op cannot grow self)")
        if np.may_share_memory(x._data, other._data):
            other = contiguous_copy(other)  # x.add_(x.flip) would read what it already wrote
    if compute == x.dtype:
        run(f"{op}_forward", x._data, x._data, as_array(other, compute))
    else:
        tmp = np.empty(x.shape, compute.np)
        run(f"{op}_forward", tmp, as_array(x, compute), as_array(other, compute))
        run("copy_forward", x._data, tmp)
    x._bump_version()
    return x


def add_(x: Tensor, other, *, alpha=1) -> Tensor:
    """``x += alpha * other`` in place; returns ``x``."""
    if alpha != 1:
        _check_target(x, "add_", other)  # before the multiply's kernel runs
        require_operand(other, "add_", "other")
        other = mul(other, alpha)
    return _binary_("add", x, other)


def sub_(x: Tensor, other, *, alpha=1) -> Tensor:
    """``x -= alpha * other`` in place; returns ``x``."""
    if alpha != 1:
        _check_target(x, "sub_", other)
        require_operand(other, "sub_", "other")
        other = mul(other, alpha)
    return _binary_("sub", x, other)


def mul_(x: Tensor, other) -> Tensor:
    """``x *= other`` in place; returns ``x``."""
    return _binary_("mul", x, other)


def div_(x: Tensor, other) -> Tensor:
    """``x /= other`` in place (true division: float tensors only); returns ``x``."""
    return _binary_("div", x, other)


def clamp_(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 (PyTorch's names)
    """Clamp ``x`` into ``[min, max]`` in place; returns ``x``.

    >>> import tinytorch as tt
    >>> tt.tensor([-1.0, 0.5, 9.0]).clamp_(0.0, 1.0).tolist()
    [0.0, 0.5, 1.0]
    """
    _check_target(x, "clamp_")
    result = clamp(x, min, max)
    if result.dtype != x.dtype:
        raise TypeError(f"clamp_(): result type {result.dtype.name} can't be cast to the "
                        f"desired output type {x.dtype.name}")
    run("copy_forward", x._data, result._data)
    x._bump_version()
    return x


def fill_(x: Tensor, value) -> Tensor:
    """Set every element to the number ``value``; returns ``x``."""
    _check_target(x, "fill_", value)
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"fill_(): value must be a number or a 0-d tensor, got shape "
                         f"{value.shape}\nhint: use copy_() to copy a tensor")
    copy_into(x, value)
    x._bump_version()
    return x


def zero_(x: Tensor) -> Tensor:
    """Set every element to 0; returns ``x``."""
    return fill_(x, 0)


def copy_(x: Tensor, src) -> Tensor:
    """Copy ``src`` (broadcast to ``x``'s shape, cast to its dtype) into ``x``; returns
    ``x``."""
    _check_target(x, "copy_", src)
    copy_into(x, src)
    x._bump_version()
    return x
