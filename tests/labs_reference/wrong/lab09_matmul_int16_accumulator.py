# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab09_compression.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: keeps the running sum in int16 (half the register of int32, "products fit in 16
# bits"): a sum past 32,767 wraps around silently, in Python and compiled alike.


@profile
def int8_matmul(a_q, b_q, a_zp: int, b_zp: int) -> np.ndarray:
    M, K = a_q.shape
    if b_q.shape[0] != K:
        raise ValueError("int8_matmul: a_q is (M, K) and b_q must be (K, N)")
    N = b_q.shape[1]
    out = np.zeros((M, N), np.int32)
    for i in range(M):
        for j in range(N):
            acc = np.int16(0)
            for k in range(K):
                acc = np.int16(acc + (np.int32(a_q[i, k]) - a_zp) * (np.int32(b_q[k, j]) - b_zp))
            out[i, j] = acc
    return out
