# Deliberately wrong copy of the reference lab01_tensor.py for the grader self-tests:
# see tests/labs_reference/wrong/README.md.
# %% [markdown]
# # Lab 01: tensor, storage, shape, strides and views
#
# A tensor is a flat block of memory (the *storage*) plus a recipe for reading it as an
# n-dimensional array: a *shape*, *strides* (how many elements to step in storage to move
# by one along each dimension) and a *storage offset* (where element `[0, 0, ...]` is).
# Transpose, slicing, `expand` and broadcasting only write a new recipe: they are *views*
# that copy nothing. `.contiguous()` copies.
#
# **Systems questions**:
#
# 1. Where in storage is element `x[i, j, k]`? Why is the last stride 1 in a fresh tensor?
# 2. Why does `x.T` cost nothing, and why does the next op on it run slower?
# 3. How can an expanded `(1000, 1000)` tensor use the memory of 1000 elements?
# 4. What does `a + b` allocate when `a` is `(1000, 1000)` and `b` is `(1000,)`?
# 5. How many bytes does a tensor *show* (`nbytes`), and how many does it keep alive (its
#    storage)? When do they differ?
#
# Strides here count **elements**, as in PyTorch's `x.stride()` and tinytorch's
# `x.strides` (numpy's `arr.strides` counts bytes). Fill in each `TODO`, run
# `python lab01_tensor.py` for the experiments and `tinytorch grade 01` to check.

# %%
import builtins
import math
import time

import numba
import numpy as np

import tinytorch as tt

# `kernprof -l -v lab01_tensor.py` puts a `profile` decorator into builtins; without
# kernprof the decorator does nothing.
profile = getattr(builtins, "profile", lambda fn: fn)


# %% [markdown]
# ## 1. Contiguous strides
#
# In row-major (C) order the last dimension moves fastest: its stride is 1, and each
# stride is the product of the sizes to its right. A dimension of size 0 counts as size 1
# here (PyTorch's rule), so `(2, 0, 3)` has strides `(3, 3, 1)`. A 0-d tensor has `()`.


# %%
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


# %% [markdown]
# ## 2. Where an element lives
#
# `x[i0, i1, ...]` is at `offset + i0 * strides[0] + i1 * strides[1] + ...` in storage.


# %%
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


# %% [markdown]
# ## 3. Transpose is a view
#
# Swapping two dimensions swaps their sizes *and* their strides; the storage stays. Dims
# may be negative, counting from the end as in PyTorch (`-1` is the last dimension).


# %%
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


# %% [markdown]
# ## 4. Broadcasting
#
# Align the two shapes at the **right**; a missing leading dimension counts as size 1. Two
# sizes are compatible when they are equal or one of them is 1; the result takes the
# larger. Anything else is an error: raise `ValueError` with a message that names both
# shapes, like `cannot broadcast (2, 3) with (3, 2): sizes 3 and 2 at dimension 1`.


# %%
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


# %% [markdown]
# ## 5. Expand: broadcasting without copying
#
# `x.expand(*new_shape)` shows `x` at a bigger shape by giving every repeated dimension
# **stride 0**: each index along it reads the same element. Dimensions are aligned at the
# right; new leading dimensions get stride 0; a size-1 dimension that grows gets stride 0;
# a dimension that keeps its size keeps its stride. Any other size change is a
# `ValueError` (only size-1 dimensions can grow), and so is a `new_shape` with fewer
# dimensions than `shape`.


# %%
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
            result.append(stride)
        else:
            raise ValueError(f"cannot expand {tuple(shape)} to {tuple(new_shape)}: size "
                             f"{old} is not 1 and differs from {new}")
    return tuple(result)


# %% [markdown]
# ## 6. Memory a view spans
#
# A view touches storage from its first element to its last. With non-negative strides,
# the last element is at `sum((size - 1) * stride)` past the first, so the view spans that
# plus one element. A tensor with a size-0 dimension spans nothing; a 0-d tensor spans 1.
# Compare with `numel`: an expanded tensor shows many elements but spans few.


# %%
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


# %% [markdown]
# ## 7. An elementwise kernel as loops
#
# tinytorch's binary elementwise kernels share one signature (`docs/kernels.md`):
# `add_forward(out, a, b)`, all three 2-D arrays of the same shape `(R, C)`, outputs first.
# The inputs may have **any strides, including 0**: tinytorch broadcasts `b` of shape
# `(C,)` to `(R, C)` by giving its rows stride 0, so your loops broadcast for free. Write
# `out[i, j] = a[i, j] + b[i, j]` as two loops over numbers (no `a + b`, no slicing), and
# return nothing: the caller owns `out`.


# %%
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


# %% [markdown]
# ## Experiments
#
# Run `python lab01_tensor.py`. For a line-by-line profile of your loops:
#
# ```bash
# kernprof -l -v lab01_tensor.py
# ```


# %%
def _todo(name: str) -> None:
    print(f"TODO: implement {name} first")


def _median_s(fn, *args, repeat: int = 5) -> float:
    fn(*args)  # warm-up: the first call of a jit function compiles
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def experiment_strides() -> None:
    x = tt.zeros(2, 3, 4)
    try:
        mine = contiguous_strides(x.shape)
    except NotImplementedError:
        return _todo("contiguous_strides")
    print(f"shape {x.shape}: your strides {mine}, tinytorch's {x.strides}")
    try:
        t_shape, t_strides = transpose_view(x.shape, x.strides, 0, 2)
    except NotImplementedError:
        return _todo("transpose_view")
    xt = x.transpose(0, 2)
    print(f"transpose(0, 2): yours {t_shape} {t_strides}, tinytorch's {xt.shape} "
          f"{xt.strides}; contiguous? {xt.is_contiguous()}; same storage? "
          f"{xt.shares_storage(x)}")
    try:
        where = element_offset((1, 2, 3), x.strides)
    except NotImplementedError:
        return _todo("element_offset")
    print(f"x[1, 2, 3] is storage element {where} (of {x.numel()})")


def experiment_views_and_copies() -> None:
    x = tt.arange(1_000_000.0).reshape(1000, 1000)
    views = {"x": x, "x.T": x.T, "x[::2, ::2]": x[::2, ::2],
             "row.expand(1000, 1000)": x[0:1].expand(1000, 1000),
             "x.T.contiguous()": x.T.contiguous()}
    try:
        storage_span((1,), (1,))
    except NotImplementedError:
        return _todo("storage_span")
    print(f"{'tensor':24} {'shape':>12} {'strides':>12} {'nbytes':>10} {'spans (B)':>10}  copy?")
    for name, t in views.items():
        span = storage_span(t.shape, t.strides) * t.element_size()
        print(f"{name:24} {str(t.shape):>12} {str(t.strides):>12} {t.nbytes:>10} "
              f"{span:>10}  {'no' if t.shares_storage(x) else 'yes'}")
    print("question: the expanded tensor shows 8 MB but spans 8 kB: what happens if you "
          "write to it?")


def experiment_broadcasting() -> None:
    try:
        print("broadcast (8, 1, 6, 1) with (7, 1, 5):",
              broadcast_shape((8, 1, 6, 1), (7, 1, 5)),
              "tinytorch:", (tt.ones(8, 1, 6, 1) + tt.ones(7, 1, 5)).shape)
        broadcast_shape((2, 3), (3, 2))
    except NotImplementedError:
        return _todo("broadcast_shape")
    except ValueError as err:
        print(f"(2, 3) with (3, 2): ValueError: {err}")
    try:
        b = tt.ones(1000)
        mine = expand_strides(b.shape, b.strides, (1000, 1000))
        print(f"b (1000,) as (1000, 1000): strides {mine}, tinytorch's "
              f"{b.expand(1000, 1000).strides}: one row of storage read 1000 times")
    except NotImplementedError:
        return _todo("expand_strides")


def experiment_add_kernel() -> None:
    rng = np.random.default_rng(0)
    n = 256
    a = rng.standard_normal((n, n)).astype(np.float32)
    row = rng.standard_normal(n).astype(np.float32)
    b = np.broadcast_to(row, (n, n))  # stride 0 along the rows, nothing copied
    out = np.full((n, n), np.nan, dtype=np.float32)
    try:
        add_loops(out, a, b)
    except NotImplementedError:
        return _todo("add_loops")
    if not np.allclose(out, a + b):
        print("add_loops does not match numpy yet: fix it before timing it")
        return
    compiled = numba.njit(getattr(add_loops, "__wrapped__", add_loops))
    tt_jit = tt.dispatch.kernel_for("add_forward", "jit")[1]
    rows = {"your loops": _median_s(add_loops, out, a, b, repeat=3),
            "your loops, njit": _median_s(compiled, out, a, b),
            "tinytorch jit": _median_s(tt_jit, out, a, b),
            "numpy": _median_s(np.add, a, b, out)}
    moved = 3 * a.nbytes  # read a, read b (from cache: a row repeats), write out
    print(f"add on ({n}, {n}) float32, b broadcast from ({n},), median times:")
    for name, s in rows.items():
        print(f"  {name:18} {s * 1e3:9.4f} ms  {moved / s / 1e9:7.2f} GB/s"
              f"  ({rows['your loops'] / s:7.0f}x your loops)")

    # Your loops as a tinytorch backend: ops with no "student" kernel borrow jit (with a
    # warning per op: nothing falls back silently).
    tt.register_kernel("add_forward", "student", add_loops)
    x, y = tt.randn(3, 4), tt.randn(4)
    with tt.backend("student", fallback="jit"):
        z = x + y
    ok = np.allclose(z.numpy(), x.numpy() + y.numpy())
    print(f"x (3, 4) + y (4,) on the student backend: {z.shape}, matches numpy: {ok}")


def experiment_footprint() -> None:
    a, b = tt.ones(1000, 1000), tt.ones(1000)
    c = a + b
    mb = 1024 * 1024
    print(f"a {a.nbytes / mb:.1f} MiB + b {b.nbytes / mb:.4f} MiB -> c {c.nbytes / mb:.1f} "
          f"MiB: the result is a fresh tensor; b was never copied to {a.shape}")
    print(f"a float64 copy doubles it: {c.double().nbytes / mb:.1f} MiB "
          f"({math.prod(c.shape)} elements x 8 bytes)")


# %%
if __name__ == "__main__":
    for experiment in (experiment_strides, experiment_views_and_copies,
                       experiment_broadcasting, experiment_add_kernel, experiment_footprint):
        print(f"\n== {experiment.__name__} ==")
        experiment()
