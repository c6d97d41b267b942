"""Basic indexing (module 01): which dimension each part of ``x[1:3, None, ..., 0]``
applies to, PyTorch's error messages, and PyTorch's strides for the axes ``None`` inserts.

The view itself is numpy's basic indexing on the tensor's window: it copies nothing.

>>> check_index((0, slice(1, None)), (3, 4))
(0, slice(1, None, None))
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["check_index", "unsqueeze_strides"]


def unsqueeze_strides(data: np.ndarray, index: tuple, src: np.ndarray) -> np.ndarray:
    """Give the axes that ``None`` inserted PyTorch's strides (numpy gives them stride 0).

    PyTorch applies an index item by item, left to right, and ``None`` is ``unsqueeze`` of
    the tensor as it is at that moment: the new axis gets ``size * stride`` of the
    dimension it lands before (1 element when it lands last). Replay that on ``src``'s
    (size, stride) pairs. Size-1 dimensions may have any stride, so this changes only what
    ``.strides`` reports, never which elements are read.
    """
    # (size, stride in bytes) of each dimension of the tensor as indexed so far
    dims = list(zip(src.shape, src.strides, strict=True))
    consumed = sum(1 for it in index if it is not None and it is not Ellipsis)
    dim, new_strides = 0, []
    for it in index:
        if it is None:
            stride = dims[dim][0] * dims[dim][1] if dim < len(dims) else src.itemsize
            dims.insert(dim, (1, stride))
            new_strides.append((dim, stride))
            dim += 1
        elif it is Ellipsis:
            dim += src.ndim - consumed
        elif isinstance(it, slice):
            size, stride = dims[dim]
            dims[dim] = (len(range(*it.indices(size))), stride * (it.step or 1))
            dim += 1
        else:  # an int selects: the dimension goes away
            del dims[dim]
    strides = list(data.strides)
    for d, stride in new_strides:
        strides[d] = stride
    return as_strided(data, data.shape, tuple(strides), writeable=data.flags.writeable)


def check_index(index, shape: tuple):
    """Validate a basic index with PyTorch's messages before numpy sees it."""
    items = index if isinstance(index, tuple) else (index,)
    consumed = sum(1 for it in items if it is not None and it is not Ellipsis)
    if sum(1 for it in items if it is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}: "
                         f"{consumed} given for shape {shape}")
    # Walk the index to find which dimension each int or slice applies to.
    dim, out = 0, []
    for pos, it in enumerate(items):
        if it is Ellipsis:
            dim += len(shape) - consumed
        elif it is None:
            pass
        elif isinstance(it, slice):
            for part in ("start", "stop", "step"):
                v = getattr(it, part)
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))):
                    raise TypeError(f"slice {part} must be an int or None, got {v!r}")
            if it.step is not None and it.step <= 0:
                raise ValueError(f"slice step must be positive, got {it.step} "
                                 "(negative steps are not supported, as in PyTorch)")
            dim += 1
        elif isinstance(it, (int, np.integer)) and not isinstance(it, bool):
            size = shape[dim]
            if not -size <= it < size:
                raise IndexError(f"index {it} is out of bounds for dimension {dim} with "
                                 f"size {size}")
            it = int(it)
            dim += 1
        else:
            raise TypeError(
                f"tinytorch supports basic indexing only (ints, slices, None, ...); got "
                f"{type(it).__name__} at position {pos}\nhint: advanced (tensor/list/bool) "
                "indexing copies data and is not a view; use tt.where or .numpy() for now")
        out.append(it)
    return tuple(out)
