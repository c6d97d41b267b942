# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab03_cnn.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def max_pool2d_backward_loops(grad_x, g, indices):
    N, C, H, W = grad_x.shape
    OH, OW = g.shape[2], g.shape[3]
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    k = indices[n, c, oh, ow]
                    grad_x[n, c, k // W, k % W] += g[n, c, oh, ow]
