# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab10_kernels.py, where it replaces the correct definition.
# See README.md beside this file.


def matmul_blocked(out, a, b, tile):
    M, N = out.shape
    K = a.shape[1]
    for i in range(M):
        for j in range(N):
            out[i, j] = 0.0
    # whole tiles only: the last M % tile rows, K % tile terms and N % tile columns are lost
    for i0 in range(0, M - M % tile, tile):
        for k0 in range(0, K - K % tile, tile):
            for j0 in range(0, N - N % tile, tile):
                for i in range(i0, i0 + tile):
                    for k in range(k0, k0 + tile):
                        aik = a[i, k]
                        for j in range(j0, j0 + tile):
                            out[i, j] += aik * b[k, j]
