"""Property tests: hypothesis throws random shapes (sizes 0 and 1 included, up to 4-D),
random strided views, random dims and keepdim at the API, on the jit and numpy backends.

Every property has the same shape: work out with numpy what the answer is, or which of
ValueError / TypeError / IndexError the call must raise; then the tinytorch call must give
that answer or raise that error. Any other exception fails the test. ``deadline=None``
because the first call of a jit kernel for a new dtype or layout compiles it.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import tinytorch as tt
from tinytorch.layout import coalesce, views_2d
from tinytorch.testing import assert_close

SETTINGS = settings(deadline=None, max_examples=60, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
BACKENDS = pytest.mark.parametrize("bk", ["jit", "numpy"])
CLEAR = (ValueError, TypeError, IndexError)

sizes = st.integers(0, 4)
shapes = st.lists(sizes, min_size=0, max_size=4).map(tuple)


def values(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.uniform(-2, 2, shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(-3, 4, shape).astype(dtype)


@st.composite
def strided(draw, shape, dtype=np.float32):
    """A tensor of exactly ``shape`` that is a random strided view of a bigger buffer:
    permuted, sliced with steps and offsets, and expanded (stride 0) on some dims; and the
    same values as an ndarray."""
    nd = len(shape)
    perm = draw(st.permutations(range(nd)))
    steps = [draw(st.integers(1, 3)) for _ in shape]
    starts = [draw(st.integers(0, 2)) for _ in shape]
    expanded = [draw(st.booleans()) and draw(st.booleans()) for _ in shape]  # 1 in 4
    base = [1 if expanded[d] else starts[d] + max(shape[d] - 1, 0) * steps[d] + 1
            for d in range(nd)]
    arr = values(tuple(base[p] for p in perm), dtype, draw(st.integers(0, 2**16)))
    inverse = tuple(int(i) for i in np.argsort(perm))
    t, a = tt.tensor(arr).permute(*inverse), arr.transpose(inverse)
    index = tuple(slice(None) if expanded[d] else
                  slice(starts[d], starts[d] + shape[d] * steps[d], steps[d])
                  for d in range(nd))
    t, a = t[index], a[index]
    if any(expanded):  # (an expanded view is read-only, so only when it is one)
        t, a = t.expand(*shape), np.broadcast_to(a, shape)
    assert t.shape == shape and a.shape == shape
    return t, a


@st.composite
def broadcast_partner(draw, shape):
    """A shape that usually broadcasts with ``shape`` (leading dims dropped, some sizes
    set to 1), and sometimes does not (a size changed)."""
    out = list(shape[draw(st.integers(0, len(shape))):])
    for d in range(len(out)):
        if draw(st.integers(0, 3)) == 0:
            out[d] = 1
    if out and draw(st.integers(0, 5)) == 0:
        out[draw(st.integers(0, len(out) - 1))] = draw(sizes)
    if draw(st.integers(0, 6)) == 0:
        out = [draw(st.integers(1, 2))] + out  # an extra leading dim
    return tuple(out)


def expect(oracle):
    """Run the numpy oracle: ``(result, None)`` or ``(None, error class)``."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # mean of an empty slice
            return oracle(), None
    except CLEAR as err:
        return None, type(err)


def run(fn, error):
    """Run the tinytorch call: it must raise ``error`` when one is expected, and may raise
    nothing else (an unexpected ValueError is a failure too)."""
    event(f"raises {error.__name__}" if error else "computes")
    if error is not None:
        with pytest.raises(error):
            fn()
        return None
    return fn()


# --- elementwise --------------------------------------------------------------------------

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (tt.mul, np.multiply),
    "div": (lambda a, b: a / b, np.true_divide),
    "lt": (lambda a, b: a < b, np.less),
    "eq": (tt.eq, np.equal),
}


@BACKENDS
@SETTINGS
@given(data=st.data(), op=st.sampled_from(sorted(BINARY)))
def test_binary_broadcasting(bk, data, op):
    sa = data.draw(shapes, "a shape")
    sb = data.draw(broadcast_partner(sa), "b shape")
    if data.draw(st.booleans()):
        sa, sb = sb, sa
    ta, aa = data.draw(strided(sa), "a")
    tb, bb = data.draw(strided(sb), "b")
    ours, oracle = BINARY[op]
    expected, error = expect(lambda: oracle(aa, bb))
    with tt.backend(bk):
        got = run(lambda: ours(ta, tb), error)
    if error is None:
        assert got.dtype == tt.as_dtype(expected.dtype) and got.shape == expected.shape
        assert_close(got, expected)
        if got.numel():
            assert got.is_contiguous()


@BACKENDS
@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.int64, np.int8]))
def test_unary_scalar_and_where(bk, data, dtype):
    shape = data.draw(shapes, "shape")
    t, a = data.draw(strided(shape, dtype), "x")
    s = data.draw(st.sampled_from([2, -1, 0.5]), "scalar")
    with tt.backend(bk):
        assert_close(-t, -a)
        assert_close(abs(t), np.abs(a))
        assert_close(tt.relu(t), np.maximum(a, 0))
        r = t * s
        assert r.dtype == (t.dtype if isinstance(s, int) or t.dtype.is_floating_point
                           else tt.float32)
        with np.errstate(all="ignore"):
            assert_close(r, (a * np.asarray(s).astype(r.dtype.np)).astype(r.dtype.np))
        assert_close(s - t, (np.asarray(s).astype(r.dtype.np) - a).astype(r.dtype.np))
        cond = t > 0
        assert cond.dtype == tt.bool
        assert_close(tt.where(cond, t, s), np.where(a > 0, a, s).astype(r.dtype.np))
        if t.dtype.is_floating_point:
            assert_close(tt.exp(t), np.exp(a))
            assert_close(tt.clamp(t, min=-1.0, max=1.0), np.clip(a, -1.0, 1.0))


# --- reductions ---------------------------------------------------------------------------

def dims_for(ndim):
    """``dim`` arguments: None, an int or a tuple; mostly in range, sometimes not."""
    n = max(ndim, 1)
    one = st.one_of(st.integers(-n, n - 1), st.integers(-n, n - 1), st.integers(-6, 5))
    return st.one_of(st.none(), one, st.lists(one, min_size=1, max_size=3).map(tuple))


def reduce_oracle(op, a, dim, keepdim):
    """What numpy (with PyTorch's rules) says, or which error PyTorch raises."""
    n = max(a.ndim, 1)
    if dim is None:
        norm = tuple(range(a.ndim))
    else:
        if op in ("max", "argmax") and isinstance(dim, tuple):
            raise TypeError("a single int dim")
        ds = dim if isinstance(dim, tuple) else (dim,)
        if any(not -n <= d < n for d in ds):
            raise IndexError("dimension out of range")
        norm = tuple(sorted(d % n for d in ds))
        if len(set(norm)) != len(norm):
            raise ValueError("repeated dim")
        if a.ndim == 0:
            norm = ()
    if op in ("amax", "max", "argmax") and (
            any(a.shape[d] == 0 for d in norm) or (dim is None and a.size == 0)):
        raise IndexError("no identity for max")
    if op == "argmax" and dim is None:
        return np.argmax(a)
    if a.ndim == 0:
        return a.copy() if op != "argmax" else np.int64(0)
    axis = norm if dim is None or isinstance(dim, tuple) else norm[0]
    if op == "sum":
        return np.sum(a.astype(np.float64), axis=axis, keepdims=keepdim).astype(a.dtype)
    if op == "mean":
        return np.mean(a.astype(np.float64), axis=axis, keepdims=keepdim).astype(a.dtype)
    if op in ("amax", "max"):
        return np.max(a, axis=axis, keepdims=keepdim)
    return np.argmax(a, axis=axis, keepdims=keepdim)


@BACKENDS
@SETTINGS
@given(data=st.data(), op=st.sampled_from(["sum", "mean", "amax", "max", "argmax"]),
       keepdim=st.booleans())
def test_reductions(bk, data, op, keepdim):
    shape = data.draw(shapes, "shape")
    dim = data.draw(dims_for(len(shape)), "dim")
    t, a = data.draw(strided(shape), "x")
    if op == "argmax" and dim is None:
        keepdim = False  # argmax over the flattened tensor
    expected, error = expect(lambda: reduce_oracle(op, a, dim, keepdim))
    with tt.backend(bk):
        got = run(lambda: getattr(tt, op)(t, dim, keepdim), error)
    if error is not None:
        return
    if op == "max" and dim is not None:
        values, indices = got
        assert_close(indices, np.argmax(a, axis=dim % max(a.ndim, 1), keepdims=keepdim)
                     if a.ndim else np.int64(0))
        got = values
    assert got.shape == np.shape(expected), (got.shape, np.shape(expected))
    assert got.dtype == (tt.int64 if op == "argmax" else tt.float32)
    assert_close(got, expected, rtol=1e-5, atol=1e-5)


@BACKENDS
@SETTINGS
@given(data=st.data(), keepdim=st.booleans(),
       dtype=st.sampled_from([np.int64, np.int8, np.bool_]))
def test_integer_sums(bk, data, keepdim, dtype):
    shape = data.draw(shapes, "shape")
    dim = data.draw(dims_for(len(shape)), "dim")
    t, a = data.draw(strided(shape, dtype), "x")
    expected, error = expect(lambda: reduce_oracle("sum", a.astype(np.int64), dim, keepdim))
    with tt.backend(bk):
        got = run(lambda: t.sum(dim, keepdim), error)
        run(lambda: t.mean(dim, keepdim), TypeError)  # mean of integers: TypeError
    if error is None:
        assert got.dtype == tt.int64
        assert_close(got, expected)


# --- matmul -------------------------------------------------------------------------------


@st.composite
def matmul_shapes(draw):
    """Operand shapes for a @ b: mostly compatible (1-D to 4-D, batch dims that
    broadcast), sometimes not (inner sizes or batches differ, or a 0-d operand)."""
    m, k, n = draw(sizes), draw(sizes), draw(sizes)
    batch = draw(st.lists(sizes, max_size=2))
    a = tuple(batch) + (m, k) if draw(st.booleans()) else (k,)
    b_batch = [1 if draw(st.booleans()) else s for s in batch][draw(st.integers(0, 2)):]
    b = tuple(b_batch) + (k, n) if draw(st.booleans()) else (k,)
    if draw(st.integers(0, 4)) == 0:  # break it
        b = draw(shapes)
    return a, b


@BACKENDS
@SETTINGS
@given(data=st.data(), ab=matmul_shapes())
def test_matmul(bk, data, ab):
    sa, sb = ab
    ta, aa = data.draw(strided(sa), "a")
    tb, bb = data.draw(strided(sb), "b")
    expected, error = expect(lambda: np.matmul(aa.astype(np.float64), bb.astype(np.float64)))
    with tt.backend(bk):
        got = run(lambda: ta @ tb, error)
    if error is None:
        assert got.shape == expected.shape and got.dtype == tt.float32
        assert_close(got, expected.astype(np.float32), rtol=1e-5, atol=1e-5)


# --- views --------------------------------------------------------------------------------


@st.composite
def view_op(draw, shape):
    """One view op with random, possibly invalid, arguments: ``(name, args)``."""
    nd = len(shape)
    dim = st.integers(-nd - 2, nd + 1)
    name = draw(st.sampled_from(["transpose", "permute", "unsqueeze", "squeeze", "slice",
                                 "index", "none", "expand", "reshape", "view", "T"]))
    if name == "transpose":
        return name, (draw(dim), draw(dim))
    if name == "permute":
        perm = list(draw(st.permutations(range(nd))))
        if perm and draw(st.integers(0, 4)) == 0:
            perm[0] = draw(dim)  # maybe a repeat or out of range
        return name, tuple(perm)
    if name in ("unsqueeze", "squeeze"):
        return name, (draw(dim),)
    if name in ("slice", "index", "none"):
        if nd == 0:
            return "none", (0,)
        d = draw(st.integers(0, nd - 1))
        if name == "slice":
            bound = st.one_of(st.none(), st.integers(-6, 6))
            return name, (d, slice(draw(bound), draw(bound), draw(st.integers(1, 3))))
        if name == "index":
            return name, (d, draw(st.integers(-shape[d] - 1, shape[d])))
        return name, (d,)
    if name == "expand":
        return name, tuple([draw(sizes)] * draw(st.integers(0, 1))) + tuple(
            draw(st.sampled_from([s, -1, 3] if s != 1 else [1, 2, 3, -1])) for s in shape)
    if name in ("reshape", "view"):
        n = math.prod(shape)
        if n and draw(st.booleans()):  # a factorisation of n, maybe with a -1
            f = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
            new = (f, -1) if draw(st.booleans()) else (n // f, f)
        else:
            new = tuple(draw(st.lists(sizes, max_size=3)))
        return name, new
    return "T", ()


def apply(name, args, x, numpy):
    """Apply the op to a tensor, or with ``numpy=True`` the same op to an ndarray the way
    PyTorch defines it (raising the error PyTorch raises)."""
    if not numpy:
        if name in ("slice", "index", "none"):
            d, item = args[0], args[1] if len(args) > 1 else None
            return x[(slice(None),) * d + (item,)]
        if name == "T":
            return x.T
        return getattr(x, name)(*args)
    nd = x.ndim
    n = max(nd, 1)

    def norm(d, extra=0):
        if not -(n + extra) <= d < n + extra:
            raise IndexError("dimension out of range")
        return d % (n + extra)

    if name == "transpose":
        d0, d1 = norm(args[0]), norm(args[1])
        return x if nd == 0 else np.swapaxes(x, d0, d1)
    if name == "permute":
        ds = [norm(d) for d in args]
        if sorted(ds) != list(range(nd)):
            raise ValueError("permute needs each dim once")
        return x.transpose(ds)
    if name == "unsqueeze":  # one more place than dims: [-nd - 1, nd]
        if not -(nd + 1) <= args[0] <= nd:
            raise IndexError("dimension out of range")
        return np.expand_dims(x, args[0] % (nd + 1))
    if name == "squeeze":
        d = norm(args[0])
        return np.squeeze(x, d) if nd and x.shape[d] == 1 else x
    if name in ("slice", "index", "none"):
        d, item = args[0], args[1] if len(args) > 1 else None
        if name == "index" and not -x.shape[d] <= item < x.shape[d]:
            raise IndexError("index out of range")
        return x[(slice(None),) * d + (item,)]
    if name == "T":
        return x.T
    if name == "expand":
        sizes_ = list(args)
        lead = len(sizes_) - nd
        if lead < 0:
            raise ValueError("too few sizes")
        for i, s in enumerate(sizes_):
            own = x.shape[i - lead] if i >= lead else None
            if s == -1:
                if own is None:
                    raise ValueError("-1 in a new dim")
                sizes_[i] = own
            elif own is not None and own != 1 and own != s:
                raise ValueError("bad expand")
        return np.broadcast_to(x, tuple(sizes_))
    if name in ("reshape", "view"):
        shape = args
        if shape.count(-1) > 1 or any(s < -1 for s in shape):
            raise ValueError("bad shape")
        if -1 in shape:
            known = math.prod(s for s in shape if s != -1)
            if known == 0 or x.size % known:
                raise ValueError("bad shape")
            shape = tuple(x.size // known if s == -1 else s for s in shape)
        if math.prod(shape) != x.size:
            raise ValueError("bad numel")
        try:
            return np.reshape(x, shape, copy=False)
        except ValueError:
            if name == "view":
                raise
            return np.reshape(x, shape).copy()
    raise AssertionError(name)


@SETTINGS
@given(data=st.data())
def test_view_chains_match_numpy_and_share_storage(data):
    shape = data.draw(shapes, "shape")
    base_np = values(shape, np.float64, data.draw(st.integers(0, 99)))
    base = tt.tensor(base_np)
    t, a = base, base_np
    copied = False
    for _ in range(data.draw(st.integers(1, 4), "length")):
        name, args = data.draw(view_op(t.shape), "op")
        a2, error = expect(lambda: apply(name, args, a, numpy=True))  # noqa: B023
        t2 = run(lambda: apply(name, args, t, numpy=False), error)  # noqa: B023
        if error is not None:
            return
        copied |= not np.shares_memory(a2, base_np) and a2.size > 0
        t, a = t2, a2
        assert t.shape == a.shape, (name, args, t.shape, a.shape)
        np.testing.assert_array_equal(t.numpy(), a)
        big = [i for i, s in enumerate(t.shape) if s > 1]
        if t.numel() and not copied:
            assert t.shares_storage(base)
            assert [t.strides[i] for i in big] == [a.strides[i] // 8 for i in big]
            offset = (a.__array_interface__["data"][0]
                      - base_np.__array_interface__["data"][0]) // 8
            assert t.storage_offset() == offset
        assert t.is_contiguous() == a.flags.c_contiguous
    # the view maps onto exactly the base elements numpy's does: write through both
    if t.numel() and a.flags.writeable and not copied:
        t[...] = -5.0
        a[...] = -5.0
        np.testing.assert_array_equal(base.numpy(), base_np)


# --- layout: views_2d and coalesce --------------------------------------------------------


@st.composite
def operand(draw, out_shape):
    """An ndarray that broadcasts to ``out_shape`` (leading dims dropped, some sizes 1),
    with random strides."""
    lead = draw(st.integers(0, len(out_shape)))
    shape = tuple(1 if draw(st.integers(0, 2)) == 0 else s for s in out_shape[lead:])
    return draw(strided(shape, np.float64))[1]


@SETTINGS
@given(data=st.data())
def test_views_2d_reproduces_numpy_broadcasting(data):
    shape = data.draw(shapes, "out shape")
    k = data.draw(st.integers(1, 3), "inputs")
    inputs = [data.draw(operand(shape), f"input {i}") for i in range(k)]
    # the output may itself be a strided view (copy_into and cat write into views)
    out_t, _ = data.draw(strided(shape, np.float64), "out")
    out = out_t.numpy() if out_t.numpy().flags.writeable else np.zeros(shape)
    out[...] = 0
    weights = [1.0, 10.0, 100.0][:k]
    calls = 0
    for views in views_2d(out, *inputs):
        calls += 1
        o, *ins = views
        assert o.ndim == 2 and all(v.shape == o.shape for v in ins)
        assert all(not v.flags.writeable for v in ins)  # inputs are read-only views
        o += 1 + sum(w * v for w, v in zip(weights, ins, strict=True))
    if math.prod(shape) == 0:
        assert calls == 0
    # every element written exactly once, with the broadcast input values
    expected = 1 + sum(w * np.broadcast_to(x, shape) for w, x in zip(weights, inputs,
                                                                       strict=True))
    np.testing.assert_array_equal(out, expected)


@SETTINGS
@given(shape=shapes, data=st.data())
def test_coalesce_keeps_every_offset(shape, data):
    """The coalesced dims walk exactly the same (offset per operand) sequence as the
    original ones, in the same row-major order; and fewer dims never survive than the
    layout allows (a contiguous operand set merges to one dim)."""
    k = data.draw(st.integers(1, 3))
    strides = [tuple(data.draw(st.integers(-8, 40)) for _ in shape) for _ in range(k)]
    dims = coalesce(shape, strides)
    assert all(size != 1 for size, _ in dims)  # size-1 dims are dropped

    def walk(sh, st_):
        return [tuple(sum(i * s[d] for d, i in enumerate(idx)) for s in st_)
                for idx in np.ndindex(*sh)]

    original = walk(shape, strides)
    merged = walk(tuple(s for s, _ in dims),
                  [tuple(d[1][j] for d in dims) for j in range(k)])
    if math.prod(shape) == 0:
        return
    assert merged == original
    if math.prod(shape) > 1:
        assert len(coalesce(shape, [tt.layout.contiguous_strides(shape)] * k)) == 1
