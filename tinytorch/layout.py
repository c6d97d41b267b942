"""Shapes, strides and broadcasting: how a tensor op of any rank becomes 2-D kernel calls.

Elementwise kernels are two nested loops over ``(R, C)`` arrays (``docs/kernels.md``). This
module turns the operands of an op of any rank into such 2-D views *without copying*, the
way PyTorch's TensorIterator does:

1. broadcast every input to the output shape: a broadcast dimension gets stride 0;
2. drop dimensions of size 1 (any stride will do for them);
3. coalesce neighbours: dims ``d`` and ``d+1`` merge when, in *every* operand,
   ``stride[d] == stride[d+1] * size[d+1]`` (walking ``d+1`` to its end lands where ``d``
   steps to): a contiguous tensor of any rank becomes one dimension;
4. at most two dimensions left: one kernel call; more: a loop over the leading ones, each
   call a 2-D slice. ``(N, C, H, W) + bias(1, C, 1, 1)`` becomes ``N`` calls on ``(C, H*W)``.

>>> import numpy as np
>>> x = np.zeros((4, 5, 6), np.float32)
>>> coalesce((4, 5, 6), [x.strides])
[(120, [4])]
>>> broadcast_shapes((3, 1), (4,))
(3, 4)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["broadcast_shapes", "coalesce", "views_2d", "simple_views_2d", "normalize_dim",
           "normalize_dims", "contiguous_strides"]


def broadcast_shapes(*shapes: Sequence[int], names: Sequence[str] | None = None) -> tuple:
    """The shape that operands of these shapes broadcast to, by PyTorch's (and numpy's)
    rule: align on the right; sizes must match or be 1.

    >>> broadcast_shapes((2, 1, 4), (3, 1))
    (2, 3, 4)
    >>> broadcast_shapes((3,), (4,))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: shapes (3,) and (4,) cannot be broadcast: the size of a (3) must match ...
    """
    if len(shapes) == 2 and shapes[0] == shapes[1]:  # the common case, answered at once
        return tuple(shapes[0])
    names = names or [chr(ord("a") + i) for i in range(len(shapes))]
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for d in range(-ndim, 0):
        size, owner = 1, None
        for name, shape in zip(names, shapes, strict=True):
            if -d > len(shape):
                continue
            s = shape[d]
            if s == 1:
                continue
            if size != 1 and s != size:
                shown = " and ".join(str(tuple(sh)) for sh in shapes)
                raise ValueError(
                    f"shapes {shown} cannot be broadcast: the size of {owner} ({size}) must "
                    f"match the size of {name} ({s}) at dimension {ndim + d} "
                    "(sizes must be equal or 1)")
            size, owner = s, name
        out.append(size)
    return tuple(out)


def contiguous_strides(shape: Sequence[int]) -> tuple:
    """Row-major strides in elements: the last dimension moves fastest.

    >>> contiguous_strides((2, 3, 4))
    (12, 4, 1)
    """
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def coalesce(shape: Sequence[int], strides: Sequence[Sequence[int]]) -> list:
    """Merge dimensions that every operand walks contiguously; drop size-1 dimensions.

    ``strides`` has one sequence per operand (bytes or elements, as long as each operand is
    consistent). Returns ``[(size, [stride per operand]), ...]``, outermost first; an empty
    list means a single element.

    >>> coalesce((2, 3, 4), [(48, 16, 4), (0, 4, 0)])
    [(2, [48, 0]), (3, [16, 4]), (4, [4, 0])]
    >>> coalesce((2, 3, 4), [(48, 16, 4), (0, 0, 4)])
    [(6, [16, 0]), (4, [4, 4])]
    """
    dims: list = []
    for d in reversed(range(len(shape))):
        size = shape[d]
        if size == 1:
            continue
        st = [s[d] for s in strides]
        if dims:
            inner_size, inner_st = dims[-1]
            if all(st[k] == inner_st[k] * inner_size for k in range(len(st))):
                dims[-1] = (inner_size * size, inner_st)
                continue
        dims.append((size, st))
    dims.reverse()
    return dims


def views_2d(out: np.ndarray, *inputs: np.ndarray) -> Iterator[tuple]:
    """Yield ``(out2d, *inputs2d)`` views covering ``out`` once, each a 2-D kernel call.

    Every input must broadcast to ``out.shape``. Nothing is copied: inputs become stride-0
    broadcast views where needed, and writing to ``out2d`` writes to ``out``. Yields nothing
    when ``out`` has no elements.

    >>> import numpy as np
    >>> out = np.empty((2, 3)); b = np.arange(3.0)
    >>> [(o.shape, v.strides) for o, v in views_2d(out, b)]
    [((2, 3), (0, 8))]
    """
    shape = out.shape
    if math.prod(shape) == 0:
        return
    arrays = [out] + [np.broadcast_to(x, shape) for x in inputs]
    dims = coalesce(shape, [a.strides for a in arrays])
    while len(dims) < 2:
        dims.insert(0, (1, [0] * len(arrays)))
    sizes = tuple(size for size, _ in dims)
    views = [as_strided(a, sizes, tuple(st[k] for _, st in dims), writeable=k == 0)
             for k, a in enumerate(arrays)]
    if len(dims) == 2:
        yield tuple(views)
        return
    # More than two dimensions survived coalescing: one kernel call per leading index.
    for index in np.ndindex(*sizes[:-2]):
        yield tuple(v[index] for v in views)


def simple_views_2d(out: np.ndarray, inputs: Sequence[np.ndarray]) -> tuple | None:
    """The one-call ``views_2d`` of the shapes a training step is made of, built in about a
    microsecond, or ``None`` for anything else (then use ``views_2d``).

    It handles a C-contiguous ``out`` whose inputs are each C-contiguous with ``out``'s
    shape, a single element (a scalar: strides 0, 0), or C-contiguous with the trailing
    shape ``out.shape[k:]`` for one shared ``k`` (a bias: stride 0 down the rows).
    ``views_2d`` would find the same views after broadcasting and coalescing, but each
    ``np.broadcast_to``/``as_strided`` costs about 5 microseconds, more than a small kernel.

    >>> import numpy as np
    >>> out = np.empty((4, 3)); bias = np.arange(3.0)
    >>> [v.strides for v in simple_views_2d(out, [out, bias])]
    [(24, 8), (24, 8), (0, 8)]
    """
    shape = out.shape
    size = out.size
    if not size or not out.flags.c_contiguous:
        return None
    split = None  # k such that a bias has shape out.shape[k:]
    for x in inputs:
        if x.ndim > len(shape):  # broadcasting never drops dimensions: leave it to views_2d
            return None
        if x.size == 1 or x.shape == shape:
            if not x.flags.c_contiguous:
                return None
            continue
        k = len(shape) - x.ndim
        if k <= 0 or x.shape != shape[k:] or not x.flags.c_contiguous \
                or (split is not None and split != k):
            return None
        split = k
    cols = math.prod(shape[split:]) if split is not None else size
    rows = size // cols
    views = [out.reshape(rows, cols)]
    for x in inputs:
        if x.shape == shape:
            views.append(x.reshape(rows, cols))
        elif x.size == 1:
            views.append(np.ndarray((rows, cols), x.dtype, x, 0, (0, 0)))
        else:
            views.append(np.ndarray((rows, cols), x.dtype, x, 0, (0, x.itemsize)))
    return tuple(views)


def normalize_dim(dim, ndim: int, *, allow_end: bool = False) -> int:
    """A dimension index in ``[-ndim, ndim)`` turned non-negative; a 0-d tensor accepts 0
    and -1, as in PyTorch. ``allow_end`` widens the range by one (``unsqueeze``, ``stack``).

    >>> normalize_dim(-1, 3)
    2
    >>> normalize_dim(3, 3)
    Traceback (most recent call last):
    ...
    IndexError: dimension out of range (expected to be in range of [-3, 2], but got 3)
    """
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"dim must be an int, got {type(dim).__name__} {dim!r}")
    n = ndim + (1 if allow_end else 0)
    n = max(n, 1)
    if not -n <= dim < n:
        raise IndexError(f"dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


def normalize_dims(dim, ndim: int) -> tuple:
    """``None`` or ``()`` (all, as PyTorch's ``sum(dim=())``), an int or a tuple of ints, as
    a sorted tuple without repeats.

    >>> normalize_dims((0, -1), 3), normalize_dims(None, 2), normalize_dims((), 2)
    ((0, 2), (0, 1), (0, 1))
    """
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    out = [normalize_dim(d, ndim) for d in dims]
    if len(set(out)) != len(out):
        raise ValueError(f"dim {tuple(dims)} names a dimension more than once")
    return tuple(sorted(out))
