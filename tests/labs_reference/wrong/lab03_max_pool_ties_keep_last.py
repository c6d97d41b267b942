# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab03_cnn.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def max_pool2d_loops(out, indices, x, k, stride):
    N, C, OH, OW = out.shape
    W = x.shape[3]
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    best = -np.inf
                    best_at = -1
                    for i in range(k):
                        for j in range(k):
                            v = x[n, c, oh * stride + i, ow * stride + j]
                            if v >= best:
                                best = v
                                best_at = (oh * stride + i) * W + ow * stride + j
                    out[n, c, oh, ow] = best
                    indices[n, c, oh, ow] = best_at
