# The solutions of labs/lab10_kernels.py: its TODO functions, done. The grader self-tests
# build the reference lab by inserting these before the lab's experiments, so the reference
# cannot drift from the lab students get.


def matmul_ijk(out, a, b):
    """``out = a @ b`` for 2-D arrays; loops i, j, then k innermost.

    >>> out = np.empty((1, 1))
    >>> matmul_ijk(out, np.ones((1, 2)), np.full((2, 1), 3.0))
    >>> out.tolist()
    [[6.0]]
    """
    M, N = out.shape
    K = a.shape[1]
    for i in range(M):
        for j in range(N):
            acc = 0.0  # a fresh sum per output: K = 0 leaves it at 0
            for k in range(K):
                acc += a[i, k] * b[k, j]  # down a column of b: a stride of N elements
            out[i, j] = acc


def matmul_ikj(out, a, b):
    """``out = a @ b`` for 2-D arrays; loops i, k, then j innermost.

    >>> out = np.empty((1, 2))
    >>> matmul_ikj(out, np.ones((1, 2)), np.arange(4.0).reshape(2, 2))
    >>> out.tolist()
    [[2.0, 4.0]]
    """
    M, N = out.shape
    K = a.shape[1]
    for i in range(M):
        for j in range(N):  # out is the accumulator, and it arrives as garbage
            out[i, j] = 0.0
        for k in range(K):
            aik = a[i, k]  # loaded once, used N times
            for j in range(N):  # unit stride in b and out: SIMD, no reordering of sums
                out[i, j] += aik * b[k, j]


def matmul_blocked(out, a, b, tile):
    """``out = a @ b`` in ``tile x tile`` blocks (i-k-j inside each block).

    >>> out = np.empty((3, 3))
    >>> matmul_blocked(out, np.eye(3), np.arange(9.0).reshape(3, 3), 2)
    >>> out.tolist()
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]
    """
    M, N = out.shape
    K = a.shape[1]
    for i in range(M):
        for j in range(N):
            out[i, j] = 0.0
    for i0 in range(0, M, tile):
        for k0 in range(0, K, tile):  # increasing k blocks: every sum stays in k order
            for j0 in range(0, N, tile):
                for i in range(i0, min(i0 + tile, M)):  # min(): the tail block is smaller
                    for k in range(k0, min(k0 + tile, K)):
                        aik = a[i, k]
                        for j in range(j0, min(j0 + tile, N)):
                            out[i, j] += aik * b[k, j]


def matmul_packed(out, a, b):
    """``out = a @ b`` with ``b`` packed transposed and a 2 x 2 register tile.

    >>> out = np.empty((3, 3))
    >>> matmul_packed(out, np.arange(6.0).reshape(3, 2), np.arange(6.0).reshape(2, 3))
    >>> out.tolist()
    [[3.0, 4.0, 5.0], [9.0, 14.0, 19.0], [15.0, 24.0, 33.0]]
    """
    M, N = out.shape
    K = a.shape[1]
    bt = np.empty((N, K), b.dtype)
    for k in range(K):  # the pack: one pass over b, so every dot product reads rows
        for j in range(N):
            bt[j, k] = b[k, j]
    M2, N2 = M - M % 2, N - N % 2  # the part that whole 2 x 2 tiles cover
    for i in range(0, M2, 2):
        for j in range(0, N2, 2):
            c00 = c01 = c10 = c11 = 0.0  # four sums in registers for the whole k loop
            for k in range(K):
                a0, a1 = a[i, k], a[i + 1, k]
                b0, b1 = bt[j, k], bt[j + 1, k]
                c00 += a0 * b0
                c01 += a0 * b1
                c10 += a1 * b0
                c11 += a1 * b1
            out[i, j] = c00
            out[i, j + 1] = c01
            out[i + 1, j] = c10
            out[i + 1, j + 1] = c11
    for i in range(M):  # the tails: the last column (odd N) and the last row (odd M)
        for j in range(N):
            if i < M2 and j < N2:
                continue
            acc = 0.0
            for k in range(K):
                acc += a[i, k] * bt[j, k]
            out[i, j] = acc


def matmul_parallel(out, a, b):
    """``out = a @ b``, the rows of ``out`` split over threads with ``numba.prange``.

    >>> out = np.empty((2, 2))
    >>> matmul_parallel(out, np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> out.tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    M, N = out.shape
    K = a.shape[1]
    for i in numba.prange(M):  # each thread owns whole rows: no element has two writers
        for j in range(N):
            out[i, j] = 0.0
        for k in range(K):
            aik = a[i, k]
            for j in range(N):
                out[i, j] += aik * b[k, j]


def linear_relu(out, x, w, b):
    """``out = relu(x @ w.T + b)`` in one pass over ``out``.

    >>> out = np.empty((1, 2))
    >>> linear_relu(out, np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [-1.0, -1.0]]),
    ...             np.array([0.5, 1.0]))
    >>> out.tolist()
    [[1.5, 0.0]]
    """
    M, K = x.shape
    N = w.shape[0]
    for i in range(M):
        for j in range(N):
            acc = 0.0
            for k in range(K):  # a dot product of two contiguous rows
                acc += x[i, k] * w[j, k]
            z = acc + b[j]
            out[i, j] = 0.0 if z < 0 else z  # the epilogue: z never goes to memory
