# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab02_mlp.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def matmul_ijk(out, a, b):
    B, M, N = out.shape
    K = a.shape[2]
    for bi in range(B):
        for i in range(M):
            for j in range(N):
                acc = 0.0
                for k in range(K - 1):
                    acc += a[bi, i, k] * b[bi, k, j]
                out[bi, i, j] = acc
