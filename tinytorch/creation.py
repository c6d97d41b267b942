"""Making tensors: from data, filled, ranges, random (PyTorch's names and defaults).

Python floats become float32 (PyTorch's default dtype), Python ints int64, bools bool;
numpy arrays keep their dtype. Shapes are given as varargs or one tuple.

>>> import tinytorch as tt
>>> tt.tensor([[1, 2], [3, 4]]).dtype, tt.tensor([0.5]).dtype
(tinytorch.int64, tinytorch.float32)
>>> tt.zeros(2, 3).shape == tt.zeros((2, 3)).shape
True
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch import dtypes as dt
from tinytorch import random as _random
from tinytorch.tensor import Tensor, _shape_args

__all__ = ["tensor", "zeros", "ones", "empty", "full", "arange", "rand", "randn",
           "zeros_like", "ones_like"]


def _infer_dtype(arr: np.ndarray) -> dt.DType:
    kind = arr.dtype.kind
    if kind == "b":
        return dt.bool_
    if kind in "iu":
        return dt.int64
    if kind == "f":
        return dt.default_float
    raise TypeError(f"cannot make a tensor from data of numpy dtype {arr.dtype} "
                    "(numbers and bools only)")


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (a number, nested lists, a numpy array or a
    tensor).

    >>> import tinytorch as tt
    >>> tt.tensor([[1.0, 2.0]], dtype=tt.float64)
    tensor([[1., 2.]], dtype=tinytorch.float64)
    """
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, (np.ndarray, np.generic)):
        # numpy scalars (np.float64(2.0)) keep their dtype like arrays, as in PyTorch
        arr = np.asarray(data)
        if dtype is None:
            dtype = dt.as_dtype(arr.dtype)  # TypeError for unsupported numpy dtypes
    else:
        try:
            arr = np.array(data)
        except ValueError as err:
            raise ValueError(f"cannot make a tensor from ragged nested data: every row must "
                             f"have the same length ({err})") from None
        if arr.dtype == np.uint64 and dtype is None:  # numpy's pick for ints >= 2**63
            raise ValueError(f"cannot make a tensor from {data!r}: an integer does not fit "
                             "in int64")
        if arr.dtype == object:
            raise TypeError(f"cannot make a tensor from {type(data).__name__} data; "
                            "expected numbers, bools, or nested lists of them")
    dtype = dt.as_dtype(dtype) if dtype is not None else (
        data.dtype if isinstance(data, Tensor) else _infer_dtype(arr))
    return Tensor(np.array(arr, dtype=dtype.np, copy=True), requires_grad=requires_grad)


def _filled(size, fill, dtype, requires_grad, what) -> Tensor:
    shape = _shape_args(size, what)
    for s in shape:
        if s < 0:
            raise ValueError(f"{what}(): negative dimension {s} in shape {shape}")
    if fill is None:
        arr = np.empty(shape, dtype.np)
    else:
        try:
            arr = np.full(shape, fill, dtype.np)
        except (OverflowError, ValueError):
            raise ValueError(f"{what}(): fill value {fill!r} cannot be converted to {dtype} "
                             "without overflow") from None
    return Tensor(arr, requires_grad=requires_grad)


def zeros(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros. ``tt.zeros(2, 3)`` or ``tt.zeros((2, 3))``."""
    return _filled(size, 0, dt.as_dtype(dtype or dt.default_float), requires_grad, "zeros")


def ones(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones.

    >>> import tinytorch as tt
    >>> tt.ones(2, dtype=tt.int32)
    tensor([1, 1], dtype=tinytorch.int32)
    """
    return _filled(size, 1, dt.as_dtype(dtype or dt.default_float), requires_grad, "ones")


def empty(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (whatever the allocator left there)."""
    return _filled(size, None, dt.as_dtype(dtype or dt.default_float), requires_grad,
                   "empty")


def full(size, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``; the dtype follows the value when not given.

    >>> import tinytorch as tt
    >>> tt.full((2,), 7).dtype, tt.full((2,), 0.5).dtype
    (tinytorch.int64, tinytorch.float32)
    """
    if isinstance(fill_value, Tensor) or not isinstance(fill_value, (bool, int, float,
                                                                     np.number, np.bool_)):
        raise TypeError(f"full(): fill_value must be a number, got "
                        f"{type(fill_value).__name__}")
    dtype = dt.as_dtype(dtype) if dtype is not None else dt.result_type(fill_value)
    return _filled(size if isinstance(size, (tuple, list)) else (size,), fill_value, dtype,
                   requires_grad, "full")


def zeros_like(x: Tensor, dtype=None) -> Tensor:
    return zeros(x.shape, dtype=dtype or x.dtype)


def ones_like(x: Tensor, dtype=None) -> Tensor:
    return ones(x.shape, dtype=dtype or x.dtype)


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    """``start, start + step, ...`` up to but excluding ``end``; ``arange(n)`` is ``0..n-1``.
    int64 when every argument is an int, else float32.

    >>> import tinytorch as tt
    >>> tt.arange(5).tolist(), tt.arange(0, 1, 0.25).tolist()
    ([0, 1, 2, 3, 4], [0.0, 0.25, 0.5, 0.75])
    """
    if end is None:
        start, end = 0, start
    for name, v in (("start", start), ("end", end), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
            raise TypeError(f"arange(): {name} must be a number, got {type(v).__name__}")
        if not math.isfinite(v):
            raise ValueError(f"arange(): {name} must be finite, got {v}")
    if step == 0:
        raise ValueError("arange(): step must be nonzero")
    if (end - start) / step < 0:
        raise ValueError(f"arange(): upper bound and step sign are inconsistent "
                         f"(start={start}, end={end}, step={step})")
    if dtype is None:
        dtype = dt.result_type(start, end, step)
    dtype = dt.as_dtype(dtype)
    values = np.arange(start, end, step, dtype=np.float64 if dtype.is_floating_point
                       else np.int64)
    return Tensor(values.astype(dtype.np), requires_grad=requires_grad)


def _random_dtype(dtype, what: str) -> dt.DType:
    dtype = dt.as_dtype(dtype or dt.default_float)
    if not dtype.is_floating_point:
        raise TypeError(f"{what}() makes floating point tensors, got dtype {dtype}")
    return dtype


def rand(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in ``[0, 1)`` from the global generator (``tt.manual_seed``)."""
    dtype = _random_dtype(dtype, "rand")
    shape = _filled(size, None, dtype, False, "rand").shape
    arr = _random.generator().random(shape, dtype=dtype.np)
    return Tensor(arr, requires_grad=requires_grad)


def randn(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the global generator (``tt.manual_seed``)."""
    dtype = _random_dtype(dtype, "randn")
    shape = _filled(size, None, dtype, False, "randn").shape
    arr = _random.generator().standard_normal(shape, dtype=dtype.np)
    return Tensor(arr, requires_grad=requires_grad)
