# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab03_cnn.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def conv2d_padded(out, x, w, b, stride, padding):
    N, C_out, OH, OW = out.shape
    C_in, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    for n in range(N):
        for co in range(C_out):
            xp = pad2d(x, padding)
            for oh in range(OH):
                for ow in range(OW):
                    out[n, co, oh, ow] = b[co]
                for ci in range(C_in):
                    for kh in range(KH):
                        for kw in range(KW):
                            wv = w[co, ci, kh, kw]
                            for ow in range(OW):
                                out[n, co, oh, ow] += wv * xp[n, ci, oh * stride + kh,
                                                              ow * stride + kw]
