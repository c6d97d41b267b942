"""Grader of lab 09 (compression): int8 quantisation parameters, quantize and dequantize,
the int8 matrix product with zero points and an int32 accumulator (also compiled with
numba), requantisation, magnitude pruning masks, CSR conversion and the CSR product, and
the channel norms of structured pruning.

Every expected value is computed here from the lab's formulas in numpy (never from the
reference solution), on odd shapes and on the edges: an all-zero tensor, amount 0, ties,
empty CSR rows, saturation at -128 and 127, and a product sum that overflows int16 but not
int32. Each test checks one function, so one bug costs that function's points only.
"""

import math

import numba
import numpy as np
import pytest

from tinytorch.grading import call, expect_close, expect_equal, points

QMIN, QMAX = -128, 127
EPS = float(np.finfo(np.float32).eps)  # the smallest scale, PyTorch's guard


def _require(condition, message: str) -> None:
    """Fail with ``message`` alone (a bare assert would add pytest's internals)."""
    if not condition:
        raise AssertionError(message)


def _expect_raises(student, name: str, args: tuple, error: type, what: str,
                   hint: str) -> None:
    """``name(*args)`` must raise ``error``."""
    try:
        got = call(student, name, *args)
    except error:
        return
    except Exception as err:  # noqa: BLE001 (the wrong error is the finding)
        pytest.fail(f"{what}: expected {error.__name__}, got {type(err).__name__}: {err}\n"
                    f"hint: {hint}", pytrace=False)
    pytest.fail(f"{what}: expected {error.__name__}, but it returned {got!r}\nhint: {hint}",
                pytrace=False)


def _expect_array(got, dtype, shape, what: str) -> np.ndarray:
    _require(isinstance(got, np.ndarray), f"{what}: expected a numpy array, got "
             f"{type(got).__name__}")
    _require(got.dtype == dtype, f"{what}: expected dtype {np.dtype(dtype)}, got {got.dtype}")
    _require(got.shape == shape, f"{what}: expected shape {shape}, got {got.shape}")
    return got


def _plain(fn):
    return getattr(fn, "__wrapped__", fn)  # kernprof's wrapper, if any, is not compilable


def _compiled(student, name: str, *args):
    """``numba.njit`` of the student's function, called on ``args``; a compile error is
    feedback."""
    call(student, name, *args)  # a TODO left undone reads as such, not as a numba error
    fn = numba.njit(_plain(getattr(student, name)))
    try:
        return fn(*args)
    except numba.core.errors.NumbaError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        where = [line for line in lines if line.startswith("File ")][:1]
        pytest.fail(f"numba could not compile {name}: " + "\n".join(lines[:2] + where)
                    + "\nhint: use only loops, numbers, np.zeros, np.int32(...) and "
                    "indexing a[i, k] (no lists, no methods of Python objects)",
                    pytrace=False)


# --- choose_qparams ------------------------------------------------------------------------

def _qparams(x_min: float, x_max: float, symmetric: bool) -> tuple:
    lo, hi = min(x_min, 0.0), max(x_max, 0.0)
    if symmetric:
        return max(max(-lo, hi) / 127, EPS), 0
    scale = max((hi - lo) / 255, EPS)
    return scale, int(min(max(QMIN - round(lo / scale), QMIN), QMAX))


QPARAMS_RULE = ("extend the range to include 0; symmetric: scale = max(-x_min, x_max) / 127, "
                "zero_point 0; asymmetric: scale = (x_max - x_min) / 255, zero_point = -128 "
                "- round(x_min / scale), clamped; scale at least EPS")


def _check_qparams(student, x_min, x_max, symmetric, hint=QPARAMS_RULE) -> None:
    got = call(student, "choose_qparams", x_min, x_max, symmetric)
    what = f"choose_qparams({x_min}, {x_max}, symmetric={symmetric})"
    _require(isinstance(got, tuple) and len(got) == 2,
             f"{what}: expected a tuple (scale, zero_point), got {got!r}")
    scale, zp = got
    exp_scale, exp_zp = _qparams(x_min, x_max, symmetric)
    expect_close(float(scale), exp_scale, what=f"{what}: scale", rtol=1e-7, atol=0.0,
                 hint=hint)
    _require(isinstance(zp, (int, np.integer)) and not isinstance(zp, bool),
             f"{what}: zero_point must be an int, got {type(zp).__name__} {zp!r}")
    expect_equal(int(zp), exp_zp, what=f"{what}: zero_point", hint=hint)


@points(2)
def test_choose_qparams_symmetric_scale_is_max_abs_over_127(student):
    """Symmetric: scale max|x| / 127 whichever side is larger, zero point 0."""
    for lo, hi in ((-1.0, 2.54), (-3.7, 1.2), (-0.05, 0.05), (-12.0, 0.3)):
        _check_qparams(student, lo, hi, True)


@points(2)
def test_choose_qparams_asymmetric_covers_the_range(student):
    """Asymmetric: the 256 codes cover [x_min, x_max]; zero_point is the code of 0.0."""
    for lo, hi in ((-5.1, 20.4), (-1.0, 1.55), (-0.37, 4.91), (-2.0, 0.1), (-1.28, 1.27)):
        _check_qparams(student, lo, hi, False)


@points(1)
def test_choose_qparams_range_always_includes_zero(student):
    """All-positive and all-negative ranges are extended to 0 (0.0 gets an exact code)."""
    hint = "first x_min = min(x_min, 0.0) and x_max = max(x_max, 0.0)"
    for lo, hi in ((2.0, 5.0), (-3.0, -1.0), (0.5, 0.5)):
        for symmetric in (True, False):
            _check_qparams(student, lo, hi, symmetric, hint=hint)


@points(1)
def test_choose_qparams_all_zero_tensor_gets_eps_scale(student):
    """An all-zero tensor: scale EPS (2**-23) instead of 0, so nothing divides by zero."""
    hint = "scale = max(scale, EPS) before the zero point: 0 / 0 would be NaN"
    for symmetric in (True, False):
        _check_qparams(student, 0.0, 0.0, symmetric, hint=hint)


@points(1)
def test_choose_qparams_rejects_bad_ranges(student):
    """x_min > x_max, NaN and infinity raise ValueError."""
    for lo, hi in ((1.0, -1.0), (math.nan, 1.0), (0.0, math.inf), (-math.inf, 0.0)):
        _expect_raises(student, "choose_qparams", (lo, hi, False), ValueError,
                       f"choose_qparams({lo}, {hi}, False)",
                       "check that both ends are finite (math.isfinite) and x_min <= x_max")


# --- quantize / dequantize -----------------------------------------------------------------

def _quantize(x, scale, zp) -> np.ndarray:
    v = np.rint(np.asarray(x, np.float64) / scale) + zp
    return np.clip(v, QMIN, QMAX).astype(np.int8)


QUANTIZE_RULE = "q = clamp(rint(x / scale) + zero_point, -128, 127) as int8"


def _check_quantize(student, x, scale, zp, hint=QUANTIZE_RULE) -> None:
    x = np.asarray(x)
    got = call(student, "quantize", x.copy(), scale, zp)
    what = f"quantize(x {x.shape} {x.dtype}, scale={scale}, zero_point={zp})"
    _expect_array(got, np.int8, x.shape, what)
    expect_equal(got.tolist(), _quantize(x, scale, zp).tolist(), what=what, hint=hint)


@points(2)
def test_quantize_rounds_half_to_even(student):
    """x / scale = k + 0.5 rounds to the even neighbour: 0.5 -> 0, 2.5 -> 2, -1.5 -> -2."""
    x = np.array([0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 0.2499, 1.2501, 3.0])  # scale 0.5
    hint = ("np.rint rounds half to even (the FPU's default, and PyTorch's); floor(v + 0.5) "
            "or round-half-away-from-zero biases every tie the same way")
    for zp in (0, 10, -7):
        _check_quantize(student, x, 0.5, zp, hint=hint)


@points(1)
def test_quantize_saturates_at_int8_limits(student):
    """Codes past [-128, 127] clamp to the nearest end; they never wrap around."""
    x = np.array([1e6, -1e6, 63.5, 64.0, -64.5, -65.0, 127.0, 300.0])
    hint = "clip to [-128, 127] *before* casting to int8: astype(np.int8) wraps 128 to -128"
    for zp in (0, 5, -100):
        _check_quantize(student, x, 0.5, zp, hint=hint)


@points(1)
def test_quantize_odd_shapes_and_float32(student):
    """float32 and float64 inputs of odd shapes, an empty one and a single element."""
    rng = np.random.default_rng(0)
    _check_quantize(student, rng.standard_normal((3, 5, 7)).astype(np.float32), 0.0123, -17)
    _check_quantize(student, rng.standard_normal((11,)) * 3, 0.05, 3)
    _check_quantize(student, np.zeros((0, 4)), 0.1, 0)
    _check_quantize(student, np.array([[0.7]]), 0.1, 127)


@points(1)
def test_quantize_rejects_bad_qparams(student):
    """A scale that is zero, negative or NaN, or a zero point outside [-128, 127]:
    ValueError."""
    x = np.ones(3)
    for scale, zp in ((0.0, 0), (-0.1, 0), (math.nan, 0), (0.1, 128), (0.1, -129)):
        _expect_raises(student, "quantize", (x, scale, zp), ValueError,
                       f"quantize(x, scale={scale}, zero_point={zp})",
                       "check 0 < scale < inf and -128 <= zero_point <= 127 first")


def _dequantize(q, scale, zp) -> np.ndarray:
    return ((q.astype(np.int64) - zp) * scale).astype(np.float32)


DEQUANTIZE_RULE = "x = (q - zero_point) * scale, as float32"


def _check_dequantize(student, q, scale, zp, hint=DEQUANTIZE_RULE) -> None:
    got = call(student, "dequantize", q.copy(), scale, zp)
    what = f"dequantize(q {q.shape}, scale={scale}, zero_point={zp})"
    _expect_array(got, np.float32, q.shape, what)
    expect_close(got, _dequantize(q, scale, zp), what=what, rtol=1e-6, atol=0.0, hint=hint)


@points(1)
def test_dequantize_matches_the_formula(student):
    """All 256 codes, in a (16, 16) array and an odd (3, 1, 5) one."""
    codes = np.arange(QMIN, QMAX + 1, dtype=np.int8)
    _check_dequantize(student, codes.reshape(16, 16), 0.037, -7)
    rng = np.random.default_rng(1)
    _check_dequantize(student, rng.integers(QMIN, QMAX + 1, (3, 1, 5), dtype=np.int8),
                      1.5, 0)


@points(1)
def test_dequantize_widens_before_subtracting(student):
    """q - zero_point reaches 255 and -255, which int8 cannot hold."""
    hint = ("q.astype(np.int32) before subtracting: in int8, 127 - (-128) wraps to -1 "
            "(numpy keeps an int8 array int8 when you subtract a Python int)")
    q = np.array([127, -128, 100, 0], np.int8)
    _check_dequantize(student, q, 0.25, -128, hint=hint)
    _check_dequantize(student, q, 0.25, 127, hint=hint)


@points(1)
def test_dequantize_rejects_codes_that_are_not_int8(student):
    """float or int32 'codes' raise TypeError: they are not quantised data."""
    for q in (np.array([1.0, 2.0]), np.array([1, 2], np.int32)):
        _expect_raises(student, "dequantize", (q, 0.1, 0), TypeError,
                       f"dequantize(q of dtype {q.dtype}, 0.1, 0)",
                       "check q.dtype == np.int8 first")


@points(1)
def test_round_trip_error_is_at_most_half_a_step(student):
    """Within the range, dequantize(quantize(x)) is within scale / 2 of x."""
    rng = np.random.default_rng(2)
    x = rng.uniform(-2.0, 3.0, (9, 13))
    scale, zp = _qparams(-2.0, 3.0, False)
    back = call(student, "dequantize", call(student, "quantize", x, scale, zp), scale, zp)
    err = np.abs(np.asarray(back, np.float64) - x)
    worst = int(np.argmax(err))
    _require(err.max() <= scale / 2 * (1 + 1e-5) + 1e-7,
             f"the round trip is off by {err.max():.6g} at flat index {worst} (x = "
             f"{x.reshape(-1)[worst]!r}), more than scale / 2 = {scale / 2:.6g}\nhint: round "
             "to the nearest code (np.rint), do not truncate")


# --- int8_matmul ---------------------------------------------------------------------------

def _int8_matmul(a, b, a_zp, b_zp) -> np.ndarray:
    return ((a.astype(np.int64) - a_zp) @ (b.astype(np.int64) - b_zp)).astype(np.int32)


MATMUL_RULE = "out[i, j] = sum_k (a_q[i, k] - a_zp) * (b_q[k, j] - b_zp), summed in int32"


def _int8(rng, shape) -> np.ndarray:
    return rng.integers(QMIN, QMAX + 1, shape, dtype=np.int8)


def _check_matmul(student, a, b, a_zp, b_zp, hint=MATMUL_RULE, got=None) -> None:
    if got is None:
        got = call(student, "int8_matmul", a.copy(), b.copy(), a_zp, b_zp)
    what = f"int8_matmul(a {a.shape}, b {b.shape}, a_zp={a_zp}, b_zp={b_zp})"
    _expect_array(got, np.int32, (a.shape[0], b.shape[1]), what)
    expect_close(got, _int8_matmul(a, b, a_zp, b_zp), what=what, rtol=0.0, atol=0.0,
                 hint=hint)


@points(2)
def test_int8_matmul_matches_the_formula_on_odd_shapes(student):
    """(5, 7) @ (7, 3), (1, 1) @ (1, 1), (3, 13) @ (13, 1), (2, 1) @ (1, 6) with zero
    points on both sides."""
    rng = np.random.default_rng(3)
    for (m, k, n), a_zp, b_zp in (((5, 7, 3), 3, -2), ((1, 1, 1), -128, 127),
                                  ((3, 13, 1), 17, 0), ((2, 1, 6), 0, -5)):
        _check_matmul(student, _int8(rng, (m, k)), _int8(rng, (k, n)), a_zp, b_zp)


@points(1)
def test_int8_matmul_subtracts_both_zero_points(student):
    """Only a's zero point, then only b's: each shifts its own operand."""
    rng = np.random.default_rng(4)
    a, b = _int8(rng, (4, 6)), _int8(rng, (6, 5))
    for a_zp, b_zp in ((0, 9), (-11, 0), (0, 0)):
        _check_matmul(student, a, b, a_zp, b_zp,
                      hint="subtract a_zp from every a_q[i, k] and b_zp from every b_q[k, j] "
                           "inside the sum")


@points(2)
def test_int8_matmul_accumulates_beyond_int16(student):
    """Eight products of 127 * 127 sum to 129,032 (int16 wraps past 32,767), and 2,000
    products of 255 * 255 (zero points at the far end) to 130,050,000: int32 holds both."""
    hint = ("accumulate in int32 (or wider) and return int32: an int8 or int16 sum wraps "
            "silently")
    full = np.full((1, 8), 127, np.int8)
    _check_matmul(student, full, full.T.copy(), 0, 0, hint=hint)
    low = np.full((2, 2000), QMIN, np.int8)
    _check_matmul(student, low, np.full((2000, 3), QMIN, np.int8), 127, 127, hint=hint)
    rng = np.random.default_rng(5)
    _check_matmul(student, _int8(rng, (3, 300)), _int8(rng, (300, 2)), -100, 90, hint=hint)


@points(2)
def test_int8_matmul_compiles_with_numba(student):
    """numba.njit(int8_matmul) compiles and gives the exact products on (17, 33) @ (33, 9)
    and on the int16-overflowing sum."""
    rng = np.random.default_rng(6)
    a, b = _int8(rng, (17, 33)), _int8(rng, (33, 9))
    _check_matmul(student, a, b, 5, -3, got=_compiled(student, "int8_matmul", a, b, 5, -3))
    full = np.full((2, 8), 127, np.int8)
    _check_matmul(student, full, full.T.copy(), 0, 0,
                  got=_compiled(student, "int8_matmul", full, full.T.copy(), 0, 0),
                  hint="compiled, the accumulator keeps its type: make it int32 or wider")


@points(1)
def test_int8_matmul_rejects_mismatched_shapes(student):
    """a (2, 3) and b (4, 2): ValueError before any loop reads past an edge."""
    a, b = np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8)
    _expect_raises(student, "int8_matmul", (a, b, 0, 0), ValueError,
                   "int8_matmul(a (2, 3), b (4, 2), 0, 0)",
                   "check a_q.shape[1] == b_q.shape[0] first and raise ValueError(\"...\")")


# --- requantize ----------------------------------------------------------------------------

def _requantize(acc, s_a, s_b, s_out, zp) -> np.ndarray:
    m = s_a * s_b / s_out
    return np.clip(np.rint(acc.astype(np.float64) * m) + zp, QMIN, QMAX).astype(np.int8)


REQUANTIZE_RULE = ("m = scale_a * scale_b / scale_out; q = clamp(rint(acc * m) + zp_out, -128, "
                   "127) as int8")


def _check_requantize(student, acc, s_a, s_b, s_out, zp, hint=REQUANTIZE_RULE) -> None:
    got = call(student, "requantize", acc.copy(), s_a, s_b, s_out, zp)
    what = f"requantize(acc {acc.shape}, {s_a}, {s_b}, {s_out}, zp_out={zp})"
    _expect_array(got, np.int8, acc.shape, what)
    expect_equal(got.tolist(), _requantize(acc, s_a, s_b, s_out, zp).tolist(), what=what,
                 hint=hint)


@points(2)
def test_requantize_matches_the_formula(student):
    """Random int32 accumulators of odd shapes, per-tensor scales, several zero points."""
    rng = np.random.default_rng(7)
    acc = rng.integers(-40_000, 40_000, (5, 7)).astype(np.int32)
    _check_requantize(student, acc, 0.0123, 0.00457, 0.0391, -3)
    _check_requantize(student, acc[:1, :3], 0.02, 0.011, 0.005, 40)
    _check_requantize(student, rng.integers(-9, 9, (4,)).astype(np.int32), 0.5, 0.3, 0.7, 0)


@points(1)
def test_requantize_rounds_half_to_even_and_saturates(student):
    """acc * m = k + 0.5 rounds to even; results past [-128, 127] clamp, never wrap."""
    ties = np.array([2, 6, 10, -2, -6, -10], np.int32)  # times 0.25: +-0.5, 1.5, 2.5
    _check_requantize(student, ties, 0.5, 0.5, 1.0, 0,
                      hint="np.rint rounds half to even")
    big = np.array([[1000, -1000], [488, 492]], np.int32)  # 250, -250, 122 + 5, 123 + 5
    _check_requantize(student, big, 0.5, 0.5, 1.0, 5,
                      hint="clip to [-128, 127] before casting to int8 (astype wraps)")


# --- magnitude_mask ------------------------------------------------------------------------

def _mask(w, amount) -> np.ndarray:
    keep = np.ones(w.size, bool)
    keep[np.argsort(np.abs(w).reshape(-1), kind="stable")[:round(amount * w.size)]] = False
    return keep.reshape(w.shape)


MASK_RULE = ("False at the round(amount * w.size) entries of smallest |w| (ties: lower flat "
             "index first), True elsewhere")


def _check_mask(student, w, amount, hint=MASK_RULE) -> None:
    got = call(student, "magnitude_mask", w.copy(), amount)
    what = f"magnitude_mask(w {w.shape}, amount={amount})"
    _expect_array(got, np.bool_, w.shape, what)
    pruned, expected = int((~got).sum()), round(amount * w.size)
    _require(pruned == expected, f"{what}: {pruned} entries pruned, expected round({amount} * "
             f"{w.size}) = {expected}\nhint: {hint}")
    expect_equal(got.tolist(), _mask(w, amount).tolist(), what=what, hint=hint)


@points(2)
def test_magnitude_mask_prunes_the_smallest_magnitudes(student):
    """Odd shapes, amounts 0.3, 0.5 and 0.9: the smallest |w| go, negative weights too."""
    rng = np.random.default_rng(8)
    w = rng.standard_normal((5, 7))
    for amount in (0.3, 0.5, 0.9):
        _check_mask(student, w, amount)
    _check_mask(student, rng.standard_normal((2, 3, 3)).astype(np.float32), 0.4)


@points(1)
def test_magnitude_mask_breaks_ties_by_index(student):
    """Equal magnitudes: the lower flat index is pruned first, and exactly n entries go
    (a threshold |w| > t prunes every tie)."""
    w = np.array([[3.0, -1.0, 1.0, 2.0], [-1.0, 1.0, 0.5, -3.0]])
    hint = "np.argsort(np.abs(w).reshape(-1), kind='stable')[:n] are the entries to prune"
    for amount in (0.5, 0.25, 0.6):
        _check_mask(student, w, amount, hint=hint)


@points(1)
def test_magnitude_mask_amount_zero_and_all_zero_weights(student):
    """amount 0 keeps everything; an all-zero weight loses its first n entries."""
    rng = np.random.default_rng(9)
    _check_mask(student, rng.standard_normal((3, 4)), 0.0,
                hint="n = 0: nothing is pruned (w[:0] is empty; sorted(w)[-1] is the largest)")
    _check_mask(student, np.zeros((3, 4)), 0.5)


@points(1)
def test_magnitude_mask_rejects_bad_amounts(student):
    """amount 1 (everything), negative, or above 1: ValueError."""
    for amount in (1.0, -0.1, 1.5):
        _expect_raises(student, "magnitude_mask", (np.ones((2, 2)), amount), ValueError,
                       f"magnitude_mask(w, amount={amount})", "check 0 <= amount < 1 first")


# --- to_csr / csr_matmul -------------------------------------------------------------------

def _csr(w) -> tuple:
    rows, cols = np.nonzero(w)
    indptr = np.zeros(w.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int32), w[rows, cols]


CSR_RULE = ("row by row, columns ascending: data the non-zeros, indices their columns, "
            "indptr[0] = 0 and indptr[j + 1] = the number of non-zeros in rows 0..j")


def _sparse(rng, shape, density=0.5, dtype=np.float64) -> np.ndarray:
    w = rng.standard_normal(shape).astype(dtype)
    return w * (rng.random(shape) < density)


def _check_to_csr(student, w, hint=CSR_RULE) -> None:
    got = call(student, "to_csr", w.copy())
    what = f"to_csr(w {w.shape} with {np.count_nonzero(w)} non-zeros)"
    _require(isinstance(got, tuple) and len(got) == 3,
             f"{what}: expected a tuple (indptr, indices, data), got {type(got).__name__}")
    for name, mine, ref in zip(("indptr", "indices", "data"), got, _csr(w), strict=True):
        _require(isinstance(mine, np.ndarray), f"{what}: {name} must be a numpy array, got "
                 f"{type(mine).__name__}")
        expect_equal(mine.tolist(), ref.tolist(), what=f"{what}: {name}", hint=hint)
    _require(got[0].dtype.kind in "iu" and got[1].dtype.kind in "iu",
             f"{what}: indptr and indices must be integer arrays, got {got[0].dtype} and "
             f"{got[1].dtype}")
    _require(got[2].dtype == w.dtype, f"{what}: data must keep w's dtype {w.dtype}, got "
             f"{got[2].dtype}")


@points(2)
def test_to_csr_matches_the_definition(student):
    """Random (5, 7) float64 and (6, 4) float32 weights, about half zeros."""
    rng = np.random.default_rng(10)
    _check_to_csr(student, _sparse(rng, (5, 7)))
    _check_to_csr(student, _sparse(rng, (6, 4), 0.6, np.float32))
    _check_to_csr(student, np.array([[1.5]]))


@points(1)
def test_to_csr_empty_rows_and_all_zero_matrix(student):
    """Empty first, middle and last rows repeat their indptr; an all-zero matrix has
    nnz 0 and indptr all zeros."""
    w = np.zeros((5, 6))
    w[1, [0, 5]] = [2.0, -1.0]
    w[3, 2] = 4.0
    hint = "an empty row j still needs indptr[j + 1] = indptr[j]"
    _check_to_csr(student, w, hint=hint)
    _check_to_csr(student, np.zeros((3, 5)), hint=hint)


@points(1)
def test_to_csr_rejects_arrays_that_are_not_2d(student):
    """A 1-D or 3-D array: ValueError."""
    for shape in ((4,), (2, 2, 2)):
        _expect_raises(student, "to_csr", (np.ones(shape),), ValueError,
                       f"to_csr(w of shape {shape})", "check w.ndim == 2 first")


def _check_csr_matmul(student, x, w, got=None) -> None:
    indptr, indices, data = _csr(w)
    if got is None:
        got = call(student, "csr_matmul", x.copy(), indptr, indices, data, w.shape[0])
    what = f"csr_matmul(x {x.shape} {x.dtype}, W {w.shape} with {data.size} non-zeros)"
    _expect_array(got, x.dtype, (x.shape[0], w.shape[0]), what)
    tol = 1e-5 if x.dtype == np.float32 else 1e-10
    expect_close(got, x @ w.T, what=what, rtol=tol, atol=tol,
                 hint="out[i, j] = sum over p in range(indptr[j], indptr[j + 1]) of "
                      "data[p] * x[i, indices[p]]")


@points(2)
def test_csr_matmul_matches_the_dense_product(student):
    """x @ W.T on odd shapes, float64 and float32, one row of x and one output."""
    rng = np.random.default_rng(11)
    _check_csr_matmul(student, rng.standard_normal((4, 7)), _sparse(rng, (5, 7)))
    _check_csr_matmul(student, rng.standard_normal((3, 9)).astype(np.float32),
                      _sparse(rng, (6, 9), 0.3, np.float32))
    _check_csr_matmul(student, rng.standard_normal((1, 3)), _sparse(rng, (1, 3), 0.9))


@points(1)
def test_csr_matmul_empty_rows_give_zero_columns(student):
    """Rows of W with no non-zero (first, middle, last), and an all-zero W."""
    rng = np.random.default_rng(12)
    w = _sparse(rng, (6, 5), 0.7)
    w[[0, 3, 5]] = 0.0
    _check_csr_matmul(student, rng.standard_normal((4, 5)), w)
    _check_csr_matmul(student, rng.standard_normal((2, 5)), np.zeros((3, 5)))


@points(1)
def test_csr_matmul_compiles_with_numba(student):
    """numba.njit(csr_matmul) compiles and matches x @ W.T on (9, 11) float32."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((9, 11)).astype(np.float32)
    w = _sparse(rng, (7, 11), 0.4, np.float32)
    _check_csr_matmul(student, x, w, got=_compiled(student, "csr_matmul", x, *_csr(w), 7))


@points(1)
def test_csr_matmul_rejects_a_wrong_indptr(student):
    """indptr with n_out or n_out + 2 entries: ValueError (compiled loops would read past
    its end)."""
    indptr, indices, data = _csr(np.eye(3))
    for n_out in (2, 4):
        _expect_raises(student, "csr_matmul", (np.ones((2, 3)), indptr, indices, data, n_out),
                       ValueError, f"csr_matmul(x, indptr of 4 entries, ..., n_out={n_out})",
                       "check indptr.shape[0] == n_out + 1 first")


# --- channel_l1_norms ----------------------------------------------------------------------

@points(1)
def test_channel_l1_norms(student):
    """Conv weights (4, 3, 3, 3) and (5, 2, 1, 1), and a Linear weight (6, 4)."""
    rng = np.random.default_rng(14)
    for shape in ((4, 3, 3, 3), (5, 2, 1, 1), (6, 4)):
        w = rng.standard_normal(shape)
        got = call(student, "channel_l1_norms", w.copy())
        expect_close(got, np.abs(w).reshape(shape[0], -1).sum(axis=1),
                     what=f"channel_l1_norms(w {shape})", rtol=1e-10, atol=1e-12,
                     hint="sum |w| over every axis but axis 0: one norm per output channel")
