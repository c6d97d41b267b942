"""The int8 kernels (kernels/quant.py, kernels/qgemm.py) against numpy oracles on every CPU
backend: quantize (round half to even, saturation, NaN), dequantize (int8 and int32 codes,
strided input), requantize, the int8 im2row with zero-point padding, and the int8 GEMM,
exact against an int64 reference on odd shapes, tile edges, zero points and the int32
extremes."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.kernels import qgemm, quant

call = tt.dispatch.call


def quantize_ref(x, scale, zp, qmin, qmax):
    """The rule, written independently: rint (half to even) in float64, clamp, NaN -> qmin."""
    v = np.rint(x.astype(np.float64) / scale[None, :, None]) + zp[None, :, None]
    v = np.where(np.isnan(v), qmin, np.clip(v, qmin, qmax))
    return v.astype(np.int8)


def qgemm_ref(a, b, bias, zb, za):
    """int64 arithmetic: no overflow possible at these sizes."""
    prod = (a.astype(np.int64) - za) @ (b.astype(np.int64) - zb.astype(np.int64)[:, None]).T
    return prod + bias.astype(np.int64)


# --- quantize / dequantize / requantize ---------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1, 7), (2, 3, 5), (4, 1, 1), (0, 2, 3), (2, 3, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantize_matches_the_rule(backend, rng, shape, dtype):
    x = rng.normal(0, 3, shape).astype(dtype)
    C = shape[1]
    scale = rng.uniform(0.01, 0.1, C)
    zp = rng.integers(-20, 20, C).astype(np.int32)
    out = np.full(shape, 99, np.int8)
    call("quantize_forward", out, x, scale, zp, qmin=-128, qmax=127)
    np.testing.assert_array_equal(out, quantize_ref(x, scale, zp, -128, 127))


def test_quantize_rounds_half_to_even_and_saturates(backend):
    # x / 0.5 lands exactly on .5 ties: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2
    x = np.array([[[0.25, 0.75, 1.25, -0.25, -0.75, 1e9, -1e9, np.inf, -np.inf, np.nan]]])
    out = np.empty(x.shape, np.int8)
    call("quantize_forward", out, x, np.array([0.5]), np.array([0], np.int32), qmin=-127,
         qmax=127)
    assert out.ravel().tolist() == [0, 2, 2, 0, -2, 127, -127, 127, -127, -127]


def test_quantize_reads_strided_input(backend, rng):
    x = rng.normal(size=(6, 4)).T[None]  # (1, 4, 6), transposed strides
    scale, zp = np.array([0.01, 0.02, 0.03, 0.04]), np.array([1, 2, 3, 4], np.int32)
    out = np.empty((1, 4, 6), np.int8)
    call("quantize_forward", out, x, scale, zp, qmin=-128, qmax=127)
    np.testing.assert_array_equal(out, quantize_ref(x, scale, zp, -128, 127))


@pytest.mark.parametrize("code_dtype", [np.int8, np.int32])
def test_dequantize_matches_numpy(backend, rng, code_dtype):
    info = np.iinfo(code_dtype)
    q = rng.integers(max(info.min, -10**6), min(info.max, 10**6), (2, 3, 5)).astype(code_dtype)
    scale = rng.uniform(1e-4, 1e-1, 3)
    zp = np.array([-128, 0, 127], np.int32)
    for qin in (q, q.transpose(0, 2, 1).copy().transpose(0, 2, 1)):  # contiguous, strided
        out = np.empty((2, 3, 5), np.float32)
        call("dequantize_forward", out, qin, scale, zp)
        expected = ((q.astype(np.int64) - zp[None, :, None]) * scale[None, :, None])
        np.testing.assert_array_equal(out, expected.astype(np.float32))


def test_quantize_then_dequantize_is_within_half_a_step(backend, rng):
    x = rng.uniform(-1, 1, (1, 1, 200))
    scale, zp = np.array([2 / 255]), np.array([0], np.int32)
    q = np.empty(x.shape, np.int8)
    call("quantize_forward", q, x, scale, zp, qmin=-128, qmax=127)
    back = np.empty(x.shape)
    call("dequantize_forward", back, q, scale, zp)
    assert np.abs(back - x).max() <= scale[0] / 2 + 1e-12


def test_requantize_matches_numpy(backend, rng):
    acc = rng.integers(-2**31, 2**31 - 1, (5, 4), dtype=np.int64).astype(np.int32)
    acc[0, :] = [0, 2**31 - 1, -2**31, 50]
    m = np.array([1e-9, 1e-7, 1e-7, 0.01])
    out = np.empty((5, 4), np.int8)
    call("requantize_forward", out, acc, m, zero_point=-3, qmin=-128, qmax=127)
    expected = np.clip(np.rint(acc.astype(np.float64) * m) - 3, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(out, expected)
    assert out[0, :3].tolist() == [-3, 127, -128]  # saturation at both ends


def test_requantize_rounding_ties(backend):
    acc = np.array([[1, 3, 5, -1, -3]], np.int32)  # * 0.5: 0.5, 1.5, 2.5, -0.5, -1.5
    out = np.empty((1, 5), np.int8)
    call("requantize_forward", out, acc, np.full(5, 0.5), zero_point=0, qmin=-128, qmax=127)
    assert out.tolist() == [[0, 2, 2, 0, -2]]


# --- the int8 im2row ----------------------------------------------------------------------

IM2ROW_CASES = [  # N, C, H, W, KH, KW, stride, pad, dilation
    (2, 3, 5, 6, 3, 3, 1, 1, 1), (1, 2, 7, 7, 3, 2, 2, 0, 1), (2, 1, 6, 6, 2, 2, 1, 2, 2),
    (1, 1, 4, 4, 1, 1, 1, 0, 1), (1, 2, 3, 3, 3, 3, 1, 0, 1)]


def im2row_ref(x, KH, KW, s, p, d, zp):
    """Loop over output pixels and taps, with explicit bounds: the definition."""
    N, C, H, W = x.shape
    OH, OW = (H + 2 * p - d * (KH - 1) - 1) // s + 1, (W + 2 * p - d * (KW - 1) - 1) // s + 1
    col = np.empty((N, OH * OW, C * KH * KW + 1), np.int8)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                taps = []
                for c in range(C):
                    for kh in range(KH):
                        for kw in range(KW):
                            ih, iw = oh * s - p + kh * d, ow * s - p + kw * d
                            inside = 0 <= ih < H and 0 <= iw < W
                            taps.append(x[n, c, ih, iw] if inside else zp)
                col[n, oh * OW + ow] = taps + [1]
    return col, OW


@pytest.mark.parametrize("case", IM2ROW_CASES)
def test_qim2row_pads_with_the_zero_point(backend, rng, case):
    N, C, H, W, KH, KW, s, p, d = case
    x = rng.integers(-128, 128, (N, C, H, W), dtype=np.int8)
    expected, OW = im2row_ref(x, KH, KW, s, p, d, zp=-9)
    col = np.full(expected.shape, 55, np.int8)
    call("qim2row_forward", col, x, zero_point=-9, kernel_h=KH, kernel_w=KW, out_w=OW,
         stride_h=s, stride_w=s, pad_h=p, pad_w=p, dil_h=d, dil_w=d)
    np.testing.assert_array_equal(col, expected)


def test_qim2row_of_a_non_contiguous_input(backend, rng):
    x = rng.integers(-128, 128, (1, 2, 5, 4), dtype=np.int8).transpose(0, 1, 3, 2)
    expected, OW = im2row_ref(x, 2, 2, 1, 0, 1, zp=0)
    col = np.empty(expected.shape, np.int8)
    call("qim2row_forward", col, x, zero_point=0, kernel_h=2, kernel_w=2, out_w=OW,
         stride_h=1, stride_w=1, pad_h=0, pad_w=0, dil_h=1, dil_w=1)
    np.testing.assert_array_equal(col, expected)


# --- the int8 GEMM ------------------------------------------------------------------------

GEMM_SHAPES = [(1, 1, 1), (3, 5, 7), (4, 4, 4), (5, 9, 3), (17, 13, 33), (33, 10, 217),
               (8, 3, 64), (0, 3, 4), (3, 0, 4), (3, 4, 0)]


@pytest.mark.parametrize("M,N,K", GEMM_SHAPES)
def test_qgemm_is_exact_against_int64(backend, rng, M, N, K):
    a = rng.integers(-128, 128, (M, K), dtype=np.int8)
    b = rng.integers(-128, 128, (N, K), dtype=np.int8)
    bias = rng.integers(-10**5, 10**5, N).astype(np.int32)
    zb = rng.integers(-128, 128, N).astype(np.int32)
    out = np.full((M, N), 7, np.int32)
    call("qgemm_forward", out, a, b, bias, zb, a_zero_point=-37)
    np.testing.assert_array_equal(out, qgemm_ref(a, b, bias, zb, -37))


@pytest.mark.parametrize("variant", sorted(set(qgemm.VARIANTS) - {"naive"}))
@pytest.mark.parametrize("M,N,K", [(64, 64, 64), (130, 67, 301), (9, 130, 5000), (300, 24, 10),
                                   (5, 3, 2)])
def test_every_rung_of_the_ladder_is_exact(rng, variant, M, N, K):
    a = rng.integers(-128, 128, (M, K), dtype=np.int8)
    b = rng.integers(-128, 128, (N, K), dtype=np.int8)
    bias = rng.integers(-1000, 1000, N).astype(np.int32)
    zb = np.zeros(N, np.int32)
    zb[::3] = 5
    out = np.empty((M, N), np.int32)
    qgemm.VARIANTS[variant](out, a, b, bias, zb, a_zero_point=12)
    np.testing.assert_array_equal(out, qgemm_ref(a, b, bias, zb, 12))


def test_qgemm_reads_transposed_and_sliced_operands(backend, rng):
    a = rng.integers(-128, 128, (7, 6), dtype=np.int8).T  # (6, 7), not C-contiguous
    b = rng.integers(-128, 128, (5, 14), dtype=np.int8)[:, ::2]  # (5, 7), strided
    bias, zb = np.zeros(5, np.int32), np.zeros(5, np.int32)
    out = np.empty((6, 5), np.int32)
    call("qgemm_forward", out, a, b, bias, zb, a_zero_point=0)
    np.testing.assert_array_equal(out, qgemm_ref(a, b, bias, zb, 0))


def test_qgemm_at_the_int32_limit(backend):
    """The largest terms the function layer allows, K*255*255 < 2**31: exact."""
    K = 33025  # 33025 * 255 * 255 = 2147450625 <= 2**31 - 1
    a = np.full((1, K), -128, np.int8)  # a - za = -255
    b = np.full((2, K), 127, np.int8)  # b - zb = 255 for channel 0
    zb = np.array([-128, 127], np.int32)  # channel 1: b - zb = 0
    out = np.empty((1, 2), np.int32)
    call("qgemm_forward", out, a, b, np.zeros(2, np.int32), zb, a_zero_point=127)
    assert out.tolist() == [[-K * 255 * 255, 0]]


@pytest.mark.parametrize("variant", sorted({"jit_packed", "jit_ikj", "jit_vnni"}
                                            & set(qgemm.VARIANTS)))
def test_partial_sums_that_wrap_still_give_the_exact_total(variant):
    """The fast kernels sum a*b in int32 lanes before the zero-point correction: the raw
    sum (128 * 128 * K = 2**14 * K) wraps for K = 2**18, the total (0 here) is exact."""
    K = 2**18
    a = np.full((4, K), -128, np.int8)
    b = np.full((4, K), -128, np.int8)
    out = np.empty((4, 4), np.int32)
    bias = np.arange(4, dtype=np.int32)
    qgemm.VARIANTS[variant](out, a, b, bias, np.zeros(4, np.int32), a_zero_point=-128)
    assert out.tolist() == [[0, 1, 2, 3]] * 4


def test_the_jit_entry_is_a_documented_launcher():
    assert "launcher" in qgemm.qgemm_forward_jit.__doc__
    assert "launcher" in quant.qim2row_forward_jit.__doc__
    assert quant.quantize_forward_jit.py_func is quant.quantize_forward_naive


def requantize_fixed_ref(acc, m0, shift, zp, qmin, qmax):
    """gemmlowp's two steps with Python ints: round(acc * m0 / 2**31) half away from zero
    (the 'nudge'), then / 2**shift rounded half away from zero."""
    out = np.empty(acc.shape, np.int64)
    for (i, j), a in np.ndenumerate(acc):
        ab = int(a) * int(m0[j])
        high = (abs(ab) + (1 << 30)) >> 31
        high = -high if ab < 0 else high
        e = int(shift[j])
        q = (abs(high) + ((1 << e) >> 1)) >> e if e else abs(high)
        out[i, j] = min(max((-q if high < 0 else q) + zp, qmin), qmax)
    return out


def test_requantize_fixed_matches_the_gemmlowp_rule(backend, rng):
    acc = rng.integers(-2**31, 2**31 - 1, (6, 5), dtype=np.int64).astype(np.int32)
    acc[0] = [0, 1, -1, 2**31 - 1, -2**31]
    acc[1:4, 0] = [2, -2, 6]  # column 0: m = 2**30 / 2**31 / 2**1 = 1/4: ties 0.5, 1.5
    m0 = np.array([2**30, 1319413953, 2**31 - 1, 1500000000, 2**30], np.int32)
    shift = np.array([1, 11, 0, 24, 30], np.int32)
    out = np.empty((6, 5), np.int8)
    call("requantize_fixed_forward", out, acc, m0, shift, zero_point=2, qmin=-128, qmax=127)
    np.testing.assert_array_equal(out, requantize_fixed_ref(acc, m0, shift, 2, -128, 127))
    assert out[1:4, 0].tolist() == [1 + 2, -1 + 2, 2 + 2]  # half away from zero


def test_requantize_fixed_is_within_one_code_of_the_float_path(backend, rng):
    from tinytorch.quantization import quantize_multiplier

    acc = rng.integers(-10**6, 10**6, (20, 4)).astype(np.int32)
    m = np.array([3.1e-4, 1.7e-5, 0.25, 0.0123])
    m0, shift = quantize_multiplier(m)
    fixed, real = np.empty((20, 4), np.int8), np.empty((20, 4), np.int8)
    call("requantize_fixed_forward", fixed, acc, m0, shift, zero_point=0, qmin=-128, qmax=127)
    call("requantize_forward", real, acc, m, zero_point=0, qmin=-128, qmax=127)
    assert np.abs(fixed.astype(int) - real.astype(int)).max() <= 1
