"""Every op against the numpy oracle, on every CPU backend (the ``backend`` fixture).

Inputs cover what the function layer has to get right before a kernel sees them:
non-contiguous views (transposed, sliced with a step, expanded), broadcasting (row +
column, ``(N, C, H, W) + (1, C, 1, 1)``, which survives coalescing as three dimensions and
so runs the loop over leading indices in ``layout.views_2d``), size-1 dims, odd sizes,
and, except on the naive backend, sizes past 64/128 so the jit path is realistic.

Dtype rules are PyTorch's: int / int -> float32, int * 2.5 -> float32,
float32 + float64 -> float64, int8 + 1000 stays int8 (wraps), comparisons -> bool,
sum of int/bool -> int64, mean of int -> TypeError.
"""

import warnings

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.testing import assert_close

FLOATS = (tt.float32, tt.float64)
PRIMARY = (tt.float32,)  # the dtype that gets every layout everywhere (see ``layouts``)
INTS = (tt.int64, tt.int32, tt.int8, tt.uint8)
ALL = FLOATS + INTS + (tt.bool,)


def sample(rng, shape, dtype, low=-3.0, high=3.0, whole=False):
    """Random values of ``dtype`` in ``[low, high]`` (ints: small, so nothing overflows;
    ``whole`` makes floats whole numbers, so that comparisons hit equality)."""
    npd = dtype.np
    if dtype == tt.bool:
        return rng.random(shape) < 0.5
    if dtype.is_floating_point:
        values = rng.uniform(low, high, shape)
        return (np.round(values) if whole else values).astype(npd)
    lo = max(0, int(np.floor(low))) if dtype == tt.uint8 else int(np.floor(low))
    return rng.integers(lo, int(np.ceil(high)) + 1, shape).astype(npd)


def layouts(rng, shape, dtype, full=True, **kw):
    """``(name, tensor, same values as an ndarray)`` for one shape in several memory
    layouts: contiguous, transposed, sliced with steps and an offset, expanded.

    ``full=False`` gives the contiguous one only. Every layout makes numba compile the
    kernel once more for each dtype, so the full sweep runs on the dtypes in ``PRIMARY``,
    and the other dtypes are checked on contiguous inputs and broadcasting.
    """
    arr = sample(rng, shape, dtype, **kw)
    out = [("contiguous", tt.tensor(arr), arr)]
    if not full:
        return out
    if len(shape) >= 2:
        t = sample(rng, shape[::-1], dtype, **kw)
        out.append(("transposed", tt.tensor(t).T, t.T))
    if len(shape) >= 1:
        big = sample(rng, (2 * shape[0] + 1,) + tuple(s + 2 for s in shape[1:]), dtype, **kw)
        index = (slice(1, None, 2),) + (slice(1, -1),) * (len(shape) - 1)
        out.append(("sliced", tt.tensor(big)[index], big[index]))
    if len(shape) >= 1 and shape[0] > 1:
        one = sample(rng, (1,) + tuple(shape[1:]), dtype, **kw)
        out.append(("expanded", tt.tensor(one).expand(*shape), np.broadcast_to(one, shape)))
    return out


SMALL_SHAPES = [(), (1,), (7,), (3, 5), (1, 4), (4, 1), (2, 3, 4), (2, 1, 3, 2)]
BIG_SHAPES = [(67, 131), (3, 130, 65)]


def shapes_for(backend):
    """Small shapes everywhere; big ones (past a 64/128 edge) not on the slow naive loops."""
    return SMALL_SHAPES + ([] if backend == "naive" else BIG_SHAPES)


def check(got, expected, dtype, **kw):
    """Values close (per-dtype tolerances), and exactly the expected dtype and shape."""
    assert isinstance(got, tt.Tensor)
    assert got.dtype == dtype, f"dtype {got.dtype}, expected {dtype}"
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape}, expected {expected.shape}"
    assert_close(got, expected.astype(dtype.np), **kw)


# --- unary --------------------------------------------------------------------------------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x.astype(np.float64)))


UNARY = {
    # op: (oracle, input range, dtypes it is tested with)
    "neg": (np.negative, (-3, 3), FLOATS + INTS),
    "abs": (np.abs, (-3, 3), FLOATS + INTS),
    "relu": (lambda x: np.maximum(x, 0), (-3, 3), FLOATS + INTS),
    "exp": (np.exp, (-5, 5), FLOATS + (tt.int64,)),
    "log": (np.log, (0.01, 5), FLOATS + (tt.int32,)),
    "sqrt": (np.sqrt, (0, 5), FLOATS + (tt.uint8,)),
    "sigmoid": (_sigmoid, (-8, 8), FLOATS + (tt.int8,)),
    "tanh": (np.tanh, (-4, 4), FLOATS + (tt.int64,)),
}
UNARY_CASES = [(op, d) for op, (_, _, dts) in UNARY.items() for d in dts]


@pytest.mark.parametrize("op, dtype", UNARY_CASES, ids=[f"{o}-{d.name}" for o, d in UNARY_CASES])
def test_unary(backend, rng, op, dtype):
    oracle, (low, high), _ = UNARY[op]
    # float functions of integer tensors compute in float32, as in PyTorch
    out_dtype = dtype if op in ("neg", "abs", "relu") or dtype.is_floating_point \
        else tt.float32
    if dtype == tt.uint8 and op == "sqrt":
        low = 0
    full = dtype in FLOATS
    for shape in shapes_for(backend) if full else SMALL_SHAPES:
        for name, t, arr in layouts(rng, shape, dtype, full, low=low, high=high):
            with np.errstate(divide="ignore"):  # log(0) of the integer inputs: -inf
                expected = oracle(arr.astype(out_dtype.np))
            for got in (getattr(tt, op)(t), getattr(t, op)()):
                check(got, expected, out_dtype, msg=f"{op} {name} {shape}: ")


def test_unary_wraps_like_pytorch(backend):
    assert (-tt.tensor([1, 0, 255], dtype=tt.uint8)).tolist() == [255, 0, 1]
    assert abs(tt.tensor([-128, -5, 7], dtype=tt.int8)).tolist() == [-128, 5, 7]
    assert tt.relu(tt.tensor([-2, 0, 3], dtype=tt.int8)).tolist() == [0, 0, 3]


# --- binary -------------------------------------------------------------------------------

BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
          "pow": np.power}
SYMBOL = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "pow": lambda a, b: a ** b}
BINARY_DTYPES = {
    "add": ALL, "mul": ALL, "sub": FLOATS + INTS, "div": FLOATS + INTS,
    "pow": FLOATS + (tt.int64, tt.int32),
}
BINARY_CASES = [(op, d) for op, dts in BINARY_DTYPES.items() for d in dts]

SMALL_PAIRS = [
    ((3, 5), (3, 5)),
    ((3, 1), (1, 5)),      # column + row
    ((5,), (3, 5)),        # row broadcast over a matrix
    ((2, 3, 4), (3, 1)),
    ((2, 3, 2, 2), (1, 3, 1, 1)),  # (N, C, H, W) + per-channel bias
    ((), (3,)),
    ((1,), (1, 1)),
    ((4, 1, 3), (1, 2, 1)),
]
BIG_PAIRS = [
    ((67, 131), (131,)),
    ((65, 1), (1, 129)),
    ((2, 33, 9, 17), (1, 33, 1, 1)),
]


def pairs_for(backend, dtype, op):
    """Every pair for float32 (and int64 add); same shape and row + column otherwise.
    The comparison loops are one template: lt and eq get the full sweep, the others
    the short one."""
    if op in ("le", "gt", "ge", "ne") or (
            dtype not in PRIMARY and not (op == "add" and dtype == tt.int64)):
        return SMALL_PAIRS[:2]  # contiguous operands: same shape, and row + column
    return SMALL_PAIRS + ([] if backend == "naive" else BIG_PAIRS)


def _operands(rng, op, dtype, sa, sb, full=None, **kw):
    """Layout variants of both operands, with values that keep each op well defined."""
    if full is None:
        full = dtype in PRIMARY or (op == "add" and dtype == tt.int64)  # the integer loops
    if op == "pow":  # positive float bases; small non-negative integer exponents
        a = layouts(rng, sa, dtype, full, low=0.1 if dtype.is_floating_point else -3, high=3)
        b = layouts(rng, sb, dtype, full, low=-2 if dtype.is_floating_point else 0, high=2)
    elif op == "div":
        a = layouts(rng, sa, dtype, full)
        b = layouts(rng, sb, dtype, full, low=1, high=4)  # no zero denominators here
    else:
        a, b = layouts(rng, sa, dtype, full, **kw), layouts(rng, sb, dtype, full, **kw)
    return [(a[i % len(a)], b[(i * 7 + 1) % len(b)]) for i in range(max(len(a), len(b)))]


@pytest.mark.parametrize("op, dtype", BINARY_CASES,
                         ids=[f"{o}-{d.name}" for o, d in BINARY_CASES])
def test_binary(backend, rng, op, dtype):
    compute = tt.float32 if op == "div" and not dtype.is_floating_point else dtype
    for sa, sb in pairs_for(backend, dtype, op):
        for (na, ta, aa), (nb, tb, bb) in _operands(rng, op, dtype, sa, sb):
            expected = BINARY[op](aa.astype(compute.np), bb.astype(compute.np))
            msg = f"{op} {sa} {na} with {sb} {nb}: "
            check(getattr(tt, op)(ta, tb), expected, compute, msg=msg)
            check(SYMBOL[op](ta, tb), expected, compute, msg=msg)
            # and the other way round: the broadcast operand first
            if op not in ("pow", "div") and dtype in PRIMARY:
                expected_r = BINARY[op](bb.astype(compute.np), aa.astype(compute.np))
                check(SYMBOL[op](tb, ta), expected_r, compute, msg="reversed " + msg)


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("dtype", [tt.float32, tt.int64, tt.int8])
def test_binary_with_python_scalars(backend, rng, op, dtype):
    """``x op s`` and the reflected ``s op x``, with int and float scalars."""
    x = tt.tensor(sample(rng, (3, 4), dtype, low=1, high=3))
    x = x.T if dtype in PRIMARY else x
    arr = x.numpy()
    for s in (2, 2.5):
        compute = dtype
        if isinstance(s, float) and not dtype.is_floating_point:
            compute = tt.float32  # int tensor * 2.5 -> float32
        if op == "div" and not compute.is_floating_point:
            compute = tt.float32  # int tensor / int -> float32
        c = compute.np
        check(SYMBOL[op](x, s), BINARY[op](arr.astype(c), np.asarray(s).astype(c)), compute)
        check(SYMBOL[op](s, x), BINARY[op](np.asarray(s).astype(c), arr.astype(c)), compute)
        check(getattr(tt, op)(s, x), BINARY[op](np.asarray(s).astype(c), arr.astype(c)),
              compute)


def test_numpy_scalar_and_array_on_the_left(backend):
    x = tt.tensor([1.0, 2.0])
    r = np.float64(3.0) - x  # numpy scalars act as Python scalars
    assert isinstance(r, tt.Tensor) and r.dtype == tt.float32 and r.tolist() == [2.0, 1.0]
    assert (np.int64(2) * tt.tensor([1, 2], dtype=tt.int8)).dtype == tt.int8


PROMOTION = [
    # (a dtype, b dtype or Python scalar, op, expected result dtype)
    (tt.int64, 2, "div", tt.float32),
    (tt.int32, tt.int32, "div", tt.float32),
    (tt.int64, 2.5, "mul", tt.float32),
    (tt.uint8, 2.5, "add", tt.float32),
    (tt.float32, tt.float64, "add", tt.float64),
    (tt.float64, tt.float32, "mul", tt.float64),
    (tt.float32, 2.5, "mul", tt.float32),
    (tt.float64, 1, "add", tt.float64),
    (tt.int32, tt.int64, "add", tt.int64),
    (tt.int8, tt.int32, "sub", tt.int32),
    (tt.int8, tt.uint8, "add", tt.int32),  # PyTorch gives int16, which tinytorch lacks
    (tt.uint8, tt.int64, "mul", tt.int64),
    (tt.int32, tt.float32, "add", tt.float32),
    (tt.int64, tt.float32, "pow", tt.float32),
    (tt.bool, tt.int8, "add", tt.int8),
    (tt.bool, 1, "add", tt.int64),
    (tt.bool, True, "add", tt.bool),
    (tt.bool, 1.5, "mul", tt.float32),
    (tt.bool, tt.float64, "mul", tt.float64),
    (tt.int8, 1000, "add", tt.int8),  # the scalar does not widen the tensor: wraps
    (tt.uint8, -1, "add", tt.uint8),
    (tt.int32, 2, "pow", tt.int32),
]


@pytest.mark.parametrize("da, b, op, expected", PROMOTION,
                         ids=[f"{c[0].name}-{c[2]}-{c[1]}" for c in PROMOTION])
def test_promotion(backend, rng, da, b, op, expected):
    a_np = sample(rng, (2, 3), da, low=1, high=3)
    a = tt.tensor(a_np)
    if isinstance(b, tt.DType):
        b_np = sample(rng, (3,), b, low=1, high=3)
        bt = tt.tensor(b_np)
    else:  # a Python scalar: via int64/float64, then cast (so 1000 wraps into int8)
        b_np, bt = np.asarray(b), b
    got = SYMBOL[op](a, bt)
    with np.errstate(all="ignore"):  # the oracle: compute in the expected dtype
        want = BINARY[op](a_np.astype(expected.np), b_np.astype(expected.np))
    check(got, want, expected)


def test_int8_plus_large_int_wraps(backend):
    x = tt.tensor([1, 2, -100, 127], dtype=tt.int8)
    y = x + 1000
    assert y.dtype == tt.int8
    assert y.tolist() == (np.array([1, 2, -100, 127]) + 1000).astype(np.int8).tolist()
    assert (x * 3).tolist() == (np.array([1, 2, -100, 127]) * 3).astype(np.int8).tolist()
    z = tt.tensor([250], dtype=tt.uint8) + tt.tensor([10], dtype=tt.uint8)
    assert z.dtype == tt.uint8 and z.tolist() == [4]


def test_zero_dim_tensor_promotes_like_a_scalar(backend):
    """A 0-d tensor (a loss, ``x.sum()``) only raises the category, as in PyTorch."""
    f32 = tt.ones(3)
    assert (f32 + tt.tensor(2.0, dtype=tt.float64)).dtype == tt.float32
    assert (tt.tensor([1, 2]) * tt.tensor(2.5, dtype=tt.float64)).dtype == tt.float64
    assert (tt.tensor([1, 2], dtype=tt.int8) + tt.tensor(5)).dtype == tt.int8
    assert (tt.tensor(1.0) + tt.tensor(2.0, dtype=tt.float64)).dtype == tt.float64
    assert (f32 / f32.sum()).dtype == tt.float32


def test_int_pow(backend):
    x = tt.tensor([[0, 1, 2], [3, -2, 5]])
    check(x ** 2, np.array([[0, 1, 4], [9, 4, 25]]), tt.int64)
    check(2 ** x.abs(), np.array([[1, 2, 4], [8, 4, 32]]), tt.int64)
    check(x ** 0, np.ones((2, 3)), tt.int64)
    with np.errstate(divide="ignore"):
        inverse = 1 / np.array([[0, 1, 2], [3, -2, 5]], np.float32)
    check(x.float() ** -1.0, inverse, tt.float32)


# --- comparisons --------------------------------------------------------------------------

CMP = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
       "gt": np.greater, "ge": np.greater_equal}
CMP_SYMBOL = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
              "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
              "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}
CMP_CASES = [(op, d) for op in CMP for d in (tt.float32, tt.int64, tt.uint8, tt.bool)] + \
    [("lt", tt.float64), ("eq", tt.int32), ("ge", tt.int8)]


@pytest.mark.parametrize("op, dtype", CMP_CASES, ids=[f"{o}-{d.name}" for o, d in CMP_CASES])
def test_comparison(backend, rng, op, dtype):
    full = op in ("lt", "eq") and dtype in PRIMARY
    for sa, sb in pairs_for(backend, dtype, op):
        # integer-valued data so that equality is actually hit
        for (_, ta, aa), (_, tb, bb) in _operands(rng, "cmp", dtype, sa, sb, full=full,
                                                  whole=True):
            check(getattr(tt, op)(ta, tb), CMP[op](aa, bb), tt.bool)
            check(CMP_SYMBOL[op](ta, tb), CMP[op](aa, bb), tt.bool)
    x = tt.tensor([1, 2, 3])
    check(CMP_SYMBOL[op](x, 2), CMP[op](np.array([1, 2, 3]), 2), tt.bool)
    check(CMP_SYMBOL[op](x, 1.5), CMP[op](np.array([1, 2, 3]), 1.5), tt.bool)  # as floats
    check(CMP_SYMBOL[op](2, x), CMP[op](2, np.array([1, 2, 3])), tt.bool)  # reflected


def test_comparison_mixed_dtypes(backend):
    a = tt.tensor([1, 2, 3], dtype=tt.int8)
    b = tt.tensor([1.0, 2.5, 2.0], dtype=tt.float64)
    assert (a == b).tolist() == [True, False, False]
    assert (a > b).tolist() == [False, False, True]
    assert (tt.tensor([300]) > tt.tensor([1], dtype=tt.uint8)).tolist() == [True]
    nan = tt.tensor([float("nan"), 1.0])
    assert (nan == nan).tolist() == [False, True] and (nan != nan).tolist() == [True, False]
    assert (nan < 2).tolist() == [False, True]


# --- clamp, where -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [tt.float32, tt.float64, tt.int64, tt.int8, tt.uint8])
def test_clamp(backend, rng, dtype):
    full = dtype in PRIMARY
    for shape in shapes_for(backend) if full else SMALL_SHAPES:
        for name, t, arr in layouts(rng, shape, dtype, full):
            lo = 0 if dtype == tt.uint8 else -1
            check(tt.clamp(t, min=lo), np.maximum(arr, lo), dtype, msg=f"{name}: ")
            check(t.clamp(max=2), np.minimum(arr, 2), dtype, msg=f"{name}: ")
            check(t.clamp(lo, 2), np.clip(arr, lo, 2), dtype, msg=f"{name}: ")
    x = tt.tensor([-2, 0, 3], dtype=tt.int64)
    if dtype.is_floating_point:
        got = tt.clamp(tt.tensor([-2.0, float("nan"), 3.0], dtype=dtype), -1.0, 1.0)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.numpy(), np.array([-1.0, np.nan, 1.0], dtype.np))
    # int tensor with a float bound: the result is float32, as in PyTorch
    check(x.clamp(min=0.5), np.array([0.5, 0.5, 3.0]), tt.float32)


def test_where(backend, rng):
    cases = [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), (4,)), ((4,), (3, 1), ()),
             ((2, 1, 3), (1, 4, 1), (2, 4, 3)), ((1, 3, 1, 1), (2, 3, 2, 2), (1,))]
    if backend != "naive":
        cases.append(((67, 1), (1, 131), (67, 131)))
    for sc, sa, sb in cases:
        cond = rng.random(sc) < 0.5
        a, b = sample(rng, sa, tt.float32), sample(rng, sb, tt.float32)
        check(tt.where(tt.tensor(cond), tt.tensor(a), tt.tensor(b)), np.where(cond, a, b),
              tt.float32, msg=f"{sc} {sa} {sb}: ")
        # non-contiguous condition and operands
        ct = tt.tensor(np.ascontiguousarray(cond.T)).T
        at = tt.tensor(np.ascontiguousarray(a.T)).T
        check(tt.where(ct, at, tt.tensor(b)), np.where(cond, a, b), tt.float32)
    c = tt.tensor([True, False, True])
    check(tt.where(c, tt.tensor([1, 2, 3]), 2.5), np.array([1, 2.5, 3]), tt.float32)
    check(tt.where(c, 1, 0), np.array([1, 0, 1]), tt.int64)
    check(tt.where(c, tt.tensor([1], dtype=tt.int8), tt.tensor([2.0], dtype=tt.float64)),
          np.array([1.0, 2.0, 1.0]), tt.float64)
    check(tt.where(c, tt.tensor([1], dtype=tt.int8), tt.tensor([7], dtype=tt.int8)),
          np.array([1, 7, 1]), tt.int8)


# --- cat, stack ---------------------------------------------------------------------------


def test_cat(backend, rng):
    a, b = sample(rng, (2, 3, 4), tt.float32), sample(rng, (2, 5, 4), tt.float32)
    check(tt.cat([tt.tensor(a), tt.tensor(b)], dim=1), np.concatenate([a, b], 1), tt.float32)
    check(tt.cat((tt.tensor(a), tt.tensor(b)), dim=-2), np.concatenate([a, b], 1), tt.float32)
    check(tt.cat([tt.tensor(a)] * 3), np.concatenate([a] * 3), tt.float32)
    check(tt.cat([tt.tensor(a), tt.tensor(a)], 2), np.concatenate([a, a], 2), tt.float32)
    # non-contiguous inputs, one of them empty along the joined dim
    t = tt.tensor(b).transpose(0, 2)  # (4, 5, 2)
    e = tt.zeros(4, 0, 2)
    s = tt.tensor(sample(rng, (4, 6, 2), tt.float32))[:, ::2]
    check(tt.cat([t, e, s], dim=1), np.concatenate([t.numpy(), e.numpy(), s.numpy()], 1),
          tt.float32)
    # dtypes promote
    check(tt.cat([tt.tensor([1, 2]), tt.tensor([0.5], dtype=tt.float64)]),
          np.array([1, 2, 0.5]), tt.float64)
    check(tt.cat([tt.tensor([1], dtype=tt.int8), tt.tensor([True])]), np.array([1, 1]), tt.int8)
    if backend != "naive":
        big = sample(rng, (70, 130), tt.float64)
        check(tt.cat([tt.tensor(big).T, tt.tensor(big).T], 1), np.concatenate([big.T] * 2, 1),
              tt.float64)


def test_stack(backend, rng):
    xs = [sample(rng, (3, 4), tt.int32) for _ in range(3)]
    ts = [tt.tensor(x) for x in xs]
    for d in (0, 1, 2, -1, -3):
        check(tt.stack(ts, dim=d), np.stack(xs, axis=d), tt.int32)
    check(tt.stack([t.T for t in ts]), np.stack([x.T for x in xs]), tt.int32)
    check(tt.stack([tt.tensor(1.0), tt.tensor(2.0)]), np.array([1.0, 2.0]), tt.float32)


# --- reductions ---------------------------------------------------------------------------

REDUCE_INPUTS = [
    # (shape, dims to try)
    ((7,), [None, 0, -1, (0,)]),
    ((1,), [None, 0]),
    ((3, 5), [None, 0, 1, -1, (0, 1), (1, 0)]),
    ((4, 1), [None, 0, 1]),
    ((2, 3, 4), [None, 0, 1, 2, -2, (0, 2), (1, 2), (0, 1, 2)]),
    ((2, 1, 3, 2), [None, 1, (0, 3), (1, 2, 3)]),
]
BIG_REDUCE_INPUTS = [
    ((67, 131), [None, 0, 1]),
    ((3, 130, 65), [None, 1, (0, 2), -1]),
]


def reduce_inputs(backend):
    return REDUCE_INPUTS + ([] if backend == "naive" else BIG_REDUCE_INPUTS)


def _axis(dim):
    return tuple(dim) if isinstance(dim, (tuple, list)) else dim


def _tol(dtype, n):
    """Sums of n float32 terms: the backends add in different orders (a running float64
    sum, numpy's float32 pairwise sum), so allow a few ulps per doubling of n."""
    if dtype == tt.float32:
        return dict(rtol=2e-6 * max(1.0, np.log2(max(n, 1))), atol=1e-5)
    return {}


@pytest.mark.parametrize("dtype", [tt.float32, tt.float64, tt.int64, tt.int32, tt.int8,
                                   tt.uint8, tt.bool])
def test_sum(backend, rng, dtype):
    out_dtype = dtype if dtype.is_floating_point else tt.int64  # as PyTorch
    for shape, dims in reduce_inputs(backend):
        for name, t, arr in layouts(rng, shape, dtype, dtype in (tt.float32, tt.int64),
                                    low=0, high=3):
            for dim in dims:
                for keepdim in (False, True):
                    expected = np.sum(arr.astype(np.float64 if dtype.is_floating_point
                                                 else np.int64),
                                      axis=_axis(dim), keepdims=keepdim)
                    msg = f"sum {shape} {name} dim={dim} keepdim={keepdim}: "
                    check(t.sum(dim, keepdim), expected, out_dtype, msg=msg,
                          **_tol(dtype, arr.size))
                    if keepdim:
                        check(tt.sum(t, dim=dim, keepdim=True), expected, out_dtype, msg=msg,
                              **_tol(dtype, arr.size))


@pytest.mark.parametrize("dtype", FLOATS)
def test_mean(backend, rng, dtype):
    for shape, dims in reduce_inputs(backend):
        for name, t, arr in layouts(rng, shape, dtype, dtype in PRIMARY):
            for dim in dims:
                for keepdim in (False, True):
                    expected = np.mean(arr.astype(np.float64), axis=_axis(dim),
                                       keepdims=keepdim)
                    check(t.mean(dim, keepdim), expected, dtype,
                          msg=f"mean {shape} {name} dim={dim}: ", **_tol(dtype, arr.size))


@pytest.mark.parametrize("dtype", [tt.float32, tt.float64, tt.int64, tt.int8, tt.uint8,
                                   tt.bool])
def test_max_min_amax_amin_argmax_argmin(backend, rng, dtype):
    for shape, dims in reduce_inputs(backend):
        # small integer ranges make ties, which must resolve to the first index
        for name, t, arr in layouts(rng, shape, dtype, dtype in (tt.float32, tt.int64),
                                    low=-2, high=2):
            msg = f"{shape} {name}: "
            check(t.max(), arr.max(), dtype, msg=msg)
            check(tt.min(t), arr.min(), dtype, msg=msg)
            check(t.argmax(), np.argmax(arr), tt.int64, msg=msg)
            check(tt.argmin(t), np.argmin(arr), tt.int64, msg=msg)
            for dim in dims:
                ax = _axis(dim)
                for keepdim in (False, True):
                    check(t.amax(dim, keepdim), np.max(arr, axis=ax, keepdims=keepdim), dtype,
                          msg=msg)
                    check(tt.amin(t, dim, keepdim), np.min(arr, axis=ax, keepdims=keepdim),
                          dtype, msg=msg)
                    if not isinstance(dim, int):
                        continue
                    values, indices = t.max(dim, keepdim)
                    check(values, np.max(arr, axis=dim, keepdims=keepdim), dtype, msg=msg)
                    check(indices, np.argmax(arr, axis=dim, keepdims=keepdim), tt.int64,
                          msg=msg)
                    r = tt.min(t, dim=dim, keepdim=keepdim)
                    check(r.values, np.min(arr, axis=dim, keepdims=keepdim), dtype, msg=msg)
                    check(r.indices, np.argmin(arr, axis=dim, keepdims=keepdim), tt.int64,
                          msg=msg)
                    check(t.argmax(dim, keepdim), np.argmax(arr, axis=dim, keepdims=keepdim),
                          tt.int64, msg=msg)
                    check(tt.argmin(t, dim, keepdim),
                          np.argmin(arr, axis=dim, keepdims=keepdim), tt.int64, msg=msg)


def test_reduction_dtypes(backend):
    assert tt.tensor([1, 2], dtype=tt.int8).sum().dtype == tt.int64
    assert tt.tensor([True, True, False]).sum().item() == 2
    assert tt.tensor([True, True]).sum().dtype == tt.int64
    assert tt.tensor([100, 100], dtype=tt.int8).sum().item() == 200  # no int8 wrap
    assert tt.tensor([200, 200], dtype=tt.uint8).sum(dim=0).item() == 400
    assert tt.ones(2, dtype=tt.float64).mean().dtype == tt.float64
    assert tt.tensor([True, False]).max().dtype == tt.bool
    with pytest.raises(TypeError, match="floating point"):
        tt.tensor([1, 2]).mean()
    with pytest.raises(TypeError):
        tt.tensor([True]).mean()


# --- matmul -------------------------------------------------------------------------------

MATMUL_SMALL = [
    ((3,), (3,)),            # 1-D @ 1-D: a 0-d dot product
    ((3,), (3, 4)),          # 1-D @ 2-D: a row
    ((2, 3), (3,)),          # 2-D @ 1-D: a column
    ((2, 3), (3, 4)),
    ((1, 1), (1, 1)),
    ((5, 1, 2, 3), (4, 3, 2)),  # batch dims broadcast: (5, 4, 2, 2)
    ((2, 3, 5), (5,)),
    ((4,), (2, 4, 3)),
    ((1, 2, 3), (2, 3, 2)),
    ((5, 7), (7, 3)),
]
MATMUL_BIG = [
    ((70, 65), (65, 130)),   # past the small-work cutoff: the tiled/parallel jit path
    ((2, 67, 33), (33, 129)),
    ((129,), (129, 66)),
    ((66, 3), (3, 1)),
]


def _mm_tol(dtype, k):
    if dtype == tt.float32:
        return dict(rtol=1e-5, atol=1e-6 * max(k, 1))
    if dtype == tt.float64:
        return dict(rtol=1e-12, atol=1e-12 * max(k, 1))
    return {}


def _mm_layouts(rng, shape, dtype):
    """Contiguous, and (for >= 2-D) a transposed view of the last two dims, and a sliced
    one: the kernels get arbitrary strides (float32 only: each layout compiles anew)."""
    arr = sample(rng, shape, dtype, low=-2, high=2)
    out = [("contiguous", tt.tensor(arr), arr)]
    if len(shape) >= 2 and dtype in PRIMARY:
        t = np.ascontiguousarray(np.swapaxes(arr, -1, -2))
        out.append(("transposed", tt.tensor(t).transpose(-1, -2), arr))
        big = np.zeros(shape[:-1] + (2 * shape[-1],), arr.dtype)
        big[..., ::2] = arr
        out.append(("sliced", tt.tensor(big)[..., ::2], arr))
    return out


@pytest.mark.parametrize("dtype", [tt.float32, tt.float64, tt.int64, tt.int32])
def test_matmul(backend, rng, dtype):
    # big shapes reach the tiled/parallel jit kernel; compiling that takes seconds per
    # dtype, so float32 only (the matmul kernel tests cover the others)
    cases = MATMUL_SMALL + (MATMUL_BIG if backend != "naive" and dtype in PRIMARY else [])
    for sa, sb in cases:
        k = sa[-1]
        la, lb = _mm_layouts(rng, sa, dtype), _mm_layouts(rng, sb, dtype)
        for i in range(max(len(la), len(lb))):
            (na, ta, aa), (nb, tb, bb) = la[i % len(la)], lb[(i + 1) % len(lb)]
            expected = np.matmul(aa.astype(np.float64), bb.astype(np.float64))
            msg = f"{sa} {na} @ {sb} {nb}: "
            check(ta @ tb, expected, dtype, msg=msg, **_mm_tol(dtype, k))
            check(tt.matmul(ta, tb), expected, dtype, msg=msg, **_mm_tol(dtype, k))
            check(ta.matmul(tb), expected, dtype, msg=msg, **_mm_tol(dtype, k))


def test_matmul_shapes_and_promotion(backend):
    assert (tt.ones(5, 1, 2, 3) @ tt.ones(4, 3, 2)).shape == (5, 4, 2, 2)
    assert (tt.ones(3) @ tt.ones(3)).shape == ()
    assert (tt.ones(3) @ tt.ones(2, 3, 4)).shape == (2, 4)
    assert (tt.ones(2, 3, 4) @ tt.ones(4)).shape == (2, 3)
    r = tt.ones(2, 3, dtype=tt.float32) @ tt.ones(3, 2, dtype=tt.float64)
    assert r.dtype == tt.float64 and r.tolist() == [[3.0, 3.0]] * 2
    i = tt.tensor([[1, 2], [3, 4]], dtype=tt.int32) @ tt.tensor([[1], [1]], dtype=tt.int32)
    assert i.dtype == tt.int32 and i.tolist() == [[3], [7]]
    # the batch operand is an expanded (stride-0) view
    a = tt.arange(6.0).reshape(1, 2, 3).expand(4, 2, 3)
    check(a @ tt.ones(3, 1), np.broadcast_to(np.arange(6.0).reshape(2, 3) @ np.ones((3, 1)),
                                             (4, 2, 1)), tt.float32)


# --- NaN, inf, warnings ---------------------------------------------------------------------


def test_nan_and_inf_follow_pytorch(backend):
    nan, inf = float("nan"), float("inf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a RuntimeWarning may escape
        assert np.isnan(tt.relu(tt.tensor([nan])).item())
        assert tt.relu(tt.tensor([-inf, inf, -0.0])).tolist() == [0.0, inf, 0.0]
        assert (tt.tensor([1.0, -1.0, 0.0]) / 0).numpy()[:2].tolist() == [inf, -inf]
        assert np.isnan((tt.tensor([0.0]) / 0.0).item())
        assert (tt.tensor([1, -1]) / tt.tensor([0, 0])).tolist() == [inf, -inf]  # int / int
        assert (1 / tt.zeros(2, dtype=tt.float64)).tolist() == [inf, inf]
        assert tt.log(tt.tensor([0.0])).item() == -inf
        assert np.isnan(tt.log(tt.tensor([-1.0])).item())
        assert np.isnan(tt.sqrt(tt.tensor([-1.0])).item())
        assert tt.exp(tt.tensor([1000.0])).item() == inf
        s = tt.sigmoid(tt.tensor([-1000.0, 1000.0, -88.0, 88.0]))
        assert np.isfinite(s.numpy()).all() and s.tolist()[:2] == [0.0, 1.0]
        s64 = tt.sigmoid(tt.tensor([-1000.0, 1000.0], dtype=tt.float64))
        assert s64.tolist() == [0.0, 1.0]
        assert tt.tanh(tt.tensor([-1000.0, 1000.0])).tolist() == [-1.0, 1.0]
        assert np.isnan((tt.tensor([inf]) - inf).item())
        assert tt.tensor([inf, 1.0]).max().item() == inf


@pytest.mark.parametrize("dtype", FLOATS)
def test_max_min_propagate_nan_with_first_index(backend, dtype):
    nan = float("nan")
    x = tt.tensor([1.0, nan, 3.0, nan, -5.0], dtype=dtype)
    for fn in (tt.max, tt.min):
        r = fn(x, dim=0)
        assert np.isnan(r.values.item()) and r.indices.item() == 1
        assert np.isnan(fn(x).item())
    assert tt.argmax(x).item() == 1 and tt.argmin(x).item() == 1
    assert np.isnan(tt.amax(x).item()) and np.isnan(tt.amin(x).item())
    m = tt.tensor([[1.0, 2.0, nan], [nan, 0.0, 9.0], [4.0, 5.0, 6.0]], dtype=dtype)
    v, i = m.max(dim=1)
    assert i.tolist() == [2, 0, 2]
    assert np.isnan(v.numpy()[:2]).all() and v.numpy()[2] == 6.0
    v, i = m.T.min(dim=0)  # the same along a strided dim
    assert i.tolist() == [2, 0, 0] and v.numpy()[2] == 4.0
    assert np.isnan(m.sum(dim=1).numpy()[:2]).all()
    # a NaN in the very first position stays
    assert tt.tensor([nan, 1.0, 2.0], dtype=dtype).max(dim=0).indices.item() == 0
