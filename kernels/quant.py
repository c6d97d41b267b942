"""Affine int8 quantisation (module 09): quantize, dequantize, requantize, and the int8
im2row that feeds a quantised convolution.

The affine map between a real number ``x`` and its 8-bit code ``q`` (scale ``s > 0``, zero
point ``z``, an integer the code of the real 0.0 takes)::

    q = clamp(rint(x / s) + z, qmin, qmax)          quantize
    x ~ (q - z) * s                                 dequantize

* ``rint`` rounds half to even (numpy's ``rint``, C's ``nearbyint``, what PyTorch uses), so
  2.5 -> 2 and 3.5 -> 4; ``x / s`` is computed in float64 on every backend (a float32 ``x``
  is widened first), so all backends produce the same codes.
* Saturation: codes outside ``[qmin, qmax]`` clamp to the nearest end (+inf -> qmax,
  -inf -> qmin), and NaN, which compares false with everything, goes to ``qmin``.
* Symmetric schemes use ``z = 0`` (and usually ``[-127, 127]``, so that ``-x`` has a code
  too); asymmetric ones pick ``z`` so that ``[min, max]`` covers ``[qmin, qmax]``.

Shapes. ``quantize``/``dequantize`` see a tensor as 3-D ``(A, C, B)`` with the quantised
channel in the middle: ``(1, 1, numel)`` per tensor, ``(prod(shape[:axis]), shape[axis],
prod(shape[axis+1:]))`` per channel along ``axis``, so any axis is one kernel call with no
copy; ``scale`` (float64) and ``zero_point`` (int32) are 1-D ``(C,)``. ``dequantize`` also
reads int32 GEMM accumulators (scale ``s_x * s_w``). ``requantize`` maps int32 accumulators
``acc (M, N)`` (one output channel per column) back to int8 codes with a float64
multiplier ``m[j] = s_x * s_w[j] / s_out``: ``out = clamp(rint(acc * m[j]) + z_out)``.
``requantize_fixed`` is the same with integers only (TFLite/gemmlowp): ``m[j] = m0[j] *
2**-shift[j]`` with ``m0`` an int32 in ``[2**30, 2**31)`` (a Q31 number in [0.5, 1)), the
product rounded to its high 32 bits, then an arithmetic right shift that rounds half away
from zero: no float anywhere, as on integer-only accelerators; it agrees with the float
path to within one code.

``qim2row`` lays out the receptive fields of an int8 image batch ``x (N, C, H, W)`` as rows
``col (N, OH*OW, C*KH*KW + 1)``, taps outside the image read the zero point (the code of
0.0: padding with the integer 0 would pad with ``-z * s``, not with 0.0) and the last
column is 1 (it meets the weight matrix's zero-point column: see ``qgemm.py``).

Cost: quantize and dequantize read ``itemsize_in`` and write ``itemsize_out`` bytes per
element for a handful of FLOPs (a divide, a round, two compares): memory-bound, like the
elementwise ops. ``qim2row`` copies each input byte about ``KH*KW/(stride_h*stride_w)``
times, a quarter of the float32 im2col's bytes.

>>> import numpy as np
>>> q = np.empty((1, 1, 5), np.int8)
>>> quantize_forward_naive(q, np.array([[[0.25, 0.75, -1.0, 9.0, np.nan]]]),
...                        np.array([0.5]), np.array([1], np.int32), qmin=-128, qmax=127)
>>> q.tolist()  # 0.5 -> 0 (half to even) + 1; 1.5 -> 2 + 1; -2 + 1; 18 + 1; NaN -> qmin
[[[1, 3, -1, 19, -128]]]
"""

import numpy as np
from numba import njit, prange

from ._twins import jit_twin
from .conv_im2col import builds, padded_shape, tap_offsets

# --- naive ------------------------------------------------------------------------------


def quantize_forward_naive(out, x, scale, zero_point, qmin, qmax):
    A, C, B = out.shape
    for i in range(A):
        for c in range(C):
            s = np.float64(scale[c])
            z = zero_point[c]
            for j in range(B):
                v = np.rint(np.float64(x[i, c, j]) / s) + z
                if not v >= qmin:  # also NaN: it fails every comparison
                    v = qmin
                elif v > qmax:
                    v = qmax
                out[i, c, j] = v


def dequantize_forward_naive(out, q, scale, zero_point):
    A, C, B = out.shape
    for i in range(A):
        for c in range(C):
            s = np.float64(scale[c])
            z = int(zero_point[c])
            for j in range(B):
                out[i, c, j] = (int(q[i, c, j]) - z) * s  # exact int, one rounding


def requantize_forward_naive(out, acc, multiplier, zero_point, qmin, qmax):
    M, N = out.shape
    for i in range(M):
        for j in range(N):
            v = np.rint(np.float64(acc[i, j]) * multiplier[j]) + zero_point
            if not v >= qmin:
                v = qmin
            elif v > qmax:
                v = qmax
            out[i, j] = v


def requantize_fixed_forward_naive(out, acc, multiplier, shift, zero_point, qmin, qmax):
    M, N = out.shape
    for i in range(M):
        for j in range(N):
            # (acc * m0 * 2**-31), rounded: gemmlowp's SaturatingRoundingDoublingHighMul
            # (the one overflow, -2**31 * -2**31, cannot happen: m0 > 0)
            ab = int(acc[i, j]) * int(multiplier[j])
            nudge = 1 << 30 if ab >= 0 else 1 - (1 << 30)
            t = ab + nudge
            high = (abs(t) >> 31) if t >= 0 else -(abs(t) >> 31)  # C's division: to zero
            # then / 2**shift, rounded half away from zero: RoundingDivideByPOT
            e = int(shift[j])
            mask = (1 << e) - 1
            threshold = (mask >> 1) + (1 if high < 0 else 0)
            v = (high >> e) + (1 if (high & mask) > threshold else 0) + zero_point
            if v < qmin:
                v = qmin
            elif v > qmax:
                v = qmax
            out[i, j] = v


def qim2row_forward_naive(col, x, zero_point, kernel_h, kernel_w, out_w, stride_h, stride_w,
                          pad_h, pad_w, dil_h, dil_w):
    N, P, K1 = col.shape
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    for n in range(N):
        for p in range(P):
            oh = p // out_w
            ow = p % out_w
            k = 0
            for c in range(C):
                for kh in range(kernel_h):
                    ih = oh * stride_h - pad_h + kh * dil_h
                    for kw in range(kernel_w):
                        iw = ow * stride_w - pad_w + kw * dil_w
                        if 0 <= ih < H and 0 <= iw < W:
                            col[n, p, k] = x[n, c, ih, iw]
                        else:
                            col[n, p, k] = zero_point  # the code of 0.0
                        k += 1
            col[n, p, K1 - 1] = 1


# --- jit --------------------------------------------------------------------------------
# quantize, dequantize and requantize: the naive source compiled (one pass, memory-bound:
# nothing to gain from a cleverer loop). qim2row: a launcher that pads once and gathers
# through precomputed tap offsets (conv_im2col's geometry helpers).

quantize_forward_jit = jit_twin(quantize_forward_naive)
dequantize_forward_jit = jit_twin(dequantize_forward_naive)
requantize_forward_jit = jit_twin(requantize_forward_naive)
requantize_fixed_forward_jit = jit_twin(requantize_fixed_forward_naive)
qim2row_forward_jit_loops = jit_twin(qim2row_forward_naive)


@njit(cache=True)
def _pad_with(xp, x, value, pad_h, pad_w):
    """``xp`` = ``value`` everywhere, ``x`` at offset ``(pad_h, pad_w)``."""
    N, C, H, W = x.shape
    for n in range(N):
        for c in range(C):
            plane = xp[n, c]
            for i in range(plane.shape[0]):
                row = plane[i]
                for j in range(row.shape[0]):
                    row[j] = value
            for i in range(H):
                row = plane[pad_h + i]
                src = x[n, c, i]
                for j in range(W):
                    row[pad_w + j] = src[j]


def _gather_source(col, flat, offs, out_w, stride_h, stride_w, Wp, image):
    """Each row of col: the bytes at ``base + offs[k]`` of the flat padded batch, where
    ``base`` is the pixel's top-left tap; then the column of ones."""
    N, P, K1 = col.shape
    K = K1 - 1
    for t in prange(N * P):
        n = t // P
        p = t % P
        base = n * image + (p // out_w) * stride_h * Wp + (p % out_w) * stride_w
        row = col[n, p]
        for k in range(K):  # one load and one store per byte: no views, no bounds tests
            row[k] = flat[base + offs[k]]
        row[K] = 1


_gather = builds(_gather_source)


def qim2row_forward_jit(col, x, *, zero_point, kernel_h, kernel_w, out_w, stride_h,
                        stride_w, pad_h, pad_w, dil_h, dil_w):
    """The registered jit launcher: pad with the zero point once (a bounds-check-free copy;
    ``conv_im2col.padded_shape``), then gather each row through the tap offsets of
    ``conv_im2col.tap_offsets``: the same offset for every pixel, relative to its first
    tap. Measured on the digits CNN's second layer (32 x 24 x 4 x 4, 3 x 3, pad 1), one
    core, medians of interleaved rounds: 198 us with conv_im2col's float im2row (a row view
    per tap and kernel row), 86 us here."""
    N, P, K1 = col.shape
    if col.size == 0:
        return
    shape = padded_shape(x.shape, (N, 0, P // out_w, out_w), (0, 0, kernel_h, kernel_w),
                         stride_h=stride_h, stride_w=stride_w, pad_h=pad_h, pad_w=pad_w,
                         dil_h=dil_h, dil_w=dil_w)
    xp = x
    if shape != x.shape or not x.flags.c_contiguous:  # no padding needed: no copy either
        xp = np.empty(shape, x.dtype)
        _pad_with(xp, x, x.dtype.type(zero_point), pad_h, pad_w)
    _, C, Hp, Wp = shape
    offs = tap_offsets(C, kernel_h, kernel_w, Hp, Wp, dil_h, dil_w)
    build = _gather[1] if col.size >= 1 << 18 else _gather[0]  # threads pay off past ~256 KiB
    build(col, xp.reshape(-1), offs, out_w, stride_h, stride_w, Wp, C * Hp * Wp)


# --- numpy ------------------------------------------------------------------------------


def quantize_forward_numpy(out, x, scale, zero_point, qmin, qmax):
    v = np.rint(x.astype(np.float64) / scale.astype(np.float64)[None, :, None])
    v += zero_point[None, :, None]
    v[np.isnan(v)] = qmin
    np.clip(v, qmin, qmax, out=v)
    np.copyto(out, v, casting="unsafe")


def dequantize_forward_numpy(out, q, scale, zero_point):
    v = (q.astype(np.int64) - zero_point.astype(np.int64)[None, :, None]) \
        * scale.astype(np.float64)[None, :, None]
    np.copyto(out, v, casting="unsafe")


def requantize_forward_numpy(out, acc, multiplier, zero_point, qmin, qmax):
    v = np.rint(acc.astype(np.float64) * multiplier[None, :]) + zero_point
    v[np.isnan(v)] = qmin
    np.clip(v, qmin, qmax, out=v)
    np.copyto(out, v, casting="unsafe")


def requantize_fixed_forward_numpy(out, acc, multiplier, shift, zero_point, qmin, qmax):
    ab = acc.astype(np.int64) * multiplier.astype(np.int64)[None, :]
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(t >= 0, np.abs(t) >> 31, -(np.abs(t) >> 31))
    e = shift.astype(np.int64)[None, :]
    mask = (np.int64(1) << e) - 1
    threshold = (mask >> 1) + (high < 0)
    v = (high >> e) + ((high & mask) > threshold) + zero_point
    np.copyto(out, np.clip(v, qmin, qmax), casting="unsafe")


def qim2row_forward_numpy(col, x, *, zero_point, kernel_h, kernel_w, out_w, stride_h,
                          stride_w, pad_h, pad_w, dil_h, dil_w):
    N, P, K1 = col.shape
    if col.size == 0:
        return
    out_h = P // out_w
    _, C, Hp, Wp = padded_shape(x.shape, (N, 0, out_h, out_w), (0, 0, kernel_h, kernel_w),
                                stride_h=stride_h, stride_w=stride_w, pad_h=pad_h,
                                pad_w=pad_w, dil_h=dil_h, dil_w=dil_w)
    H, W = x.shape[2], x.shape[3]
    xp = np.pad(x, ((0, 0), (0, 0), (pad_h, Hp - H - pad_h), (pad_w, Wp - W - pad_w)),
                constant_values=zero_point)
    span_h, span_w = (kernel_h - 1) * dil_h + 1, (kernel_w - 1) * dil_w + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    win = win[:, :, :out_h * stride_h:stride_h, :out_w * stride_w:stride_w, ::dil_h, ::dil_w]
    # (N, C, OH, OW, KH, KW) -> (N, OH*OW, C*KH*KW): the receptive field of each pixel
    col[:, :, :K1 - 1] = win.transpose(0, 2, 3, 1, 4, 5).reshape(N, P, K1 - 1)
    col[:, :, K1 - 1] = 1


KERNELS = {
    "quantize_forward": {"naive": quantize_forward_naive, "jit": quantize_forward_jit,
                         "numpy": quantize_forward_numpy},
    "dequantize_forward": {"naive": dequantize_forward_naive, "jit": dequantize_forward_jit,
                           "numpy": dequantize_forward_numpy},
    "requantize_forward": {"naive": requantize_forward_naive, "jit": requantize_forward_jit,
                           "numpy": requantize_forward_numpy},
    "requantize_fixed_forward": {"naive": requantize_fixed_forward_naive,
                                 "jit": requantize_fixed_forward_jit,
                                 "numpy": requantize_fixed_forward_numpy},
    "qim2row_forward": {"naive": qim2row_forward_naive, "jit": qim2row_forward_jit,
                        "numpy": qim2row_forward_numpy},
}
