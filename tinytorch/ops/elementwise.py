"""Elementwise ops: arithmetic, comparisons, unary math, clamp, where, copies and casts.

Each op: check the operands, find the result dtype (PyTorch's promotion), broadcast the
shapes, allocate the output, then run the kernel on 2-D views (``layout.views_2d``).

>>> import tinytorch as tt
>>> (tt.tensor([1, 2, 3]) / 2).tolist()
[0.5, 1.0, 1.5]
>>> tt.where(tt.tensor([True, False]), 1.0, tt.tensor([5.0, 6.0])).tolist()
[1.0, 6.0]
"""

from __future__ import annotations

import numpy as np

from tinytorch import dtypes as dt
from tinytorch.autograd import Function
from tinytorch.layout import broadcast_shapes
from tinytorch.ops._common import (
    as_array,
    new,
    require_operand,
    require_tensor,
    run,
    run_grads,
    scalar_as,
)
from tinytorch.tensor import Tensor

_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "eq": "==",
           "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _shape(x) -> tuple:
    return x.shape if isinstance(x, Tensor) else ()


def binary(op: str, a, b) -> Tensor:
    """``op`` in add, sub, mul, div, pow, eq, ne, lt, le, gt, ge; operands are tensors or
    scalars, at least one a tensor. The arithmetic ones record a graph (``_Binary``)."""
    if op in _DIFFERENTIABLE_BINARY:
        return _Binary.apply(op, a, b)
    return _binary_forward(op, a, b)


def _binary_forward(op: str, a, b) -> Tensor:
    require_operand(a, op, "first operand")
    require_operand(b, op, "second operand")
    compute = dt.result_type(a, b)
    if op == "div" and not compute.is_floating_point:
        compute = dt.default_float  # true division: int / int is float, as in PyTorch
    if op == "sub" and compute is dt.bool_:
        raise TypeError("subtraction of two bool tensors is not supported; use "
                        "logical ops or cast with .to(tt.int64)")
    shape = broadcast_shapes(_shape(a), _shape(b))
    if op == "pow" and not compute.is_floating_point:
        # Check the exponent as given, not through as_array: casting a tensor of another
        # dtype runs the copy kernel, and no kernel may run before an error. Also check it
        # as it will be computed: a Python int can wrap (int8 tensor ** 200 -> -56).
        given = b._data if isinstance(b, Tensor) else np.asarray(b)
        with np.errstate(all="ignore"):
            negative = given.size and ((given < 0).any() or (given.astype(compute.np) < 0).any())
        if negative:
            raise ValueError("integers to negative integer powers are not allowed; cast "
                             "the base to float first: x.float() ** n")
    out_dtype = dt.bool_ if op in ("eq", "ne", "lt", "le", "gt", "ge") else compute
    out = np.empty(shape, out_dtype.np)
    run(f"{op}_forward", out, as_array(a, compute), as_array(b, compute))
    return new(out)


_DIFFERENTIABLE_BINARY = {"add", "sub", "mul", "div", "pow"}


class _Binary(Function):
    """add/sub/mul/div/pow. add and sub pass the gradient on (sub negates it through the
    ``neg`` kernel); mul/div/pow run their ``<op>_backward`` kernel, which writes both
    operands' gradients at the output's shape; the engine sums them back to each input's
    shape."""

    @staticmethod
    def forward(ctx, op, a, b):
        out = _binary_forward(op, a, b)
        ctx.op = op
        if op in ("mul", "div", "pow"):
            ctx.scalars = (None if isinstance(a, Tensor) else a,
                           None if isinstance(b, Tensor) else b)
            ctx.save_for_backward(*(x if isinstance(x, Tensor) else None for x in (a, b)))
        return out

    @staticmethod
    def backward(ctx, grad):
        op = ctx.op
        _, need_a, need_b = ctx.needs_input_grad
        if op == "add":
            return None, grad, grad
        if op == "sub":
            return None, grad, (neg(grad) if need_b else None)
        a, b = (t if t is not None else s for t, s in zip(ctx.saved_tensors, ctx.scalars,
                                                          strict=True))
        compute = grad.dtype
        grad_a = np.empty(grad.shape, compute.np)
        grad_b = np.empty(grad.shape, compute.np)
        run_grads(f"{op}_backward", (grad_a, grad_b), grad._data, as_array(a, compute),
                  as_array(b, compute))
        return None, (new(grad_a) if need_a else None), (new(grad_b) if need_b else None)


def add(a, b):
    """``a + b`` with broadcasting.

    >>> import tinytorch as tt
    >>> tt.add(tt.ones(2, 1), tt.tensor([10.0, 20.0])).tolist()
    [[11.0, 21.0], [11.0, 21.0]]
    """
    return binary("add", a, b)


def sub(a, b):
    return binary("sub", a, b)


def mul(a, b):
    return binary("mul", a, b)


def div(a, b):
    return binary("div", a, b)


def pow(a, b):  # noqa: A001 (PyTorch's name)
    return binary("pow", a, b)


def eq(a, b):
    return binary("eq", a, b)


def ne(a, b):
    return binary("ne", a, b)


def lt(a, b):
    return binary("lt", a, b)


def le(a, b):
    return binary("le", a, b)


def gt(a, b):
    return binary("gt", a, b)


def ge(a, b):
    return binary("ge", a, b)


_FLOAT_ONLY = {"exp", "log", "sqrt", "sigmoid", "tanh"}


def unary(op: str, x: Tensor) -> Tensor:
    """``op`` in neg, abs, exp, log, sqrt, relu, sigmoid, tanh; integer inputs of the float
    functions compute in float32, as in PyTorch. All record a graph (``_Unary``)."""
    return _Unary.apply(op, x)


# Which tensor each backward kernel reads: the input x, or the forward output y.
_SAVES_OUTPUT = {"exp", "sqrt", "sigmoid", "tanh"}


class _Unary(Function):
    """neg passes the negated gradient on (the ``neg`` forward kernel); the others run their
    ``<op>_backward`` kernel on the saved input or output. The output is saved detached (a
    new tensor on the same storage, without grad_fn), so the graph holds no cycle."""

    @staticmethod
    def forward(ctx, op, x):
        out = _unary_forward(op, x)
        ctx.op = op
        if op != "neg":
            ctx.save_for_backward(out.detach() if op in _SAVES_OUTPUT else x)
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.op == "neg":
            return None, neg(grad)
        (saved,) = ctx.saved_tensors
        grad_x = np.empty(grad.shape, grad.dtype.np)
        run(f"{ctx.op}_backward", grad_x, grad._data, as_array(saved, grad.dtype))
        return None, new(grad_x)


def _unary_forward(op: str, x: Tensor) -> Tensor:
    require_tensor(x, op)
    compute = x.dtype
    if op in _FLOAT_ONLY and not compute.is_floating_point:
        compute = dt.default_float
    if op == "neg" and compute is dt.bool_:
        raise TypeError("negation of a bool tensor is not supported; use ~ or logical_not "
                        "semantics via tt.where")
    out = np.empty(x.shape, compute.np)
    run(f"{op}_forward", out, as_array(x, compute))
    return new(out)


def neg(x):
    return unary("neg", x)


def abs(x):  # noqa: A001
    return unary("abs", x)


def exp(x):
    """``e ** x``.

    >>> import tinytorch as tt
    >>> tt.exp(tt.tensor([0.0])).tolist()
    [1.0]
    """
    return unary("exp", x)


def log(x):
    return unary("log", x)


def sqrt(x):
    return unary("sqrt", x)


def relu(x):
    """``max(x, 0)``.

    >>> import tinytorch as tt
    >>> tt.relu(tt.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return unary("relu", x)


def sigmoid(x):
    return unary("sigmoid", x)


def tanh(x):
    return unary("tanh", x)


def clamp(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 (PyTorch's names)
    """Limit every element to ``[min, max]``; either bound may be omitted. The gradient
    passes where ``min <= x <= max`` (both ends included, as PyTorch) and is 0 elsewhere.

    >>> import tinytorch as tt
    >>> x = tt.tensor([-2.0, 0.0, 0.5, 3.0], requires_grad=True)
    >>> y = tt.clamp(x, min=0.0, max=1.0)
    >>> y.tolist()
    [0.0, 0.0, 0.5, 1.0]
    >>> y.sum().backward(); x.grad.tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    return _Clamp.apply(x, min, max)


def _clamp_forward(x: Tensor, min, max) -> tuple:  # noqa: A002
    """The clamped tensor, and the bounds as the kernel used them (in the result dtype,
    ``-inf``/``inf`` or the integer limits for a missing one), which backward reuses."""
    require_tensor(x, "clamp")
    if min is None and max is None:
        raise ValueError("clamp(): at least one of min and max must be given")
    for name, v in (("min", min), ("max", max)):
        if v is not None and (isinstance(v, Tensor) or not isinstance(v, (int, float,
                                                                           np.number))):
            raise TypeError(f"clamp(): {name} must be a number, got {type(v).__name__}")
    compute = dt.result_type(x, *(v for v in (min, max) if v is not None))
    if compute is dt.bool_ or x.dtype is dt.bool_:  # bool x with int bounds computed in int64
        raise TypeError("clamp() is not supported for bool tensors")
    if compute.is_floating_point:
        limits = (-np.inf, np.inf)
    else:
        info = np.iinfo(compute.np)
        limits = (info.min, info.max)
    lo = scalar_as(limits[0] if min is None else min, compute, "clamp", "min")
    hi = scalar_as(limits[1] if max is None else max, compute, "clamp", "max")
    out = np.empty(x.shape, compute.np)
    run("clamp_forward", out, as_array(x, compute), lo=lo, hi=hi)
    return new(out), lo, hi


class _Clamp(Function):
    """Saves the input and the bounds the forward kernel used; backward runs the
    ``clamp_backward`` kernel (``g`` where ``lo <= x <= hi``, else 0)."""

    @staticmethod
    def forward(ctx, x, min, max):  # noqa: A002
        out, ctx.lo, ctx.hi = _clamp_forward(x, min, max)
        ctx.save_for_backward(x)
        return out

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad_x = np.empty(grad.shape, grad.dtype.np)
        run("clamp_backward", grad_x, grad._data, as_array(x, grad.dtype), lo=ctx.lo,
            hi=ctx.hi)
        return new(grad_x), None, None


def where(condition: Tensor, a, b) -> Tensor:
    """``a`` where ``condition`` is true, else ``b``; all three broadcast together. The
    gradient goes to ``a`` where the condition holds and to ``b`` elsewhere.

    >>> import tinytorch as tt
    >>> x = tt.tensor([-1.0, 2.0], requires_grad=True)
    >>> y = tt.where(x > 0, x, 0.0)
    >>> y.tolist()
    [0.0, 2.0]
    >>> (y * 3).sum().backward(); x.grad.tolist()
    [0.0, 3.0]
    """
    return _Where.apply(condition, a, b)


def _where_forward(condition: Tensor, a, b) -> Tensor:
    require_tensor(condition, "where", "condition")
    if condition.dtype is not dt.bool_:
        raise TypeError(f"where(): condition must be a bool tensor, got {condition.dtype}\n"
                        "hint: compare to get one, e.g. x > 0")
    require_operand(a, "where", "a")
    require_operand(b, "where", "b")
    compute = dt.result_type(a, b)
    shape = broadcast_shapes(condition.shape, _shape(a), _shape(b),
                             names=("condition", "a", "b"))
    out = np.empty(shape, compute.np)
    run("where_forward", out, condition._data, as_array(a, compute), as_array(b, compute))
    return new(out)


class _Where(Function):
    """``grad_a = where(cond, g, 0)``, ``grad_b = where(cond, 0, g)``: the ``where``
    forward kernel again, at the output's shape (the engine sums each back to its
    operand's shape and casts it to its dtype). Scalar operands get no gradient."""

    @staticmethod
    def forward(ctx, condition, a, b):
        out = _where_forward(condition, a, b)
        ctx.save_for_backward(condition)
        return out

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        _, need_a, need_b = ctx.needs_input_grad
        return (None,
                _where_forward(condition, grad, 0.0) if need_a else None,
                _where_forward(condition, 0.0, grad) if need_b else None)


def contiguous_copy(x: Tensor) -> Tensor:
    """A row-major copy of ``x`` (``x.contiguous()`` when ``x`` is not, ``x.clone()``)."""
    out = np.empty(x.shape, x.dtype.np)
    run("copy_forward", out, x._data)
    return new(out)


def cast(x: Tensor, dtype: dt.DType) -> Tensor:
    """A copy of ``x`` converted to ``dtype`` (floats to ints truncate toward zero)."""
    out = np.empty(x.shape, dtype.np)
    run("copy_forward", out, x._data)
    return new(out)


def copy_into(target: Tensor, value) -> None:
    """``target[...] = value``: write a tensor or scalar, broadcast, into a view."""
    require_operand(value, "setitem", "value")
    if not target._data.flags.writeable:
        raise ValueError(f"cannot write into this tensor: it is a read-only view (an expand "
                         f"with strides {target.strides} makes several indices share one "
                         "element)\nhint: .clone() it first")
    shape = _shape(value)
    broadcast_shapes(target.shape, shape, names=("target", "value"))
    if len(shape) > target.ndim or broadcast_shapes(target.shape, shape) != target.shape:
        raise ValueError(f"cannot assign a value of shape {shape} to a view of shape "
                         f"{target.shape}")
    if isinstance(value, Tensor) and np.may_share_memory(target._data, value._data):
        value = contiguous_copy(value)  # x[1:] = x[:-1] would read what it already wrote
    run("copy_forward", target._data, as_array(value, target.dtype))
