"""What every op of the function layer shares: operand checks, casts, the 2-D kernel loop.

The function layer is the only place that talks to kernels, and always through
``dispatch.call``. It validates everything first: compiled kernels do not bounds-check, so a
wrong shape or dtype must be stopped here, with a message that names the values.
"""

from __future__ import annotations

import numpy as np

from tinytorch import dispatch
from tinytorch import dtypes as dt
from tinytorch.layout import simple_views_2d, views_2d
from tinytorch.tensor import Tensor

SCALAR_TYPES = (bool, int, float, np.bool_, np.integer, np.floating)


def is_operand(x) -> bool:
    """A Tensor or a real Python/numpy scalar (what arithmetic accepts)."""
    return isinstance(x, Tensor) or isinstance(x, SCALAR_TYPES)


def require_tensor(x, op: str, name: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): {name} must be a Tensor, got {type(x).__name__}\n"
                        "hint: wrap data with tt.tensor(...)")
    return x


_INT64 = np.iinfo(np.int64)


def require_operand(x, op: str, name: str):
    """A Tensor or a number; Python ints must fit in int64 (checked here, before any cast
    of the other operands runs a kernel)."""
    if not is_operand(x):
        raise TypeError(f"{op}(): {name} must be a Tensor or a number, got "
                        f"{type(x).__name__}")
    if isinstance(x, int) and not isinstance(x, bool) and not _INT64.min <= x <= _INT64.max:
        raise ValueError(f"{op}(): {name} {x} does not fit in int64")
    return x


def scalar_as(value, dtype: dt.DType, op: str, name: str):
    """``value`` as a numpy scalar of ``dtype``, or a ValueError when it does not fit (as
    PyTorch: "value cannot be converted to type int8_t without overflow")."""
    try:
        return dtype.np.type(value)
    except (OverflowError, ValueError):
        raise ValueError(f"{op}(): {name}={value!r} cannot be converted to {dtype} without "
                         "overflow") from None


def run(op: str, out: np.ndarray, *inputs: np.ndarray, **params) -> None:
    """Call elementwise kernel ``op`` on 2-D views of ``out`` and the broadcast inputs
    (one call for contiguous operands, scalars and biases; see ``layout``)."""
    views = simple_views_2d(out, inputs)
    if views is not None:
        dispatch.call(op, *views, **params)
        return
    for views in views_2d(out, *inputs):
        dispatch.call(op, *views, **params)


def run_grads(op: str, outs: tuple, *inputs: np.ndarray) -> None:
    """Like ``run`` for a backward kernel with several outputs (``grad_a, grad_b, ...``):
    ``outs`` are fresh C-contiguous arrays of one shape and dtype, so each 2-D window of the
    first one has a twin at the same byte offset in every other one."""
    first = outs[0]
    views = simple_views_2d(first, inputs)
    if views is not None:
        shape = views[0].shape
        dispatch.call(op, views[0], *(o.reshape(shape) for o in outs[1:]), *views[1:])
        return
    base = first.ctypes.data
    for views in views_2d(first, *inputs):
        o = views[0]
        twins = tuple(np.ndarray(o.shape, o.dtype, buffer=other,
                                 offset=o.ctypes.data - base, strides=o.strides)
                      for other in outs[1:])
        dispatch.call(op, o, *twins, *views[1:])


def reshape_view(arr: np.ndarray, shape: tuple) -> np.ndarray:
    """``arr`` reshaped to ``shape``: a view whenever the strides allow one, else one copy
    through the copy kernel (numpy's own ``reshape`` would copy silently, outside the
    dispatcher).

    >>> import numpy as np
    >>> a = np.arange(6.0).reshape(2, 3)
    >>> np.shares_memory(reshape_view(a, (3, 2)), a), np.shares_memory(reshape_view(a.T, (6,)), a)
    (True, False)
    """
    try:
        return np.reshape(arr, shape, copy=False)
    except ValueError:  # the strides do not collapse: copy once, through the kernel
        flat = np.empty(arr.shape, arr.dtype)
        run("copy_forward", flat, arr)
        return flat.reshape(shape)


def as_array(x, dtype: dt.DType) -> np.ndarray:
    """The operand's values in ``dtype``: a tensor's own array when the dtype already
    matches, else a cast through the copy kernel; a scalar as a 0-d array."""
    if isinstance(x, Tensor):
        if x.dtype == dtype:
            return x._data
        out = np.empty(x.shape, dtype.np)
        run("copy_forward", out, x._data)
        return out
    # Python ints wrap into small dtypes as in PyTorch (int8 tensor + 1000), so go through
    # an int64/float64 array and a C cast rather than np.asarray(x, int8), which raises.
    with np.errstate(all="ignore"):
        return np.asarray(x).astype(dtype.np)


def new(arr: np.ndarray) -> Tensor:
    """A tensor owning a freshly allocated contiguous array."""
    return Tensor(arr)
