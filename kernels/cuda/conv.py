"""2-D convolution on the GPU: the naive forward kernel, one thread per output element.

Math and shapes as ``kernels/conv.py`` (NCHW; ``w`` (C_out, C_g, KH, KW); ``b`` (C_out,),
zeros for a layer without bias; ``out`` (N, C_out, OH, OW), its shape giving any
bottom/right padding)::

    out[n, co, oh, ow] = b[co] + sum_{cg, kh, kw} x[n, ci, ih, iw] * w[co, cg, kh, kw]
    ih = oh*stride_h - pad_h + kh*dil_h,  iw = ow*stride_w - pad_w + kw*dil_w,
    ci = (co // O_g) * C_g + cg,  terms outside the input are zero (the padding)

Cost: ``2*N*C_out*OH*OW*C_g*KH*KW`` FLOPs. Each thread reads its receptive field (``C_g *
KH * KW`` inputs and as many weights) from global memory: ``2 * C_g*KH*KW`` loads for as
many FLOPs, the same ratio as the naive matmul, with the caches catching the reuse between
neighbouring threads. A tiled kernel would stage an input tile and the weights in shared
memory, as ``matmul.py``'s tiled kernel does.

Thread layout: the flat output index ``i = ((n*C_out + co)*OH + oh)*OW + ow`` in a 1-D
grid-stride loop, so consecutive threads of a warp compute neighbouring ``ow`` of one row
and read neighbouring input columns (coalesced for stride 1), while they all read the same
weight (one broadcast load). The bounds tests on ``ih``/``iw`` replace the padded copy the
CPU kernels make: a branch per tap is cheap next to a load on a GPU, and it saves a copy.

The accumulator has the dtype of ``b`` (the input's: float32 stays float32). The launcher
copies the (C-contiguous) inputs to the device, launches, copies ``out`` back.
"""

from __future__ import annotations

from numba import cuda

from tinytorch.kernels.cuda._launch import (
    THREADS_PER_BLOCK,
    copy_to_out,
    device_out,
    grid_1d,
    to_device,
)


@cuda.jit
def conv2d_naive_kernel(out, x, w, b, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                        groups):
    N, C_out, OH, OW = out.shape
    H, W = x.shape[2], x.shape[3]
    C_g, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    O_g = C_out // groups
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < out.size:
        ow = i % OW
        oh = (i // OW) % OH
        co = (i // (OW * OH)) % C_out
        n = i // (OW * OH * C_out)
        c0 = (co // O_g) * C_g
        acc = b[co]
        for cg in range(C_g):
            for kh in range(KH):
                ih = oh * stride_h - pad_h + kh * dil_h
                if 0 <= ih < H:
                    for kw in range(KW):
                        iw = ow * stride_w - pad_w + kw * dil_w
                        if 0 <= iw < W:
                            acc += x[n, c0 + cg, ih, iw] * w[co, cg, kh, kw]
        out[n, co, oh, ow] = acc
        i += step


def conv2d_forward_cuda(out, x, w, b, *, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                        groups):
    """The launcher: ``out`` (host, C-contiguous) gets the convolution of ``x`` with ``w``
    plus ``b``; same signature as the CPU kernels. Size-0 output launches nothing.

    >>> import numpy as np
    >>> out = np.empty((1, 2, 1, 1), np.float32)
    >>> conv2d_forward_cuda(out, np.ones((1, 1, 2, 2), np.float32),
    ...                     np.ones((2, 1, 2, 2), np.float32), np.array([0, 1], np.float32),
    ...                     stride_h=1, stride_w=1, pad_h=0, pad_w=0, dil_h=1, dil_w=1,
    ...                     groups=1)
    >>> out.ravel().tolist()
    [4.0, 5.0]
    """
    if out.size == 0:
        return
    d_x, d_w, d_b = to_device(x, w, b)
    d_out = device_out(out.shape, out.dtype)
    blocks = grid_1d(out.size)
    conv2d_naive_kernel[blocks, THREADS_PER_BLOCK](d_out, d_x, d_w, d_b, stride_h, stride_w,
                                                   pad_h, pad_w, dil_h, dil_w, groups)
    copy_to_out(d_out, out)
