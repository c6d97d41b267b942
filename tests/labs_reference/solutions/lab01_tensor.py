# The solutions of labs/lab01_tensor.py: its TODO functions, done. The grader self-tests
# build the reference lab by inserting these before the lab's experiments, so
# the reference cannot drift from the lab students get.


def contiguous_strides(shape: tuple) -> tuple:
    """Row-major strides, in elements, of a fresh tensor of ``shape``.

    >>> contiguous_strides((2, 3, 4))
    (12, 4, 1)
    >>> contiguous_strides(())
    ()
    """
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def element_offset(index: tuple, strides: tuple, offset: int = 0) -> int:
    """The storage position of the element at ``index``.

    >>> element_offset((1, 2), (4, 1))
    6
    >>> element_offset((), (), offset=5)
    5
    """
    position = offset
    for i, stride in zip(index, strides, strict=True):
        position += i * stride
    return position


def transpose_view(shape: tuple, strides: tuple, d0: int, d1: int) -> tuple:
    """``(new_shape, new_strides)`` of ``x.transpose(d0, d1)``.

    >>> transpose_view((2, 3), (3, 1), 0, 1)
    ((3, 2), (1, 3))
    """
    n = len(shape)
    d0, d1 = d0 % n, d1 % n
    new_shape, new_strides = list(shape), list(strides)
    new_shape[d0], new_shape[d1] = shape[d1], shape[d0]
    new_strides[d0], new_strides[d1] = strides[d1], strides[d0]
    return tuple(new_shape), tuple(new_strides)


def broadcast_shape(a_shape: tuple, b_shape: tuple) -> tuple:
    """The shape of ``a + b`` for tensors of shapes ``a_shape`` and ``b_shape``.

    >>> broadcast_shape((3, 1), (1, 4))
    (3, 4)
    >>> broadcast_shape((5, 3, 4), (4,))
    (5, 3, 4)
    """
    n = max(len(a_shape), len(b_shape))
    a = (1,) * (n - len(a_shape)) + tuple(a_shape)
    b = (1,) * (n - len(b_shape)) + tuple(b_shape)
    result = []
    for d, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"cannot broadcast {tuple(a_shape)} with {tuple(b_shape)}: "
                             f"sizes {x} and {y} at dimension {d}")
        result.append(y if x == 1 else x)
    return tuple(result)


def expand_strides(shape: tuple, strides: tuple, new_shape: tuple) -> tuple:
    """The strides of ``x.expand(*new_shape)`` for ``x`` of ``shape`` and ``strides``.

    >>> expand_strides((3, 1), (1, 1), (3, 4))
    (1, 0)
    >>> expand_strides((4,), (1,), (2, 3, 4))
    (0, 0, 1)
    """
    lead = len(new_shape) - len(shape)
    if lead < 0:
        raise ValueError(f"cannot expand {tuple(shape)} to {tuple(new_shape)}: fewer "
                         f"dimensions")
    result = [0] * lead
    for old, stride, new in zip(shape, strides, new_shape[lead:], strict=True):
        if old == new:
            result.append(stride)
        elif old == 1:
            result.append(0)
        else:
            raise ValueError(f"cannot expand {tuple(shape)} to {tuple(new_shape)}: size "
                             f"{old} is not 1 and differs from {new}")
    return tuple(result)


def storage_span(shape: tuple, strides: tuple) -> int:
    """How many storage elements lie between a view's first and last element, inclusive.

    >>> storage_span((2, 3), (3, 1))
    6
    >>> storage_span((1000, 1000), (0, 1))
    1000
    """
    if any(size == 0 for size in shape):
        return 0
    return 1 + sum((size - 1) * stride for size, stride in zip(shape, strides, strict=True))


@profile
def add_loops(out, a, b):
    """``out[i, j] = a[i, j] + b[i, j]`` for every ``i < R``, ``j < C``.

    >>> out = np.empty((1, 2))
    >>> add_loops(out, np.array([[1.0, 2.0]]), np.array([[10.0, 20.0]]))
    >>> out.tolist()
    [[11.0, 22.0]]
    """
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i, j] + b[i, j]
