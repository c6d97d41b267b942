"""Reductions: sum, mean, max, min, amax, amin, argmax, argmin over one or several dims.

The kernels reduce along axis 1 of a 2-D ``(kept, reduced)`` array. To get there, the
reduced dimensions are permuted to the end (a view) and the result is viewed as 2-D; numpy
copies only when the permuted strides do not allow a 2-D view, and that copy goes through
the copy kernel like any other data movement.

>>> import tinytorch as tt
>>> x = tt.arange(6.0).reshape(2, 3)
>>> x.sum(dim=1).tolist(), x.mean().item()
([3.0, 12.0], 2.5)
>>> x.max(dim=0)
ReductionResult(values=tensor([3., 4., 5.]), indices=tensor([1, 1, 1]))
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch import dispatch
from tinytorch import dtypes as dt
from tinytorch.autograd import Function, is_grad_enabled
from tinytorch.layout import normalize_dims
from tinytorch.ops._common import new, require_tensor, reshape_view, run
from tinytorch.ops.elementwise import cast
from tinytorch.tensor import ReductionResult, Tensor


def _as_rows(x: Tensor, dims: tuple) -> tuple[np.ndarray, tuple, tuple]:
    """``x`` as a 2-D ``(kept, reduced)`` array, the kept shape and the keepdim shape."""
    kept = [d for d in range(x.ndim) if d not in dims]
    arr = x._data.transpose(kept + list(dims)) if x.ndim else x._data
    kept_shape = tuple(x.shape[d] for d in kept)
    rows = math.prod(kept_shape)
    cols = math.prod(x.shape[d] for d in dims) if x.ndim else 1
    arr2 = reshape_view(arr, (rows, cols))
    keep_shape = tuple(1 if d in dims else s for d, s in enumerate(x.shape))
    return arr2, kept_shape, keep_shape


def _reduce(op: str, x: Tensor, dim, keepdim: bool, out_dtype: dt.DType,
            in_dtype: dt.DType | None = None) -> Tensor:
    require_tensor(x, op)
    if not isinstance(keepdim, bool):
        raise TypeError(f"{op}(): keepdim must be a bool, got {keepdim!r}")
    dims = normalize_dims(dim, x.ndim)
    src = x if in_dtype is None or in_dtype == x.dtype else cast(x, in_dtype)
    arr2, kept_shape, keep_shape = _as_rows(src, dims)
    # Accumulate in float64 (int64 for integers) whatever the output dtype, then cast the
    # small result back: the kernels add in the dtype of the buffer they are given.
    acc = np.empty(arr2.shape[0], np.float64 if out_dtype.is_floating_point else np.int64)
    with np.errstate(all="ignore"):
        dispatch.call(f"{op}_forward", acc, arr2)
    out = acc
    if acc.dtype != out_dtype.np:
        out = np.empty(acc.shape, out_dtype.np)
        run("copy_forward", out, acc)
    return new(out.reshape(keep_shape if keepdim else kept_shape))


def sum(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (an int, a tuple, or None for all). Integer and bool tensors sum to
    int64, as in PyTorch.

    >>> import tinytorch as tt
    >>> tt.sum(tt.ones(2, 3), dim=(0, 1)).item()
    6.0
    """
    return _Sum.apply(x, dim, keepdim)


def _sum_forward(x: Tensor, dim, keepdim: bool) -> Tensor:
    require_tensor(x, "sum")
    out_dtype = x.dtype if x.dtype.is_floating_point else dt.int64
    return _reduce("sum", x, dim, keepdim, out_dtype, in_dtype=out_dtype)


def _spread(grad: Tensor, shape: tuple, dim) -> Tensor:
    """The gradient of a reduction over ``dim``, spread over ``shape``: the reduced
    dimensions put back as size 1, then ``expand`` (a stride-0 view, nothing copied)."""
    dims = normalize_dims(dim, len(shape))
    keep_shape = tuple(1 if d in dims else s for d, s in enumerate(shape))
    return grad.reshape(keep_shape).expand(shape)


class _Sum(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        out = _sum_forward(x, dim, keepdim)  # validates x first
        ctx.shape, ctx.dim = x.shape, dim
        return out

    @staticmethod
    def backward(ctx, grad):
        return _spread(grad, ctx.shape, ctx.dim), None, None


class _Mean(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        out = _mean_forward(x, dim, keepdim)  # validates x first
        ctx.shape, ctx.dim = x.shape, dim
        return out

    @staticmethod
    def backward(ctx, grad):
        dims = normalize_dims(ctx.dim, len(ctx.shape))
        n = math.prod(ctx.shape[d] for d in dims) if ctx.shape else 1
        return _spread(grad / n, ctx.shape, ctx.dim), None, None


def mean(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim``; floating tensors only (PyTorch refuses to guess a dtype for
    integers). The mean over zero elements is NaN."""
    return _Mean.apply(x, dim, keepdim)


def _mean_forward(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    require_tensor(x, "mean")
    if not x.dtype.is_floating_point:
        raise TypeError(f"mean() needs a floating point tensor, got {x.dtype}\n"
                        "hint: x.float().mean()")
    dims = normalize_dims(dim, x.ndim)
    if x.ndim and math.prod(x.shape[d] for d in dims) == 0:
        total = _sum_forward(x, dim, keepdim)
        return total / 0.0
    return _reduce("mean", x, dim, keepdim, x.dtype)


def _extreme(op: str, x: Tensor, dim, keepdim: bool) -> ReductionResult:
    """Shared body of max/min/amax/amin/argmax/argmin: values and indices. The values of
    max/min/amax/amin carry a graph (``_Extreme``) when ``x`` requires grad."""
    require_tensor(x, op)
    if not isinstance(keepdim, bool):
        raise TypeError(f"{op}(): keepdim must be a bool, got {keepdim!r}")
    dims = normalize_dims(dim, x.ndim)  # before the cast: no kernel may run on a bad dim
    source = x
    was_bool = x.dtype is dt.bool_
    if x.ndim:
        empty = [d for d in dims if x.shape[d] == 0]
        if empty:
            raise IndexError(f"{op}(): cannot reduce over dimension {empty[0]} of size 0 "
                             f"(shape {x.shape}): there is no identity for max/min")
    if dim is None and x.numel() == 0:
        raise IndexError(f"{op}(): cannot reduce an empty tensor (shape {x.shape})")
    if was_bool:  # compare as 0/1, answer in bool
        x = cast(x, dt.uint8)
    arr2, kept_shape, keep_shape = _as_rows(x, dims)
    values = np.empty(arr2.shape[0], x.dtype.np)
    indices = np.empty(arr2.shape[0], np.int64)
    kernel = "max" if op in ("max", "amax", "argmax") else "min"
    dispatch.call(f"{kernel}_forward", values, indices, arr2)
    shape = keep_shape if keepdim else kept_shape
    result = new(values.reshape(shape))
    if was_bool:
        result = cast(result, dt.bool_)
    elif source.requires_grad and op in _RULE and is_grad_enabled():
        rule = _RULE[op] if dim is not None else "spread_nan"
        result = _Extreme.apply(source, result, indices, op, dims, rule)
    return ReductionResult(result, new(indices.reshape(shape)))


# Which gradient rule each op follows (as PyTorch's derivatives.yaml): max(dim)/min(dim)
# send it to the index they return; amax/amin share it over ties, and max()/min() over
# everything share it over ties with NaN counted as a tie of a NaN result.
_RULE = {"max": "pick", "min": "pick", "amax": "spread", "amin": "spread"}
_KERNEL = {"max": "max", "min": "min", "amax": "max", "amin": "min"}


class _Extreme(Function):
    """The values of max/min/amax/amin. ``_extreme`` already ran the reduction (one kernel
    call gives values and indices, and both go back to the caller), so ``forward`` only
    keeps what ``backward`` needs; ``backward`` runs ``<op>_backward`` (the scatter to the
    picked index) or ``a<op>_backward`` (the even share over ties) on the forward's 2-D
    ``(kept, reduced)`` layout, into a fresh buffer that it views back in ``x``'s order."""

    @staticmethod
    def forward(ctx, x, values, indices, op, dims, rule):
        ctx.op, ctx.dims, ctx.rule, ctx.shape = _KERNEL[op], dims, rule, x.shape
        if rule == "pick":
            # A private copy: the caller gets the kernel's array as its `indices` tensor
            # and may write into it; the compiled scatter must never see an index out of
            # range.
            saved = np.empty_like(indices)
            run("copy_forward", saved, indices)
            ctx.save_for_backward(new(saved))
        else:  # detached: the output saved by its own node would be a reference cycle
            ctx.save_for_backward(x, values.detach())
        return values

    @staticmethod
    def backward(ctx, grad):
        shape = ctx.shape
        dims = ctx.dims if shape else ()  # a 0-d tensor "reduces" over dim 0 or -1
        kept = [d for d in range(len(shape)) if d not in dims]
        rows = math.prod(shape[d] for d in kept)
        cols = math.prod(shape[d] for d in dims)
        buf = np.empty(tuple(shape[d] for d in kept + list(dims)), grad.dtype.np)
        grad_x2 = buf.reshape(rows, cols)
        g = _flat(grad._data, rows)
        if ctx.rule == "pick":
            (indices,) = ctx.saved_tensors
            dispatch.call(f"{ctx.op}_backward", grad_x2, g, indices._data)
        else:
            x, values = ctx.saved_tensors
            dispatch.call(f"a{ctx.op}_backward", grad_x2, g, _as_rows(x, dims)[0],
                          _flat(values._data, rows), nan_ties=ctx.rule == "spread_nan")
        # Back in x's dimension order: a transposed view of the buffer, nothing copied.
        grad_x = Tensor(buf.transpose(np.argsort(kept + list(dims))), buf.reshape(-1))
        return grad_x, None, None, None, None, None


def _flat(arr: np.ndarray, n: int) -> np.ndarray:
    """``arr`` (a gradient or the values, in the reduction's output shape) as 1-D ``(n,)``:
    a view when the strides allow one (an expanded gradient has stride 0), else a copy
    through the copy kernel."""
    return reshape_view(arr, (n,))


def _single_dim(op: str, dim):
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}() takes a single int dim, got {dim!r}\n"
                        "hint: amax/amin reduce over several dims")
    return dim


def max(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001
    """The largest element, or with ``dim`` a ``(values, indices)`` pair as PyTorch.
    With ``dim`` the gradient goes to the returned index; without, it is shared by the ties.

    >>> import tinytorch as tt
    >>> tt.max(tt.tensor([[1, 5], [7, 2]]), dim=1).indices.tolist()
    [1, 0]
    >>> x = tt.tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    >>> x.max(dim=1).values.sum().backward(); x.grad.tolist()
    [[0.0, 1.0, 0.0]]
    """
    result = _extreme("max", x, _single_dim("max", dim), keepdim)
    return result.values if dim is None else result


def min(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001
    """The smallest element, or with ``dim`` a ``(values, indices)`` pair (see ``max``).

    >>> import tinytorch as tt
    >>> tt.min(tt.tensor([[1, 5], [7, 2]]), dim=0).values.tolist()
    [1, 2]
    """
    result = _extreme("min", x, _single_dim("min", dim), keepdim)
    return result.values if dim is None else result


def amax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """The largest values over one or several dims (no indices). The gradient is shared
    evenly by the elements equal to the result, as PyTorch.

    >>> import tinytorch as tt
    >>> x = tt.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    >>> x.amax(dim=1).sum().backward(); x.grad.tolist()
    [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]
    """
    return _extreme("amax", x, dim, keepdim).values


def amin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """The smallest values over one or several dims (see ``amax``).

    >>> import tinytorch as tt
    >>> tt.amin(tt.tensor([[4, 5], [7, 2]]), dim=(0, 1)).item()
    2
    """
    return _extreme("amin", x, dim, keepdim).values


def argmax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the largest element: into the flattened tensor when ``dim`` is None.

    >>> import tinytorch as tt
    >>> tt.argmax(tt.tensor([[1, 5], [7, 2]])).item()
    2
    """
    if dim is None:
        return _extreme("argmax", require_tensor(x, "argmax").reshape(-1), 0, False).indices
    return _extreme("argmax", x, _single_dim("argmax", dim), keepdim).indices


def argmin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (see ``argmax``).

    >>> import tinytorch as tt
    >>> tt.argmin(tt.tensor([[1, 5], [7, 0]]), dim=1).tolist()
    [0, 1]
    """
    if dim is None:
        return _extreme("argmin", require_tensor(x, "argmin").reshape(-1), 0, False).indices
    return _extreme("argmin", x, _single_dim("argmin", dim), keepdim).indices
