# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab10_kernels.py, where it replaces the correct definition.
# See README.md beside this file.


def linear_relu(out, x, w, b):
    M, K = x.shape
    N = w.shape[0]
    for i in range(M):
        for j in range(N):
            acc = 0.0
            for k in range(K):
                acc += x[i, k] * w[j, k]
            out[i, j] = (0.0 if acc < 0 else acc) + b[j]  # ReLU before the bias
