# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab09_compression.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: subtracts a's zero point but forgets b's (right whenever b is symmetric, b_zp == 0).


@profile
def int8_matmul(a_q, b_q, a_zp: int, b_zp: int) -> np.ndarray:
    M, K = a_q.shape
    if b_q.shape[0] != K:
        raise ValueError("int8_matmul: a_q is (M, K) and b_q must be (K, N)")
    N = b_q.shape[1]
    out = np.zeros((M, N), np.int32)
    for i in range(M):
        for j in range(N):
            acc = np.int32(0)
            for k in range(K):
                acc += (np.int32(a_q[i, k]) - a_zp) * np.int32(b_q[k, j])
            out[i, j] = acc
    return out
