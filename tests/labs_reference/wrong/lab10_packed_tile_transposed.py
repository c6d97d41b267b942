# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab10_kernels.py, where it replaces the correct definition.
# See README.md beside this file.


def matmul_packed(out, a, b):
    M, N = out.shape
    K = a.shape[1]
    bt = np.empty((N, K), b.dtype)
    for k in range(K):
        for j in range(N):
            bt[j, k] = b[k, j]
    M2, N2 = M - M % 2, N - N % 2
    for i in range(0, M2, 2):
        for j in range(0, N2, 2):
            c00 = c01 = c10 = c11 = 0.0
            for k in range(K):
                a0, a1 = a[i, k], a[i + 1, k]
                b0, b1 = bt[j, k], bt[j + 1, k]
                c00 += a0 * b0
                c01 += a0 * b1
                c10 += a1 * b0
                c11 += a1 * b1
            out[i, j] = c00
            out[i, j + 1] = c10  # the tile stored transposed: c10 belongs to out[i + 1, j]
            out[i + 1, j] = c01
            out[i + 1, j + 1] = c11
    for i in range(M):
        for j in range(N):
            if i < M2 and j < N2:
                continue
            acc = 0.0
            for k in range(K):
                acc += a[i, k] * bt[j, k]
            out[i, j] = acc
