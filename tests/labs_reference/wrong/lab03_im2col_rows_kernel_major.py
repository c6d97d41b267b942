# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab03_cnn.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def im2col(x, kh, kw, stride, padding):
    N, C, H, W = x.shape
    OH = conv_output_size(H, kh, stride, padding)
    OW = conv_output_size(W, kw, stride, padding)
    xp = pad2d(x, padding)
    cols = np.empty((N, C * kh * kw, OH * OW), x.dtype)
    for i in range(kh):
        for j in range(kw):
            for c in range(C):
                taps = xp[:, c, i:i + stride * (OH - 1) + 1:stride,
                          j:j + stride * (OW - 1) + 1:stride]
                cols[:, (i * kw + j) * C + c, :] = taps.reshape(N, OH * OW)
    return cols
