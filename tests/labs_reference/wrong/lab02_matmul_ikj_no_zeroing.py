# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab02_mlp.py, where it replaces the correct definition.
# See README.md beside this file.


@profile
def matmul_ikj(out, a, b):
    B, M, N = out.shape
    K = a.shape[2]
    for bi in range(B):
        for i in range(M):
            for k in range(K):
                aik = a[bi, i, k]
                for j in range(N):
                    out[bi, i, j] += aik * b[bi, k, j]
