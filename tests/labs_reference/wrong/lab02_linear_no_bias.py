# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab02_mlp.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def linear_forward(out, x, w, b):
    M, K = x.shape
    N = w.shape[0]
    for i in range(M):
        for j in range(N):
            acc = 0.0
            for k in range(K):
                acc += x[i, k] * w[j, k]
            out[i, j] = acc
