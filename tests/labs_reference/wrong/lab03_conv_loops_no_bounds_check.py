# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab03_cnn.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def conv2d_loops(out, x, w, b, stride, padding):
    N, C_out, OH, OW = out.shape
    C_in, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    for n in range(N):
        for co in range(C_out):
            for oh in range(OH):
                for ow in range(OW):
                    acc = b[co]
                    for ci in range(C_in):
                        for kh in range(KH):
                            for kw in range(KW):
                                ih = oh * stride - padding + kh
                                iw = ow * stride - padding + kw
                                acc += x[n, ci, ih, iw] * w[co, ci, kh, kw]
                    out[n, co, oh, ow] = acc
