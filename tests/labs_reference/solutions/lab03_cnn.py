# The solutions of labs/lab03_cnn.py: its TODO functions, done. The grader self-tests
# build the reference lab by inserting these before the lab's experiments, so
# the reference cannot drift from the lab students get.


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """The number of output positions along one dimension.

    >>> conv_output_size(32, 3, padding=1)
    32
    >>> conv_output_size(7, 3, stride=2)
    3
    """
    span = dilation * (kernel - 1) + 1  # pixels the (dilated) kernel covers
    return (size + 2 * padding - span) // stride + 1


@profile
def conv2d_loops(out, x, w, b, stride, padding):
    """The convolution as seven nested loops; out-of-range terms are skipped.

    >>> out = np.empty((1, 1, 2, 2))
    >>> conv2d_loops(out, np.arange(9.0).reshape(1, 1, 3, 3), np.ones((1, 1, 2, 2)),
    ...              np.zeros(1), 1, 0)
    >>> out[0, 0].tolist()
    [[8.0, 12.0], [20.0, 24.0]]
    """
    N, C_out, OH, OW = out.shape
    C_in, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    H, W = x.shape[2], x.shape[3]
    for n in range(N):
        for co in range(C_out):
            for oh in range(OH):
                for ow in range(OW):
                    acc = b[co]
                    for ci in range(C_in):
                        for kh in range(KH):
                            ih = oh * stride - padding + kh
                            if 0 <= ih < H:  # rows outside the input are zero padding
                                for kw in range(KW):
                                    iw = ow * stride - padding + kw
                                    if 0 <= iw < W:
                                        acc += x[n, ci, ih, iw] * w[co, ci, kh, kw]
                    out[n, co, oh, ow] = acc


@profile
def pad2d(x, pad):
    """A zero-padded copy of the NCHW array ``x``: ``pad`` pixels on every side.

    >>> pad2d(np.ones((1, 1, 1, 2)), 1)[0, 0].tolist()
    [[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), x.dtype)
    xp[:, :, pad:pad + H, pad:pad + W] = x
    return xp


@profile
def conv2d_padded(out, x, w, b, stride, padding):
    """The same convolution as ``conv2d_loops``: pads once with ``pad2d``, no bounds tests,
    the output width innermost.

    >>> out = np.empty((1, 1, 3, 3))
    >>> conv2d_padded(out, np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), np.zeros(1), 1, 1)
    >>> out[0, 0].tolist()
    [[4.0, 6.0, 4.0], [6.0, 9.0, 6.0], [4.0, 6.0, 4.0]]
    """
    xp = pad2d(x, padding)  # once for the whole batch: every tap below is in range
    N, C_out, OH, OW = out.shape
    C_in, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    for n in range(N):
        for co in range(C_out):
            for oh in range(OH):
                for ow in range(OW):
                    out[n, co, oh, ow] = b[co]
                for ci in range(C_in):
                    for kh in range(KH):
                        ih = oh * stride + kh
                        for kw in range(KW):
                            wv = w[co, ci, kh, kw]  # read once per output row
                            for ow in range(OW):  # along a row of out and of xp
                                out[n, co, oh, ow] += wv * xp[n, ci, ih, ow * stride + kw]


@profile
def im2col(x, kh, kw, stride, padding):
    """The column matrix ``(N, C*kh*kw, OH*OW)`` of ``x (N, C, H, W)``: one column per output
    pixel, holding its receptive field in ``(c, kh, kw)`` order.

    >>> im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2, 2, 1, 0)[0].tolist()
    [[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], [3.0, 4.0, 6.0, 7.0], [4.0, 5.0, 7.0, 8.0]]
    """
    N, C, H, W = x.shape
    OH = conv_output_size(H, kh, stride, padding)
    OW = conv_output_size(W, kw, stride, padding)
    xp = pad2d(x, padding)
    cols = np.empty((N, C * kh * kw, OH * OW), x.dtype)
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                # tap (i, j) of every output pixel: one strided slice of the padded plane
                taps = xp[:, c, i:i + stride * (OH - 1) + 1:stride,
                          j:j + stride * (OW - 1) + 1:stride]
                cols[:, (c * kh + i) * kw + j, :] = taps.reshape(N, OH * OW)
    return cols


@profile
def conv2d_im2col(x, w, b, stride, padding):
    """The convolution as ``w.reshape(C_out, K) @ im2col(x) + b``: a new array
    ``(N, C_out, OH, OW)``.

    >>> conv2d_im2col(np.ones((1, 2, 3, 3)), np.ones((1, 2, 3, 3)), np.array([0.5]), 1, 0)
    array([[[[18.5]]]])
    """
    N, C_out = x.shape[0], w.shape[0]
    KH, KW = w.shape[2], w.shape[3]
    OH = conv_output_size(x.shape[2], KH, stride, padding)
    OW = conv_output_size(x.shape[3], KW, stride, padding)
    cols = im2col(x, KH, KW, stride, padding)  # (N, K, OH*OW)
    out = np.matmul(w.reshape(C_out, -1), cols)  # (C_out, K) @ (N, K, P) -> (N, C_out, P)
    out += b[:, None]
    return out.reshape(N, C_out, OH, OW)


def im2col_nbytes(x_shape, kh, kw, stride, padding, itemsize):
    """Bytes of ``im2col``'s result for an input of ``x_shape (N, C, H, W)`` whose elements
    take ``itemsize`` bytes each.

    >>> im2col_nbytes((32, 3, 32, 32), 3, 3, 1, 1, 4)  # 9x the input's 393,216 bytes
    3538944
    """
    N, C, H, W = x_shape
    OH = conv_output_size(H, kh, stride, padding)
    OW = conv_output_size(W, kw, stride, padding)
    return N * C * kh * kw * OH * OW * itemsize


@profile
def max_pool2d_loops(out, indices, x, k, stride):
    """``k x k`` max pooling with stride ``stride``; the winners' positions into
    ``indices``.

    >>> out, idx = np.empty((1, 1, 1, 2)), np.empty((1, 1, 1, 2), np.int64)
    >>> max_pool2d_loops(out, idx, np.array([[[[1.0, 5.0, 2.0, 2.0], [3.0, 4.0, 0.0, 1.0]]]]),
    ...                  2, 2)
    >>> out.tolist(), idx.tolist()
    ([[[[5.0, 2.0]]]], [[[[1, 2]]]])
    """
    N, C, OH, OW = out.shape
    W = x.shape[3]
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    h0, w0 = oh * stride, ow * stride
                    best = x[n, c, h0, w0]
                    best_at = h0 * W + w0
                    for i in range(k):
                        for j in range(k):
                            v = x[n, c, h0 + i, w0 + j]
                            if v > best:  # strict: a tie keeps the first maximum
                                best = v
                                best_at = (h0 + i) * W + w0 + j
                    out[n, c, oh, ow] = best
                    indices[n, c, oh, ow] = best_at


@profile
def max_pool2d_backward_loops(grad_x, g, indices):
    """``grad_x = 0``, then each ``g[n, c, oh, ow]`` added at its saved index.

    >>> gx = np.empty((1, 1, 2, 2))
    >>> max_pool2d_backward_loops(gx, np.array([[[[3.0]]]]), np.array([[[[2]]]]))
    >>> gx.tolist()
    [[[[0.0, 0.0], [3.0, 0.0]]]]
    """
    N, C, H, W = grad_x.shape
    OH, OW = g.shape[2], g.shape[3]
    for n in range(N):
        for c in range(C):
            for h in range(H):  # inputs that no window picked get 0, not garbage
                for w in range(W):
                    grad_x[n, c, h, w] = 0.0
            for oh in range(OH):
                for ow in range(OW):
                    k = indices[n, c, oh, ow]
                    grad_x[n, c, k // W, k % W] += g[n, c, oh, ow]  # overlaps add up
