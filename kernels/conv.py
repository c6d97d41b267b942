"""2-D convolution (cross-correlation, as PyTorch's ``conv2d``): forward and its gradients.

Shape letters: N batch, C_in/C_out channels, H x W input, KH x KW kernel, OH x OW output,
``groups`` splits the channels into G independent convolutions of ``C_g = C_in / G`` input
and ``O_g = C_out / G`` output channels; output channel ``co`` belongs to group
``co // O_g`` and reads input channels ``(co // O_g) * C_g + cg``, ``cg < C_g``.
``x`` (N, C_in, H, W), ``w`` (C_out, C_g, KH, KW), ``b`` (C_out,) (zeros when the layer has
no bias), ``out`` and ``g`` (its gradient) (N, C_out, OH, OW). Outputs are C-contiguous,
inputs may have any strides. Keyword scalars: ``stride_h/w >= 1``, ``pad_h/w >= 0`` (the
top/left padding; the bottom/right padding is implied by ``out``'s shape, which is how
PyTorch's asymmetric ``padding="same"`` arrives), ``dil_h/w >= 1``, ``groups``. The caller
checks all of it and computes ``OH = (H + pad_top + pad_bottom - dil_h*(KH-1) - 1) //
stride_h + 1`` (and OW): compiled kernels do not bounds-check.

Math, with ``ih = oh*stride_h - pad_h + kh*dil_h`` and ``iw = ow*stride_w - pad_w +
kw*dil_w`` (terms outside the input are the zero padding)::

    out[n, co, oh, ow]   = b[co] + sum_{cg, kh, kw} x[n, ci, ih, iw] * w[co, cg, kh, kw]
    grad_w[co, cg, kh, kw] = sum_{n, oh, ow} g[n, co, oh, ow] * x[n, ci, ih, iw]
    grad_x[n, ci, ih, iw] += g[n, co, oh, ow] * w[co, cg, kh, kw]   (every n, co, oh, ow, ...)
    grad_b[co]           = sum_{n, oh, ow} g[n, co, oh, ow]

Cost: ``2*N*C_out*OH*OW*C_g*KH*KW`` FLOPs forward, as much again for each of ``grad_x`` and
``grad_w``. Bytes at least ``x + w + out`` once; each input pixel is used by ``KH*KW*O_g``
outputs, so the direct loops are compute-bound if they reuse what they load.

The ladder (``VARIANTS``; docs/conv.md explains each rung and has the measured times):
``naive`` the seven loops (the specification); ``jit_direct`` the same source compiled;
``jit_padded`` the input padded once (no bounds test left) and the output width
innermost, so each tap is a contiguous multiply-add along a row; ``jit_flat`` (stride 1)
whole flattened planes per tap instead of rows, three taps and four output channels per
pass (register blocking); ``jit_parallel`` the same with ``prange`` over (image, channel
block); ``im2col`` the lowering to the project's matmul (``conv_im2col.py``); ``jit`` the
registered launcher; ``numpy`` the oracle. The backward launcher reuses the flat planes:
``grad_w`` as dot products of a gradient plane with shifted input planes (``fastmath``
lets LLVM split those sums into SIMD lanes, as in ``matmul.py``), ``grad_x`` as a
scatter-add into a padded plane.

>>> import numpy as np
>>> out = np.empty((1, 1, 2, 2))
>>> x = np.arange(9.0).reshape(1, 1, 3, 3)
>>> conv2d_forward_naive(out, x, np.ones((1, 1, 2, 2)), np.zeros(1), stride_h=1,
...                      stride_w=1, pad_h=0, pad_w=0, dil_h=1, dil_w=1, groups=1)
>>> out[0, 0].tolist()
[[8.0, 12.0], [20.0, 24.0]]
"""

import numpy as np
from numba import prange

from ._twins import jit_twin
from .conv_im2col import (
    builds,
    conv2d_backward_im2col,
    conv2d_backward_numpy,
    conv2d_forward_im2col,
    conv2d_forward_numpy,
    gradient_planes,
    padded,
    padded_shape,
    tap_offsets,
)
from .matmul import FASTMATH

# The keyword scalars of a plain convolution (stride 1, no padding), for examples and labs.
PLAIN = {"stride_h": 1, "stride_w": 1, "pad_h": 0, "pad_w": 0, "dil_h": 1, "dil_w": 1,
         "groups": 1}
DEMO = (np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.zeros(1))  # x, w, b: out = 4s

# --- naive ------------------------------------------------------------------------------


def conv2d_forward_naive(out, x, w, b, *, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                         groups):
    """The specification: seven loops, one multiply-add at a time (example: the module's
    docstring)."""
    N, C_out, OH, OW = out.shape
    H, W = x.shape[2], x.shape[3]
    C_g, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    O_g = C_out // groups
    for n in range(N):
        for co in range(C_out):
            c0 = (co // O_g) * C_g  # first input channel of this output channel's group
            for oh in range(OH):
                for ow in range(OW):
                    acc = b[co]
                    for cg in range(C_g):
                        for kh in range(KH):
                            ih = oh * stride_h - pad_h + kh * dil_h
                            if 0 <= ih < H:  # rows outside the input are zero padding
                                for kw in range(KW):
                                    iw = ow * stride_w - pad_w + kw * dil_w
                                    if 0 <= iw < W:
                                        acc += x[n, c0 + cg, ih, iw] * w[co, cg, kh, kw]
                    out[n, co, oh, ow] = acc


def conv2d_backward_naive(grad_x, grad_w, grad_b, g, x, w, *, stride_h, stride_w, pad_h,
                          pad_w, dil_h, dil_w, groups, need_x, need_w, need_b):
    """The forward's loops, each term sending its gradient back to the ``x``, ``w`` and
    ``b`` it read; only the gradients whose ``need_*`` flag is set are written.

    >>> gx, gw, gb = np.empty((1, 1, 2, 2)), np.empty((1, 1, 1, 1)), np.empty(1)
    >>> conv2d_backward_naive(gx, gw, gb, np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 3.0),
    ...                       np.full((1, 1, 1, 1), 2.0), need_x=True, need_w=True,
    ...                       need_b=True, **PLAIN)
    >>> gx.ravel().tolist(), gw.item(), gb.item()
    ([2.0, 2.0, 2.0, 2.0], 12.0, 4.0)
    """
    N, C_out, OH, OW = g.shape
    H, W = x.shape[2], x.shape[3]
    C_g, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    O_g = C_out // groups
    if need_x:
        grad_x[...] = 0
    if need_w:
        grad_w[...] = 0
    if need_b:
        grad_b[...] = 0
    for n in range(N):
        for co in range(C_out):
            c0 = (co // O_g) * C_g
            for oh in range(OH):
                for ow in range(OW):
                    gv = g[n, co, oh, ow]
                    if need_b:
                        grad_b[co] += gv
                    for cg in range(C_g):
                        for kh in range(KH):
                            ih = oh * stride_h - pad_h + kh * dil_h
                            if 0 <= ih < H:
                                for kw in range(KW):
                                    iw = ow * stride_w - pad_w + kw * dil_w
                                    if 0 <= iw < W:
                                        if need_w:
                                            grad_w[co, cg, kh, kw] += gv * x[n, c0 + cg, ih, iw]
                                        if need_x:
                                            grad_x[n, c0 + cg, ih, iw] += gv * w[co, cg, kh, kw]


# --- jit --------------------------------------------------------------------------------

conv2d_forward_jit_direct = jit_twin(conv2d_forward_naive)
conv2d_backward_jit_direct = jit_twin(conv2d_backward_naive)


def _fwd_rows_source(out, xp, w, b, sh, sw, dh, dw, groups):
    N, C_out, OH, OW = out.shape
    C_g, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    O_g = C_out // groups
    for t in prange(N * C_out):  # (image, output channel): independent outputs
        n = t // C_out
        co = t % C_out
        c0 = (co // O_g) * C_g
        for oh in range(OH):
            orow = out[n, co, oh]  # OW outputs, in L1 across the whole reduction
            for ow in range(OW):
                orow[ow] = b[co]
            for cg in range(C_g):
                for kh in range(KH):
                    xrow = xp[n, c0 + cg, oh * sh + kh * dh]  # padded: always in range
                    for kw in range(KW):
                        wv = w[co, cg, kh, kw]
                        if sw == 1:  # a contiguous slice: unit stride, vectorised
                            xs = xrow[kw * dw:kw * dw + OW]
                            for ow in range(OW):
                                orow[ow] += wv * xs[ow]
                        else:
                            xs = xrow[kw * dw:]
                            for ow in range(OW):
                                orow[ow] += wv * xs[ow * sw]


def _fwd_flat_source(out, xp, w, b, dh, dw, groups):
    N, C_out, OH, OW = out.shape
    Hp, Wp = xp.shape[2], xp.shape[3]
    C_g, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    O_g = C_out // groups
    T = C_g * KH * KW  # taps per output, in the naive loops' (cg, kh, kw) order
    offs = tap_offsets(C_g, KH, KW, Hp, Wp, dh, dw)
    nblk = (O_g + 3) // 4  # blocks of 4 output channels, inside one group
    L = (OH - 1) * Wp + OW  # flat span from the first to the last output pixel
    for t in prange(N * groups * nblk):
        n = t // (groups * nblk)
        grp = (t // nblk) % groups
        co0 = grp * O_g + (t % nblk) * 4
        nc = min(4, (grp + 1) * O_g - co0)
        xf = xp[n, grp * C_g:(grp + 1) * C_g].reshape(C_g * Hp * Wp)
        acc = np.zeros((4, L), out.dtype)  # 4 output planes at pitch Wp: 17 KiB at 32x32
        wt = np.zeros((4, T), w.dtype)  # this block's weights (zero past nc), tap-major
        for c in range(nc):
            for k in range(T):
                wt[c, k] = w[co0 + c, k // (KH * KW), (k // KW) % KH, k % KW]
            for p in range(L):
                acc[c, p] = b[co0 + c]
        a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
        k = 0
        while k + 3 <= T:  # 3 taps x 4 channels per pass: 3 loads of x, 12 multiply-adds
            x0, x1, x2 = xf[offs[k]:], xf[offs[k + 1]:], xf[offs[k + 2]:]
            w00, w01, w02 = wt[0, k], wt[0, k + 1], wt[0, k + 2]
            w10, w11, w12 = wt[1, k], wt[1, k + 1], wt[1, k + 2]
            w20, w21, w22 = wt[2, k], wt[2, k + 1], wt[2, k + 2]
            w30, w31, w32 = wt[3, k], wt[3, k + 1], wt[3, k + 2]
            for p in range(L):  # left to right: each sum in the naive order, bit-equal
                u0, u1, u2 = x0[p], x1[p], x2[p]
                a0[p] = a0[p] + w00 * u0 + w01 * u1 + w02 * u2
                a1[p] = a1[p] + w10 * u0 + w11 * u1 + w12 * u2
                a2[p] = a2[p] + w20 * u0 + w21 * u1 + w22 * u2
                a3[p] = a3[p] + w30 * u0 + w31 * u1 + w32 * u2
            k += 3
        while k < T:  # the last T % 3 taps
            x0 = xf[offs[k]:]
            w00, w10, w20, w30 = wt[0, k], wt[1, k], wt[2, k], wt[3, k]
            for p in range(L):
                u0 = x0[p]
                a0[p] += w00 * u0
                a1[p] += w10 * u0
                a2[p] += w20 * u0
                a3[p] += w30 * u0
            k += 1
        for c in range(nc):  # drop the Wp - OW columns between rows
            for oh in range(OH):
                orow = out[n, co0 + c, oh]
                arow = acc[c, oh * Wp:]
                for ow in range(OW):
                    orow[ow] = arow[ow]


def _gw_source(grad_w, ge, xp, OH, OW, sh, sw, dh, dw, groups):
    C_out, C_g, KH, KW = grad_w.shape
    N, Hp, Wp = xp.shape[0], xp.shape[2], xp.shape[3]
    O_g = C_out // groups
    T = C_g * KH * KW
    offs = tap_offsets(C_g, KH, KW, Hp, Wp, dh, dw)
    nblk = (O_g + 3) // 4
    L = (OH - 1) * Wp + OW
    for t in prange(groups * nblk):  # 4 output channels' rows of grad_w per task: no races
        grp = t // nblk
        co0 = grp * O_g + (t % nblk) * 4
        last = min(co0 + 4, (grp + 1) * O_g) - 1
        acc = np.zeros((4, T + 2))  # float64 across images; 2 spare taps for the last pass
        for n in range(N):
            xf = xp[n, grp * C_g:(grp + 1) * C_g].reshape(C_g * Hp * Wp)
            if sh != 1 or sw != 1:  # strided: row by row, one dot product at a time
                for c in range(last - co0 + 1):
                    gf = ge[n, co0 + c]
                    for k in range(T):
                        d = ge.dtype.type(0)
                        for oh in range(OH):
                            xs = xf[offs[k] + oh * sh * Wp:]
                            gr = gf[oh * Wp:]
                            for ow in range(OW):
                                d += gr[ow] * xs[ow * sw]
                        acc[c, k] += d
                continue
            # stride 1: dot products of whole planes (ge is zero between rows); channels
            # past `last` and taps past T repeat the last one: computed, never stored
            g0, g1 = ge[n, co0], ge[n, min(co0 + 1, last)]
            g2, g3 = ge[n, min(co0 + 2, last)], ge[n, min(co0 + 3, last)]
            for k in range(0, T, 3):  # 3 taps x 4 channels: 12 dot products in one pass
                x0 = xf[offs[k]:]
                x1 = xf[offs[min(k + 1, T - 1)]:]
                x2 = xf[offs[min(k + 2, T - 1)]:]
                s00 = s01 = s02 = s10 = s11 = s12 = ge.dtype.type(0)
                s20 = s21 = s22 = s30 = s31 = s32 = ge.dtype.type(0)
                for p in range(L):  # 7 loads, 12 multiply-adds
                    u0, u1, u2 = x0[p], x1[p], x2[p]
                    v0, v1, v2, v3 = g0[p], g1[p], g2[p], g3[p]
                    s00 += v0 * u0
                    s01 += v0 * u1
                    s02 += v0 * u2
                    s10 += v1 * u0
                    s11 += v1 * u1
                    s12 += v1 * u2
                    s20 += v2 * u0
                    s21 += v2 * u1
                    s22 += v2 * u2
                    s30 += v3 * u0
                    s31 += v3 * u1
                    s32 += v3 * u2
                sums = (s00, s10, s20, s30, s01, s11, s21, s31, s02, s12, s22, s32)
                for i in range(12):
                    acc[i % 4, k + i // 4] += sums[i]
        for c in range(last - co0 + 1):
            for k in range(T):
                grad_w[co0 + c, k // (KH * KW), (k // KW) % KH, k % KW] = acc[c, k]


def _gx_source(grad_x, ge, w, OH, OW, Hp, Wp, sh, sw, pad_h, pad_w, dh, dw, groups):
    N, C_in, H, W = grad_x.shape
    C_out, C_g, KH, KW = w.shape
    O_g = C_out // groups
    flat = sh == 1 and sw == 1
    L = (OH - 1) * Wp + OW
    for t in prange(N * C_in):  # one input plane per task: no races
        n = t // C_in
        ci = t % C_in
        cg = ci % C_g
        buf = np.zeros(Hp * Wp, grad_x.dtype)  # gradient of the padded plane
        co = (ci // C_g) * O_g
        end = co + O_g
        while co < end:
            nc = 4 if flat and co + 4 <= end else 1
            for kh in range(KH):
                for kw in range(KW):
                    wv = w[co, cg, kh, kw]
                    if nc == 4:  # four channels per pass: one load and store of buf
                        w1, w2, w3 = w[co + 1, cg, kh, kw], w[co + 2, cg, kh, kw], \
                            w[co + 3, cg, kh, kw]
                        g0, g1, g2, g3 = ge[n, co], ge[n, co + 1], ge[n, co + 2], ge[n, co + 3]
                        bs = buf[kh * dh * Wp + kw * dw:]
                        for p in range(L):
                            bs[p] += wv * g0[p] + w1 * g1[p] + w2 * g2[p] + w3 * g3[p]
                    else:  # strided, or the last O_g % 4 channels: row by row
                        for oh in range(OH):
                            bs = buf[(oh * sh + kh * dh) * Wp + kw * dw:]
                            gr = ge[n, co, oh * Wp:]
                            for ow in range(OW):
                                bs[ow * sw] += wv * gr[ow]
            co += nc
        for ih in range(H):  # crop the padding off
            src = buf[(ih + pad_h) * Wp + pad_w:]
            dst = grad_x[n, ci, ih]
            for iw in range(W):
                dst[iw] = src[iw]


_fwd_rows = builds(_fwd_rows_source)
_fwd_flat = builds(_fwd_flat_source)
_gw = builds(_gw_source, fastmath=FASTMATH)  # reassoc: SIMD partial sums of the dots
_gx = builds(_gx_source)

# Below this many multiply-adds one core wins or ties: waking the second thread costs tens
# of microseconds (on this VM sometimes a whole scheduler tick), and the split work is
# small (measured crossover: between 1.1e5 and 9e5 multiply-adds, docs/conv.md).
PARALLEL_MIN_MACS = 1 << 18

# Small planes with many input channels go to im2col + matmul instead: the direct kernels
# vectorise along the output width, which a 4- or 8-wide plane leaves mostly idle, while
# im2col turns the C_in*KH*KW sum into one long GEMM dimension. Measured here (batch 32,
# 3x3, forward): 24->48 channels on 4x4 planes, direct 1.90 ms vs im2col 0.34 ms; 24->48 on
# 8x8, 2.36 vs 1.09 ms; 8->16 on 8x8 (C_in*9 = 72), 0.32 vs 0.36 ms (a tie); 3->16 on
# 32x32, 0.45 vs 2.64 ms. A structurally pruned digits CNN (12->24 channels, 108 taps) moved
# the threshold from 128 down: direct/im2col time 2.24 on 4x4 planes and 1.15 on 8x8, against
# 1.08 and 0.83 at 72 taps and 0.86 and 0.72 at 54 (medians of interleaved rounds, busy box).
IM2COL_MAX_WIDTH = 8
IM2COL_MIN_TAPS = 96  # C_in/groups * KH * KW


def _forward(out, x, w, b, p, flat, par):
    if out.size == 0:
        return
    xp = padded(x, out.shape, w.shape, p)
    if flat:
        _fwd_flat[par](out, xp, w, b, p["dil_h"], p["dil_w"], p["groups"])
    else:
        _fwd_rows[par](out, xp, w, b, p["stride_h"], p["stride_w"], p["dil_h"], p["dil_w"],
                       p["groups"])


def conv2d_forward_jit_padded(out, x, w, b, **p):
    """Rung 3: the input padded once, output rows innermost; one core.

    >>> out = np.empty((1, 1, 2, 2)); conv2d_forward_jit_padded(out, *DEMO, **PLAIN)
    >>> out.ravel().tolist()
    [4.0, 4.0, 4.0, 4.0]
    """
    _forward(out, x, w, b, p, flat=False, par=0)


def conv2d_forward_jit_flat(out, x, w, b, **p):
    """Rung 4: whole flattened planes per tap, 3 taps x 4 channels per pass (stride 1;
    strided calls take rung 3's rows); one core.

    >>> out = np.empty((1, 1, 2, 2)); conv2d_forward_jit_flat(out, *DEMO, **PLAIN)
    >>> out.ravel().tolist()
    [4.0, 4.0, 4.0, 4.0]
    """
    _forward(out, x, w, b, p, flat=p["stride_h"] == p["stride_w"] == 1, par=0)


def conv2d_forward_jit_parallel(out, x, w, b, **p):
    """Rung 5: rung 4 (or 3 when strided) built with ``parallel=True``: ``prange`` over
    (image, block of 4 output channels).

    >>> out = np.empty((1, 1, 2, 2)); conv2d_forward_jit_parallel(out, *DEMO, **PLAIN)
    >>> out.ravel().tolist()
    [4.0, 4.0, 4.0, 4.0]
    """
    _forward(out, x, w, b, p, flat=p["stride_h"] == p["stride_w"] == 1, par=1)


def _macs(g_or_out, w):
    N, C_out, OH, OW = g_or_out.shape
    return N * C_out * OH * OW * w.shape[1] * w.shape[2] * w.shape[3]


def _small_planes(out_or_g, w) -> bool:
    return out_or_g.shape[3] <= IM2COL_MAX_WIDTH and \
        w.shape[1] * w.shape[2] * w.shape[3] >= IM2COL_MIN_TAPS


def conv2d_forward_jit(out, x, w, b, **p):
    """The registered jit launcher: im2col + matmul for small planes with many input
    channels (``IM2COL_MAX_WIDTH``, ``IM2COL_MIN_TAPS``); otherwise padded input, flat
    planes for stride 1 (else padded rows), four output channels per task, and ``prange``
    above ``PARALLEL_MIN_MACS``.

    >>> out = np.empty((1, 2, 1, 1))
    >>> conv2d_forward_jit(out, np.ones((1, 1, 2, 2)), np.ones((2, 1, 2, 2)),
    ...                    np.array([0.0, 1.0]), **PLAIN)
    >>> out.ravel().tolist()
    [4.0, 5.0]
    """
    if _small_planes(out, w):
        conv2d_forward_im2col(out, x, w, b, **p)
        return
    _forward(out, x, w, b, p, flat=p["stride_h"] == p["stride_w"] == 1,
             par=int(_macs(out, w) >= PARALLEL_MIN_MACS))


def conv2d_backward_jit(grad_x, grad_w, grad_b, g, x, w, *, need_x, need_w, need_b, **p):
    """The registered jit launcher: for small planes with many input channels (as the
    forward), matrix products on im2col rows (``conv2d_backward_im2col``); otherwise the
    gradient copied once into padded-width planes (which also sums ``grad_b``), then
    ``grad_w`` as dot products of planes and ``grad_x`` as a scatter-add into a padded
    plane; ``prange`` above ``PARALLEL_MIN_MACS``.

    >>> gx, gw, gb = np.empty((1, 1, 2, 2)), np.empty((1, 1, 1, 1)), np.empty(1)
    >>> conv2d_backward_jit(gx, gw, gb, np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 3.0),
    ...                     np.full((1, 1, 1, 1), 2.0), need_x=True, need_w=True,
    ...                     need_b=True, **PLAIN)
    >>> gx.ravel().tolist(), gw.item(), gb.item()
    ([2.0, 2.0, 2.0, 2.0], 12.0, 4.0)
    """
    N, C_out, OH, OW = g.shape
    if N == 0 or C_out == 0:  # no terms: every gradient is zero
        for arr, need in ((grad_x, need_x), (grad_w, need_w), (grad_b, need_b)):
            if need:
                arr[...] = 0
        return
    if _small_planes(g, w) and p["groups"] == 1:
        conv2d_backward_im2col(grad_x, grad_w, grad_b, g, x, w, need_x=need_x,
                               need_w=need_w, need_b=need_b, **p)
        return
    par = int(_macs(g, w) >= PARALLEL_MIN_MACS)
    _, _, Hp, Wp = padded_shape(x.shape, g.shape, w.shape, **p)
    ge = np.empty((N, C_out, OH * Wp), g.dtype)
    gradient_planes(ge, grad_b, g, Wp, need_b, par)
    s = (p["stride_h"], p["stride_w"])
    if need_w:
        xp = padded(x, g.shape, w.shape, p)
        _gw[par](grad_w, ge, xp, OH, OW, *s, p["dil_h"], p["dil_w"], p["groups"])
    if need_x:
        _gx[par](grad_x, ge, w, OH, OW, Hp, Wp, *s, p["pad_h"], p["pad_w"], p["dil_h"],
                 p["dil_w"], p["groups"])


# --- numpy ------------------------------------------------------------------------------
# conv2d_forward_numpy / conv2d_backward_numpy live in conv_im2col.py: sliding_window_view
# plus tensordot *is* an im2col (tensordot copies the window view into a matrix).


KERNELS = {
    "conv2d_forward": {"naive": conv2d_forward_naive, "jit": conv2d_forward_jit,
                       "numpy": conv2d_forward_numpy},
    "conv2d_backward": {"naive": conv2d_backward_naive, "jit": conv2d_backward_jit,
                        "numpy": conv2d_backward_numpy},
}

# The forward ladder, slowest first; every entry has the forward kernel's signature.
VARIANTS = {
    "naive": conv2d_forward_naive,
    "jit_direct": conv2d_forward_jit_direct,
    "jit_padded": conv2d_forward_jit_padded,
    "jit_flat": conv2d_forward_jit_flat,
    "jit_parallel": conv2d_forward_jit_parallel,
    "im2col": conv2d_forward_im2col,
    "jit": conv2d_forward_jit,
    "numpy": conv2d_forward_numpy,
}
# The backward ladder: the naive loops compiled, and the launcher.
BACKWARD_VARIANTS = {
    "naive": conv2d_backward_naive,
    "jit_direct": conv2d_backward_jit_direct,
    "jit": conv2d_backward_jit,
    "numpy": conv2d_backward_numpy,
}
