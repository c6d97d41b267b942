# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab10_kernels.py, where it replaces the correct definition.
# See README.md beside this file.


def matmul_parallel(out, a, b):
    M, N = out.shape
    K = a.shape[1]
    for i in range(M):
        for j in range(N):
            out[i, j] = 0.0
    # prange over the reduced dimension: threads add into the same out[i, j] (a data race)
    for k in numba.prange(K):
        for i in range(M):
            aik = a[i, k]
            for j in range(N):
                out[i, j] += aik * b[k, j]
