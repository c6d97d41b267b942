# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab10_kernels.py, where it replaces the correct definition.
# See README.md beside this file.


def matmul_ikj(out, a, b):
    M, N = out.shape
    K = a.shape[1]
    for i in range(M):
        for k in range(K):  # adds into out as it arrived: garbage, never zeroed
            aik = a[i, k]
            for j in range(N):
                out[i, j] += aik * b[k, j]
