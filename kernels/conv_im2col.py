"""The layouts a convolution can be handed: a zero-padded copy, and im2col (module 03).

A convolution reads each input pixel once per kernel tap that covers it. Both layouts here
rearrange the input *once* so that the loops that follow are simple; they differ in how
much memory they spend to get there, and that is the lesson of module 03. The numpy
reference kernels (the oracle) live here too, because they are an im2col as well: numpy's
``tensordot`` copies the ``sliding_window_view`` of the padded input into a matrix.

* ``pad_forward``: ``xp[n, c, pad_h + i, pad_w + j] = x[n, c, i, j]``, zero elsewhere. The
  direct kernels of ``conv.py`` read ``xp`` with no bounds check in their inner loop. Cost:
  one copy of the input plus a border, ``N*C*Hp*Wp*itemsize`` bytes (a few percent over
  the input for a 32 x 32 image and a 1-pixel border).
* ``conv2d_forward_im2col``: im2col lowers the convolution to one matrix product. Each
  output pixel's receptive field, ``C_g*KH*KW`` numbers, is copied into a row of a matrix
  ``col`` (here "im2row": one row per output pixel, so rows are the k-contiguous operand the
  project's packed matmul wants, ``kernels/matmul.py``), and then
  ``out[n, :, p] = [w | b] @ [col[n, p, :] | 1]``: the bias rides along as a column of ones.
  Every input pixel is copied about ``KH*KW / (stride_h*stride_w)`` times: for a 3 x 3
  kernel the workspace is 9x the input (``im2col_bytes``), 3.5 MiB for a batch of 32
  3-channel 32 x 32 float32 images, where the padded copy costs 0.4 MiB. In exchange the
  arithmetic runs in a tuned GEMM. With ``groups > 1`` one group is lowered at a time and
  the buffer is reused.

Shapes (as ``conv.py``): ``x`` (N, C_in, H, W), ``w`` (C_out, C_g, KH, KW) with
``C_g = C_in / groups``, ``b`` (C_out,), ``out`` (N, C_out, OH, OW) C-contiguous; the caller
has validated everything and computed OH, OW (asymmetric "same" padding: the extra row or
column is implied by ``out``'s shape, and the padded copy is made large enough for it).

>>> import numpy as np
>>> x = np.arange(4.0).reshape(1, 1, 2, 2)
>>> xp = np.empty((1, 1, 3, 4))
>>> pad_forward(xp, x, pad_h=1, pad_w=1)
>>> xp[0, 0].tolist()
[[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 2.0, 3.0, 0.0]]
>>> im2col_bytes((32, 16, 32, 32), (16, 3, 3, 3), itemsize=4)  # 32*1024 rows of 27 + 1
3670016
"""

import types

import numpy as np
from numba import njit, prange
from numpy.lib.stride_tricks import sliding_window_view

from .matmul import matmul_forward_jit

__all__ = ["builds", "pad_forward", "padded", "padded_shape", "tap_offsets",
           "gradient_planes", "im2col_bytes", "conv2d_forward_im2col", "conv2d_forward_numpy",
           "conv2d_backward_numpy"]


def builds(fn, **flags):
    """``(serial, parallel)`` builds of one source; nothing compiles until the first call.
    The parallel build compiles a renamed copy: numba's on-disk cache is keyed by name and
    line, not by flags, so one name would share machine code (see matmul._parallel_twin).

    >>> serial, parallel = builds(_pad_source)
    >>> parallel.py_func.__name__, serial.py_func is _pad_source
    ('_pad_source_parallel', True)
    """
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_parallel")
    twin.__qualname__ = fn.__qualname__ + "_parallel"
    return (njit(cache=True, error_model="numpy", **flags)(fn),
            njit(cache=True, error_model="numpy", parallel=True, **flags)(twin))


def padded_shape(x_shape, out_shape, w_shape, *, stride_h, stride_w, pad_h, pad_w, dil_h,
                 dil_w, groups=1):
    """``(N, C, Hp, Wp)``: the input plus its top/left padding, tall and wide enough for the
    last output's window (which covers any bottom/right padding). ``groups`` changes
    nothing; it is accepted so that a kernel's keyword scalars can be passed as they are.

    >>> padded_shape((1, 3, 5, 5), (1, 8, 5, 5), (8, 3, 3, 3), stride_h=1, stride_w=1,
    ...              pad_h=1, pad_w=1, dil_h=1, dil_w=1)
    (1, 3, 7, 7)
    """
    N, C, H, W = x_shape
    OH, OW = out_shape[2], out_shape[3]
    KH, KW = w_shape[2], w_shape[3]
    Hp = max(H + pad_h, (OH - 1) * stride_h + (KH - 1) * dil_h + 1)
    Wp = max(W + pad_w, (OW - 1) * stride_w + (KW - 1) * dil_w + 1)
    return N, C, Hp, Wp


def _pad_source(xp, x, pad_h, pad_w):
    N, C, H, W = x.shape
    Hp, Wp = xp.shape[2], xp.shape[3]
    for t in prange(N * C):  # one plane per task
        n = t // C
        c = t % C
        plane = xp[n, c]
        for i in range(Hp):
            row = plane[i]
            if pad_h <= i < pad_h + H:  # zero only the border, copy the rest
                src = x[n, c, i - pad_h]
                for j in range(pad_w):
                    row[j] = 0
                for j in range(W):
                    row[pad_w + j] = src[j]
                for j in range(pad_w + W, Wp):
                    row[j] = 0
            else:
                for j in range(Wp):
                    row[j] = 0


_pad = builds(_pad_source)


def pad_forward(xp, x, *, pad_h, pad_w):
    """Write ``x`` into the zero-padded ``xp`` (``padded_shape``); serial for one plane's
    worth of work, ``prange`` over planes otherwise. A jit launcher, not a registered op."""
    if x.size < 1 << 16:  # waking a thread costs more than copying a few hundred KiB
        _pad[0](xp, x, pad_h, pad_w)
    else:
        _pad[1](xp, x, pad_h, pad_w)


def padded(x, out_shape, w_shape, p):
    """A fresh padded copy of ``x`` for an output of ``out_shape`` (``p``: the kernel's
    keyword scalars).

    >>> padded(np.ones((1, 1, 1, 2)), (1, 1, 1, 2), (1, 1, 1, 3), {"stride_h": 1,
    ...        "stride_w": 1, "pad_h": 0, "pad_w": 1, "dil_h": 1, "dil_w": 1})[0, 0].tolist()
    [[0.0, 1.0, 1.0, 0.0]]
    """
    xp = np.empty(padded_shape(x.shape, out_shape, w_shape, **p), x.dtype)
    pad_forward(xp, x, pad_h=p["pad_h"], pad_w=p["pad_w"])
    return xp


def _gext_source(ge, grad_b, g, Wp, need_b):
    N, C_out, OH, OW = g.shape
    for co in prange(C_out):
        s = 0.0  # float64 accumulator for the bias gradient
        for n in range(N):
            for oh in range(OH):
                src = g[n, co, oh]
                dst = ge[n, co, oh * Wp:(oh + 1) * Wp]
                for ow in range(OW):
                    dst[ow] = src[ow]
                    s += src[ow]
                for ow in range(OW, Wp):
                    dst[ow] = 0
        if need_b:
            grad_b[co] = s


_gext = builds(_gext_source)


def gradient_planes(ge, grad_b, g, Wp, need_b, parallel):
    """The output gradient in the padded layout's pitch: ``ge[n, co, oh*Wp + ow] = g[n,
    co, oh, ow]``, zero for ``ow >= OW`` (so whole-plane sums skip those columns), and
    ``grad_b = g.sum((0, 2, 3))`` on the way when ``need_b``.

    >>> ge, gb = np.empty((1, 1, 4)), np.empty(1)
    >>> gradient_planes(ge, gb, np.array([[[[1.0], [2.0]]]]), 2, True, False)
    >>> ge.tolist(), gb.tolist()
    ([[[1.0, 0.0, 2.0, 0.0]]], [3.0])
    """
    _gext[int(parallel)](ge, grad_b, g, Wp, need_b)


@njit(cache=True)
def tap_offsets(C_g, KH, KW, Hp, Wp, dh, dw):
    """Where tap ``(cg, kh, kw)`` reads, relative to its output pixel, in a group's
    flattened padded planes (``C_g`` consecutive planes of ``Hp x Wp``), stride 1: the
    same offset for every pixel, which is what lets ``conv.py`` sweep whole planes.

    >>> tap_offsets(1, 2, 2, 4, 5, 1, 1).tolist()  # (kh, kw) = (0,0) (0,1) (1,0) (1,1)
    [0, 1, 5, 6]
    """
    offs = np.empty(C_g * KH * KW, np.int64)
    for cg in range(C_g):
        for kh in range(KH):
            for kw in range(KW):
                offs[(cg * KH + kh) * KW + kw] = (cg * Hp + kh * dh) * Wp + kw * dw
    return offs


def im2col_bytes(out_shape, w_shape, itemsize):
    """Bytes of the im2col workspace for one group: ``N*OH*OW`` rows of ``C_g*KH*KW + 1``
    numbers (the receptive field and the bias's column of ones).

    >>> im2col_bytes((1, 4, 2, 2), (4, 1, 3, 3), itemsize=8)  # 4 rows of 10 float64
    320
    """
    N, _, OH, OW = out_shape
    _, C_g, KH, KW = w_shape
    return N * OH * OW * (C_g * KH * KW + 1) * itemsize


def _im2row_source(col, xp, c0, OW, sh, sw, dh, dw, KH, KW):
    N, P, K1 = col.shape
    C_g = (K1 - 1) // (KH * KW)
    for t in prange(N * P):
        n = t // P
        oh = (t % P) // OW
        ow = t % OW
        row = col[n, oh * OW + ow]
        k = 0
        for cg in range(C_g):
            for kh in range(KH):
                src = xp[n, c0 + cg, oh * sh + kh * dh]
                for kw in range(KW):
                    row[k] = src[ow * sw + kw * dw]
                    k += 1
        row[k] = 1  # the bias column


_im2row_parallel = builds(_im2row_source)[1]


@njit(cache=True, error_model="numpy")
def _scatter_group(out, tmp, c0):
    N, O_g, P = tmp.shape
    for n in range(N):
        for c in range(O_g):
            dst = out[n, c0 + c]
            for p in range(P):
                dst[p] = tmp[n, c, p]


def conv2d_forward_im2col(out, x, w, b, *, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                          groups):
    """im2col + the project's jit matmul (a variant for the ladder; same signature as the
    other forward kernels). Memory: ``padded_shape`` plus ``im2col_bytes`` per call.

    >>> import numpy as np
    >>> out = np.empty((1, 1, 1, 1))
    >>> conv2d_forward_im2col(out, np.ones((1, 2, 2, 2)), np.ones((1, 2, 2, 2)),
    ...                       np.array([0.5]), stride_h=1, stride_w=1, pad_h=0, pad_w=0,
    ...                       dil_h=1, dil_w=1, groups=1)
    >>> out.item()
    8.5
    """
    N, C_out, OH, OW = out.shape
    _, C_g, KH, KW = w.shape
    if out.size == 0:
        return
    xp = padded(x, out.shape, w.shape, {"stride_h": stride_h, "stride_w": stride_w,
                                        "pad_h": pad_h, "pad_w": pad_w, "dil_h": dil_h,
                                        "dil_w": dil_w})
    K = C_g * KH * KW
    O_g = C_out // groups
    col = np.empty((N, OH * OW, K + 1), x.dtype)  # the workspace: im2col_bytes()
    out3 = out.reshape(N, C_out, OH * OW)
    tmp = out3 if groups == 1 else np.empty((N, O_g, OH * OW), out.dtype)
    for g in range(groups):
        _im2row_parallel(col, xp, g * C_g, OW, stride_h, stride_w, dil_h, dil_w, KH, KW)
        wb = np.empty((1, O_g, K + 1), w.dtype)  # [w | b]: the bias as one more column
        wb[0, :, :K] = w[g * O_g:(g + 1) * O_g].reshape(O_g, K)
        wb[0, :, K] = b[g * O_g:(g + 1) * O_g]
        # a stride-0 batch: one weight matrix serves every image (matmul packs it once)
        matmul_forward_jit(tmp, np.broadcast_to(wb, (N, O_g, K + 1)), col.transpose(0, 2, 1))
        if groups > 1:
            _scatter_group(out3, tmp, g * O_g)


@njit(cache=True, error_model="numpy")
def _row2im(grad_xp, dcol, OW, sh, sw, dh, dw, KH, KW):
    """The adjoint of ``_im2row_source``: add each row's gradient back into the (zeroed)
    padded input gradient at the pixels that row was copied from."""
    N, P, K = dcol.shape
    C = K // (KH * KW)
    for n in range(N):
        for q in range(P):
            oh = q // OW
            ow = q % OW
            k = 0
            for c in range(C):
                for kh in range(KH):
                    dst = grad_xp[n, c, oh * sh + kh * dh]
                    for kw in range(KW):
                        dst[ow * sw + kw * dw] += dcol[n, q, k]
                        k += 1


def conv2d_backward_im2col(grad_x, grad_w, grad_b, g, x, w, *, need_x, need_w, need_b,
                           stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups):
    """The backward as matrix products on the im2col rows (``groups == 1``): with ``col``
    the ``(N*P, K+1)`` rows of the forward (``P = OH*OW``, ``K = C_in*KH*KW``, a column of
    ones last) and ``G`` the gradient as ``(C_out, N*P)``, ``[grad_w | grad_b] = G @ col``
    (one GEMM), and ``grad_x`` is ``g^T @ w`` per image scattered back by ``_row2im``.

    >>> import numpy as np
    >>> gx, gw, gb = np.empty((1, 1, 2, 2)), np.empty((1, 1, 1, 1)), np.empty(1)
    >>> conv2d_backward_im2col(gx, gw, gb, np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 3.0),
    ...                        np.full((1, 1, 1, 1), 2.0), need_x=True, need_w=True,
    ...                        need_b=True, stride_h=1, stride_w=1, pad_h=0, pad_w=0,
    ...                        dil_h=1, dil_w=1, groups=1)
    >>> gx.ravel().tolist(), gw.item(), gb.item()
    ([2.0, 2.0, 2.0, 2.0], 12.0, 4.0)
    """
    if groups != 1:
        raise ValueError("conv2d_backward_im2col handles groups=1 only")
    N, C_out, OH, OW = g.shape
    _, C, KH, KW = w.shape
    P, K = OH * OW, C * KH * KW
    p = {"stride_h": stride_h, "stride_w": stride_w, "pad_h": pad_h, "pad_w": pad_w,
         "dil_h": dil_h, "dil_w": dil_w}
    g3 = np.ascontiguousarray(g).reshape(N, C_out, P)
    if need_w or need_b:
        col = np.empty((N, P, K + 1), x.dtype)
        _im2row_parallel(col, padded(x, g.shape, w.shape, p), 0, OW, stride_h, stride_w,
                         dil_h, dil_w, KH, KW)
        rows = np.ascontiguousarray(g3.transpose(1, 0, 2)).reshape(1, C_out, N * P)
        gwb = np.empty((1, C_out, K + 1), g.dtype)
        matmul_forward_jit(gwb, rows, col.reshape(1, N * P, K + 1))
        if need_w:
            grad_w[...] = gwb[0, :, :K].reshape(grad_w.shape)
        if need_b:
            grad_b[...] = gwb[0, :, K]
    if need_x:
        dcol = np.empty((N, P, K), g.dtype)
        w2 = np.ascontiguousarray(w).reshape(1, C_out, K)
        matmul_forward_jit(dcol, g3.transpose(0, 2, 1), np.broadcast_to(w2, (N, C_out, K)))
        grad_xp = np.zeros(padded_shape(x.shape, g.shape, w.shape, **p), g.dtype)
        _row2im(grad_xp, dcol, OW, stride_h, stride_w, dil_h, dil_w, KH, KW)
        H, W = x.shape[2], x.shape[3]
        grad_x[...] = grad_xp[:, :, pad_h:pad_h + H, pad_w:pad_w + W]


# --- numpy: the oracle, and numpy's own im2col ---------------------------------------


def _windows(x, out_shape, w_shape, p):
    """(N, C_in, OH, OW, KH, KW) view of the padded input: each output's receptive field."""
    _, _, Hp, Wp = padded_shape(x.shape, out_shape, w_shape, **p)
    H, W = x.shape[2], x.shape[3]
    xp = np.pad(x, ((0, 0), (0, 0), (p["pad_h"], Hp - H - p["pad_h"]),
                    (p["pad_w"], Wp - W - p["pad_w"])))
    KH, KW = w_shape[2], w_shape[3]
    v = sliding_window_view(xp, ((KH - 1) * p["dil_h"] + 1, (KW - 1) * p["dil_w"] + 1),
                            axis=(2, 3))
    OH, OW = out_shape[2], out_shape[3]
    return v[:, :, :OH * p["stride_h"]:p["stride_h"], :OW * p["stride_w"]:p["stride_w"],
             ::p["dil_h"], ::p["dil_w"]]


def _groups(p, C_g, O_g):
    """(input channels, output channels) slices of each group."""
    return [(slice(i * C_g, (i + 1) * C_g), slice(i * O_g, (i + 1) * O_g))
            for i in range(p["groups"])]


def conv2d_forward_numpy(out, x, w, b, **p):
    """The oracle: each group's windows contracted with its weights by ``tensordot``.

    >>> out = np.empty((1, 1, 1, 1))
    >>> conv2d_forward_numpy(out, np.ones((1, 2, 2, 2)), np.ones((1, 2, 2, 2)), np.ones(1),
    ...                      stride_h=1, stride_w=1, pad_h=0, pad_w=0, dil_h=1, dil_w=1,
    ...                      groups=1)
    >>> out.item()
    9.0
    """
    win = _windows(x, out.shape, w.shape, p)
    for cs, os in _groups(p, w.shape[1], out.shape[1] // p["groups"]):
        y = np.tensordot(win[:, cs], w[os], axes=([1, 4, 5], [1, 2, 3]))  # (N, OH, OW, O_g)
        out[:, os] = y.transpose(0, 3, 1, 2)
    out += b[None, :, None, None]


def conv2d_backward_numpy(grad_x, grad_w, grad_b, g, x, w, *, need_x, need_w, need_b, **p):
    """The oracle's gradients: ``grad_w`` contracts ``g`` with the windows, ``grad_x`` adds
    each tap's ``w^T g`` into a padded plane (then crops), ``grad_b`` sums ``g``.

    >>> gx, gw, gb = np.empty((1, 1, 2, 2)), np.empty((1, 1, 2, 2)), np.empty(1)
    >>> conv2d_backward_numpy(gx, gw, gb, np.ones((1, 1, 1, 1)), np.full((1, 1, 2, 2), 3.0),
    ...                       np.full((1, 1, 2, 2), 2.0), need_x=True, need_w=True,
    ...                       need_b=True, stride_h=1, stride_w=1, pad_h=0, pad_w=0,
    ...                       dil_h=1, dil_w=1, groups=1)
    >>> gx.ravel().tolist(), gw.ravel().tolist(), gb.tolist()
    ([2.0, 2.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0], [1.0])
    """
    C_g, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    groups = _groups(p, C_g, g.shape[1] // p["groups"])
    if need_b:
        grad_b[...] = g.sum(axis=(0, 2, 3))
    if need_w:
        win = _windows(x, g.shape, w.shape, p)
        for cs, os in groups:
            grad_w[os] = np.tensordot(g[:, os], win[:, cs], axes=([0, 2, 3], [0, 2, 3]))
    if need_x:
        OH, OW = g.shape[2], g.shape[3]
        sh, sw, dh, dw = p["stride_h"], p["stride_w"], p["dil_h"], p["dil_w"]
        gxp = np.zeros(padded_shape(x.shape, g.shape, w.shape, **p), grad_x.dtype)
        for kh in range(KH):
            for kw in range(KW):
                rows = slice(kh * dh, kh * dh + (OH - 1) * sh + 1, sh)
                cols = slice(kw * dw, kw * dw + (OW - 1) * sw + 1, sw)
                for cs, os in groups:  # (C_g, N, OH, OW) -> (N, C_g, OH, OW)
                    t = np.tensordot(w[os, :, kh, kw], g[:, os], axes=([0], [1]))
                    gxp[:, cs, rows, cols] += t.transpose(1, 0, 2, 3)
        H, W = x.shape[2], x.shape[3]
        grad_x[...] = gxp[:, :, p["pad_h"]:p["pad_h"] + H, p["pad_w"]:p["pad_w"] + W]
