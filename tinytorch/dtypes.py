"""Data types, named as PyTorch names them, and PyTorch's type-promotion rules.

A ``DType`` is a thin label around a numpy dtype: the storage of every Tensor is a numpy
array, so the numpy dtype is the truth and this class only adds PyTorch's names and rules.

>>> import tinytorch as tt
>>> tt.float32.itemsize, tt.int64.is_floating_point
(4, False)
>>> tt.promote_types(tt.int64, tt.float32)
tinytorch.float32
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DType", "float32", "float64", "int64", "int32", "int8", "uint8", "bool_",
    "as_dtype", "promote_types", "result_type", "default_float", "ALL_DTYPES",
]


class DType:
    """One element type. Compare with ``==``; ``np`` gives the numpy dtype underneath."""

    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_signed", "_kind")

    def __init__(self, name: str, np_dtype, kind: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        self.is_floating_point = kind == 2
        self.is_signed = self.np.kind in "if"
        self._kind = kind  # 0 bool, 1 integer, 2 floating: the order of promotion categories

    def __repr__(self) -> str:
        return f"tinytorch.{self.name}"

    def __reduce__(self):  # dtypes are singletons, even through copy.deepcopy
        return (as_dtype, (self.name,))


float32 = DType("float32", np.float32, 2)
float64 = DType("float64", np.float64, 2)
int64 = DType("int64", np.int64, 1)
int32 = DType("int32", np.int32, 1)
int8 = DType("int8", np.int8, 1)
uint8 = DType("uint8", np.uint8, 1)
bool_ = DType("bool", np.bool_, 0)

ALL_DTYPES = (float32, float64, int64, int32, int8, uint8, bool_)
_BY_NP = {d.np: d for d in ALL_DTYPES}
_BY_NAME = {d.name: d for d in ALL_DTYPES}
# PyTorch's aliases
_BY_NAME.update(float=float32, double=float64, long=int64, int=int32)

default_float = float32  # as torch.get_default_dtype()


def as_dtype(dtype) -> DType:
    """Turn a DType, a numpy dtype, a Python type or a name into a tinytorch DType.

    >>> as_dtype("float64"), as_dtype(float), as_dtype(bool)
    (tinytorch.float64, tinytorch.float32, tinytorch.bool)
    """
    if isinstance(dtype, DType):
        return dtype
    if dtype is float:
        return float32
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    if isinstance(dtype, str) and dtype in _BY_NAME:
        return _BY_NAME[dtype]
    try:
        npd = np.dtype(dtype)
    except TypeError:
        npd = None
    if npd is not None and npd in _BY_NP:
        return _BY_NP[npd]
    supported = ", ".join(d.name for d in ALL_DTYPES)
    raise TypeError(f"unsupported dtype {dtype!r}; tinytorch supports: {supported}")


def promote_types(a: DType, b: DType) -> DType:
    """PyTorch's promotion of two tensor dtypes: the higher category (bool < int < float)
    wins; within a category the wider type wins (numpy's rule there agrees with PyTorch's).

    >>> promote_types(int8, uint8), promote_types(float32, float64)
    (tinytorch.int32, tinytorch.float64)
    """
    if a is b:
        return a
    if a._kind != b._kind:
        return a if a._kind > b._kind else b
    if {a, b} == {int8, uint8}:
        # PyTorch gives int16, which tinytorch does not have: take the next wider signed int.
        return int32
    return _BY_NP[np.promote_types(a.np, b.np)]


def _scalar_kind(value) -> int:
    if isinstance(value, (bool, np.bool_)):
        return 0
    if isinstance(value, (int, np.integer)):
        return 1
    return 2


def _combine(higher: DType | None, lower: DType | None) -> DType | None:
    """PyTorch's ``combine_categories``: a lower-priority group of operands (0-d tensors,
    then Python scalars) changes the result only when it is of a higher category."""
    if higher is None:
        return lower
    if lower is None or higher.is_floating_point:
        return higher
    if higher is bool_ or lower.is_floating_point:
        return promote_types(higher, lower)
    return higher


def result_type(*operands) -> DType:
    """The dtype of an elementwise result, as PyTorch computes it.

    Three priority groups, highest first: tensors with dimensions, 0-d tensors, Python
    scalars. Within a group dtypes promote; a lower group only raises the category:
    ``int_tensor * 2.5`` is float32 (the default float), but ``float32_tensor * 2.5`` stays
    float32 and ``int8_tensor + 1000`` stays int8. A 0-d tensor acts like a scalar of its
    own dtype: ``float32_tensor + float64_0d`` is float32, ``int_tensor + float64_0d``
    float64.

    >>> import tinytorch as tt
    >>> result_type(tt.tensor([1, 2]), 2.5), result_type(tt.tensor([1.0], dtype=tt.float64), 1)
    (tinytorch.float32, tinytorch.float64)
    >>> result_type(tt.tensor([1.0]), tt.tensor(2.0, dtype=tt.float64))
    tinytorch.float32
    """
    # Before: every tensor promoted with every other, so a float64 0-d tensor (a loss,
    # x.sum()) silently turned float32 results into float64, unlike PyTorch.
    if len(operands) == 2:  # two tensors of one dtype: no promotion to work out
        da, db = getattr(operands[0], "dtype", None), getattr(operands[1], "dtype", None)
        if da is db and isinstance(da, DType):
            return da
    groups: list[DType | None] = [None, None]  # tensors with dimensions, 0-d tensors
    scalar_kind = -1
    for op in operands:
        dt = getattr(op, "dtype", None)
        if isinstance(dt, DType):
            g = 1 if getattr(op, "ndim", 1) == 0 else 0
            groups[g] = dt if groups[g] is None else promote_types(groups[g], dt)
        else:
            scalar_kind = max(scalar_kind, _scalar_kind(op))
    scalar = (bool_, int64, default_float)[scalar_kind] if scalar_kind >= 0 else None
    return _combine(groups[0], _combine(groups[1], scalar)) or bool_
